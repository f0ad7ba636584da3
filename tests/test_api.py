"""The public contract: signatures, dtype rules, ``out``, untouched inputs, errors, threads."""
import inspect
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv import reference

from conftest import METHODS, assert_close, randn

POOLS = {"max": fastconv.max_pool2d, "avg": fastconv.avg_pool2d}
REF_POOLS = {"max": reference.max_pool2d, "avg": reference.avg_pool2d}


def raises(exc, *patterns):
    """pytest.raises(exc, match=patterns[0]) that also requires every other pattern."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(exc, match=patterns[0])
            self._info = self._ctx.__enter__()
            return self._info

        def __exit__(self, *args):
            suppressed = self._ctx.__exit__(*args)
            message = str(self._info.value)
            for pattern in patterns[1:]:
                assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
            return suppressed

    return _Check()


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "fn, positional, keyword_only",
    [
        (fastconv.conv2d, {"x": inspect.Parameter.empty, "w": inspect.Parameter.empty, "bias": None},
         {"stride": 1, "padding": "valid", "dilation": 1, "groups": 1, "method": "auto", "out": None}),
        (fastconv.max_pool2d, {"x": inspect.Parameter.empty, "pool_size": 2},
         {"stride": None, "padding": "valid", "out": None}),
        (fastconv.avg_pool2d, {"x": inspect.Parameter.empty, "pool_size": 2},
         {"stride": None, "padding": "valid", "out": None}),
    ],
)
def test_signatures_follow_the_contract(fn, positional, keyword_only):
    params = inspect.signature(fn).parameters
    names = list(params)
    assert names[: len(positional)] == list(positional)
    for name, default in positional.items():
        assert params[name].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert params[name].default == default
    for name, default in keyword_only.items():
        assert params[name].kind == inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].default == default, name


def test_stride_cannot_be_passed_positionally():
    x, w = np.ones((1, 4, 4, 1)), np.ones((2, 2, 1, 1))
    with pytest.raises(TypeError):
        fastconv.conv2d(x, w, None, 2)
    with pytest.raises(TypeError):
        fastconv.max_pool2d(x, 2, 1)


# ---------------------------------------------------------------- dtype rules


CONV_DTYPES = [
    # x, w, bias, expected = np.result_type(x, w, bias, float32)
    ("float32", "float32", None, "float32"),
    ("float32", "float32", "float32", "float32"),
    ("float64", "float64", "float64", "float64"),
    ("float32", "float64", None, "float64"),
    ("float64", "float32", None, "float64"),
    ("float32", "float32", "float64", "float64"),
    ("float16", "float16", None, "float32"),
    ("float16", "float32", "float16", "float32"),
    ("float16", "float64", None, "float64"),
    ("int64", "int64", None, "float64"),
    ("int64", "int64", "int64", "float64"),
    ("int32", "float32", None, "float64"),
    ("int16", "float32", None, "float32"),
    ("int8", "float32", None, "float32"),
    ("uint8", "float32", "float32", "float32"),
    ("uint8", "uint8", None, "float32"),
    ("float32", "float32", "int64", "float64"),
]


@pytest.mark.parametrize("x_dt, w_dt, b_dt, expected", CONV_DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_conv2d_result_dtype(method, x_dt, w_dt, b_dt, expected):
    rng = np.random.default_rng(1)
    # Small integers: exact in every dtype above, so the values can be checked too.
    x = rng.integers(0, 7, (2, 6, 5, 3)).astype(x_dt)
    w = rng.integers(-3, 4, (3, 3, 3, 9)).astype(w_dt)
    b = None if b_dt is None else rng.integers(-3, 4, 9).astype(b_dt)
    assert np.result_type(*[a for a in (x, w, b) if a is not None], np.float32) == expected
    got = fastconv.conv2d(x, w, b, padding="same", method=method)
    assert got.dtype == np.dtype(expected)
    assert_close(got, reference.conv2d(x, w, b, padding="same"), expected, 27)


@pytest.mark.parametrize("x_dt, expected", [
    ("float32", "float32"), ("float64", "float64"), ("float16", "float32"),
    ("int64", "int64|float64"), ("int16", "int16|float64"), ("uint8", "uint8|float64"),
    ("bool", "bool|float64"),
])
@pytest.mark.parametrize("op", POOLS)
def test_pool_result_dtype(op, x_dt, expected):
    # Floats: the conv rule with no kernel, np.result_type(x, float32). Integers and bool
    # (issue 13): max keeps the dtype, avg gives float64 as np.mean does ("max|avg").
    x = np.random.default_rng(2).integers(-50, 50, (2, 6, 6, 3)).astype(x_dt)
    if x_dt == "uint8":
        x = np.abs(x.astype(np.int64)).astype(np.uint8)
    if "|" in expected:
        expected = expected.split("|")[0 if op.startswith("max") else 1]
    got = POOLS[op](x, 2, stride=1, padding="same")
    assert got.dtype == np.dtype(expected)
    want = REF_POOLS[op](x, 2, stride=1, padding="same")
    if got.dtype.kind in "biu":  # exact: small integers, max of them
        np.testing.assert_array_equal(got, want)
    else:
        assert_close(got, want, expected, 4)


NON_REAL = {
    "complex64": lambda a: a.astype(np.complex64),
    "complex128": lambda a: a.astype(np.complex128) + 1j,
    "object": lambda a: a.astype(object),
    "str": lambda a: a.astype(str),
    "bytes": lambda a: a.astype("S8"),
    "structured": lambda a: a.astype([("v", np.float64)]),
    "datetime64": lambda a: a.astype(np.int64).astype("datetime64[s]"),
    "timedelta64": lambda a: a.astype(np.int64).astype("timedelta64[s]"),
}


@pytest.mark.parametrize("kind", NON_REAL)
@pytest.mark.parametrize("arg", ["x", "w", "bias"])
def test_conv2d_non_real_inputs_raise_type_error_naming_the_argument(arg, kind):
    args = {"x": np.ones((1, 5, 5, 2)), "w": np.ones((3, 3, 2, 4)), "bias": np.ones(4)}
    args[arg] = NON_REAL[kind](args[arg])
    with pytest.raises(TypeError, match=rf"\b{arg}\b"):
        fastconv.conv2d(args["x"], args["w"], args["bias"])


@pytest.mark.parametrize("kind", NON_REAL)
@pytest.mark.parametrize("op", POOLS)
def test_pool_non_real_input_raises_type_error(op, kind):
    with pytest.raises(TypeError, match=r"\bx\b"):
        POOLS[op](NON_REAL[kind](np.ones((1, 4, 4, 2))), 2)


# ---------------------------------------------------------------- out


def conv_inputs(dtype=np.float64, c_in=3, c_out=4, shape=(2, 7, 6)):
    rng = np.random.default_rng(3)
    x = randn(rng, shape + (c_in,)).astype(dtype)
    w = randn(rng, (3, 3, c_in, c_out)).astype(dtype)
    b = randn(rng, (c_out,)).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", METHODS)
def test_conv2d_fills_and_returns_out(method, dtype):
    x, w, b = conv_inputs(dtype)
    out = np.full((2, 7, 6, 4), 123.0, dtype=dtype)
    got = fastconv.conv2d(x, w, b, padding="same", method=method, out=out)
    assert got is out
    assert_close(out, reference.conv2d(x, w, b, padding="same"), dtype, 27)
    # Unbatched input, 3-D out.
    out3 = np.full((7, 6, 4), np.nan, dtype=dtype)
    assert fastconv.conv2d(x[1], w, b, padding="same", method=method, out=out3) is out3
    np.testing.assert_array_equal(out3, out[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", POOLS)
def test_pool_fills_and_returns_out(op, dtype):
    x = randn(np.random.default_rng(4), (2, 7, 6, 3)).astype(dtype)
    out = np.full((2, 4, 3, 3), 123.0, dtype=dtype)
    assert POOLS[op](x, 2, padding="same", out=out) is out
    assert_close(out, REF_POOLS[op](x, 2, padding="same"), dtype, 4)
    out3 = np.empty((4, 3, 3), dtype=dtype)
    assert POOLS[op](x[0], 2, padding="same", out=out3) is out3
    np.testing.assert_array_equal(out3, out[0])


def _readonly(a):
    a.setflags(write=False)
    return a


BAD_OUTS = [
    # (id, make out from the right shape and dtype, accepted exceptions)
    ("shape", lambda s, d: np.empty(s[:-1] + (s[-1] + 1,), d), ValueError),
    ("shape-ndim", lambda s, d: np.empty(s[1:], d), ValueError),
    ("shape-flat", lambda s, d: np.empty(int(np.prod(s)), d), ValueError),
    ("dtype", lambda s, d: np.empty(s, np.float64 if d == np.float32 else np.float32), (TypeError, ValueError)),
    ("dtype-int", lambda s, d: np.empty(s, np.int64), (TypeError, ValueError)),
    ("fortran", lambda s, d: np.empty(s, d, order="F"), ValueError),
    ("strided", lambda s, d: np.empty(s[:-1] + (2 * s[-1],), d)[..., ::2], ValueError),
    ("reversed", lambda s, d: np.empty(s, d)[:, ::-1], ValueError),
    ("readonly", lambda s, d: _readonly(np.empty(s, d)), ValueError),
    ("list", lambda s, d: np.empty(s, d).tolist(), (TypeError, ValueError)),
]


@pytest.mark.parametrize("make, exc", [pytest.param(m, e, id=i) for i, m, e in BAD_OUTS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_rejects_bad_out(dtype, make, exc):
    x, w, b = conv_inputs(dtype)
    out = make((2, 7, 6, 4), dtype)
    before = np.array(out, copy=True)
    with pytest.raises(exc, match=r"\bout\b"):
        fastconv.conv2d(x, w, b, padding="same", out=out)
    np.testing.assert_array_equal(np.asarray(out), before)  # nothing written


@pytest.mark.parametrize("make, exc", [pytest.param(m, e, id=i) for i, m, e in BAD_OUTS])
@pytest.mark.parametrize("op", POOLS)
def test_pool_rejects_bad_out(op, make, exc):
    x = np.ones((2, 6, 6, 3), dtype=np.float32)
    with pytest.raises(exc, match=r"\bout\b"):
        POOLS[op](x, 2, out=make((2, 3, 3, 3), np.float32))


@pytest.mark.parametrize("method", METHODS)
def test_conv2d_errors_come_before_any_write_to_out(method):
    x, w, b = conv_inputs()
    out = np.full((2, 7, 6, 4), 7.0)
    with pytest.raises(ValueError, match="stride"):
        fastconv.conv2d(x, w, b, padding="same", method=method, stride=0, out=out)
    with pytest.raises(ValueError, match="method"):
        fastconv.conv2d(x, w, b, padding="same", method="fft", out=out)
    assert (out == 7.0).all()


@pytest.mark.parametrize("method", METHODS)
def test_conv2d_1x1_in_place_on_x(method):
    """out is x: a 1x1 conv mixing channels must read every channel before writing."""
    rng = np.random.default_rng(5)
    x = randn(rng, (2, 5, 6, 8))
    w = randn(rng, (1, 1, 8, 8))
    b = randn(rng, (8,))
    expected = reference.conv2d(x, w, b)
    got = fastconv.conv2d(x, w, b, method=method, out=x)
    assert got is x
    assert_close(x, expected, np.float64, 8)


@pytest.mark.parametrize("method", METHODS)
def test_conv2d_3x3_same_in_place_on_x(method):
    rng = np.random.default_rng(6)
    x = randn(rng, (1, 7, 8, 4)).astype(np.float32)
    w = randn(rng, (3, 3, 4, 4)).astype(np.float32)
    expected = reference.conv2d(x, w, padding="same")
    assert fastconv.conv2d(x, w, padding="same", method=method, out=x) is x
    assert_close(x, expected, np.float32, 36)


@pytest.mark.parametrize("method", METHODS)
def test_conv2d_out_overlapping_x_with_an_offset(method):
    """out and x are different views of one buffer, shifted by one pixel."""
    shape = (1, 6, 7, 3)
    size = int(np.prod(shape))
    buf = randn(np.random.default_rng(7), size + 3)
    x = buf[:size].reshape(shape)
    out = buf[3:].reshape(shape)
    w = randn(np.random.default_rng(8), (3, 3, 3, 3))
    expected = reference.conv2d(x.copy(), w, padding="same")
    assert fastconv.conv2d(x, w, padding="same", method=method, out=out) is out
    assert_close(out, expected, np.float64, 27)


@pytest.mark.parametrize("method", METHODS)
def test_conv2d_out_sharing_memory_with_w_and_bias(method):
    rng = np.random.default_rng(9)
    x = randn(rng, (1, 5, 5, 1))
    buf = randn(rng, 18)
    w = buf.reshape(3, 3, 1, 2)   # 18 numbers ...
    out = buf.reshape(1, 3, 3, 2)  # ... the same 18 numbers are the result's place
    expected = reference.conv2d(x, w.copy())
    assert fastconv.conv2d(x, w, method=method, out=out) is out
    assert_close(out, expected, np.float64, 9)

    w = randn(rng, (3, 3, 1, 2))
    out = randn(rng, (1, 3, 3, 2))
    bias = out.reshape(-1)[4:6]
    expected = reference.conv2d(x, w, bias.copy())
    assert fastconv.conv2d(x, w, bias, method=method, out=out) is out
    assert_close(out, expected, np.float64, 9)


@pytest.mark.parametrize("op", POOLS)
def test_pool_in_place_on_x(op):
    rng = np.random.default_rng(10)
    x = randn(rng, (2, 6, 7, 3))
    expected = REF_POOLS[op](x, 3, stride=1, padding="same")
    assert POOLS[op](x, 3, stride=1, padding="same", out=x) is x
    assert_close(x, expected, np.float64, 9)
    # pool 1, stride 1: the identity, written over itself.
    y = randn(rng, (1, 4, 5, 2)).astype(np.float32)
    before = y.copy()
    assert POOLS[op](y, 1, stride=1, out=y) is y
    np.testing.assert_array_equal(y, before)


@pytest.mark.parametrize("op", POOLS)
def test_pool_out_overlapping_x_with_an_offset(op):
    shape = (1, 6, 7, 3)
    size = int(np.prod(shape))
    buf = randn(np.random.default_rng(11), size + 5)
    x = buf[5:].reshape(shape)
    out = buf[:size].reshape(shape)
    expected = REF_POOLS[op](x.copy(), 2, stride=1, padding="same")
    assert POOLS[op](x, 2, stride=1, padding="same", out=out) is out
    assert_close(out, expected, np.float64, 4)


# ---------------------------------------------------------------- inputs untouched, any layout


LAYOUTS = {
    "contiguous": lambda a: a.copy(),
    "strided": lambda a: np.repeat(a, 2, axis=0)[::2],  # every other row (or image)
    "channel-strided": lambda a: np.repeat(a, 2, axis=-1)[..., ::2],  # innermost axis too
    "negative-stride": lambda a: np.flip(np.ascontiguousarray(np.flip(a))),
    "fortran": lambda a: np.asfortranarray(a),
    "readonly": lambda a: _readonly(a.copy()),
    "big-endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
}


def _layout(name, a):
    got = LAYOUTS[name](a)
    np.testing.assert_array_equal(got, a)
    return got


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("method", METHODS)
def test_conv2d_any_input_layout_works_and_is_not_modified(method, layout):
    rng = np.random.default_rng(12)
    x0 = randn(rng, (2, 7, 6, 3))
    w0 = randn(rng, (3, 2, 3, 5))
    b0 = randn(rng, (5,))
    if layout == "negative-stride":
        assert _layout(layout, x0).strides[1] < 0
    x, w, b = _layout(layout, x0), _layout(layout, w0), _layout(layout, b0)
    copies = [np.array(a, copy=True) for a in (x, w, b)]
    got = fastconv.conv2d(x, w, b, padding="same", stride=(1, 2), method=method)
    assert_close(got, reference.conv2d(x0, w0, b0, padding="same", stride=(1, 2)), np.float64, 18)
    for a, c in zip((x, w, b), copies):
        np.testing.assert_array_equal(a, c)
    # float32 too
    x32, w32 = _layout(layout, x0.astype(np.float32)), _layout(layout, w0.astype(np.float32))
    c32 = x32.copy()
    got = fastconv.conv2d(x32, w32, method=method)
    assert_close(got, reference.conv2d(x0, w0), np.float32, 18)
    np.testing.assert_array_equal(x32, c32)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", POOLS)
def test_pool_any_input_layout_works_and_is_not_modified(op, layout):
    x0 = randn(np.random.default_rng(13), (2, 7, 6, 3)).astype(np.float32)
    x = _layout(layout, x0)
    copy = np.array(x, copy=True)
    got = POOLS[op](x, 3, stride=2, padding="same")
    assert_close(got, REF_POOLS[op](x0, 3, stride=2, padding="same"), np.float32, 9)
    np.testing.assert_array_equal(x, copy)


def test_list_inputs_are_accepted():
    rng = np.random.default_rng(14)
    x, w, b = randn(rng, (1, 5, 4, 2)), randn(rng, (2, 2, 2, 3)), randn(rng, (3,))
    got = fastconv.conv2d(x.tolist(), w.tolist(), b.tolist(), padding="same")
    assert got.dtype == np.float64  # Python floats are float64
    assert_close(got, reference.conv2d(x, w, b, padding="same"), np.float64, 8)
    got = fastconv.conv2d(x[0].tolist(), tuple(map(tuple, w.tolist())))
    assert got.shape == (4, 3, 3)
    assert_close(got, reference.conv2d(x[0], w), np.float64, 8)
    for op in POOLS:
        got = POOLS[op](x.tolist(), 2)
        assert_close(got, REF_POOLS[op](x, 2), np.float64, 4)


@pytest.mark.parametrize("method", METHODS)
def test_empty_batch_gives_empty_result(method):
    got = fastconv.conv2d(np.ones((0, 5, 5, 2), np.float32), np.ones((3, 3, 2, 4), np.float32),
                          method=method)
    assert got.shape == (0, 3, 3, 4) and got.dtype == np.float32
    for op in POOLS:
        got = POOLS[op](np.ones((0, 4, 4, 2)), 2)
        assert got.shape == (0, 2, 2, 2)


# ---------------------------------------------------------------- bad input


X = np.ones((1, 6, 6, 4))
W = np.ones((3, 3, 4, 2))

CONV_ERRORS = [
    # (id, args, kwargs, exception, patterns the message must contain)
    ("x-ndim-2", (np.ones((6, 6)), W), {}, ValueError, [r"\bx\b", "dimensions", r"\(6, 6\)"]),
    ("x-ndim-5", (np.ones((1, 1, 6, 6, 4)), W), {}, ValueError, [r"\bx\b", "dimensions"]),
    ("x-ndim-1", (np.ones(6), W), {}, ValueError, [r"\bx\b", "dimensions"]),
    ("w-ndim-3", (X, np.ones((3, 3, 4))), {}, ValueError, [r"\bw\b", "dimensions", r"\(3, 3, 4\)"]),
    ("w-ndim-5", (X, np.ones((1, 3, 3, 4, 2))), {}, ValueError, [r"\bw\b", "dimensions"]),
    ("channels", (X, np.ones((3, 3, 3, 2))), {}, ValueError, ["channels", r"\bw\b", r"\(3, 3, 3, 2\)", r"\b4\b"]),
    ("channels-groups", (X, np.ones((3, 3, 4, 4))), {"groups": 2}, ValueError, ["channels", r"\(3, 3, 4, 4\)"]),
    ("groups-cin", (X, np.ones((3, 3, 1, 6))), {"groups": 3}, ValueError, ["groups", r"\b4\b"]),
    ("groups-cout", (X, np.ones((3, 3, 2, 3))), {"groups": 2}, ValueError, ["groups", r"\b3\b"]),
    ("groups-0", (X, W), {"groups": 0}, ValueError, ["groups"]),
    ("groups-neg", (X, W), {"groups": -2}, ValueError, ["groups"]),
    ("groups-float", (X, W), {"groups": 1.0}, TypeError, ["groups"]),
    ("groups-bool", (X, W), {"groups": True}, TypeError, ["groups"]),
    ("bias-length", (X, W, np.ones(3)), {}, ValueError, ["bias", r"\b2\b", r"\b3\b"]),
    ("bias-2d", (X, W, np.ones((1, 2))), {}, ValueError, ["bias"]),
    ("bias-scalar", (X, W, 1.0), {}, ValueError, ["bias"]),
    ("stride-0", (X, W), {"stride": 0}, ValueError, ["stride", ">= 1"]),
    ("stride-neg", (X, W), {"stride": -1}, ValueError, ["stride"]),
    ("stride-pair-0", (X, W), {"stride": (1, 0)}, ValueError, ["stride"]),
    ("stride-triple", (X, W), {"stride": (1, 1, 1)}, ValueError, ["stride"]),
    ("stride-bool", (X, W), {"stride": True}, TypeError, ["stride"]),
    ("stride-float", (X, W), {"stride": 1.0}, TypeError, ["stride"]),
    ("stride-pair-float", (X, W), {"stride": (1, 2.0)}, TypeError, ["stride"]),
    ("stride-str", (X, W), {"stride": "1"}, TypeError, ["stride"]),
    ("dilation-0", (X, W), {"dilation": 0}, ValueError, ["dilation", ">= 1"]),
    ("dilation-pair-0", (X, W), {"dilation": (0, 1)}, ValueError, ["dilation"]),
    ("dilation-float", (X, W), {"dilation": 1.5}, TypeError, ["dilation"]),
    ("padding-full", (X, W), {"padding": "full"}, ValueError, ["padding", "valid", "same"]),
    ("padding-empty", (X, W), {"padding": ""}, ValueError, ["padding"]),
    ("padding-neg", (X, W), {"padding": -1}, ValueError, ["padding"]),
    ("padding-pair-neg", (X, W), {"padding": (1, -1)}, ValueError, ["padding"]),
    ("padding-pairs-neg", (X, W), {"padding": ((0, -1), (0, 0))}, ValueError, ["padding"]),
    ("padding-triple", (X, W), {"padding": (1, 1, 1)}, ValueError, ["padding"]),
    ("padding-float", (X, W), {"padding": 1.5}, TypeError, ["padding"]),
    ("padding-none", (X, W), {"padding": None}, TypeError, ["padding"]),
    ("kernel-too-big", (np.ones((1, 3, 3, 4)), np.ones((5, 5, 4, 2))), {}, ValueError,
     ["larger", r"\(5, 5\)", r"\(3, 3\)"]),
    ("kernel-too-big-dilated", (np.ones((1, 4, 9, 4)), W), {"dilation": (2, 1)}, ValueError, ["larger"]),
    ("kernel-too-big-padded", (np.ones((1, 3, 3, 4)), np.ones((6, 3, 4, 2))), {"padding": 1}, ValueError,
     ["larger"]),
    ("method", (X, W), {"method": "fft"}, ValueError, ["method", "direct", "im2col"]),
    ("method-none", (X, W), {"method": None}, (TypeError, ValueError), ["method"]),
]


@pytest.mark.parametrize(
    "args, kwargs, exc, patterns", [pytest.param(*c[1:], id=c[0]) for c in CONV_ERRORS]
)
def test_conv2d_bad_input(args, kwargs, exc, patterns):
    with raises(exc, *patterns):
        fastconv.conv2d(*args, **kwargs)


P = np.ones((1, 5, 5, 2))

POOL_ERRORS = [
    ("x-ndim-2", (np.ones((5, 5)),), {}, ValueError, [r"\bx\b", "dimensions"]),
    ("x-ndim-5", (np.ones((1, 1, 5, 5, 2)),), {}, ValueError, [r"\bx\b", "dimensions"]),
    ("pool-0", (P, 0), {}, ValueError, ["pool_size", ">= 1"]),
    ("pool-pair-0", (P, (2, 0)), {}, ValueError, ["pool_size"]),
    ("pool-neg", (P, -2), {}, ValueError, ["pool_size"]),
    ("pool-bool", (P, True), {}, TypeError, ["pool_size"]),
    ("pool-float", (P, 2.0), {}, TypeError, ["pool_size"]),
    ("stride-0", (P, 2), {"stride": 0}, ValueError, ["stride", ">= 1"]),
    ("stride-float", (P, 2), {"stride": 1.5}, TypeError, ["stride"]),
    ("stride-bool", (P, 2), {"stride": False}, TypeError, ["stride"]),
    ("padding-full", (P, 2), {"padding": "full"}, ValueError, ["padding", "valid", "same"]),
    ("padding-neg", (P, 2), {"padding": -1}, ValueError, ["padding"]),
    ("pool-too-big", (P, 6), {}, ValueError, ["pool_size", "larger"]),
    ("pool-too-big-h", (P, (6, 1)), {"padding": 0}, ValueError, ["pool_size"]),
]


@pytest.mark.parametrize(
    "args, kwargs, exc, patterns", [pytest.param(*c[1:], id=c[0]) for c in POOL_ERRORS]
)
@pytest.mark.parametrize("op", POOLS)
def test_pool_bad_input(op, args, kwargs, exc, patterns):
    with raises(exc, *patterns):
        POOLS[op](*args, **kwargs)


# ---------------------------------------------------------------- version, threads, config


def test_version():
    assert isinstance(fastconv.__version__, str)
    assert re.match(r"^\d+\.\d+", fastconv.__version__)


def test_get_num_threads_is_positive():
    n = fastconv.get_num_threads()
    assert isinstance(n, int) and n >= 1


def test_set_num_threads(restore_threads):
    fastconv.set_num_threads(1)
    assert fastconv.get_num_threads() == 1
    fastconv.set_num_threads(2)
    assert fastconv.get_num_threads() == 2
    with pytest.raises(ValueError):
        fastconv.set_num_threads(0)
    assert fastconv.get_num_threads() == 2  # a refused value changes nothing
    with pytest.raises(TypeError):
        fastconv.set_num_threads(1.5)


def test_default_threads_follow_omp_num_threads():
    env = dict(os.environ, OMP_NUM_THREADS="3")
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    proc = subprocess.run(
        [sys.executable, "-c", "import fastconv; print(fastconv.get_num_threads())"],
        cwd=package_parent, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    if not fastconv._config.openmp_enabled():
        pytest.skip("serial build: OMP_NUM_THREADS has no effect")
    assert proc.stdout.strip() == "3"


def test_show_config(capsys):
    fastconv.show_config()
    text = capsys.readouterr().out
    assert fastconv.__version__ in text
    for word in ("compiler", "simd", "openmp", "thread"):
        assert word in text.lower(), word
    assert re.search(rf"threads?\s*[:=]?\s*{fastconv.get_num_threads()}\b", text, re.IGNORECASE)


@pytest.mark.skipif(
    os.environ.get("FASTCONV_NO_OPENMP", "0") not in ("", "0"),
    reason="a deliberately serial build (FASTCONV_NO_OPENMP)",
)
def test_build_has_openmp(capsys):
    """A silent fallback to a serial build must not pass unnoticed."""
    assert fastconv._config.openmp_enabled() is True
    fastconv.show_config()
    assert re.search(r"OpenMP\s*:\s*yes", capsys.readouterr().out)


def test_restoring_the_thread_setting_keeps_openmps_default():
    """The tests' save/restore puts back "no setting" (OpenMP's default, which follows
    OMP_NUM_THREADS), not the number that default resolved to."""
    from conftest import thread_setting_restored

    with thread_setting_restored():
        fastconv.set_num_threads(None)
        with thread_setting_restored():
            fastconv.set_num_threads(1)
        assert fastconv._threads.global_setting() is None


def test_importing_a_source_tree_without_kernels_says_what_to_run(tmp_path):
    """From a clone's root, ``import fastconv`` finds ./fastconv first. Without its
    compiled kernels, the error says so and names the command, as NumPy's does."""
    import shutil
    import subprocess
    import sys

    package = os.path.dirname(os.path.abspath(fastconv.__file__))
    checkout = tmp_path / "clone"
    shutil.copytree(package, checkout / "fastconv",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    (checkout / "src" / "fastconv").mkdir(parents=True)
    (checkout / "setup.py").write_text("")
    proc = subprocess.run([sys.executable, "-c", "import fastconv"], cwd=checkout,
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode != 0
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("ImportError: fastconv is being imported from its source tree")
    assert "pip install ." in message and str(checkout) in message

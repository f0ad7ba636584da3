"""Hardening (issue 5): every bad call to conv2d, max_pool2d and avg_pool2d is a
ValueError or TypeError naming the argument, raised before any native code runs;
sizes beyond memory or 64-bit arithmetic are ValueError or MemoryError; inputs
are never modified, whatever their layout and however ``out`` overlaps them.

The tables below are the closing note's inventory: one parametrized test per
class of bad input, one case per row.
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from fastconv import avg_pool2d, conv2d, max_pool2d
from _oracle import (LAYOUTS, assert_matches, conv_expected, huge_malloc_aborts, pool_expected,
                     with_layout)

OPS = ("conv2d", "max_pool2d", "avg_pool2d")
POOLS = ("max_pool2d", "avg_pool2d")
METHODS = ("direct", "im2col", "auto")
BIG = np.broadcast_to  # zero-stride views: any shape below 2**63 bytes, for free


def _x(shape=(2, 6, 7, 4), dtype=np.float64, seed=0):
    return np.random.default_rng(seed).integers(-4, 5, size=shape).astype(dtype)


def _w(shape=(3, 3, 4, 6), dtype=np.float64, seed=1):
    return np.random.default_rng(seed).integers(-3, 4, size=shape).astype(dtype)


_DEFAULT = object()


def call(op, x=_DEFAULT, w=_DEFAULT, bias=None, **kwargs):
    """One call of ``op`` with valid defaults for whatever is not given."""
    x = _x() if x is _DEFAULT else x
    if op == "conv2d":
        return conv2d(x, _w() if w is _DEFAULT else w, bias, **kwargs)
    fn = max_pool2d if op == "max_pool2d" else avg_pool2d
    return fn(x, **kwargs)


def raises(op, exc, match, **kwargs):
    with pytest.raises(exc, match=match):
        call(op, **kwargs)


# --- wrong ndim ---------------------------------------------------------------------------
NDIM_CASES = (
    [(op, "x", shape) for op in OPS for shape in [(), (4,), (6, 4), (1, 2, 6, 7, 4), (1,) * 6]]
    + [("conv2d", "w", shape) for shape in [(), (6,), (3, 4), (3, 3, 4), (1, 3, 3, 4, 6)]]
    + [("conv2d", "bias", shape) for shape in [(), (1, 6), (6, 1), (2, 3)]]
)


@pytest.mark.parametrize("op, arg, shape", NDIM_CASES)
def test_wrong_ndim(op, arg, shape):
    value = np.ones(shape)
    pattern = {"x": r"x must have 3 \(H, W, C\) or 4", "w": r"w must have 4 dimensions",
               "bias": r"bias must have shape \(6,\)"}[arg]
    raises(op, ValueError, pattern + ".*" + r"\(?" + ", ".join(map(str, shape)), **{arg: value})


# --- zero-size dimensions -----------------------------------------------------------------
ZERO_UNDEFINED = (
    [(op, {"x": np.ones((2, 0, 7, 4))}, r"x has zero height or width: shape \(2, 0, 7, 4\)")
     for op in OPS]
    + [(op, {"x": np.ones((2, 6, 0, 4))}, r"x has zero height or width") for op in OPS]
    + [(op, {"x": np.ones((0, 0, 4))}, r"x has zero height or width") for op in OPS]
    + [("conv2d", {"w": np.ones((0, 3, 4, 6))}, r"w has an empty kernel window: shape \(0, 3"),
       ("conv2d", {"w": np.ones((3, 0, 4, 6))}, r"w has an empty kernel window"),
       ("conv2d", {"w": np.ones((0, 0, 4, 0))}, r"w has an empty kernel window")]
)


@pytest.mark.parametrize("op, kwargs, pattern", ZERO_UNDEFINED)
def test_zero_size_where_undefined(op, kwargs, pattern):
    raises(op, ValueError, pattern, **kwargs)


# (op, x shape, w shape or None, kwargs, expected result shape)
ZERO_DEFINED = (
    [(m, (0, 6, 7, 4), (3, 3, 4, 6), {}, (0, 4, 5, 6)) for m in METHODS]
    + [(m, (0, 6, 7, 4), (3, 3, 4, 6), {"padding": "same", "stride": 2}, (0, 3, 4, 6))
       for m in METHODS]
    + [(m, (2, 6, 7, 4), (3, 3, 4, 0), {}, (2, 4, 5, 0)) for m in METHODS]
    + [(m, (6, 7, 4), (3, 3, 4, 0), {}, (4, 5, 0)) for m in METHODS]
    + [(m, (2, 6, 7, 4), (3, 3, 2, 0), {"groups": 2}, (2, 4, 5, 0)) for m in METHODS]
    + [(m, (0, 6, 7, 0), (3, 3, 0, 0), {}, (0, 4, 5, 0)) for m in METHODS]
    + [(op, (0, 6, 7, 4), None, {}, (0, 3, 3, 4)) for op in POOLS]
    + [(op, (2, 6, 7, 0), None, {"padding": "same"}, (2, 3, 4, 0)) for op in POOLS]
    + [(op, (6, 7, 0), None, {"pool_size": 3, "stride": 1}, (4, 5, 0)) for op in POOLS]
)


@pytest.mark.parametrize("op, x_shape, w_shape, kwargs, expected", ZERO_DEFINED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_out", [False, True])
def test_zero_size_where_defined_gives_an_empty_result(op, x_shape, w_shape, kwargs, expected,
                                                      dtype, with_out):
    x = np.ones(x_shape, dtype)
    out = np.empty(expected, dtype) if with_out else None
    if w_shape is None:
        result = call(op, x=x, out=out, **kwargs)
    else:
        result = conv2d(x, np.ones(w_shape, dtype), method=op, out=out, **kwargs)
    assert result.shape == expected and result.dtype == dtype
    if with_out:
        assert result is out


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bias", [None, np.array([1.5, -2.0, 0.25])])
def test_zero_input_channels_give_the_bias(method, bias):
    """C_in = 0: every output is an empty sum plus the bias (defined, as in NumPy's dot)."""
    result = conv2d(np.ones((2, 5, 5, 0)), np.ones((3, 3, 0, 3)), bias, method=method,
                    padding=1)
    expected = np.zeros((2, 5, 5, 3)) + (0 if bias is None else bias)
    np.testing.assert_array_equal(result, expected)


# --- channel / groups mismatches ----------------------------------------------------------
CHANNEL_CASES = [
    ({"x": np.ones((2, 6, 7, 3))}, r"x has 3 channels but w of shape \(3, 3, 4, 6\)"),
    ({"x": np.ones((2, 6, 7, 5))}, r"x has 5 channels"),
    ({"w": np.ones((3, 3, 2, 6))}, r"x has 4 channels but w of shape \(3, 3, 2, 6\)"),
    ({"w": np.ones((3, 3, 4, 6)), "groups": 2}, r"expects 8 \(w.shape\[2\] \* groups\)"),
    ({"w": np.ones((3, 3, 2, 6)), "groups": 4}, r"groups=4 must divide .* output channels \(6\)"),
    ({"w": np.ones((3, 3, 1, 6)), "groups": 3}, r"groups=3 must divide both x's channels \(4\)"),
    ({"w": np.ones((3, 3, 1, 5)), "groups": 4}, r"groups=4 must divide .*\(5\)"),
    ({"w": np.ones((3, 3, 2, 6)), "groups": 8}, r"groups=8 must divide"),
    ({"w": np.ones((3, 3, 4, 6)), "groups": 2**64}, r"groups=18446744073709551616 must divide"),
    ({"bias": np.ones(5)}, r"bias must have shape \(6,\) to match w, got \(5,\)"),
    ({"bias": np.ones(7)}, r"bias must have shape \(6,\)"),
    ({"bias": np.ones(0)}, r"bias must have shape \(6,\)"),
    ({"bias": 1.0}, r"bias must have shape \(6,\) to match w, got \(\)"),
    ({"bias": [1.0, 2.0]}, r"bias must have shape \(6,\)"),
]


@pytest.mark.parametrize("kwargs, pattern", CHANNEL_CASES)
def test_channel_and_groups_mismatch(kwargs, pattern):
    raises("conv2d", ValueError, pattern, **kwargs)


# --- integer parameters: stride, dilation, groups, pool_size, workers ---------------------
# (value, exception, message fragment after "<name> must ")
BAD_INTS = [
    (0, ValueError, r"be >= 1, got 0"),
    (-1, ValueError, r"be >= 1, got -1"),
    (-(2**70), ValueError, r"be >= 1"),
    ((1, 0), ValueError, r"be >= 1, got \(1, 0\)"),
    ([2, -3], ValueError, r"be >= 1, got \[2, -3\]"),
    (2**63, ValueError, r"be at most 9223372036854775807"),
    ((1, 2**64), ValueError, r"be at most"),
    (2**200, ValueError, r"be at most"),
    ((), ValueError, r"be an int or a pair of ints, got \(\)"),
    ((1,), ValueError, r"be an int or a pair of ints, got \(1,\)"),
    ((1, 2, 3), ValueError, r"be an int or a pair of ints"),
    (np.array([1, 2, 3]), ValueError, r"be an int or a pair of ints"),
    (True, TypeError, r"be an integer, got bool True"),
    (False, TypeError, r"be an integer, got bool False"),
    (np.True_, TypeError, r"be an integer, got bool"),
    ((True, 1), TypeError, r"be an integer, got bool"),
    (1.0, TypeError, r"be an integer, got float 1.0"),
    (1.5, TypeError, r"be an integer, got float 1.5"),
    (float("nan"), TypeError, r"be an integer, got float nan"),
    (float("inf"), TypeError, r"be an integer, got float inf"),
    (np.float64(2), TypeError, r"be an integer, got float64"),
    ((1, 2.0), TypeError, r"be an integer, got float 2.0"),
    (1j, TypeError, r"be an integer, got complex"),
    ("2", TypeError, r"be an integer, got str '2'"),
    (b"2", TypeError, r"be an integer, got bytes"),
    (object(), TypeError, r"be an integer, got object"),
    ({1: 2}, TypeError, r"be an integer, got dict"),
    (np.array([[1, 2]]), ValueError, r"be an int or a pair of ints"),
    (np.array(1.5), TypeError, r"be an integer, got float"),
    (((1, 1), (1, 1)), TypeError, r"be an integer, got tuple"),
]
INT_PARAMS = [("conv2d", "stride"), ("conv2d", "dilation"),
              ("max_pool2d", "pool_size"), ("max_pool2d", "stride"),
              ("avg_pool2d", "pool_size"), ("avg_pool2d", "stride")]


@pytest.mark.parametrize("op, name", INT_PARAMS)
@pytest.mark.parametrize("value, exc, pattern", BAD_INTS,
                         ids=[repr(v[0])[:20] for v in BAD_INTS])
def test_bad_stride_dilation_pool_size(op, name, value, exc, pattern):
    raises(op, exc, f"{name} must {pattern}", **{name: value})


@pytest.mark.parametrize("op, name, value, exc, pattern", [
    ("conv2d", "stride", None, TypeError, r"stride must be an integer, got NoneType"),
    ("conv2d", "dilation", None, TypeError, r"dilation must be an integer, got NoneType"),
    ("max_pool2d", "pool_size", None, TypeError, r"pool_size must be an integer"),
    ("avg_pool2d", "pool_size", None, TypeError, r"pool_size must be an integer"),
])
def test_none_where_an_int_is_required(op, name, value, exc, pattern):
    raises(op, exc, pattern, **{name: value})


# groups and workers are single integers (no pairs)
SCALAR_INTS = [
    ("groups", 0, ValueError, r"groups must be >= 1, got 0"),
    ("groups", -2, ValueError, r"groups must be >= 1, got -2"),
    ("groups", True, TypeError, r"groups must be an integer, got bool"),
    ("groups", 2.0, TypeError, r"groups must be an integer, got float 2.0"),
    ("groups", "2", TypeError, r"groups must be an integer, got str"),
    ("groups", None, TypeError, r"groups must be an integer, got NoneType"),
    ("groups", (1, 1), TypeError, r"groups must be an integer, got tuple"),
    ("groups", np.array([1]), TypeError, r"groups must be an integer"),
    ("workers", 0, ValueError, r"workers must be a positive integer or -1 \(all cores\), got 0"),
    ("workers", -2, ValueError, r"workers must be a positive integer or -1"),
    ("workers", -(2**70), ValueError, r"workers must be a positive integer or -1"),
    ("workers", True, TypeError, r"workers must be an integer, got bool"),
    ("workers", 1.5, TypeError, r"workers must be an integer, got float"),
    ("workers", "2", TypeError, r"workers must be an integer, got str"),
    ("workers", (1, 2), TypeError, r"workers must be an integer, got tuple"),
    ("method", "fast", ValueError, r"method must be one of \('auto', 'direct', 'im2col'\), "
                                   r"got 'fast'"),
    ("method", "", ValueError, r"method must be one of"),
    ("method", None, ValueError, r"method must be one of .*got None"),
    ("method", 1, ValueError, r"method must be one of .*got 1"),
    ("method", ["direct"], ValueError, r"method must be one of"),
]


@pytest.mark.parametrize("name, value, exc, pattern", SCALAR_INTS)
def test_bad_groups_workers_method(name, value, exc, pattern):
    raises("conv2d", exc, pattern, **{name: value})


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("name, value, exc, pattern",
                         [s for s in SCALAR_INTS if s[0] == "workers"])
def test_bad_pool_workers(op, name, value, exc, pattern):
    raises(op, exc, pattern, **{name: value})


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("workers", ["many", 0, 1.0])
def test_bad_workers_fail_even_without_work(op, workers):
    """workers is checked up front, not only when a kernel is about to run."""
    x = np.ones((0, 6, 7, 4))
    with pytest.raises((TypeError, ValueError), match="workers must be"):
        call(op, x=x, workers=workers)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("workers", [1, 2, 3, -1, 2**40, 2**70])
def test_any_positive_worker_count_is_fine(op, workers):
    """Large counts are capped by the work, never handed to OpenMP as-is."""
    x = _x((2, 9, 9, 4))
    result = call(op, x=x, workers=workers)
    if op == "conv2d":
        expected, bound = conv_expected(x, _w())
    else:
        expected, bound = pool_expected(op, x)
    assert_matches(result, expected, bound, np.float64)


# --- padding ------------------------------------------------------------------------------
BAD_PADDING = [
    ("full", ValueError, r"padding must be one of \('valid', 'same'\), an int, .*got 'full'"),
    ("", ValueError, r"padding must be one of .*got ''"),
    ("samee", ValueError, r"got 'samee'"),
    (" same", ValueError, r"got ' same'"),
    (-1, ValueError, r"padding must be >= 0, got -1"),
    (-(2**70), ValueError, r"padding must be >= 0"),
    ((1, -1), ValueError, r"padding must be >= 0, got -1"),
    (((0, 0), (-1, 0)), ValueError, r"padding must be >= 0, got -1"),
    (((0, -2), (0, 0)), ValueError, r"padding must be >= 0, got -2"),
    ((), ValueError, r"padding must be 'valid', 'same', an int, a pair .*got \(\)"),
    ((1,), ValueError, r"padding must be 'valid', 'same', an int, a pair .*got \(1,\)"),
    ((1, 1, 1), ValueError, r"got \(1, 1, 1\)"),
    ([1, 1, 1, 1], ValueError, r"got \[1, 1, 1, 1\]"),
    (((1, 1), (1, 1), (1, 1)), ValueError, r"padding must be 'valid'"),
    (((1, 1, 1), (1, 1)), ValueError, r"padding per axis must be an int or a pair \(before, "
                                      r"after\); got \(\(1, 1, 1\), \(1, 1\)\)"),
    (((1,), (1, 1)), ValueError, r"padding per axis must be an int or a pair"),
    (((), ()), ValueError, r"padding per axis"),
    (2**63, ValueError, r"padding must be at most 9223372036854775807"),
    (((0, 2**64), (0, 0)), ValueError, r"padding must be at most"),
    (2**62, ValueError, r"padding .* gives a padded size above 9223372036854775807"),
    ((2**62 + 2**61, 0), ValueError, r"gives a padded size above"),
    (None, TypeError, r"padding must be 'valid', 'same', an int or pairs of ints, got None"),
    (1.0, TypeError, r"padding must be an integer, got float 1.0"),
    (True, TypeError, r"padding must be an integer, got bool"),
    (b"same", TypeError, r"padding must be an integer, got bytes"),
    (("same", "same"), TypeError, r"padding must be an integer, got str 'same'"),
    ((1, 0.5), TypeError, r"padding must be an integer, got float 0.5"),
    (((1, None), (1, 1)), TypeError, r"padding must be an integer, got NoneType"),
    ({"h": 1}, TypeError, r"padding must be an integer, got dict"),
    (np.array([1, 1]), TypeError, r"padding must be an integer, got ndarray"),
    (object(), TypeError, r"padding must be an integer, got object"),
]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("padding, exc, pattern", BAD_PADDING,
                         ids=[repr(p[0])[:24] for p in BAD_PADDING])
def test_bad_padding(op, padding, exc, pattern):
    raises(op, exc, pattern, padding=padding)


POOL_PADDING_TOO_LARGE = [
    (2, 2), (2, 3), (2, (0, 2)), (2, (2, 0)), (2, ((0, 2), (0, 0))), (2, ((0, 0), (2, 0))),
    (3, ((1, 3), (0, 0))), ((3, 2), ((2, 2), (2, 0))), ((1, 4), 1), ((4, 1), (0, 1)),
    (1, 1), (3, 100), (2, 2**61),
]


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("pool_size, padding", POOL_PADDING_TOO_LARGE)
def test_pool_padding_must_be_smaller_than_the_pool(op, pool_size, padding):
    raises(op, ValueError, r"padding .* must be smaller than pool_size", x=_x((1, 9, 9, 2)),
           pool_size=pool_size, padding=padding)


# --- windows larger than the padded input -------------------------------------------------
# (x shape, w shape / pool size, kwargs); x is (N, H, W, C)
TOO_LARGE = [
    ((1, 4, 4, 1), (5, 1, 1, 1), {}),
    ((1, 4, 4, 1), (1, 5, 1, 1), {}),
    ((1, 4, 4, 1), (7, 7, 1, 1), {"padding": 1}),
    ((1, 4, 4, 1), (3, 3, 1, 1), {"dilation": 3}),
    ((1, 4, 4, 1), (3, 3, 1, 1), {"dilation": (1, 2)}),
    ((1, 1, 1, 1), (2, 2, 1, 1), {}),
    ((1, 1, 9, 1), (2, 1, 1, 1), {"stride": 5}),
    ((1, 4, 4, 1), (9, 9, 1, 1), {"padding": ((2, 2), (0, 9))}),
    ((1, 4, 4, 1), (2, 2, 1, 1), {"dilation": 2**62}),
    ((1, 4, 4, 1), 5, {}),
    ((1, 4, 4, 1), (1, 5), {}),
    ((1, 1, 1, 1), 2, {"stride": 1}),
    ((1, 2, 2, 1), 5, {"padding": 1}),
    ((1, 3, 3, 1), (2**62, 1), {}),
]


@pytest.mark.parametrize("x_shape, window, kwargs", TOO_LARGE)
def test_window_larger_than_the_padded_input(x_shape, window, kwargs):
    x = np.ones(x_shape)
    if isinstance(window, tuple) and len(window) == 4:
        ops = [lambda m=m: conv2d(x, np.ones(window), method=m, **kwargs) for m in METHODS]
    else:
        ops = [lambda f=f: f(x, window, **kwargs) for f in (max_pool2d, avg_pool2d)]
    for op in ops:
        with pytest.raises(ValueError, match=r"of effective size .* is larger than the padded "
                                             r"input: input \(\d+, \d+\) with padding"):
            op()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", [
    ((2, 4, 5, 2), (4, 5, 2, 3), {}),
    ((2, 4, 5, 2), (6, 7, 2, 3), {"padding": 1}),
    ((2, 4, 5, 2), (3, 3, 2, 3), {"dilation": 2, "padding": ((0, 1), (0, 0))}),
    ((1, 1, 1, 3), (3, 3, 3, 2), {"padding": "same"}),
    ((1, 1, 1, 3), (3, 3, 3, 2), {"padding": "same", "dilation": 5, "stride": 7}),
    ((1, 2, 2, 2), (5, 5, 2, 2), {"padding": "same", "dilation": 3}),
])
def test_window_exactly_the_padded_input_or_same_padding_works(method, x_shape, w_shape, kwargs):
    x, w = _x(x_shape), _w(w_shape)
    expected, bound = conv_expected(x, w, **kwargs)
    assert_matches(conv2d(x, w, method=method, **kwargs), expected, bound, np.float64)


# --- Inf and NaN in the kernel meet the zero padding --------------------------------------
@pytest.mark.parametrize("method", ["direct", "im2col", "auto"])
@pytest.mark.parametrize("special", [np.inf, np.nan])
@pytest.mark.parametrize("c_in, c_out, groups", [(1, 1, 1), (4, 8, 1), (4, 4, 4)],
                         ids=["one channel", "multi-channel", "depthwise"])
def test_nonfinite_weights_with_zero_padding_follow_the_reference(method, special, c_in,
                                                                   c_out, groups):
    """conv2d pads with zeros, and 0 * inf is NaN: every method must agree with the
    reference (TensorFlow and PyTorch multiply the zeros too)."""
    x = np.ones((1, 3, 3, c_in))
    w = np.ones((3, 3, c_in // groups, c_out))
    w[0, 0, 0, :] = special
    expected = conv_expected(x, w, padding="same", groups=groups)[0]
    got = conv2d(x, w, padding="same", groups=groups, method=method)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got[~np.isnan(got)], expected[~np.isnan(expected)])


# Outputs smaller than the kernel (deep layers on small maps): the weights' finiteness is
# read off the output after the kernel has run, where some output's window lies inside
# the image, and checked beforehand where none does (a 3x3 kernel on one pixel).
@pytest.mark.parametrize("x_shape, kwargs", [
    ((1, 3, 4, 16), {"padding": "same"}),
    ((2, 5, 5, 16), {"padding": 2, "stride": 2}),
    ((1, 6, 7, 16), {"padding": "same", "dilation": 2}),
    ((1, 1, 1, 16), {"padding": "same"}),
    ((1, 2, 2, 16), {"padding": ((2, 0), (0, 2))}),
])
@pytest.mark.parametrize("special", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("tap", [(0, 0), (1, 1), (2, 2)])
def test_nonfinite_weights_of_a_kernel_larger_than_the_output(x_shape, kwargs, special, tap):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((3, 3, 16, 24))
    w[tap + (5, 7)] = special
    expected, bound = conv_expected(x, w, **kwargs)
    got = conv2d(x, w, method="direct", **kwargs)
    assert got.size < w.size
    assert_matches(got, expected, bound, np.float64)


def test_non_finite_inputs_with_a_kernel_larger_than_the_output_keep_the_result():
    """A NaN pixel makes the output non-finite with finite weights: the result stands."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 4, 4, 16))
    x[0, 1, 2, 3] = np.nan
    w = rng.standard_normal((3, 3, 16, 24))
    expected, bound = conv_expected(x, w, padding="same")
    assert np.isnan(expected).sum() == 9 * 24
    assert_matches(conv2d(x, w, padding="same", method="direct"), expected, bound,
                   np.float64)


# --- dtypes -------------------------------------------------------------------------------
BAD_DTYPES = [np.complex64, np.complex128, object, "U3", "S3", [("a", "f4"), ("b", "f4")],
              [("a", "f8")], "V8", "datetime64[s]", "timedelta64[ms]", np.longdouble]


def _array_of(dtype, shape):
    dtype = np.dtype(dtype)
    return np.zeros(shape, dtype=dtype)


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=str)
@pytest.mark.parametrize("op, arg", [("conv2d", "x"), ("conv2d", "w"), ("conv2d", "bias"),
                                     ("max_pool2d", "x"), ("avg_pool2d", "x")])
def test_non_real_dtypes_raise_type_error(op, arg, dtype):
    shape = {"x": (2, 6, 7, 4), "w": (3, 3, 4, 6), "bias": (6,)}[arg]
    value = _array_of(dtype, shape)
    if np.dtype(dtype) == np.longdouble and np.dtype(np.longdouble).itemsize > 8:
        pattern = r"inputs promote to float\d+, but fastconv computes in float32 or float64"
    elif np.dtype(dtype) == np.longdouble:
        pytest.skip("long double is double on this platform")
    else:
        pattern = f"{arg} has unsupported dtype .*; fastconv computes on real numbers"
    raises(op, TypeError, pattern, **{arg: value})


@pytest.mark.parametrize("value, pattern", [
    ([[[["a"]]]], r"x has unsupported dtype <U1"),
    ([[[[1 + 2j]]]], r"x has unsupported dtype complex128"),
    ([[[[2**70]]]], r"x has unsupported dtype object"),
    ([[[[None]]]], r"x has unsupported dtype object"),
    (None, r"x has unsupported dtype object"),
    ("image.png", r"x has unsupported dtype <U9"),
    ({"x": 1}, r"x has unsupported dtype object"),
    (np.array([[[[1.0]]]], dtype=object), r"x has unsupported dtype object"),
])
@pytest.mark.parametrize("op", OPS)
def test_non_numeric_python_objects_raise_type_error(op, value, pattern):
    raises(op, TypeError, pattern, x=value)


@pytest.mark.parametrize("op", OPS)
def test_ragged_nested_lists_raise_value_error(op):
    raises(op, ValueError, r"x could not be converted to an array: .*inhomogeneous",
           x=[[[[1.0, 2.0], [3.0]]]])


# --- out ----------------------------------------------------------------------------------
def _out_cases(shape, dtype):
    """(id, out, exception, pattern) for a result of this shape and dtype."""
    other = np.float32 if dtype == np.float64 else np.float64
    wrong = tuple(s + 1 for s in shape)
    big_f = np.zeros(shape[::-1], dtype).T
    return [
        ("shape+1", np.zeros(wrong, dtype), ValueError,
         rf"out has shape \({wrong[0]}, .* but the result has shape \({shape[0]}, "),
        ("unbatched", np.zeros(shape[1:], dtype), ValueError, r"out has shape"),
        ("extra dim", np.zeros((1,) + shape, dtype), ValueError, r"out has shape"),
        ("0-d", np.zeros((), dtype), ValueError, r"out has shape \(\)"),
        ("flat", np.zeros(int(np.prod(shape)), dtype), ValueError, r"out has shape"),
        ("dtype", np.zeros(shape, other), TypeError,
         rf"out has dtype {np.dtype(other)}, but the result has dtype {np.dtype(dtype)}"),
        ("int dtype", np.zeros(shape, np.int64), TypeError, r"out has dtype int64"),
        ("f16", np.zeros(shape, np.float16), TypeError, r"out has dtype float16"),
        ("complex", np.zeros(shape, np.complex128), TypeError, r"out has dtype complex128"),
        ("big-endian", np.zeros(shape, np.dtype(dtype).newbyteorder(">")), TypeError,
         r"out has dtype >f"),
        ("fortran", np.asfortranarray(np.zeros(shape, dtype)), ValueError,
         r"out must be C-contiguous"),
        ("transposed", big_f, ValueError, r"out must be C-contiguous"),
        ("strided", np.zeros(shape[:-1] + (2 * shape[-1],), dtype)[..., ::2], ValueError,
         r"out must be C-contiguous"),
        ("negative", np.zeros(shape, dtype)[::-1, ::-1], ValueError, r"out must be C-contiguous"),
        ("broadcast", np.broadcast_to(np.zeros((), dtype), shape), ValueError,
         r"out must be C-contiguous"),
        ("zero-stride writeable",
         np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape),
                                         writeable=True),
         ValueError, r"out must be C-contiguous"),
        ("read-only", _readonly(np.zeros(shape, dtype)), ValueError, r"out is read-only"),
        ("list", np.zeros(shape, dtype).tolist(), TypeError,
         r"out must be a numpy.ndarray or None, got list"),
        ("tuple", (), TypeError, r"out must be a numpy.ndarray or None, got tuple"),
        ("memoryview", memoryview(np.zeros(shape, dtype)), TypeError, r"got memoryview"),
        ("scalar", 0.0, TypeError, r"got float"),
        ("str", "out", TypeError, r"got str"),
        ("matrix", _matrix(np.zeros((2, 2), dtype)), ValueError, r"out has shape \(2, 2\)"),
    ]


def _matrix(a):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.asmatrix(a)


def _readonly(a):
    a.flags.writeable = False
    return a


_OUT_IDS = [c[0] for c in _out_cases((1, 1, 1, 1), np.float64)]
OUT_SHAPES = {"conv2d": (2, 4, 5, 6), "max_pool2d": (2, 3, 3, 4), "avg_pool2d": (2, 3, 3, 4)}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(_OUT_IDS)), ids=_OUT_IDS)
def test_bad_out(op, dtype, case):
    name, out, exc, pattern = _out_cases(OUT_SHAPES[op], dtype)[case]
    before = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
    x, w = _x(dtype=dtype), _w(dtype=dtype)
    with pytest.raises(exc, match=pattern):
        call(op, x=x, w=w, out=out)
    if before is not None:  # the error came before any write
        np.testing.assert_array_equal(np.asarray(out), before)


# --- huge shapes --------------------------------------------------------------------------
# Zero-stride views with up to 2**62 bytes cost nothing to build. (NumPy itself refuses
# views of more than 2**63 - 1 bytes, so (1, 2**40, 2**40, 1) cannot exist as an array:
# the shapes here are the largest NumPy allows.) Every allocation these calls could try is
# above 2**47 bytes, the x86-64 user address space, so it fails even under overcommit.
F32 = np.float32


def _huge_cases():
    one = np.ones((1, 1, 1, 1), F32)
    x62 = BIG(F32(1), (1, 2**40, 2**20, 1))          # 2**60 elements, 4 EiB
    x62t = BIG(F32(1), (1, 2**20, 2**40, 1))
    x_wide = BIG(F32(1), (2**20, 2**20, 2**20, 1))     # 2**60 elements
    x_u8 = BIG(np.uint8(1), (1, 2**31, 2**31, 1))      # 2**62 one-byte elements
    x48 = BIG(F32(1), (1, 2**23, 2**23, 1))           # 2**48 bytes
    w48 = BIG(F32(1), (2**23, 2**23, 1, 1))           # K = 2**46 > BLAS int
    small = np.ones((1, 3, 3, 1), F32)
    cases = [
        ("x 2**40 x 2**20, 3x3 kernel", lambda: conv2d(x62, np.ones((3, 3, 1, 1), F32))),
        ("x 2**20 x 2**40, 1x1 kernel", lambda: conv2d(x62t, one)),
        ("x and w 2**40 x 2**20", lambda: conv2d(x62, BIG(F32(1), (2**40, 2**20, 1, 1)))),
        ("x 2**20 x 2**40, same", lambda: conv2d(x62t, np.ones((3, 3, 1, 1), F32),
                                                 padding="same", stride=2)),
        ("C_out 2**44", lambda: conv2d(small, BIG(F32(1), (1, 1, 1, 2**44)))),
        ("C_out 2**62", lambda: conv2d(small, BIG(np.uint8(1), (1, 1, 1, 2**62)))),
        ("N*H*W*C_out > 2**64", lambda: conv2d(x_wide, BIG(F32(1), (1, 1, 1, 2**30)))),
        ("uint8 2**62 to float32", lambda: conv2d(x_u8, one)),
        ("K = 2**46, im2col", lambda: conv2d(x48, w48, method="im2col")),
        ("K = 2**46, auto", lambda: conv2d(x48, w48)),
        ("K = 2**46, direct", lambda: conv2d(x48, w48, method="direct")),
        ("groups with huge C", lambda: conv2d(BIG(F32(1), (1, 2, 2, 2**46)),
                                              BIG(F32(1), (1, 1, 64, 2**46)), groups=2**40)),
        ("padding 2**40", lambda: conv2d(small, one, padding=2**40)),
        ("padding (2**61, 2**61)", lambda: conv2d(small, one, padding=((2**61, 2**61), (0, 0)))),
        ("dilation 2**62 same", lambda: conv2d(small, np.ones((3, 3, 1, 1), F32),
                                               dilation=2**62, padding="same")),
        ("bias and C_out 2**45", lambda: conv2d(small, BIG(F32(1), (1, 1, 1, 2**45)),
                                                BIG(F32(0), (2**45,)))),
        ("out 2**62 broadcast", lambda: conv2d(x62t, one, out=BIG(F32(0), x62t.shape))),
        ("max pool 2", lambda: max_pool2d(x62)),
        ("avg pool 2", lambda: avg_pool2d(x62t)),
        ("max pool whole image", lambda: max_pool2d(x62, (2**40, 2**20))),
        ("avg pool whole image", lambda: avg_pool2d(x48, 2**23)),
        ("max pool same", lambda: max_pool2d(x62, 3, stride=1, padding="same")),
        ("avg pool uint8 2**62", lambda: avg_pool2d(x_u8, 1)),
        ("max pool out broadcast", lambda: max_pool2d(x62, out=BIG(F32(0), (1, 2**39, 2**19, 1)))),
        ("pool 2**63", lambda: max_pool2d(small, 2**63, padding="same")),
        ("pool padding 2**62", lambda: avg_pool2d(small, 2**62 + 1, padding=2**62)),
        ("stride 2**64", lambda: conv2d(small, one, stride=2**64)),
        ("dilation 2**100", lambda: conv2d(small, one, dilation=2**100)),
    ]
    return cases


HUGE = _huge_cases()


@pytest.mark.parametrize("case", range(len(HUGE)), ids=[c[0] for c in HUGE])
def test_huge_shapes_raise_value_or_memory_error(case):
    if huge_malloc_aborts():
        pytest.skip("AddressSanitizer aborts on a failed malloc: see test_huge_shapes_under_asan")
    _, fn = HUGE[case]
    with pytest.raises((ValueError, MemoryError)):
        fn()


@pytest.mark.skipif(not huge_malloc_aborts(),
                    reason="only under AddressSanitizer without allocator_may_return_null=1")
def test_huge_shapes_under_asan():
    """The same cases in a child process whose ASAN_OPTIONS let a failed malloc return NULL."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(
        filter(None, [env.get("ASAN_OPTIONS", ""), "allocator_may_return_null=1"]))
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_hardening as t\n"
        "for name, fn in t.HUGE:\n"
        "    try:\n"
        "        fn(); print('NO ERROR:', name)\n"
        "    except (ValueError, MemoryError) as e:\n"
        "        print('ok:', name, type(e).__name__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, os.path.dirname(__file__)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(HUGE) and all(line.startswith("ok:") for line in lines), lines


@pytest.mark.parametrize("op", OPS)
def test_huge_but_empty_shapes_give_an_empty_result(op):
    """Batch 0 (or C_out 0) over a huge image: no work, no allocation, an empty result.
    (NumPy still refuses shapes whose non-zero sizes multiply beyond 2**63 bytes.)"""
    x = BIG(F32(1), (0, 2**40, 2**20, 1))
    if op == "conv2d":
        r = conv2d(x, np.ones((3, 3, 1, 1), F32), padding="same")
        assert r.shape == (0, 2**40, 2**20, 1)
        r = conv2d(BIG(F32(1), (1, 2**40, 2**20, 1)), np.ones((3, 3, 1, 0), F32))
        assert r.shape == (1, 2**40 - 2, 2**20 - 2, 0)
        r = conv2d(np.ones((0, 3, 3, 1), F32), np.ones((1, 1, 1, 1), F32), padding=2**20)
        assert r.shape == (0, 2**21 + 3, 2**21 + 3, 1)
    else:
        r = call(op, x=x, pool_size=2**20, stride=1)
        assert r.shape == (0, 2**40 - 2**20 + 1, 1, 1)
    assert r.dtype == F32 and r.size == 0


@pytest.mark.parametrize("method", METHODS)
def test_huge_strides_and_pools_that_fit_the_index_range_work(method):
    """Large but representable geometry is computed, not refused. Only the first window
    exists, so the result equals a small geometry's (the reference cannot pad by 2**61)."""
    x = _x((1, 3, 3, 2))
    w = _w((2, 2, 2, 3))
    kw = {"stride": 2**62, "dilation": (1, 2)}
    expected, bound = conv_expected(x, w, padding=((0, 0), (1, 0)), **kw)
    assert expected.shape == (1, 1, 1, 3)
    result = conv2d(x, w, method=method, padding=((0, 2**61), (1, 0)), **kw)
    assert_matches(result, expected, bound, np.float64)
    for op in POOLS:
        expected, bound = pool_expected(op, x, (3, 2), stride=2**62)
        assert expected.shape == (1, 1, 1, 2)
        result = call(op, x=x, pool_size=(2**62, 2), stride=2**62,
                      padding=((2**61, 2**61), (0, 0)))
        assert_matches(result, expected, bound, np.float64)


# --- inputs are never modified ------------------------------------------------------------
def _guarded(arrays):
    return [(g, g.copy(), g.flags.writeable) for g in arrays]


def _check_guarded(guards):
    for g, before, writeable in guards:
        np.testing.assert_array_equal(g, before)
        assert g.flags.writeable == writeable


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("arg", ["x", "w", "bias"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_inputs_are_not_modified(layout, arg, method, dtype):
    values = {"x": _x((2, 7, 6, 4), dtype), "w": _w((3, 2, 4, 9), dtype),
              "bias": np.linspace(-1, 1, 9).astype(dtype)}
    inputs = dict(values)
    inputs[arg], guard = with_layout(values[arg], layout)
    values[arg] = np.array(inputs[arg], dtype=np.float64)  # the values actually passed
    guards = _guarded([guard])
    kw = {"padding": "same", "stride": (2, 1)}
    result = conv2d(inputs["x"], inputs["w"], inputs["bias"], method=method, **kw)
    _check_guarded(guards)
    expected, bound = conv_expected(values["x"], values["w"], values["bias"], **kw)
    assert_matches(result, expected, bound, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_inputs_are_not_modified(layout, op, dtype):
    x = _x((2, 7, 6, 5), dtype)
    x[0, 1, 2, 3] = np.nan
    view, guard = with_layout(x, layout)
    guards = _guarded([guard])
    kw = {"pool_size": (3, 2), "stride": (2, 1), "padding": "same"}
    result = call(op, x=view, **kw)
    _check_guarded(guards)
    expected, bound = pool_expected(op, np.array(view, dtype=np.float64), **kw)
    assert_matches(result, expected, bound, dtype)


def _simd_builds(module):
    """{level: module} for each SIMD build of a kernel module this CPU runs."""
    from fastconv import _dispatch

    return _dispatch.variants(module)


@pytest.mark.parametrize("level", sorted(_simd_builds("_direct")))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c_in, c_out, groups", [(1, 1, 1), (5, 19, 1), (16, 16, 16)])
def test_every_simd_build_takes_unaligned_and_odd_layouts(level, dtype, c_in, c_out, groups):
    """Unaligned and negative-strided x and an unaligned out, through each SIMD build of
    the direct kernel: vector loads must not assume more alignment than NumPy gives."""
    from fastconv.conv import _conv2d

    x = _x((2, 9, 23, c_in), dtype)
    w = _w((3, 3, c_in // groups, c_out), dtype)
    kw = {"padding": "same", "groups": groups}
    expected, bound = conv_expected(x, w, **kw)
    for layout in ("unaligned", "negative"):
        view, _ = with_layout(x, layout)
        out, _ = with_layout(np.zeros(expected.shape, dtype), "unaligned")
        assert _conv2d(view, w, method="direct", out=out, simd=level, **kw) is out
        assert_matches(out, expected, bound, dtype)


@pytest.mark.parametrize("level", sorted(_simd_builds("_pool")))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", POOLS)
def test_every_simd_pool_build_takes_unaligned_layouts(level, dtype, op):
    from fastconv.pool import _pool2d

    x = _x((2, 9, 11, 37), dtype)
    x[1, 2, 3, 4] = np.nan
    expected, bound = pool_expected(op, x, 3, stride=2, padding="same")
    view, _ = with_layout(x, "unaligned")
    out, _ = with_layout(np.zeros(expected.shape, dtype), "unaligned")
    assert _pool2d(op, view, 3, stride=2, padding="same", out=out, simd=level) is out
    assert_matches(out, expected, bound, dtype)


# --- out overlapping the inputs -----------------------------------------------------------
def _conv_overlap_cases(dtype):
    """(id, x, w, bias, out, kwargs): out shares memory with the inputs in various ways."""
    rng = np.random.default_rng(5)
    data = lambda shape: rng.integers(-4, 5, size=shape).astype(dtype)  # noqa: E731
    cases = []
    x = data((2, 5, 6, 4))
    cases.append(("out is x, 1x1", x, data((1, 1, 4, 4)), data(4), x, {}))
    x = data((2, 5, 6, 4))
    cases.append(("out is x, 3x3 same", x, data((3, 3, 4, 4)), None, x, {"padding": "same"}))
    x = data((1, 5, 6, 3))
    cases.append(("out is x, depthwise same", x, data((3, 3, 1, 3)), data(3), x,
                  {"padding": "same", "groups": 3}))
    buf = data(2 * 5 * 6 * 4 + 7)
    x = buf[7:].reshape(2, 5, 6, 4)
    cases.append(("out = x shifted back", x, data((3, 3, 4, 4)), None,
                  buf[:-7].reshape(2, 5, 6, 4), {"padding": "same"}))
    cases.append(("out = x shifted forward", buf[:-7].reshape(2, 5, 6, 4), data((3, 3, 4, 4)),
                  None, buf[7:].reshape(2, 5, 6, 4), {"padding": "same"}))
    buf = data(2 * 4 * 5 * 6 + 3 * 3 * 4 * 6)
    w = buf[: 3 * 3 * 4 * 6].reshape(3, 3, 4, 6)
    out = buf[3 * 3 * 4 * 6 - 11: 3 * 3 * 4 * 6 - 11 + 2 * 4 * 5 * 6].reshape(2, 4, 5, 6)
    cases.append(("out overlaps w", data((2, 6, 7, 4)), w, None, out, {}))
    buf = data(2 * 4 * 5 * 6 + 5)
    cases.append(("out overlaps bias", data((2, 6, 7, 4)), data((3, 3, 4, 6)), buf[:6],
                  buf[5:].reshape(2, 4, 5, 6), {}))
    x = data((2, 6, 7, 4))
    out = x.reshape(-1)[: 2 * 2 * 3 * 4].reshape(2, 2, 3, 4)
    cases.append(("out is the head of x", x, data((3, 3, 4, 4)), None, out, {"stride": 2}))
    x = data((6, 7, 4))
    cases.append(("unbatched, out is x", x, data((3, 3, 4, 4)), None, x, {"padding": 1}))
    return cases


@pytest.mark.parametrize("case", range(9))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_out_overlapping_inputs(case, method, dtype):
    name, x, w, bias, out, kw = _conv_overlap_cases(dtype)[case]
    assert np.may_share_memory(out, x) or np.may_share_memory(out, w) or (
        bias is not None and np.may_share_memory(out, bias)), name
    expected, bound = conv_expected(x.copy(), w.copy(), None if bias is None else bias.copy(),
                                    **kw)
    result = conv2d(x, w, bias, method=method, out=out, **kw)
    assert result is out
    assert_matches(result, expected, bound, dtype)


@pytest.mark.parametrize("op", POOLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["out is x, pool 1", "out is x, pool 3 same stride 1",
                                  "out is the head of x", "out is the tail of x"])
def test_pool_out_overlapping_x(op, dtype, case):
    x = _x((2, 6, 8, 3), dtype)
    if case == "out is x, pool 1":
        kw, out = {"pool_size": 1}, x
    elif case == "out is x, pool 3 same stride 1":
        kw, out = {"pool_size": 3, "stride": 1, "padding": "same"}, x
    elif case == "out is the head of x":
        kw, out = {"pool_size": 2}, x.reshape(-1)[: 2 * 3 * 4 * 3].reshape(2, 3, 4, 3)
    else:
        kw, out = {"pool_size": 2}, x.reshape(-1)[-2 * 3 * 4 * 3:].reshape(2, 3, 4, 3)
    expected, bound = pool_expected(op, x.copy(), **kw)
    result = call(op, x=x, out=out, **kw)
    assert result is out
    assert_matches(result, expected, bound, dtype)

"""Property-based tests (issue 5): random shapes, strides, dilations, every padding
spelling, groups, bias, dtypes, memory layouts and methods, each compared with
fastconv.reference under a rigorous rounding bound (see _oracle.py).

Budgets come from FASTCONV_HYPOTHESIS_PROFILE (ci, dev, debug): _hypothesis_profiles.py.
"""
import numpy as np
from hypothesis import given, note
from hypothesis import strategies as st

import fastconv
from _hypothesis_profiles import budget
from _oracle import (LAYOUTS, assert_matches, conv_expected, pool_expected, pool_result_dtype,
                     with_layout)

# Weighted by repetition: mostly the two compute dtypes, sometimes ones that convert.
X_DTYPES = ["float32"] * 4 + ["float64"] * 4 + ["float16", "int16", "uint8", "bool"]
W_DTYPES = ["float32"] * 4 + ["float64"] * 4 + ["float16", "int8"]
B_DTYPES = [None] * 3 + ["float32", "float64", "int32"]
METHODS = ["direct", "im2col", "auto"]


def _pair_forms(lo, hi):
    """An int, or a pair spelled as tuple, list or NumPy integers."""
    v = st.integers(lo, hi)
    return st.one_of(
        v,
        st.tuples(v, v),
        st.lists(v, min_size=2, max_size=2),
        v.map(np.int64),
        st.tuples(v, v).map(lambda t: np.array(t, dtype=np.intp)),
    )


def _as_pair(value):
    value = np.asarray(value).tolist()
    return (value, value) if isinstance(value, int) else tuple(value)


def _explicit_padding(max_pad):
    """Every explicit spelling: p, (ph, pw), [ph, pw], ((t, b), (l, r)), ((t, b), pw)."""
    p = st.integers(0, max_pad)
    pair = st.tuples(p, p)
    return st.one_of(
        p,
        pair,
        st.lists(p, min_size=2, max_size=2),
        st.tuples(pair, pair),
        st.tuples(pair, p),
        st.tuples(p, st.lists(p, min_size=2, max_size=2)),
    )


def _pads(padding):
    """((top, bottom), (left, right)) of an explicit padding spelling."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return tuple((a, a) if isinstance(a, int) else tuple(a) for a in padding)


def _values(rng, shape, dtype, kind):
    """Array data of a given flavour, cast to dtype (the cast values are what is tested)."""
    if kind == "integers":
        data = rng.integers(-3, 4, size=shape).astype(np.float64)
    elif kind == "wide":  # magnitudes over many binades, both signs
        data = rng.standard_normal(shape) * 2.0 ** rng.integers(-8, 9, size=shape)
    else:
        data = rng.standard_normal(shape)
    dtype = np.dtype(dtype)
    if dtype.kind == "u":
        data = np.abs(data) * 10
    elif dtype.kind == "b":
        data = data > 0
    elif dtype.kind == "i":
        info = np.iinfo(dtype)
        data = np.clip(np.round(data * 3), info.min, info.max)
    return np.asarray(data).astype(dtype)


def _result_dtype(*dtypes):
    return np.result_type(*[np.dtype(d) for d in dtypes if d is not None], np.float32)


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    depthwise = draw(st.booleans()) and groups > 1
    cin_g = 1 if depthwise else draw(st.integers(1, 3))
    cout_g = draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(_pair_forms(1, 3))
    dilation = draw(st.one_of(st.just(1), _pair_forms(1, 3)))
    padding = draw(st.one_of(st.sampled_from(["valid", "same"]), _explicit_padding(3)))
    (sh, sw), (dh, dw) = _as_pair(stride), _as_pair(dilation)
    eff = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    if padding == "same":
        lo = (1, 1)
    elif padding == "valid":
        lo = eff
    else:
        (t, b), (l, r) = _pads(padding)
        lo = (max(1, eff[0] - t - b), max(1, eff[1] - l - r))
    h = lo[0] + draw(st.integers(0, 6))
    w = lo[1] + draw(st.integers(0, 6))
    n = draw(st.sampled_from([1, 1, 2, 3, 0]))
    unbatched = n == 1 and draw(st.booleans())
    return {
        "x_shape": (h, w, cin_g * groups) if unbatched else (n, h, w, cin_g * groups),
        "w_shape": (kh, kw, cin_g, cout_g * groups),
        "kwargs": {"stride": stride, "dilation": dilation, "padding": padding,
                   "groups": groups},
        "x_dtype": draw(st.sampled_from(X_DTYPES)),
        "w_dtype": draw(st.sampled_from(W_DTYPES)),
        "b_dtype": draw(st.sampled_from(B_DTYPES)),
        "values": draw(st.sampled_from(["normal", "integers", "wide"])),
        "x_nan": draw(st.sampled_from([False, False, False, True])),
        "layouts": [draw(st.sampled_from(LAYOUTS)) for _ in range(3)],
        "method": draw(st.sampled_from(METHODS)),
        "out": draw(st.booleans()),
        "workers": draw(st.sampled_from([None, None, 1, 2])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@budget(3000)
@given(conv_cases())
def test_conv2d_matches_reference(case):
    rng = np.random.default_rng(case["seed"])
    x = _values(rng, case["x_shape"], case["x_dtype"], case["values"])
    if case["x_nan"] and x.size and x.dtype.kind == "f":
        x.flat[rng.integers(x.size)] = rng.choice([np.nan, np.inf, -np.inf])
    w = _values(rng, case["w_shape"], case["w_dtype"], case["values"])
    bias = (None if case["b_dtype"] is None
            else _values(rng, case["w_shape"][3], case["b_dtype"], case["values"]))
    inputs, guards = [], []
    for a, layout in zip((x, w, bias), case["layouts"]):
        if a is None or layout == "broadcast":  # broadcast changes values: own test below
            inputs.append(a)
            guards.append(None if a is None else (a, a.copy()))
            continue
        view, guard = with_layout(a, layout)
        inputs.append(view)
        guards.append((guard, guard.copy()))
    dtype = _result_dtype(case["x_dtype"], case["w_dtype"], case["b_dtype"])
    kwargs = case["kwargs"]
    expected, bound = conv_expected(x, w, bias, **kwargs)
    out = np.full(expected.shape, np.nan, dtype) if case["out"] else None
    note(f"result dtype {dtype}, shape {expected.shape}")
    result = fastconv.conv2d(*inputs, method=case["method"], out=out,
                             workers=case["workers"], **kwargs)
    if out is not None:
        assert result is out
    assert_matches(result, expected, bound, dtype)
    for g in guards:
        if g is not None:
            np.testing.assert_array_equal(g[0], g[1])


@budget(500)
@given(conv_cases(), st.sampled_from(["x", "w", "bias"]))
def test_conv2d_methods_agree_on_broadcast_inputs(case, which):
    """Zero-stride inputs (np.broadcast_to) through every method."""
    rng = np.random.default_rng(case["seed"])
    arrays = {
        "x": _values(rng, case["x_shape"], case["x_dtype"], case["values"]),
        "w": _values(rng, case["w_shape"], case["w_dtype"], case["values"]),
        "bias": _values(rng, case["w_shape"][3], case["b_dtype"] or "float32", case["values"]),
    }
    arrays[which], _ = with_layout(arrays[which], "broadcast")
    dtype = _result_dtype(case["x_dtype"], case["w_dtype"], case["b_dtype"] or "float32")
    expected, bound = conv_expected(arrays["x"], arrays["w"], arrays["bias"], **case["kwargs"])
    for method in METHODS:
        result = fastconv.conv2d(arrays["x"], arrays["w"], arrays["bias"], method=method,
                                 **case["kwargs"])
        assert_matches(result, expected, bound, dtype)


POOL_DTYPES = ["float32"] * 3 + ["float64"] * 3 + ["float16", "int8", "uint8", "bool"]


@st.composite
def pool_cases(draw):
    ph, pw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pool = draw(st.sampled_from([(ph, pw), [ph, pw], ph, np.int64(ph)]))
    ph, pw = _as_pair(pool)
    stride = draw(st.one_of(st.none(), _pair_forms(1, 4)))
    kind = draw(st.sampled_from(["valid", "same", "explicit"]))
    if kind == "explicit":
        t, b = draw(st.integers(0, ph - 1)), draw(st.integers(0, ph - 1))
        l, r = draw(st.integers(0, pw - 1)), draw(st.integers(0, pw - 1))
        padding = draw(st.sampled_from([((t, b), (l, r)), [[t, b], [l, r]]]
                                       + ([(t, l)] if (t, l) == (b, r) else [])
                                       + ([t] if t == b == l == r else [])))
        lo = (max(1, ph - t - b), max(1, pw - l - r))
    else:
        padding = kind
        lo = (1, 1) if kind == "same" else (ph, pw)
    h = lo[0] + draw(st.integers(0, 7))
    w = lo[1] + draw(st.integers(0, 7))
    n = draw(st.sampled_from([1, 1, 2, 3, 0]))
    c = draw(st.sampled_from([1, 2, 3, 5, 8, 17]))
    unbatched = n == 1 and draw(st.booleans())
    return {
        "op": draw(st.sampled_from(["max_pool2d", "avg_pool2d"])),
        "x_shape": (h, w, c) if unbatched else (n, h, w, c),
        "pool_size": pool,
        "kwargs": {"stride": stride, "padding": padding},
        "dtype": draw(st.sampled_from(POOL_DTYPES)),
        "values": draw(st.sampled_from(["normal", "integers", "wide"])),
        "specials": draw(st.integers(0, 3)),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "out": draw(st.booleans()),
        "workers": draw(st.sampled_from([None, None, 1, 2])),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@budget(2500)
@given(pool_cases())
def test_pooling_matches_reference(case):
    rng = np.random.default_rng(case["seed"])
    x = _values(rng, case["x_shape"], case["dtype"], case["values"])
    if x.dtype.kind == "f" and x.size:
        for _ in range(case["specials"]):  # NaN must win in max, propagate in the mean
            x.flat[rng.integers(x.size)] = rng.choice([np.nan, np.inf, -np.inf])
    view, guard = with_layout(x, case["layout"])
    before = guard.copy()
    x_passed = np.array(view, dtype=np.float64)
    dtype = pool_result_dtype(case["op"], case["dtype"])
    expected, bound = pool_expected(case["op"], x_passed, case["pool_size"], **case["kwargs"])
    # prefilled with a value the kernel must overwrite (NaN, or an integer type's max)
    unwritten = np.nan if dtype.kind == "f" else True if dtype.kind == "b" else np.iinfo(dtype).max
    out = np.full(expected.shape, unwritten, dtype) if case["out"] else None
    fn = getattr(fastconv, case["op"])
    result = fn(view, case["pool_size"], out=out, workers=case["workers"], **case["kwargs"])
    if out is not None:
        assert result is out
    assert_matches(result, expected, bound, dtype)
    np.testing.assert_array_equal(guard, before)

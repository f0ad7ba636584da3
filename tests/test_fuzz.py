"""Fuzzing the public API (issue 5) with arbitrary arguments, not only valid ones.

Every parameter of conv2d, max_pool2d and avg_pool2d receives any Python object:
None, bools, floats (nan, inf), small, negative and huge integers, strings, bytes,
nested tuples and lists, arrays of every dtype, ndim and shape (zero-size ones
included) and huge zero-stride views, mixed with nearly valid values so that the
fuzzer also reaches the kernels. The only exceptions allowed are ValueError,
TypeError and MemoryError (NumPy's DTypePromotionError and AxisError subclass
them); a successful call returns an array of the documented shape and dtype, and,
where the inputs are small and finite, the reference's values.

Run with ``-s`` to see the number of cases and their outcomes; budgets come from
FASTCONV_HYPOTHESIS_PROFILE (see _hypothesis_profiles.py).
"""
import collections
import sys
import warnings

import numpy as np
import pytest
import scipy.signal
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastconv
from _hypothesis_profiles import PROFILE, budget
from _oracle import (LAYOUTS, asan_loaded, assert_matches, conv_expected, huge_malloc_aborts,
                     pool_result_dtype,
                     pool_expected, with_layout)

ALLOWED = (ValueError, TypeError, MemoryError)
OUTCOMES = collections.Counter()
DIFFERS = collections.Counter()  # drop-ins: several bad arguments, another one reported

# Integers: small ones, and huge ones; nothing in between. A padding of 10,000 is a valid
# request for a 10,000**2-pixel result that would really be allocated and written, so the
# huge values start where a single one implies an allocation beyond the address space
# (2**47 bytes) or NumPy's size limit, which fails at once. Two of them together (a huge
# padding, a huge stride) can still ask for a few GiB: the fuzz tests run under an
# address-space limit (RLIMIT_AS) that turns such a request into a MemoryError.
# AddressSanitizer cannot run under RLIMIT_AS: there the fuzz leaves out 2**24 (the one
# value that leads to real allocations). It also aborts on a failed malloc unless
# ASAN_OPTIONS has allocator_may_return_null=1; without that option the fuzz keeps only
# values whose every combination fails before any allocation, and no huge views.
HUGE_INTS = [2**24, 2**31 - 1, 2**31, 2**32, 2**40, 2**62, 2**63 - 1, 2**63, 2**64, 2**100]
if asan_loaded():
    HUGE_INTS = [v for v in HUGE_INTS if v >= 2**31]
if huge_malloc_aborts():  # e.g. padding 2**31 - 1 with stride 3 asks for 8 EB
    HUGE_INTS = [v for v in HUGE_INTS if v >= 2**40]
SIGNED_HUGE = HUGE_INTS + [-v for v in HUGE_INTS]
ADDRESS_SPACE_MARGIN = 4 << 30


def one_in(n):
    """True about once in n draws (st.integers would favour the small end)."""
    return st.sampled_from([False] * (n - 1) + [True])


ints = st.one_of(st.integers(-3, 6), st.sampled_from(SIGNED_HUGE))
int64s = st.one_of(st.integers(-3, 6),
                   st.sampled_from([v for v in SIGNED_HUGE if -(2**63) <= v < 2**63]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    int64s.map(np.int64),
    st.integers(0, 6).map(np.uint8),
    st.just(np.True_),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, 2.0, 0.5, -1.0, float("nan"), float("inf")]),
    st.complex_numbers(max_magnitude=10),
    st.sampled_from(["valid", "same", "VALID", "full", "", "direct", "im2col", "auto", "2",
                     "same ", "causal"]),
    st.text(max_size=4),
    st.binary(max_size=3),
    st.just(object()),
    st.just(Ellipsis),
    st.sampled_from([slice(1), range(2), {}, set(), frozenset([1])]),
)

ANY_DTYPE = st.one_of(
    hnp.scalar_dtypes(),
    hnp.floating_dtypes(endianness="?"),
    hnp.byte_string_dtypes(max_len=3),
    hnp.unicode_string_dtypes(max_len=3),
    hnp.array_dtypes(hnp.scalar_dtypes(), max_size=2),
    st.just(np.dtype(np.longdouble)),
)


@st.composite
def any_array(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=6, min_side=0, max_side=4))
    if draw(one_in(10)):
        return np.full(shape, draw(st.sampled_from([None, 1, 1.5, "a"])), dtype=object)
    return draw(hnp.arrays(ANY_DTYPE, shape))


# Zero-stride views of 2**48 to 2**58 elements (so at most 2**61 bytes, which NumPy allows
# for every dtype drawn): copying one can never succeed.
HUGE_SHAPES = [(1, 2**38, 2**20, 1), (1, 2**20, 2**38, 1), (2**16, 2**16, 2**16, 1),
               (1, 2**24, 2**24, 3), (2**24, 2**24, 1, 1), (1, 1, 2**24, 2**24),
               (2**38, 2**20, 1), (1, 1, 1, 2**48), (2**48,), (2**24, 2**24)]
huge_views = st.builds(
    lambda shape, dtype: np.broadcast_to(np.ones((), dtype), shape),
    st.sampled_from(HUGE_SHAPES),
    st.sampled_from([np.float32, np.float64, np.uint8, np.int16, np.complex64, np.bool_]),
)

anything = st.recursive(
    st.one_of(scalars, any_array(), *([] if huge_malloc_aborts() else [huge_views])),
    lambda inner: st.one_of(st.tuples(inner, inner), st.lists(inner, max_size=4),
                            st.tuples(inner), st.tuples(inner, inner, inner)),
    max_leaves=6,
)

# Nearly valid values, so that the fuzzer gets past the first checks.
REAL = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8, np.bool_,
                        np.dtype(">f8"), np.dtype(">f4")])
small_floats = st.floats(-100, 100, allow_nan=False, width=32)
special_floats = st.one_of(small_floats, st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))


def size(lo, hi):
    """About uniform over lo..hi. Hypothesis favours the first element of sampled_from
    (and the low end of st.integers); lo, often an invalid zero size, comes last."""
    return st.sampled_from(list(range(lo + 1, hi + 1)) + [lo])


@st.composite
def real_array(draw, shape, specials=False):
    """A real array of a drawn dtype and memory layout; NaN/Inf only in float dtypes."""
    dtype = np.dtype(draw(REAL))
    elements = special_floats if specials and dtype.kind == "f" else small_floats
    data = draw(hnp.arrays(np.float64, shape, elements=elements))
    if dtype.kind == "b":
        data = data > 0
    elif dtype.kind in "iu":
        data = np.round(np.abs(data) if dtype.kind == "u" else data)
    view, _ = with_layout(data.astype(dtype), draw(st.sampled_from(LAYOUTS)))
    return view


@st.composite
def image(draw):
    dims = [draw(size(0, 3))] if draw(st.booleans()) else []
    dims += [draw(size(0, 7)), draw(size(0, 7)), draw(size(0, 5))]
    view = draw(real_array(tuple(dims), specials=draw(one_in(5))))
    return view.tolist() if draw(one_in(6)) else view


def pair_or(value_strategy):
    return st.one_of(value_strategy, st.tuples(value_strategy, value_strategy),
                     st.lists(value_strategy, min_size=2, max_size=2),
                     one_in(4).flatmap(lambda odd: st.lists(value_strategy, max_size=3)
                                       if odd else value_strategy))


valid_int = st.integers(1, 3)
padding_like = st.one_of(
    st.sampled_from(["valid", "same"]),
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
              st.tuples(st.integers(0, 2), st.integers(0, 2))),
)


def maybe(valid, n=8):
    """Mostly a nearly valid value, about once in n draws anything at all."""
    return one_in(n).flatmap(lambda wild: anything if wild else valid)


def _kwargs(draw, spec):
    """Draw each keyword (or leave it out); rarely add an unknown one."""
    kwargs = {}
    for name, strategy in spec.items():
        if not draw(one_in(4)):
            kwargs[name] = draw(strategy)
    if draw(one_in(30)):
        kwargs[draw(st.sampled_from(["strides", "pad", "kernel_size", "axis"]))] = 1
    return kwargs


@st.composite
def conv_calls(draw):
    x = draw(maybe(image()))
    shape = np.shape(x) if isinstance(x, np.ndarray) else None
    groups = draw(maybe(st.integers(1, 3)))
    # Only a real image gets a matching kernel: `anything` includes broadcast views whose
    # channel count no kernel array could hold.
    if (shape is not None and len(shape) in (3, 4) and shape[-1] <= 64
            and not draw(one_in(5))):
        c = shape[-1]
        g = groups if isinstance(groups, int) and not isinstance(groups, bool) and \
            0 < groups <= 3 and c % groups == 0 else 1
        c_out = g * draw(size(0, 3))
        kernel = st.sampled_from([1, 2, 3, 4] * 3 + [0])
        w_shape = (draw(kernel), draw(kernel), c // g, c_out)
        w = draw(real_array(w_shape))
        groups = groups if draw(one_in(4)) else g
        bias = draw(st.one_of(st.none(), real_array((c_out,)), anything))
    else:
        w, bias = draw(anything), draw(st.one_of(st.none(), anything))
    kwargs = _kwargs(draw, {
        "stride": maybe(pair_or(valid_int)),
        "padding": maybe(padding_like),
        "dilation": maybe(pair_or(valid_int)),
        "groups": st.just(groups),
        "method": maybe(st.sampled_from(["auto", "direct", "im2col"])),
        "workers": maybe(st.sampled_from([None, 1, 2, -1])),
        "out": maybe(st.none(), 3),
    })
    args = [x, w] if draw(one_in(3)) else [x, w, bias]
    if draw(one_in(40)):
        args.append(draw(anything))  # one positional argument too many
    return args, kwargs


@st.composite
def pool_calls(draw):
    x = draw(maybe(image()))
    kwargs = _kwargs(draw, {
        "stride": maybe(st.one_of(st.none(), pair_or(valid_int))),
        "padding": maybe(padding_like),
        "workers": maybe(st.sampled_from([None, 1, 2, -1])),
        "out": maybe(st.none(), 3),
    })
    args = [x]
    if not draw(one_in(4)):
        args.append(draw(maybe(pair_or(st.integers(1, 3)))))
    if draw(one_in(40)):
        args.append(draw(anything))
    return args, kwargs


def _try(name, fn, args, kwargs):
    """Call; return the result, or None after an allowed exception. Count the outcome."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. NumPy's ComplexWarning in asarray
            result = fn(*args, **kwargs)
    except ALLOWED as e:
        assert str(e).strip(), f"{name} raised {type(e).__name__} without a message"
        outcome = type(e).__name__
        OUTCOMES[(name, outcome)] += 1
        event(f"{name}: {outcome}")
        return None
    except BaseException as e:
        OUTCOMES[(name, "other: " + type(e).__name__)] += 1
        raise AssertionError(
            f"{name} raised {type(e).__name__} (only ValueError, TypeError, MemoryError are "
            f"allowed): {e}"
        ) from e
    OUTCOMES[(name, "ok")] += 1
    event(f"{name}: ok")
    return result


def _modest(value, limit=64):
    """True when every number inside value (nested tuples, lists, small arrays) is at most
    ``limit`` in size: the reference pads explicitly, so huge geometry is beyond it."""
    if isinstance(value, str) or value is None:
        return True
    if isinstance(value, np.ndarray):
        return value.size <= 4 and all(_modest(v, limit) for v in value.ravel().tolist())
    if isinstance(value, (tuple, list)):
        return all(_modest(v, limit) for v in value)
    try:
        return abs(value) <= limit
    except TypeError:
        return True


def _small_finite(*arrays):
    for a in arrays:
        if a is None:
            continue
        a = np.asarray(a)
        if a.size > 4000 or a.dtype.kind not in "biuf":
            return False
        if a.size and not (np.isfinite(a).all() and np.abs(a.astype(np.float64)).max() < 1e4):
            return False
    return True


def _check_success(result, x, w, bias, kwargs, channels, pool_op=None):
    xa = np.asarray(x)
    arrays = [np.asarray(a) for a in (x, w, bias) if a is not None]
    dtype = (np.result_type(*arrays, np.float32) if pool_op is None
             else pool_result_dtype(pool_op, xa.dtype))
    assert type(result) is np.ndarray or result is kwargs.get("out"), type(result)
    if kwargs.get("out") is not None:
        assert result is kwargs["out"]
    assert result.dtype == dtype, (result.dtype, dtype)
    assert dtype in (np.float32, np.float64) or (pool_op == "max_pool2d" and dtype.kind in "biu")
    assert result.ndim == xa.ndim
    if xa.ndim == 4:
        assert result.shape[0] == xa.shape[0]
    assert result.shape[-1] == channels


@budget(3000)
@given(conv_calls())
def test_fuzz_conv2d(call):
    args, kwargs = call
    result = _try("conv2d", fastconv.conv2d, args, kwargs)
    if result is None:
        return
    x, w = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    _check_success(result, x, w, bias, kwargs, np.shape(w)[3])
    geometry = {k: v for k, v in kwargs.items()
                if k in ("stride", "padding", "dilation", "groups")}
    if _small_finite(x, w, bias) and _modest(list(geometry.values())):
        expected, bound = conv_expected(x, w, bias, **geometry)
        assert_matches(result, expected, bound, result.dtype)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@budget(1500)
@given(call=pool_calls())
def test_fuzz_pooling(op, call):
    args, kwargs = call
    result = _try(op, getattr(fastconv, op), args, kwargs)
    if result is None:
        return
    x = args[0]
    _check_success(result, x, None, None, kwargs, np.shape(x)[-1], pool_op=op)
    geometry = {k: v for k, v in kwargs.items() if k in ("stride", "padding")}
    if _small_finite(x) and _modest(list(geometry.values()) + list(args[1:2])):
        expected, bound = pool_expected(op, x, *args[1:2], **geometry)
        assert_matches(result, expected, bound, result.dtype)


DROP_INS = {"convolve": np.convolve, "correlate": np.correlate,
            "convolve2d": scipy.signal.convolve2d, "correlate2d": scipy.signal.correlate2d}
signal_kwargs = st.dictionaries(
    st.sampled_from(["mode", "boundary", "fillvalue"]),
    maybe(st.sampled_from(["full", "same", "valid", "fill", "wrap", "symm", 0, 1.5]), 3),
    max_size=3)


def _outcome(fn, args, kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs), None
    except Exception as e:  # noqa: BLE001 - compared below
        return None, e


@pytest.mark.parametrize("name", list(DROP_INS))
@budget(500)
@given(a=st.one_of(anything, image()), v=st.one_of(anything, image()), kwargs=signal_kwargs)
def test_fuzz_signal_drop_ins(name, a, v, kwargs):
    """The NumPy/SciPy drop-ins fail exactly when the function they replace does, and
    never crash. The exception type is NumPy's/SciPy's, except that when several
    arguments are bad the one reported may differ (any of ValueError, TypeError,
    MemoryError is accepted then, and counted as "differs")."""
    if name in ("convolve", "correlate"):
        kwargs = {k: val for k, val in kwargs.items() if k == "mode"}
        a, v = (np.ravel(z) if isinstance(z, np.ndarray) and z.size <= 64 else z for z in (a, v))
    else:  # make the nearly valid images 2-D
        a, v = (z[..., 0] if isinstance(z, np.ndarray) and z.ndim == 3 and z.shape[-1] else z
                for z in (a, v))
    result, error = _outcome(getattr(fastconv, name), (a, v), kwargs)
    if isinstance(error, ValueError) and "cannot extend an empty image" in str(error):
        # The one deliberate difference: SciPy would divide by zero (SIGFPE) and kill
        # the interpreter here, so it is not called (tests/test_signal.py pins the case).
        OUTCOMES[(name, "refused where SciPy crashes")] += 1
        return
    expected, expected_error = _outcome(DROP_INS[name], (a, v), kwargs)
    outcome = "ok" if error is None else type(error).__name__
    OUTCOMES[(name, outcome)] += 1
    event(f"{name}: {outcome}")
    assert (error is None) == (expected_error is None), (
        f"fastconv.{name} gave {error!r}, NumPy/SciPy {expected_error!r}")
    if type(error) is not type(expected_error):
        DIFFERS[name] += 1
        assert isinstance(error, ALLOWED), (
            f"fastconv.{name} raised {error!r} where NumPy/SciPy raised {expected_error!r}")
    if error is None:
        assert isinstance(result, np.ndarray)
        assert (result.shape, result.dtype) == (expected.shape, expected.dtype)


def _vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize")


@pytest.fixture(scope="module", autouse=True)
def _address_space_limit():
    """Cap the address space a few GiB above its current size while fuzzing, so that
    an argument combination asking for a large but possible allocation gets MemoryError
    instead of actually taking the memory (libFuzzer's malloc limit, in effect)."""
    if asan_loaded() or not sys.platform.startswith("linux"):
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + ADDRESS_SPACE_MARGIN
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module", autouse=True)
def _report_case_counts():
    yield
    total = sum(OUTCOMES.values())
    lines = [f"fuzz ({PROFILE} profile): {total} calls"]
    for name in ("conv2d", "max_pool2d", "avg_pool2d", *DROP_INS):
        per = {k[1]: v for k, v in OUTCOMES.items() if k[0] == name}
        if per:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(per.items()))
            differs = f" ({DIFFERS[name]} with another exception than NumPy's/SciPy's)" \
                if DIFFERS[name] else ""
            lines.append(f"  {name}: {sum(per.values())} calls: {detail}{differs}")
    print("\n" + "\n".join(lines))

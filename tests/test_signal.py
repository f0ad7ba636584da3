"""fastconv.convolve/correlate/convolve2d/correlate2d against NumPy and SciPy themselves.

The contract: replacing ``np.convolve`` or ``scipy.signal.correlate2d`` with the fastconv
function changes nothing but the speed. So every test calls both and compares: dtype and
shape exactly, values to float rounding relative to the size of the result, NaN and Inf at
the same places, and errors by type and message.

Small inputs normally go to NumPy's own C loop (it is faster there); the ``kernels``
fixture switches that off, so that small cases exercise fastconv's kernels. ``path``
forces each 1-D engine (direct in one row, direct split across rows, FFT) in turn.
"""
import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, strategies as st

import fastconv
from fastconv import signal as fsig

try:
    from _hypothesis_profiles import budget
except ImportError:  # the shared profiles are optional
    from hypothesis import settings

    def budget(n):
        return settings(max_examples=n, deadline=None)


F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
# One rounding step of the compute dtype; scaled by sqrt(terms per output) and by the
# largest |value| of the result (a sum near zero is judged against its terms' size).
RTOL = {F32: 2e-6, F64: 1e-14}
NP_PAIRS = [(fastconv.convolve, np.convolve), (fastconv.correlate, np.correlate)]
SP_PAIRS = [(fastconv.convolve2d, ss.convolve2d), (fastconv.correlate2d, ss.correlate2d)]
PATHS = ("direct", "split", "fft", "fft1")


@pytest.fixture(autouse=True)
def kernels(monkeypatch):
    """Send every float problem, however small, to fastconv's kernels (not to the
    NumPy/SciPy loops that are faster on tiny problems); see test_small_problems_*."""
    monkeypatch.setattr(fsig, "_DELEGATE_SMALL", False)


@pytest.fixture(params=PATHS)
def path(request, monkeypatch, kernels):
    """Force one 1-D engine (the FFT still yields to direct on non-finite data)."""
    if request.param.startswith("fft"):
        monkeypatch.setattr(fsig, "_choose_1d", lambda *args, **kwargs: (request.param, None))
    else:
        monkeypatch.setattr(fsig, "_choose_1d", lambda *args, **kwargs: ("direct", None))
        monkeypatch.setattr(fsig, "_SPLIT_MIN_MACS", 1 if request.param == "split" else 1 << 62)
        monkeypatch.setattr(fsig, "_SPLIT_MIN_TAPS", 1)
        if request.param == "split":
            monkeypatch.setattr(fsig, "get_num_threads", lambda: 3)
    return request.param


@pytest.fixture(params=("direct", "direct-strips", "fft"))
def engine2d(request, monkeypatch):
    """Force the 2-D engine (the FFT still yields to direct on non-finite data);
    "direct-strips" computes extended borders as strips even on small images."""
    engine = request.param.split("-")[0]
    monkeypatch.setattr(fsig, "_choose_2d", lambda *args: (engine, None))
    if request.param == "direct-strips":
        monkeypatch.setattr(fsig, "_STRIPS_MIN_PIXELS", 0)
    return request.param


def rand(rng, shape, dtype=np.float64):
    """Standard-normal data that float32 holds exactly, in ``dtype``."""
    return rng.standard_normal(shape).astype(np.float32).astype(dtype)


def assert_matches(actual, expected, n_terms, reference=None, term_bound=None):
    """dtype and shape of ``expected`` (NumPy/SciPy on the same inputs); values of
    ``reference`` (the same call in float64) within rounding of actual's dtype.

    Rounding is judged against the size of the terms summed, not of the sum: by default
    the largest |reference|; with ``term_bound`` (per output, e.g. the Cauchy-Schwarz
    bound of a correlation window) against that, so a small output made by cancelling
    large terms, which an FFT rounds at the size of its terms, is judged fairly.
    """
    assert isinstance(actual, np.ndarray) and type(actual) is type(expected)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    ref = np.asarray(expected if reference is None else reference, dtype=np.float64)
    finite = np.isfinite(ref)
    scale = float(np.max(np.abs(ref[finite]), initial=0.0)) or 1.0
    if term_bound is not None:
        scale = np.maximum(np.where(np.isfinite(term_bound), term_bound, 0.0), scale * 1e-3)
    tol = RTOL[actual.dtype] * np.sqrt(max(n_terms, 1)) * 4
    got = actual.astype(np.float64)
    # NaN where the reference has NaN, +-inf where it has them, else within rounding.
    close = np.isclose(got, ref, rtol=tol, atol=tol * scale, equal_nan=True)
    if not close.all():
        i = np.flatnonzero(~close.ravel())[0]
        raise AssertionError(
            f"{(~close).sum()} of {close.size} values differ beyond rounding (tol {tol:.2e}); "
            f"first at flat index {i}: got {got.ravel()[i]!r}, expected {ref.ravel()[i]!r}")


def check_np(func, ref_func, a, v, mode, **kw):
    expected = ref_func(a, v, mode)
    a64, v64 = np.asarray(a, np.float64), np.asarray(v, np.float64)
    reference = ref_func(a64, v64, mode)
    # |sum of a_i v_j over a window| <= ||a over the window|| * ||v|| (Cauchy-Schwarz).
    with np.errstate(invalid="ignore", over="ignore"):
        window_norm = np.sqrt(np.abs(np.correlate(a64 * a64, np.ones(v64.size), mode)
                                     if a64.size >= v64.size else
                                     np.correlate(np.ones(a64.size), v64 * v64, mode)))
        bound = window_norm * (np.linalg.norm(v64) if a64.size >= v64.size
                               else np.linalg.norm(a64))
        # An FFT rounds every output at the size of the whole transform, not of its own
        # window: its bound is ||a|| * ||v|| everywhere.
        dtype = fsig._compute_dtype(np.asarray(a), np.asarray(v))
        if dtype is not None and a64.size and v64.size and fsig._choose_1d(
                max(a64.size, v64.size), min(a64.size, v64.size), np.size(expected),
                dtype)[0].startswith("fft"):
            bound = np.maximum(bound, np.linalg.norm(a64) * np.linalg.norm(v64))
    actual = func(a, v, mode)
    assert_matches(actual, expected, min(np.size(a), np.size(v)), reference,
                   term_bound=bound if np.ndim(a) == 1 and np.ndim(v) == 1 else None)
    return actual


def check_sp(func, ref_func, x, k, *args):
    expected = ref_func(x, k, *args)
    reference = ref_func(np.asarray(x, np.float64), np.asarray(k, np.float64), *args)
    actual = func(x, k, *args)
    assert_matches(actual, expected, np.size(k), reference)
    return actual


def same_error(call, ref_call):
    """Both raise, with the same exception type and message."""
    with pytest.raises(Exception) as expected:
        ref_call()
    with pytest.raises(type(expected.value)) as actual:
        call()
    assert type(actual.value) is type(expected.value)
    assert str(actual.value) == str(expected.value)
    return actual.value


# ------------------------------------------------------------------------------------
# 1-D: numpy.convolve / numpy.correlate
# ------------------------------------------------------------------------------------
SIZES_1D = [(1, 1), (1, 4), (2, 1), (2, 2), (3, 2), (5, 3), (6, 4), (7, 7), (8, 3),
            (3, 8), (4, 9), (10, 1), (1, 10), (33, 8), (8, 33), (64, 17), (100, 101),
            (257, 64), (300, 31)]
MODES_1D = ["valid", "same", "full", 0, 1, 2]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("mode", MODES_1D)
@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_against_numpy(funcs, mode, dtype, path, rng):
    func, ref_func = funcs
    for n1, n2 in SIZES_1D:
        check_np(func, ref_func, rand(rng, n1, dtype), rand(rng, n2, dtype), mode)


@pytest.mark.parametrize("types", [(F32, F64), (F64, F32), (np.int64, F32), (F32, np.int16),
                                   (np.bool_, F32), (F32, np.uint8), (np.float16, F32),
                                   (np.int32, F64), (np.dtype(">f4"), np.dtype(">f8"))])
@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_mixed_dtypes_follow_numpy(funcs, types, kernels, rng):
    """The result dtype is NumPy's promotion; float32 with float64 gives float64."""
    func, ref_func = funcs
    a = (rand(rng, 40) * 3).astype(types[0])
    v = (rand(rng, 7) * 3).astype(types[1])
    for mode in ("valid", "same", "full"):
        check_np(func, ref_func, a, v, mode)
        check_np(func, ref_func, v, a, mode)


def test_1d_float32_stays_float32(kernels, rng):
    a, v = rand(rng, 1000, F32), rand(rng, 50, F32)
    assert fastconv.convolve(a, v).dtype == F32
    assert fastconv.correlate(a, v, "same").dtype == F32
    big_a, big_v = rand(rng, 20000, F32), rand(rng, 3000, F32)  # the FFT path
    assert fsig._choose_1d(20000, 3000, 22999, F32)[0] == "fft"
    check_np(fastconv.convolve, np.convolve, big_a, big_v, "full")


@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_lists_and_scalars(funcs, kernels):
    func, ref_func = funcs
    cases = [([1.0, 2.0, 3.0], [0.0, 1.0, 0.5]), ([1, 2, 3], [0.5, 0.25]),
             ([1.5], [2.0, 3.0, 4.0]), ((1.0, -2.0, 4.0, 0.5), [3]),
             (np.ones(3, np.float32), [1, 2])]
    if func is fastconv.convolve:  # np.convolve makes scalars 1-D; np.correlate refuses
        cases += [(2.0, [1.0, 2.0]), ([1.0, 2.0, 3.0], 0.5),
                  (np.float32(2), np.ones(3, np.float32))]
    for a, v in cases:
        for mode in ("valid", "same", "full"):
            check_np(func, ref_func, a, v, mode)


@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_non_contiguous_and_read_only(funcs, path, rng):
    func, ref_func = funcs
    base_a, base_v = rand(rng, 301, F32), rand(rng, 40, F32)
    base_a.flags.writeable = False
    for a, v in [(base_a[::2], base_v), (base_a[::-1], base_v[::3]),
                 (base_a, base_v[::-1]), (base_v[::-2], base_a[10:250:3])]:
        for mode in ("valid", "same", "full"):
            check_np(func, ref_func, a, v, mode)


def test_1d_examples_from_numpy_docs(kernels):
    np.testing.assert_allclose(fastconv.convolve([1, 2, 3], [0, 1, 0.5]), [0, 1, 2.5, 4, 1.5])
    np.testing.assert_allclose(fastconv.convolve([1, 2, 3], [0, 1, 0.5], "same"), [1, 2.5, 4])
    np.testing.assert_allclose(fastconv.convolve([1, 2, 3], [0, 1, 0.5], "valid"), [2.5])
    np.testing.assert_allclose(fastconv.correlate([1, 2, 3], [0, 1, 0.5]), [3.5])
    np.testing.assert_allclose(fastconv.correlate([1, 2, 3], [0, 1, 0.5], "same"), [2, 3.5, 3])
    np.testing.assert_allclose(fastconv.correlate([1, 2, 3], [0, 1, 0.5], "full"),
                               [0.5, 2, 3.5, 3, 0])
    # Swapped: the time-reversed correlation.
    np.testing.assert_allclose(fastconv.correlate([0, 1, 0.5], [1, 2, 3], "full"),
                               [0, 3, 3.5, 2, 0.5])
    for mode in ("valid", "same", "full"):
        np.testing.assert_array_equal(fastconv.correlate([0, 1, 0.5], [1, 2, 3, 4], mode),
                                      np.correlate([0, 1, 0.5], [1, 2, 3, 4], mode))
        np.testing.assert_array_equal(fastconv.correlate([1, 2, 3, 4], [0, 1, 0.5], mode),
                                      np.correlate([1, 2, 3, 4], [0, 1, 0.5], mode))


@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_nan_and_inf_where_numpy_puts_them(funcs, path, rng):
    """Direct sums confine NaN/Inf to the outputs that see them, as NumPy does; the FFT
    path (forced here) must notice and take the direct path too."""
    func, ref_func = funcs
    a = rand(rng, 200)
    a[[3, 50, 51, 120, 199]] = [np.nan, np.inf, -np.inf, np.inf, np.nan]
    v = rand(rng, 9)
    v[4] = 0.0  # inf * 0 = nan at exactly the outputs whose window puts it there
    w = rand(rng, 9)
    w[[0, 8]] = [np.inf, -np.inf]
    for x, k in [(a, v), (rand(rng, 100), w), (a, w), (v, a)]:
        for dtype in (F32, F64):
            for mode in ("valid", "same", "full"):
                out = check_np(func, ref_func, x.astype(dtype), k.astype(dtype), mode)
                expected = ref_func(x, k, mode)
                np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
                np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
                np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))


@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_non_finite_kernels_at_every_size(funcs, path, rng):
    """Inf/NaN in the kernel: NumPy never multiplies the taps that hang over the ends
    (no 0 * inf there), at every size, mode and swap."""
    func, ref_func = funcs
    for n1, n2 in [(2, 2), (3, 2), (2, 3), (5, 5), (9, 4), (4, 9), (40, 7), (7, 40)]:
        for where in range(3):
            a, v = rand(rng, n1), rand(rng, n2)
            target = v if where < 2 else a
            target[[0, -1][where % 2]] = [np.inf, np.nan, -np.inf][where]
            for dtype in (F32, F64):
                for mode in ("valid", "same", "full"):
                    out = check_np(func, ref_func, a.astype(dtype), v.astype(dtype), mode)
                    expected = ref_func(a, v, mode)
                    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
                    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
                    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))


def test_1d_nan_with_a_long_kernel_stays_local(rng):
    """A problem the cost model sends to the FFT, with one NaN: still local."""
    a, v = rand(rng, 20000, F32), rand(rng, 3000, F32)
    a[7000] = np.nan
    assert fsig._choose_1d(20000, 3000, 22999, F32)[0] == "fft"
    out = fastconv.convolve(a, v)
    expected = np.convolve(a, v)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    assert np.isnan(out).sum() == 3000


@pytest.mark.parametrize("n_left_case", ["valid", "same", "full"])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_1d_engines_agree(n_left_case, dtype, rng, fft_batches):
    """_correlate1d's engines (direct, split over rows, FFT at several sizes, batched in
    several ways) on one grid."""
    for n1, n2 in [(1, 1), (5, 5), (100, 1), (100, 2), (1000, 37), (997, 256), (4096, 4096)]:
        x, w = rand(rng, n1, dtype), rand(rng, n2, dtype)
        n_left, length = {"valid": (0, n1 - n2 + 1), "same": (n2 // 2, n1),
                          "full": (n2 - 1, n1 + n2 - 1)}[n_left_case]
        reference = np.correlate(x.astype(np.float64), w.astype(np.float64), n_left_case)
        results = [fsig._correlate1d(x, w, n_left, length, "direct"),
                   fsig._correlate1d(x, w, n_left, length, "fft"),
                   fsig._correlate1d(x, w, n_left, length, "fft1"),
                   fsig._correlate1d(x, w, n_left, length, "fft1", (n1 + n2 + 7,))]
        for nfft in {max(2 * n2, 8), 3 * n2 + 5, length + n2 - 1}:
            results.append(fsig._correlate1d(x, w, n_left, length, "fft", (nfft,)))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fsig, "_SPLIT_MIN_MACS", 1)
            mp.setattr(fsig, "_SPLIT_MIN_TAPS", 1)
            for threads in (2, 3, 7):
                mp.setattr(fsig, "get_num_threads", lambda: threads)
                results.append(fsig._direct_correlate1d(x, w, n_left, length, True))
        for out in results:
            assert out.dtype == dtype and out.shape == (length,)
            assert_matches(out, reference.astype(dtype), n2, reference)


def test_1d_cost_model_choices(monkeypatch):
    """NumPy's loop for tiny problems, direct for short kernels, FFT for long ones."""
    monkeypatch.setattr(fsig, "get_num_threads", lambda: 2)
    monkeypatch.setattr(fsig, "_DELEGATE_SMALL", True)
    assert fsig._choose_1d(100, 3, 100, F32)[0] == "numpy"
    assert fsig._choose_1d(300, 300, 599, F64)[0] == "numpy"
    assert fsig._choose_1d(200, 20, 219, F64, numpy_ok=False)[0] == "direct"
    assert fsig._choose_1d(10**6, 3, 10**6 - 2, F32)[0] == "direct"
    assert fsig._choose_1d(10**6, 31, 10**6, F32)[0] == "direct"
    assert fsig._choose_1d(10**6, 31, 10**6, F64)[0] == "direct"
    assert fsig._choose_1d(10**5, 10**4, 10**5 + 10**4 - 1, F32)[0] == "fft"
    assert fsig._choose_1d(10**6, 301, 10**6, F32)[0] == "fft"
    assert fsig._choose_1d(10**6, 3001, 10**6, F64)[0] == "fft"
    assert fsig._choose_1d(10**4, 10**4, 2 * 10**4 - 1, F32)[0] == "fft1"
    # Every choice gives the same answer.
    rng = np.random.default_rng(3)
    a, v = rand(rng, 3000, F64), rand(rng, 1000, F64)
    expected = np.convolve(a, v)
    for method in ("numpy", "direct", "fft", "fft1"):
        monkeypatch.setattr(fsig, "_choose_1d", lambda *args, **kwargs: (method, None))
        assert_matches(fastconv.convolve(a, v), expected, 1000)


# ------------------------------------------------------------------------------------
# 1-D errors and delegation
# ------------------------------------------------------------------------------------
MODE_SPELLINGS = ["valid", "same", "full", "VALID", "Same", "f", "fu", "valid ", "x", "",
                  "it's", np.str_("same"), np.str_("bogus"), 0, 1, 2, 3, -1, 2**31, 2**70,
                  np.int8(1), np.array(2), np.array([1]), True, np.bool_(False), 1.0, None,
                  b"full", ["valid"]]


@pytest.mark.parametrize("mode", MODE_SPELLINGS, ids=repr)
@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_mode_spellings(funcs, mode, kernels):
    func, ref_func = funcs
    a, v = np.arange(6.0), np.array([1.0, -2.0, 0.5])
    try:
        expected = ref_func(a, v, mode)
    except Exception:
        same_error(lambda: func(a, v, mode), lambda: ref_func(a, v, mode))
    else:
        np.testing.assert_array_equal(func(a, v, mode), expected)


ERRORS_1D = [
    ([], [1.0]), ([1.0], []), ([], []), (np.empty(0, np.float32), np.ones(3, np.float32)),
    (np.ones((2, 2)), [1.0]), ([1.0, 2.0], np.ones((2, 1))), (np.ones((0, 2)), [1.0]),
    (np.ones((2, 0)), [1.0]), (2.0, [1.0, 2.0]), ([1.0, 2.0], np.float64(2)),
    (np.ones((1, 1), np.float32), np.ones(3, np.float32)), ([[1.0, 2.0], [3.0]], [1.0]),
]


@pytest.mark.parametrize("mode", ["full", "valid", "bad"])
@pytest.mark.parametrize("case", range(len(ERRORS_1D)))
@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_errors_match_numpy(funcs, case, mode, kernels):
    func, ref_func = funcs
    a, v = ERRORS_1D[case]
    try:
        expected = ref_func(a, v, mode)
    except Exception:
        same_error(lambda: func(a, v, mode), lambda: ref_func(a, v, mode))
    else:  # np.convolve(2.0, [1, 2]) is fine: scalars become 1-D
        np.testing.assert_array_equal(func(a, v, mode), expected)


def test_1d_error_messages_say_what_is_wrong():
    with pytest.raises(ValueError, match="a cannot be empty"):
        fastconv.convolve([], [1.0])
    with pytest.raises(ValueError, match="v cannot be empty"):
        fastconv.convolve([1.0], [])
    with pytest.raises(ValueError, match="first array argument cannot be empty"):
        fastconv.correlate(np.array([], np.float32), [1.0])
    with pytest.raises(ValueError, match="second array argument cannot be empty"):
        fastconv.correlate([1.0], np.array([], np.float32))
    with pytest.raises(ValueError, match="object too deep"):
        fastconv.convolve(np.ones((3, 3)), [1.0])
    with pytest.raises(ValueError, match="too small depth"):
        fastconv.correlate(1.0, [1.0])
    with pytest.raises(ValueError, match=r"mode must be one of 'valid', 'same', or 'full' "
                                         r"\(got 'middle'\)"):
        fastconv.convolve([1.0], [1.0], "middle")
    with pytest.raises(ValueError, match="integer convolve/correlate mode must be 0, 1, or 2"):
        fastconv.correlate([1.0], [1.0], 5)
    with pytest.raises(TypeError, match="mode not understood"):
        fastconv.correlate([1.0], [1.0], 1.5)


DELEGATED_1D = [
    (np.arange(10), np.array([1, -2, 3])),                        # int64
    (np.arange(10, dtype=np.int8), np.array([100, 100], np.int8)),  # int8 overflow, as NumPy
    (np.array([True, False, True, True]), np.array([True, True])),  # bool
    (np.arange(6) + 1j * np.arange(6)[::-1], np.array([1 - 1j, 2j, 0.5])),  # complex
    (np.array([1.0, 2.0, 3.0]), np.array([0.5j, 1.0])),          # complex v: conjugated
    (np.array([0.5j, 1.0]), np.arange(5.0)),                      # complex, swapped
    (np.arange(7, dtype=np.float16), np.ones(3, np.float16)),     # float16
    (np.arange(7, dtype=np.longdouble), np.ones(3)),              # longdouble
    (np.array([1, 2, 3], dtype=object), np.array([1, 1], dtype=object)),  # object
    ([1, 2, 3], [4, 5]),                                          # Python ints
]


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("case", range(len(DELEGATED_1D)))
@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_delegated_dtypes_are_identical(funcs, case, mode, kernels):
    func, ref_func = funcs
    a, v = DELEGATED_1D[case]
    expected = ref_func(a, v, mode)
    actual = func(a, v, mode)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


def test_1d_subclasses_and_duck_arrays_are_delegated(kernels):
    class Tagged(np.ndarray):
        pass

    a = np.arange(8.0).view(Tagged)
    v = np.array([1.0, 2.0])
    for func, ref_func in NP_PAIRS:
        actual, expected = func(a, v), ref_func(a, v)
        assert type(actual) is type(expected)
        np.testing.assert_array_equal(actual, expected)
    masked = np.ma.masked_array(np.arange(6.0), mask=[0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(fastconv.convolve(masked, v), np.convolve(masked, v))


@pytest.mark.parametrize("funcs", NP_PAIRS, ids=["convolve", "correlate"])
def test_1d_inputs_unmodified(funcs, path, rng):
    func, _ = funcs
    for n1, n2 in [(50, 7), (7, 50), (3000, 400)]:
        a, v = rand(rng, n1, F32), rand(rng, n2, F64)
        a_copy, v_copy = a.copy(), v.copy()
        for mode in ("valid", "same", "full"):
            func(a, v, mode)
            np.testing.assert_array_equal(a, a_copy)
            np.testing.assert_array_equal(v, v_copy)


# ------------------------------------------------------------------------------------
# 2-D: scipy.signal.convolve2d / correlate2d
# ------------------------------------------------------------------------------------
IMAGES = [(1, 1), (1, 5), (4, 1), (5, 5), (6, 7), (8, 8), (13, 10)]
KERNELS = [(1, 1), (2, 2), (3, 3), (2, 5), (4, 3), (6, 6), (11, 9), (14, 17)]
BOUNDARIES = ["fill", "pad", "wrap", "circular", "symm", "symmetric"]


def _valid_ok(x_shape, k_shape):
    ge = all(a >= b for a, b in zip(x_shape, k_shape))
    le = all(a <= b for a, b in zip(x_shape, k_shape))
    return ge or le


@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_against_scipy(funcs, mode, boundary, engine2d, rng):
    """Every mode x boundary over odd/even/1-wide images and kernels, kernels larger than
    the image included (the extension then repeats), float32 and float64."""
    func, ref_func = funcs
    for i, x_shape in enumerate(IMAGES):
        for j, k_shape in enumerate(KERNELS):
            if mode == "valid" and not _valid_ok(x_shape, k_shape):
                continue
            dtype = (F32, F64)[(i + j) % 2]
            x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
            check_sp(func, ref_func, x, k, mode, boundary)


@pytest.mark.parametrize("fillvalue", [1.5, -2, np.float32(0.25), True, np.nan, np.inf])
@pytest.mark.parametrize("mode", ["full", "same"])
@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_fillvalues(funcs, mode, fillvalue, engine2d, rng):
    func, ref_func = funcs
    for x_shape, k_shape in [((6, 7), (3, 3)), ((5, 4), (2, 6)), ((3, 3), (7, 8))]:
        for dtype in (F32, F64):
            x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
            out = check_sp(func, ref_func, x, k, mode, "fill", fillvalue)
            expected = ref_func(x, k, mode, "fill", fillvalue)
            np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
            np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))
    # Outside 'fill' the fill value is ignored, whatever it is.
    x, k = rand(rng, (5, 6), F32), rand(rng, (3, 2), F32)
    check_sp(func, ref_func, x, k, mode, "wrap", fillvalue)


FILLVALUE_FORMS = [2, 2.5, True, np.float64(2.5), np.float32(2.5), np.int64(3), np.uint8(3),
                   np.bool_(True), np.longdouble(2.5), np.complex64(2), 1 + 1j, np.array(2.5),
                   np.array([2.5]), np.array([[2.5]], np.float32), np.array([2], np.int16),
                   [2.0], [[2.0]], [], [1, 2], "1.5", None, 10**40, 2**60 + 1, 1e300,
                   np.array([], np.float32), np.array([1.0, 2.0])]


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("fillvalue", FILLVALUE_FORMS, ids=repr)
def test_2d_fillvalue_forms_match_scipy(fillvalue, dtype, rng):
    """Every way of spelling a fill value: SciPy's value, or SciPy's error."""
    x, k = rand(rng, (4, 5), dtype), rand(rng, (2, 3), dtype)
    for func, ref_func in SP_PAIRS:
        try:
            expected = ref_func(x, k, "full", "fill", fillvalue)
        except Exception:
            same_error(lambda: func(x, k, "full", "fill", fillvalue),
                       lambda: ref_func(x, k, "full", "fill", fillvalue))
        else:
            assert_matches(func(x, k, "full", "fill", fillvalue), expected, k.size)


@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_valid_swaps_inputs(funcs, engine2d, rng):
    """'valid' with the first input smaller in every dimension: SciPy swaps (and
    correlate2d reverses the output)."""
    func, ref_func = funcs
    for x_shape, k_shape in [((3, 3), (7, 9)), ((2, 5), (2, 8)), ((1, 1), (4, 4)),
                             ((4, 4), (4, 4))]:
        for dtype in (F32, F64):
            x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
            for boundary in ("fill", "wrap", "symm"):
                check_sp(func, ref_func, x, k, "valid", boundary)


@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_non_contiguous_read_only_and_lists(funcs, engine2d, rng):
    func, ref_func = funcs
    base = rand(rng, (20, 24), F32)
    base.flags.writeable = False
    kern = rand(rng, (5, 6), F64)
    inputs = [(base[::2, ::3], kern), (base.T, kern[::-1]), (base[::-1, 2:], kern.T),
              (np.asfortranarray(base), kern[:, ::2]), (base.tolist(), kern.tolist()),
              (base, [[1, 2], [3, 4]])]
    for x, k in inputs:
        for mode in ("full", "same", "valid"):
            for boundary in ("fill", "symm"):
                check_sp(func, ref_func, x, k, mode, boundary)


@pytest.mark.parametrize("types", [(F32, F64), (F64, F32), (np.int64, F32), (F32, np.int16),
                                   (np.uint8, F32), (np.bool_, F64)])
@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_mixed_dtypes_follow_scipy(funcs, types, rng):
    func, ref_func = funcs
    x = (rand(rng, (9, 8)) * 4).astype(types[0])
    k = (rand(rng, (3, 4)) * 4).astype(types[1])
    for mode in ("full", "same", "valid"):
        check_sp(func, ref_func, x, k, mode, "fill", 1)


@pytest.fixture(params=["one-batch", "batches-of-1", "batches-of-3"])
def fft_batches(request, monkeypatch):
    """The FFT engine transforms frames in batches; force several small ones."""
    if request.param != "one-batch":
        monkeypatch.setattr(fsig, "_FFT_BATCH_BYTES", 1)
        monkeypatch.setattr(fsig, "get_num_threads",
                            lambda: 1 if request.param == "batches-of-1" else 3)
    return request.param


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_2d_fft_block_shapes(flip, dtype, fft_batches, rng):
    """The overlap-save FFT at several block shapes (one block, many, uneven) equals the
    direct sum, in every mode and boundary, however its frames are batched."""
    func = ss.convolve2d if flip else ss.correlate2d
    for x_shape, k_shape in [((17, 23), (5, 4)), ((9, 9), (9, 9)), ((6, 5), (8, 11))]:
        x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
        for code, mode in enumerate(["valid", "same", "full"]):
            if mode == "valid" and k_shape > x_shape:
                continue
            for boundary, bval in [("fill", 0), ("wrap", 2), ("symm", 1)]:
                fill = dtype.type(1.5 if boundary == "fill" else 0)
                reference = func(x.astype(np.float64), k.astype(np.float64), mode, boundary,
                                 fill)
                expected = func(x, k, mode, boundary, fill)
                out_shape = reference.shape
                for nfft in [None, (k_shape[0] + 1, k_shape[1] + 3),
                             (2 * k_shape[0] + 1, out_shape[1] + k_shape[1] - 1),
                             (out_shape[0] + k_shape[0] + 4, 16)]:
                    out = fsig._scipy_correlate2d(x, k, code, bval, fill, flip, "fft", nfft)
                    assert_matches(out, expected, k.size, reference)


def test_2d_cost_model_choices(rng):
    """Direct for small kernels, FFT for large ones; both give SciPy's answer."""
    assert fsig._choose_2d((1024, 1024), (3, 3), F32)[0] == "direct"
    assert fsig._choose_2d((64, 64), (5, 5), F64)[0] == "direct"
    assert fsig._choose_2d((1024, 1024), (31, 31), F32)[0] == "fft"
    x, k = rand(rng, (200, 190), F32), rand(rng, (31, 29), F32)
    assert fsig._choose_2d((200, 190), (31, 29), F32)[0] == "fft"
    for func, ref_func in SP_PAIRS:
        for boundary in ("fill", "symm"):
            check_sp(func, ref_func, x, k, "same", boundary)
    x[50, 60] = np.inf  # non-finite: the direct path, and SciPy's Inf/NaN placement
    out = fastconv.correlate2d(x, k, "same")
    expected = ss.correlate2d(x, k, "same")
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(expected))


def test_2d_float32_stays_float32(rng):
    x, k = rand(rng, (64, 64), F32), rand(rng, (5, 5), F32)
    for func in (fastconv.convolve2d, fastconv.correlate2d):
        for boundary in ("fill", "wrap", "symm"):
            assert func(x, k, "same", boundary).dtype == F32


@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_nan_and_inf_where_scipy_puts_them(funcs, engine2d, rng):
    """SciPy multiplies the kernel with its padding too: an Inf in the kernel times the
    zero fill is NaN there. Image NaN/Inf stay within the outputs that see them."""
    func, ref_func = funcs
    x = rand(rng, (12, 11))
    x[2, 3], x[7, 7], x[11, 0] = np.nan, np.inf, -np.inf
    k = rand(rng, (3, 4))
    k[1, 1] = 0.0
    k_inf = rand(rng, (3, 4))
    k_inf[0, 3] = np.inf
    for image, kernel in [(x, k), (rand(rng, (12, 11)), k_inf), (x, k_inf)]:
        for dtype in (F32, F64):
            for mode in ("full", "same", "valid"):
                for boundary, fill in [("fill", 0), ("fill", 2.0), ("wrap", 0), ("symm", 0)]:
                    args = (mode, boundary, fill)
                    out = check_sp(func, ref_func, image.astype(dtype), kernel.astype(dtype),
                                   *args)
                    expected = ref_func(image, kernel, *args)
                    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
                    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
                    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))


def test_2d_examples_from_scipy_docs():
    """The Scharr-gradient example: complex kernel, delegated; and its real parts here."""
    rng = np.random.default_rng(7)
    img = rand(rng, (40, 50))
    scharr = np.array([[-3 - 3j, 0 - 10j, +3 - 3j], [-10 + 0j, 0 + 0j, +10 + 0j],
                       [-3 + 3j, 0 + 10j, +3 + 3j]])
    expected = ss.convolve2d(img, scharr, boundary="symm", mode="same")
    np.testing.assert_array_equal(
        fastconv.convolve2d(img, scharr, boundary="symm", mode="same"), expected)
    gx = fastconv.convolve2d(img, scharr.real, boundary="symm", mode="same")
    gy = fastconv.convolve2d(img, scharr.imag, boundary="symm", mode="same")
    np.testing.assert_allclose(gx + 1j * gy, expected, rtol=1e-12, atol=1e-12)


def test_2d_boundaries_on_a_ramp():
    """The extension rules spelled out: symm repeats the edge, wrap is periodic."""
    x = np.arange(4.0).reshape(1, 4)
    pick_left = np.zeros((1, 7))
    pick_left[0, 0] = 1.0  # correlate2d 'full' column j reads extended column j - 6
    for boundary, cols in [("symm", [2, 3, 3, 2, 1, 0, 0, 1, 2, 3]),
                           ("wrap", [2, 3, 0, 1, 2, 3, 0, 1, 2, 3]),
                           ("fill", [0, 0, 0, 0, 0, 0, 0, 1, 2, 3])]:
        out = fastconv.correlate2d(x, pick_left, "full", boundary)
        np.testing.assert_array_equal(out, ss.correlate2d(x, pick_left, "full", boundary))
        np.testing.assert_array_equal(out[0], np.array(cols, dtype=float))


# ------------------------------------------------------------------------------------
# 2-D errors and delegation
# ------------------------------------------------------------------------------------
ERRORS_2D = [
    dict(in1=np.ones(3), in2=np.ones((2, 2))),
    dict(in1=np.ones((3, 3)), in2=np.ones(2)),
    dict(in1=1.0, in2=2.0),
    dict(in1=np.ones((2, 2, 2)), in2=np.ones((2, 2))),
    dict(in1=np.ones((2, 5)), in2=np.ones((3, 3)), mode="valid"),
    dict(in1=np.ones((2, 5), np.float32), in2=np.ones((3, 3)), mode="valid", boundary="bad"),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), mode="VALID"),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), mode="middle"),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), mode=0),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), mode=None),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), mode=["same"]),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), mode="bad", boundary="bad"),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), boundary="reflect"),
    dict(in1=np.ones((4, 4), np.float32), in2=np.ones((2, 2), np.float32), boundary="Fill"),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), boundary=None),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), boundary=["fill"]),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), fillvalue=[1.0, 2.0]),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), fillvalue=[]),
    dict(in1=np.ones((4, 4), np.float32), in2=np.ones((2, 2), np.float32),
         fillvalue=np.array(2.0)),
    dict(in1=np.ones((4, 4)), in2=np.ones((2, 2)), fillvalue=1j),
    dict(in1=np.ones((0, 3)), in2=np.ones((0, 3))),
]


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.parametrize("case", range(len(ERRORS_2D)))
@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_errors_match_scipy(funcs, case):
    func, ref_func = funcs
    kwargs = ERRORS_2D[case]
    same_error(lambda: func(**kwargs), lambda: ref_func(**kwargs))


@pytest.mark.parametrize("boundary", ["wrap", "circular", "symm", "symmetric"])
def test_2d_wrapping_an_empty_image_is_an_error_not_a_crash(boundary):
    """SciPy divides by the empty axis' size there (SIGFPE kills the interpreter):
    fastconv raises instead. Other empty cases are SciPy's own results."""
    for func in (fastconv.convolve2d, fastconv.correlate2d):
        for x_shape, k_shape, mode in [((0, 3), (2, 2), "full"), ((3, 0), (2, 2), "full"),
                                       ((3, 0), (1, 2), "full"), ((0, 3), (2, 0), "full")]:
            with pytest.raises(ValueError, match="cannot extend an empty image"):
                func(np.ones(x_shape), np.ones(k_shape), mode, boundary)
        for x_shape, k_shape, mode in [((0, 3), (2, 2), "same"), ((3, 0), (0, 2), "full"),
                                       ((3, 0), (1, 1), "full"),
                                       ((2, 0), (1, 0), "valid"), ((0, 3), (0, 3), "valid")]:
            ref_func = ss.convolve2d if func is fastconv.convolve2d else ss.correlate2d
            expected = ref_func(np.ones(x_shape), np.ones(k_shape), mode, boundary)
            actual = func(np.ones(x_shape), np.ones(k_shape), mode, boundary)
            assert actual.shape == expected.shape
            np.testing.assert_array_equal(actual, expected)


def test_2d_error_messages_say_what_is_wrong():
    with pytest.raises(ValueError, match="correlate2d inputs must both be 2-D arrays"):
        fastconv.correlate2d(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="convolve2d inputs must both be 2-D arrays"):
        fastconv.convolve2d(np.ones((3, 3)), np.ones((1, 2, 2)))
    with pytest.raises(ValueError, match="For 'valid' mode, one must be at least as large"):
        fastconv.convolve2d(np.ones((2, 5)), np.ones((3, 3)), "valid")
    with pytest.raises(ValueError, match="Acceptable mode flags are 'valid', 'same', or 'full'"):
        fastconv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), "middle")
    with pytest.raises(ValueError, match=r"Acceptable boundary flags are 'fill', 'circular' "
                                         r"\(or 'wrap'\), and 'symmetric' \(or 'symm'\)"):
        fastconv.correlate2d(np.ones((3, 3)), np.ones((2, 2)), boundary="mirror")
    with pytest.raises(ValueError, match="Incorrect boundary value"):
        fastconv.convolve2d(np.ones((3, 3)), np.ones((2, 2)), boundary="reflect")


DELEGATED_2D = [
    (np.arange(20).reshape(4, 5), np.array([[1, -1], [2, 0]])),                   # int
    (np.arange(20, dtype=np.uint8).reshape(4, 5), np.full((2, 2), 100, np.uint8)),  # overflow
    (np.eye(4, dtype=bool), np.ones((2, 2), bool)),                                # bool
    (np.arange(20).reshape(4, 5) * (1 + 1j), np.array([[1j, 1], [2, -1j]])),       # complex
    (np.ones((4, 5)), np.array([[1j, 1], [2, -1j]])),                              # complex k
    (np.arange(20, dtype=np.float16).reshape(4, 5), np.ones((2, 2), np.float16)),  # float16
    (np.ones((4, 5), np.longdouble), np.ones((2, 3))),                             # longdouble
    (np.ones((0, 3)), np.ones((2, 2))),                                            # empty
    (np.ones((2, 0)), np.ones((1, 0))),                                            # empty
    ([[1, 2, 3], [4, 5, 6]], [[1, 1]]),                                            # int lists
]


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("case", range(len(DELEGATED_2D)))
@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_delegated_dtypes_are_identical(funcs, case, mode, boundary):
    func, ref_func = funcs
    x, k = DELEGATED_2D[case]
    if min(np.shape(x) + np.shape(k)) == 0 and boundary != "fill":
        try:
            func(x, k, mode, boundary, 1)
        except ValueError as e:
            if "cannot extend an empty image" in str(e):
                return  # SciPy would die of SIGFPE here: not called
    try:
        expected = ref_func(x, k, mode, boundary, 1)
    except Exception:  # SciPy has no loop for bool and float16
        same_error(lambda: func(x, k, mode, boundary, 1),
                   lambda: ref_func(x, k, mode, boundary, 1))
        return
    actual = func(x, k, mode, boundary, 1)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("funcs", SP_PAIRS, ids=["convolve2d", "correlate2d"])
def test_2d_inputs_unmodified(funcs, engine2d, rng):
    func, _ = funcs
    x, k = rand(rng, (30, 31), F32), rand(rng, (7, 4), F64)
    x_copy, k_copy = x.copy(), k.copy()
    for mode in ("full", "same", "valid"):
        for boundary in ("fill", "wrap", "symm"):
            func(x, k, mode, boundary, 3.0)
            func(k, x, mode, boundary, 3.0)
            np.testing.assert_array_equal(x, x_copy)
            np.testing.assert_array_equal(k, k_copy)


# ------------------------------------------------------------------------------------
# Random shapes
# ------------------------------------------------------------------------------------
@budget(200)
@given(n1=st.integers(1, 80), n2=st.integers(1, 80), mode=st.sampled_from(MODES_1D),
       f32=st.booleans(), engine=st.sampled_from(PATHS), seed=st.integers(0, 2**32 - 1))
def test_1d_random_shapes(n1, n2, mode, f32, engine, seed):
    rng = np.random.default_rng(seed)
    dtype = F32 if f32 else F64
    a, v = rand(rng, n1, dtype), rand(rng, n2, dtype)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(fsig, "_DELEGATE_SMALL", False)
        if engine.startswith("fft"):
            mp.setattr(fsig, "_choose_1d", lambda *args, **kwargs: (engine, None))
        else:
            mp.setattr(fsig, "_choose_1d", lambda *args, **kwargs: ("direct", None))
            mp.setattr(fsig, "_SPLIT_MIN_MACS", 1 if engine == "split" else 1 << 62)
            mp.setattr(fsig, "_SPLIT_MIN_TAPS", 1)
        for func, ref_func in NP_PAIRS:
            check_np(func, ref_func, a, v, mode)
    finally:
        mp.undo()


@budget(200)
@given(x_shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       k_shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       mode=st.sampled_from(["full", "same", "valid"]), boundary=st.sampled_from(BOUNDARIES),
       fillvalue=st.sampled_from([0, 0.0, 1.0, -3.5]), f32=st.booleans(),
       engine=st.sampled_from(["direct", "direct-strips", "fft"]),
       seed=st.integers(0, 2**32 - 1))
def test_2d_random_shapes(x_shape, k_shape, mode, boundary, fillvalue, f32, engine, seed):
    rng = np.random.default_rng(seed)
    dtype = F32 if f32 else F64
    x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(fsig, "_choose_2d", lambda *args: (engine.split("-")[0], None))
        mp.setattr(fsig, "_STRIPS_MIN_PIXELS", 0 if engine == "direct-strips" else 1 << 40)
        for func, ref_func in SP_PAIRS:
            if mode == "valid" and not _valid_ok(x_shape, k_shape):
                same_error(lambda: func(x, k, mode, boundary, fillvalue),
                           lambda: ref_func(x, k, mode, boundary, fillvalue))
            else:
                check_sp(func, ref_func, x, k, mode, boundary, fillvalue)
    finally:
        mp.undo()


def test_small_problems_go_to_numpy_and_scipy_loops(monkeypatch, rng):
    """Below a few thousand multiply-adds NumPy's/SciPy's own loops are faster than any
    kernel call from Python: they compute those, with their exact results."""
    monkeypatch.setattr(fsig, "_DELEGATE_SMALL", True)
    calls = []
    real_conv2d = fsig.conv2d
    monkeypatch.setattr(fsig, "conv2d", lambda *a, **k: calls.append(1) or real_conv2d(*a, **k))
    a, v = rand(rng, 50, F32), rand(rng, 7, F32)
    for mode in ("valid", "same", "full"):
        np.testing.assert_array_equal(fastconv.convolve(a, v, mode), np.convolve(a, v, mode))
        np.testing.assert_array_equal(fastconv.correlate(v, a.tolist(), mode),
                                      np.correlate(v, a.tolist(), mode))
    x, k = rand(rng, (12, 10), F64), rand(rng, (3, 3), F64)
    for boundary in ("fill", "wrap", "symm"):
        np.testing.assert_array_equal(fastconv.correlate2d(x, k, "same", boundary),
                                      ss.correlate2d(x, k, "same", boundary))
    assert not calls
    big = rand(rng, (80, 80), F32)  # 80 * 80 * 9 multiply-adds: fastconv's kernel
    check_sp(fastconv.convolve2d, ss.convolve2d, big, k.astype(F32), "same", "symm")
    assert calls


def test_exported():
    for name in ("convolve", "correlate", "convolve2d", "correlate2d"):
        assert name in fastconv.__all__
        assert getattr(fastconv, name) is getattr(fsig, name)

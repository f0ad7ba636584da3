"""fastconv.convolve/correlate/convolve2d/correlate2d against NumPy and SciPy themselves.

The contract: replacing ``np.convolve`` or ``scipy.signal.correlate2d`` with the fastconv
function keeps the result's dtype and shape, the errors (type and message) and the
places of NaN and Inf, and the values within float rounding -- not bit for bit: fastconv
sums in another order and runs long kernels through an FFT. So every test calls both
and compares dtype and shape exactly, errors by type and message, NaN and Inf at the
same places, and values against NumPy's/SciPy's float64 result on the same inputs to
about ``tol * sqrt(K) * M``: K the taps summed per output, ``tol`` 8e-6 for float32 and
4e-14 for float64 (the tolerance stated in ``fastconv.signal``'s docs), and M the size
of the terms summed: per output, the Cauchy-Schwarz bound ``||x over its window|| *
||k||`` (at least 1e-3 of the largest ``|value|``), or, for the FFT engines, which round
every output at the size of the whole transform, the largest such bound (in 1-D the
product of the inputs' norms). A sum that cancels to near zero is thus judged against
its terms, not against itself. Inputs handed to NumPy/SciPy themselves (integers,
complex, float16, ...) and small problems under the public defaults give their results
bit for bit.

Nothing is monkeypatched: a call's free choices (engine, threads, thresholds) are a
``fastconv._signal.policy.Policy``, and ``fastconv.signal.with_policy(policy)`` gives
the four functions bound to it. By default small inputs go to NumPy's/SciPy's own C
loop (faster there); the ``ops`` fixture switches that off, so that small cases
exercise fastconv's kernels. ``path_ops`` forces each 1-D engine in turn (direct in one
row, direct cut into one row per thread, overlap-save FFT, one circular FFT),
``engine2d_ops`` each 2-D one (direct, direct with the border in strips, FFT), and
``fft_batches`` the FFT's batching of frames. Tests about the public defaults call
``fastconv.convolve`` etc. themselves.
"""
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.signal as ss
from hypothesis import given, strategies as st

import fastconv
from fastconv import signal as fsig
from fastconv._geometry import FULL, SAME, VALID
from fastconv._signal import cost, engines
from fastconv._signal.border import FILL, SYMM, WRAP
from fastconv._signal.policy import DEFAULT, Policy

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
NAMES_1D = ["convolve", "correlate"]
NAMES_2D = ["convolve2d", "correlate2d"]
REFERENCE = {"convolve": np.convolve, "correlate": np.correlate,
             "convolve2d": ss.convolve2d, "correlate2d": ss.correlate2d}

# Every float problem, however small, on fastconv's kernels; otherwise the defaults.
KERNELS_ONLY = Policy(delegate_small=False)
# One 1-D engine forced (the FFTs still yield to direct on non-finite data). "direct"
# never cuts the signal into rows; "split" always does, into up to 3 (one per thread).
PATHS = ("direct", "split", "fft", "fft1")
PATH_POLICIES = {
    "direct": Policy(delegate_small=False, engine_1d="direct", split_min_macs=1 << 62,
                     split_min_taps=1),
    "split": Policy(delegate_small=False, engine_1d="direct", split_min_macs=1,
                    split_min_taps=1, threads=3),
    "fft": Policy(delegate_small=False, engine_1d="fft"),
    "fft1": Policy(delegate_small=False, engine_1d="fft1"),
}
# One 2-D engine forced (the FFT still yields to direct on non-finite data);
# "direct-strips" computes extended borders as strips even on small images.
ENGINES_2D = ("direct", "direct-strips", "fft")
ENGINE_2D_POLICIES = {
    "direct": Policy(delegate_small=False, engine_2d="direct", strips_min_pixels=1 << 62),
    "direct-strips": Policy(delegate_small=False, engine_2d="direct", strips_min_pixels=0),
    "fft": Policy(delegate_small=False, engine_2d="fft"),
}
# The FFT engine transforms frames in batches: one batch, or batches as small as
# possible (one spectrum's worth) with 1 and 3 threads.
BATCH_POLICIES = {
    "one-batch": Policy(),
    "batches-of-1": Policy(fft_batch_bytes=1, threads=1),
    "batches-of-3": Policy(fft_batch_bytes=1, threads=3),
}


def bound(policy):
    """The four drop-ins bound to ``policy``, with the policy itself as ``.policy``
    (check_np asks its cost model which engine runs)."""
    ops = fsig.with_policy(policy)
    ops.policy = policy
    return ops


# The public functions, with the policy they use.
PUBLIC = SimpleNamespace(convolve=fastconv.convolve, correlate=fastconv.correlate,
                         convolve2d=fastconv.convolve2d, correlate2d=fastconv.correlate2d,
                         policy=DEFAULT)


@pytest.fixture
def ops():
    """The four functions with small problems on fastconv's kernels too (not on the
    NumPy/SciPy loops that are faster there); see test_small_problems_*."""
    return bound(KERNELS_ONLY)


@pytest.fixture(params=PATHS)
def path_ops(request):
    """The four functions with one 1-D engine forced."""
    return bound(PATH_POLICIES[request.param])


@pytest.fixture(params=ENGINES_2D)
def engine2d_ops(request):
    """The four functions with one 2-D engine forced."""
    return bound(ENGINE_2D_POLICIES[request.param])


@pytest.fixture(params=list(BATCH_POLICIES))
def fft_batches(request):
    """A policy batching the FFT's frames in one way (for the engine functions)."""
    return BATCH_POLICIES[request.param]


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


def check_np(ops, name, a, v, mode):
    """``ops``'s 1-D function ``name`` against NumPy's on (a, v, mode)."""
    ref_func = REFERENCE[name]
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
        if dtype is not None and a64.size and v64.size and cost.choose_1d(
                max(a64.size, v64.size), min(a64.size, v64.size), np.size(expected),
                dtype, ops.policy)[0].startswith("fft"):
            bound = np.maximum(bound, np.linalg.norm(a64) * np.linalg.norm(v64))
    actual = getattr(ops, name)(a, v, mode)
    assert_matches(actual, expected, min(np.size(a), np.size(v)), reference,
                   term_bound=bound if np.ndim(a) == 1 and np.ndim(v) == 1 else None)
    return actual


def check_sp(ops, name, x, k, *args):
    """``ops``'s 2-D function ``name`` against SciPy's on (x, k, *args)."""
    ref_func = REFERENCE[name]
    expected = ref_func(x, k, *args)
    x64, k64 = np.asarray(x, np.float64), np.asarray(k, np.float64)
    reference = ref_func(x64, k64, *args)
    mode, boundary, fillvalue = args + ("full", "fill", 0)[len(args):]
    with np.errstate(invalid="ignore", over="ignore"):
        # |sum over a window| <= ||x's extension over the window|| * ||k|| (Cauchy-Schwarz);
        # the extension of x * x is x's extension squared, fill value included. (In a
        # swapped 'valid' call this bounds ||x|| * ||k's window|| from above.)
        window_sq = ref_func(x64 * x64, np.ones(k64.shape), mode, boundary,
                             fillvalue * fillvalue)
        bound = np.sqrt(np.abs(window_sq)) * np.linalg.norm(k64)
        # An FFT rounds every output at the size of its whole frame, not of its own
        # window: its bound is the largest window's everywhere.
        dtype = fsig._compute_dtype(np.asarray(x), np.asarray(k))
        swapped = mode == "valid" and not all(a >= b for a, b in zip(x64.shape, k64.shape))
        k_shape = x64.shape if swapped else k64.shape
        if dtype is not None and cost.choose_2d(expected.shape, k_shape, dtype,
                                                ops.policy)[0] == "fft":
            finite = np.isfinite(bound)
            bound = np.maximum(bound, np.max(bound[finite], initial=0.0))
    actual = getattr(ops, name)(x, k, *args)
    assert_matches(actual, expected, np.size(k), reference, term_bound=bound)
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


def assert_same_non_finite(out, expected):
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(out), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(out), np.isneginf(expected))


# ------------------------------------------------------------------------------------
# 1-D: numpy.convolve / numpy.correlate
# ------------------------------------------------------------------------------------
SIZES_1D = [(1, 1), (1, 4), (2, 1), (2, 2), (3, 2), (5, 3), (6, 4), (7, 7), (8, 3),
            (3, 8), (4, 9), (10, 1), (1, 10), (33, 8), (8, 33), (64, 17), (100, 101),
            (257, 64), (300, 31)]
MODES_1D = ["valid", "same", "full", 0, 1, 2]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("mode", MODES_1D)
@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_against_numpy(name, mode, dtype, path_ops, rng):
    for n1, n2 in SIZES_1D:
        check_np(path_ops, name, rand(rng, n1, dtype), rand(rng, n2, dtype), mode)


@pytest.mark.parametrize("types", [(F32, F64), (F64, F32), (np.int64, F32), (F32, np.int16),
                                   (np.bool_, F32), (F32, np.uint8), (np.float16, F32),
                                   (np.int32, F64), (np.dtype(">f4"), np.dtype(">f8"))])
@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_mixed_dtypes_follow_numpy(name, types, ops, rng):
    """The result dtype is NumPy's promotion; float32 with float64 gives float64."""
    a = (rand(rng, 40) * 3).astype(types[0])
    v = (rand(rng, 7) * 3).astype(types[1])
    for mode in ("valid", "same", "full"):
        check_np(ops, name, a, v, mode)
        check_np(ops, name, v, a, mode)


def test_1d_float32_stays_float32(ops, rng):
    a, v = rand(rng, 1000, F32), rand(rng, 50, F32)
    assert ops.convolve(a, v).dtype == F32
    assert ops.correlate(a, v, "same").dtype == F32
    big_a, big_v = rand(rng, 20000, F32), rand(rng, 3000, F32)  # the FFT path
    assert cost.choose_1d(20000, 3000, 22999, F32, ops.policy)[0] == "fft"
    check_np(ops, "convolve", big_a, big_v, "full")


@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_lists_and_scalars(name, ops):
    cases = [([1.0, 2.0, 3.0], [0.0, 1.0, 0.5]), ([1, 2, 3], [0.5, 0.25]),
             ([1.5], [2.0, 3.0, 4.0]), ((1.0, -2.0, 4.0, 0.5), [3]),
             (np.ones(3, np.float32), [1, 2])]
    if name == "convolve":  # np.convolve makes scalars 1-D; np.correlate refuses
        cases += [(2.0, [1.0, 2.0]), ([1.0, 2.0, 3.0], 0.5),
                  (np.float32(2), np.ones(3, np.float32))]
    for a, v in cases:
        for mode in ("valid", "same", "full"):
            check_np(ops, name, a, v, mode)


@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_non_contiguous_and_read_only(name, path_ops, rng):
    base_a, base_v = rand(rng, 301, F32), rand(rng, 40, F32)
    base_a.flags.writeable = False
    for a, v in [(base_a[::2], base_v), (base_a[::-1], base_v[::3]),
                 (base_a, base_v[::-1]), (base_v[::-2], base_a[10:250:3])]:
        for mode in ("valid", "same", "full"):
            check_np(path_ops, name, a, v, mode)


def test_1d_examples_from_numpy_docs(ops):
    for f in (ops, PUBLIC):  # on the kernels, and as the public functions run them
        np.testing.assert_allclose(f.convolve([1, 2, 3], [0, 1, 0.5]), [0, 1, 2.5, 4, 1.5])
        np.testing.assert_allclose(f.convolve([1, 2, 3], [0, 1, 0.5], "same"), [1, 2.5, 4])
        np.testing.assert_allclose(f.convolve([1, 2, 3], [0, 1, 0.5], "valid"), [2.5])
        np.testing.assert_allclose(f.correlate([1, 2, 3], [0, 1, 0.5]), [3.5])
        np.testing.assert_allclose(f.correlate([1, 2, 3], [0, 1, 0.5], "same"), [2, 3.5, 3])
        np.testing.assert_allclose(f.correlate([1, 2, 3], [0, 1, 0.5], "full"),
                                   [0.5, 2, 3.5, 3, 0])
        # Swapped: the time-reversed correlation.
        np.testing.assert_allclose(f.correlate([0, 1, 0.5], [1, 2, 3], "full"),
                                   [0, 3, 3.5, 2, 0.5])
        for mode in ("valid", "same", "full"):
            np.testing.assert_array_equal(f.correlate([0, 1, 0.5], [1, 2, 3, 4], mode),
                                          np.correlate([0, 1, 0.5], [1, 2, 3, 4], mode))
            np.testing.assert_array_equal(f.correlate([1, 2, 3, 4], [0, 1, 0.5], mode),
                                          np.correlate([1, 2, 3, 4], [0, 1, 0.5], mode))


@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_nan_and_inf_where_numpy_puts_them(name, path_ops, rng):
    """Direct sums confine NaN/Inf to the outputs that see them, as NumPy does; the FFT
    paths (forced here) must notice and take the direct path too."""
    a = rand(rng, 200)
    a[[3, 50, 51, 120, 199]] = [np.nan, np.inf, -np.inf, np.inf, np.nan]
    v = rand(rng, 9)
    v[4] = 0.0  # inf * 0 = nan at exactly the outputs whose window puts it there
    w = rand(rng, 9)
    w[[0, 8]] = [np.inf, -np.inf]
    for x, k in [(a, v), (rand(rng, 100), w), (a, w), (v, a)]:
        for dtype in (F32, F64):
            for mode in ("valid", "same", "full"):
                out = check_np(path_ops, name, x.astype(dtype), k.astype(dtype), mode)
                assert_same_non_finite(out, REFERENCE[name](x, k, mode))


@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_non_finite_kernels_at_every_size(name, path_ops, rng):
    """Inf/NaN in the kernel: NumPy never multiplies the taps that hang over the ends
    (no 0 * inf there), at every size, mode and swap."""
    for n1, n2 in [(2, 2), (3, 2), (2, 3), (5, 5), (9, 4), (4, 9), (40, 7), (7, 40)]:
        for where in range(3):
            a, v = rand(rng, n1), rand(rng, n2)
            target = v if where < 2 else a
            target[[0, -1][where % 2]] = [np.inf, np.nan, -np.inf][where]
            for dtype in (F32, F64):
                for mode in ("valid", "same", "full"):
                    out = check_np(path_ops, name, a.astype(dtype), v.astype(dtype), mode)
                    assert_same_non_finite(out, REFERENCE[name](a, v, mode))


def test_1d_nan_with_a_long_kernel_stays_local(rng):
    """A problem the default cost model sends to the FFT, with one NaN: still local."""
    a, v = rand(rng, 20000, F32), rand(rng, 3000, F32)
    a[7000] = np.nan
    assert cost.choose_1d(20000, 3000, 22999, F32, DEFAULT)[0] == "fft"
    out = fastconv.convolve(a, v)
    expected = np.convolve(a, v)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    assert np.isnan(out).sum() == 3000


@pytest.mark.parametrize("n_left_case", ["valid", "same", "full"])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_1d_engines_agree(n_left_case, dtype, rng, fft_batches):
    """The 1-D engines (direct, split over rows, FFT at several sizes, batched in several
    ways, circular FFT) on one grid."""
    for n1, n2 in [(1, 1), (5, 5), (100, 1), (100, 2), (1000, 37), (997, 256), (4096, 4096)]:
        x, w = rand(rng, n1, dtype), rand(rng, n2, dtype)
        n_left, length = {"valid": (0, n1 - n2 + 1), "same": (n2 // 2, n1),
                          "full": (n2 - 1, n1 + n2 - 1)}[n_left_case]
        reference = np.correlate(x.astype(np.float64), w.astype(np.float64), n_left_case)

        def run(method, nfft=None):
            return engines.correlate1d(x, w, n_left, length, fft_batches, (method, nfft))
        results = [run("direct"), run("fft"), run("fft1"), run("fft1", (n1 + n2 + 7,))]
        for nfft in {max(2 * n2, 8), 3 * n2 + 5, length + n2 - 1}:
            results.append(run("fft", (nfft,)))
        for threads in (2, 3, 7):
            split = dataclasses.replace(fft_batches, split_min_macs=1, split_min_taps=1,
                                        threads=threads)
            # One row per thread, as long as there is an output for each.
            assert cost.direct_rows(length * n2, threads, n2, split) == min(threads,
                                                                            length * n2)
            results.append(engines.direct_correlate1d(x, w, n_left, length, True, split))
        for out in results:
            assert out.dtype == dtype and out.shape == (length,)
            assert_matches(out, reference.astype(dtype), n2, reference)


def test_1d_cost_model_choices():
    """NumPy's loop for tiny problems, direct for short kernels, FFT for long ones."""
    policy = Policy(threads=2)
    assert cost.choose_1d(100, 3, 100, F32, policy)[0] == "numpy"
    assert cost.choose_1d(300, 300, 599, F64, policy)[0] == "numpy"
    assert cost.choose_1d(200, 20, 219, F64, policy, numpy_ok=False)[0] == "direct"
    assert cost.choose_1d(10**6, 3, 10**6 - 2, F32, policy)[0] == "direct"
    assert cost.choose_1d(10**6, 31, 10**6, F32, policy)[0] == "direct"
    assert cost.choose_1d(10**6, 31, 10**6, F64, policy)[0] == "direct"
    assert cost.choose_1d(10**5, 10**4, 10**5 + 10**4 - 1, F32, policy)[0] == "fft"
    assert cost.choose_1d(10**6, 301, 10**6, F32, policy)[0] == "fft"
    assert cost.choose_1d(10**6, 3001, 10**6, F64, policy)[0] == "fft"
    assert cost.choose_1d(10**4, 10**4, 2 * 10**4 - 1, F32, policy)[0] == "fft1"
    # Without delegation NumPy's loop is never chosen.
    no_numpy = dataclasses.replace(policy, delegate_small=False)
    assert cost.choose_1d(100, 3, 100, F32, no_numpy)[0] == "direct"
    # Every choice gives the same answer.
    rng = np.random.default_rng(3)
    a, v = rand(rng, 3000, F64), rand(rng, 1000, F64)
    expected = np.convolve(a, v)
    for method in ("numpy", "direct", "fft", "fft1"):
        forced = dataclasses.replace(policy, engine_1d=method)
        assert cost.choose_1d(3000, 1000, 3999, F64, forced)[0] == method
        out = fsig.with_policy(forced).convolve(a, v)
        assert_matches(out, expected, 1000)
        if method == "numpy":  # NumPy's own loop: NumPy's bits
            np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_1d_forced_engines_are_the_ones_that_run(dtype, rng):
    """A policy's engine_1d is what a call runs: each forced path gives exactly the bits
    of that engine called directly, and the engines' bits differ from one another (so
    the comparison tells them apart). "split" cuts the signal into 3 rows, "direct"
    never."""
    n1, n2 = 3000, 300
    x, w = rand(rng, n1, dtype), rand(rng, n2, dtype)
    for mode, code in [("valid", VALID), ("same", SAME), ("full", FULL)]:
        n_left, length = {VALID: (0, n1 - n2 + 1), SAME: (n2 // 2, n1),
                          FULL: (n2 - 1, n1 + n2 - 1)}[code]
        direct = {}
        for path in PATHS:
            policy = PATH_POLICIES[path]
            assert cost.choose_1d(n1, n2, length, dtype, policy)[0] == policy.engine_1d
            alone = engines.correlate1d(x, w, n_left, length, policy,
                                        (policy.engine_1d, None))
            np.testing.assert_array_equal(bound(policy).correlate(x, w, mode), alone)
            direct[path] = alone
        for p, q in [("direct", "fft"), ("direct", "fft1"), ("fft", "fft1")]:
            assert (direct[p] != direct[q]).any(), (p, q)
        rows = {path: cost.direct_rows(length * n2, PATH_POLICIES[path].thread_count(), n2,
                                       PATH_POLICIES[path]) for path in ("direct", "split")}
        assert rows == {"direct": 1, "split": 3}


# ------------------------------------------------------------------------------------
# 1-D errors and delegation
# ------------------------------------------------------------------------------------
MODE_SPELLINGS = ["valid", "same", "full", "VALID", "Same", "f", "fu", "valid ", "x", "",
                  "it's", np.str_("same"), np.str_("bogus"), 0, 1, 2, 3, -1, 2**31, 2**70,
                  np.int8(1), np.array(2), np.array([1]), True, np.bool_(False), 1.0, None,
                  b"full", ["valid"]]


@pytest.mark.parametrize("mode", MODE_SPELLINGS, ids=repr)
@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_mode_spellings(name, mode, ops):
    func, ref_func = getattr(ops, name), REFERENCE[name]
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
@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_errors_match_numpy(name, case, mode, ops):
    func, ref_func = getattr(ops, name), REFERENCE[name]
    a, v = ERRORS_1D[case]
    try:
        expected = ref_func(a, v, mode)
    except Exception:
        same_error(lambda: func(a, v, mode), lambda: ref_func(a, v, mode))
    else:  # np.convolve(2.0, [1, 2]) is fine: scalars become 1-D
        np.testing.assert_array_equal(func(a, v, mode), expected)


def test_1d_error_messages_say_what_is_wrong(ops):
    for f in (PUBLIC, ops):
        with pytest.raises(ValueError, match="a cannot be empty"):
            f.convolve([], [1.0])
        with pytest.raises(ValueError, match="v cannot be empty"):
            f.convolve([1.0], [])
        with pytest.raises(ValueError, match="first array argument cannot be empty"):
            f.correlate(np.array([], np.float32), [1.0])
        with pytest.raises(ValueError, match="second array argument cannot be empty"):
            f.correlate([1.0], np.array([], np.float32))
        with pytest.raises(ValueError, match="object too deep"):
            f.convolve(np.ones((3, 3)), [1.0])
        with pytest.raises(ValueError, match="too small depth"):
            f.correlate(1.0, [1.0])
        with pytest.raises(ValueError, match=r"mode must be one of 'valid', 'same', or "
                                             r"'full' \(got 'middle'\)"):
            f.convolve([1.0], [1.0], "middle")
        with pytest.raises(ValueError,
                           match="integer convolve/correlate mode must be 0, 1, or 2"):
            f.correlate([1.0], [1.0], 5)
        with pytest.raises(TypeError, match="mode not understood"):
            f.correlate([1.0], [1.0], 1.5)


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
@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_delegated_dtypes_are_identical(name, case, mode, ops):
    a, v = DELEGATED_1D[case]
    expected = REFERENCE[name](a, v, mode)
    actual = getattr(ops, name)(a, v, mode)
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected)


def test_1d_subclasses_and_duck_arrays_are_delegated(ops):
    class Tagged(np.ndarray):
        pass

    a = np.arange(8.0).view(Tagged)
    v = np.array([1.0, 2.0])
    for name in NAMES_1D:
        actual, expected = getattr(ops, name)(a, v), REFERENCE[name](a, v)
        assert type(actual) is type(expected)
        np.testing.assert_array_equal(actual, expected)
    masked = np.ma.masked_array(np.arange(6.0), mask=[0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(ops.convolve(masked, v), np.convolve(masked, v))


@pytest.mark.parametrize("name", NAMES_1D)
def test_1d_inputs_unmodified(name, path_ops, rng):
    func = getattr(path_ops, name)
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
@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_against_scipy(name, mode, boundary, engine2d_ops, rng):
    """Every mode x boundary over odd/even/1-wide images and kernels, kernels larger than
    the image included (the extension then repeats), float32 and float64."""
    for i, x_shape in enumerate(IMAGES):
        for j, k_shape in enumerate(KERNELS):
            if mode == "valid" and not _valid_ok(x_shape, k_shape):
                continue
            dtype = (F32, F64)[(i + j) % 2]
            x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
            check_sp(engine2d_ops, name, x, k, mode, boundary)


@pytest.mark.parametrize("fillvalue", [1.5, -2, np.float32(0.25), True, np.nan, np.inf])
@pytest.mark.parametrize("mode", ["full", "same"])
@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_fillvalues(name, mode, fillvalue, engine2d_ops, rng):
    for x_shape, k_shape in [((6, 7), (3, 3)), ((5, 4), (2, 6)), ((3, 3), (7, 8))]:
        for dtype in (F32, F64):
            x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
            out = check_sp(engine2d_ops, name, x, k, mode, "fill", fillvalue)
            assert_same_non_finite(out, REFERENCE[name](x, k, mode, "fill", fillvalue))
    # Outside 'fill' the fill value is ignored, whatever it is.
    x, k = rand(rng, (5, 6), F32), rand(rng, (3, 2), F32)
    check_sp(engine2d_ops, name, x, k, mode, "wrap", fillvalue)


FILLVALUE_FORMS = [2, 2.5, True, np.float64(2.5), np.float32(2.5), np.int64(3), np.uint8(3),
                   np.bool_(True), np.longdouble(2.5), np.complex64(2), 1 + 1j, np.array(2.5),
                   np.array([2.5]), np.array([[2.5]], np.float32), np.array([2], np.int16),
                   [2.0], [[2.0]], [], [1, 2], "1.5", None, 10**40, 2**60 + 1, 1e300,
                   np.array([], np.float32), np.array([1.0, 2.0])]


@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("fillvalue", FILLVALUE_FORMS, ids=repr)
def test_2d_fillvalue_forms_match_scipy(fillvalue, dtype, ops, rng):
    """Every way of spelling a fill value: SciPy's value, or SciPy's error."""
    x, k = rand(rng, (4, 5), dtype), rand(rng, (2, 3), dtype)
    for name in NAMES_2D:
        func, ref_func = getattr(ops, name), REFERENCE[name]
        try:
            expected = ref_func(x, k, "full", "fill", fillvalue)
        except Exception:
            same_error(lambda: func(x, k, "full", "fill", fillvalue),
                       lambda: ref_func(x, k, "full", "fill", fillvalue))
        else:
            assert_matches(func(x, k, "full", "fill", fillvalue), expected, k.size)


@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_valid_swaps_inputs(name, engine2d_ops, rng):
    """'valid' with the first input smaller in every dimension: SciPy swaps (and
    correlate2d reverses the output)."""
    for x_shape, k_shape in [((3, 3), (7, 9)), ((2, 5), (2, 8)), ((1, 1), (4, 4)),
                             ((4, 4), (4, 4))]:
        for dtype in (F32, F64):
            x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
            for boundary in ("fill", "wrap", "symm"):
                check_sp(engine2d_ops, name, x, k, "valid", boundary)


@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_non_contiguous_read_only_and_lists(name, engine2d_ops, rng):
    base = rand(rng, (20, 24), F32)
    base.flags.writeable = False
    kern = rand(rng, (5, 6), F64)
    inputs = [(base[::2, ::3], kern), (base.T, kern[::-1]), (base[::-1, 2:], kern.T),
              (np.asfortranarray(base), kern[:, ::2]), (base.tolist(), kern.tolist()),
              (base, [[1, 2], [3, 4]])]
    for x, k in inputs:
        for mode in ("full", "same", "valid"):
            for boundary in ("fill", "symm"):
                check_sp(engine2d_ops, name, x, k, mode, boundary)


@pytest.mark.parametrize("types", [(F32, F64), (F64, F32), (np.int64, F32), (F32, np.int16),
                                   (np.uint8, F32), (np.bool_, F64)])
@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_mixed_dtypes_follow_scipy(name, types, ops, rng):
    x = (rand(rng, (9, 8)) * 4).astype(types[0])
    k = (rand(rng, (3, 4)) * 4).astype(types[1])
    for mode in ("full", "same", "valid"):
        check_sp(ops, name, x, k, mode, "fill", 1)


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_2d_fft_block_shapes(flip, dtype, fft_batches, rng):
    """The overlap-save FFT at several block shapes (one block, many, uneven) equals the
    direct sum, in every mode and boundary, however its frames are batched."""
    func = ss.convolve2d if flip else ss.correlate2d
    for x_shape, k_shape in [((17, 23), (5, 4)), ((9, 9), (9, 9)), ((6, 5), (8, 11))]:
        x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
        for code, mode in [(VALID, "valid"), (SAME, "same"), (FULL, "full")]:
            if mode == "valid" and k_shape > x_shape:
                continue
            for boundary, bval in [("fill", FILL), ("wrap", WRAP), ("symm", SYMM)]:
                fill = dtype.type(1.5 if boundary == "fill" else 0)
                reference = func(x.astype(np.float64), k.astype(np.float64), mode, boundary,
                                 fill)
                expected = func(x, k, mode, boundary, fill)
                out_shape = reference.shape
                for nfft in [None, (k_shape[0] + 1, k_shape[1] + 3),
                             (2 * k_shape[0] + 1, out_shape[1] + k_shape[1] - 1),
                             (out_shape[0] + k_shape[0] + 4, 16)]:
                    policy = dataclasses.replace(fft_batches, engine_2d="fft", nfft=nfft)
                    out = engines.scipy_correlate2d(x, k, code, bval, fill, flip, policy)
                    assert_matches(out, expected, k.size, reference)


def test_2d_cost_model_choices(rng):
    """Direct for small kernels, FFT for large ones; both give SciPy's answer."""
    policy = Policy(threads=2)
    assert cost.choose_2d((1024, 1024), (3, 3), F32, policy)[0] == "direct"
    assert cost.choose_2d((64, 64), (5, 5), F64, policy)[0] == "direct"
    assert cost.choose_2d((1024, 1024), (31, 31), F32, policy)[0] == "fft"
    x, k = rand(rng, (200, 190), F32), rand(rng, (31, 29), F32)
    assert cost.choose_2d((200, 190), (31, 29), F32, policy)[0] == "fft"
    chosen = bound(policy)
    for f in (chosen, PUBLIC):
        for name in NAMES_2D:
            for boundary in ("fill", "symm"):
                check_sp(f, name, x, k, "same", boundary)
    x[50, 60] = np.inf  # non-finite: the direct path, and SciPy's Inf/NaN placement
    expected = ss.correlate2d(x, k, "same")
    for f in (chosen, PUBLIC):
        assert_same_non_finite(f.correlate2d(x, k, "same"), expected)


def test_2d_float32_stays_float32(ops, rng):
    x, k = rand(rng, (64, 64), F32), rand(rng, (5, 5), F32)
    for name in NAMES_2D:
        for boundary in ("fill", "wrap", "symm"):
            assert getattr(ops, name)(x, k, "same", boundary).dtype == F32


@pytest.mark.parametrize("dtype", [F32, F64])
def test_2d_forced_engines_are_the_ones_that_run(dtype, rng):
    """A policy's engine_2d and strips threshold are what a call runs: the FFT, the
    direct sum over a whole extended copy and the direct sum with a non-zero fill in
    strips each leave their own last bits, and the cost model reports the forced
    engine."""
    x, k = rand(rng, (60, 50), dtype), rand(rng, (7, 5), dtype)
    for name in NAMES_2D:
        for mode, boundary in [("same", "symm"), ("full", "wrap"), ("same", "fill")]:
            out = {}
            for engine in ENGINES_2D:
                policy = ENGINE_2D_POLICIES[engine]
                assert cost.choose_2d((60, 50), (7, 5), dtype, policy)[0] == policy.engine_2d
                out[engine] = check_sp(bound(policy), name, x, k, mode, boundary)
            assert (out["fft"] != out["direct"]).any()
            assert (out["fft"] != out["direct-strips"]).any()
            # A zero fill needs no extension, and the kernel reads symm and wrap in
            # place: no strips either way.
            np.testing.assert_array_equal(out["direct"], out["direct-strips"])
        x_fill = check_sp(bound(ENGINE_2D_POLICIES["direct"]), name, x, k, "same", "fill", 1.5)
        x_strips = check_sp(bound(ENGINE_2D_POLICIES["direct-strips"]), name, x, k, "same",
                            "fill", 1.5)
        assert (x_fill != x_strips).any()  # a non-zero fill: extended whole, or in strips


@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_nan_and_inf_where_scipy_puts_them(name, engine2d_ops, rng):
    """SciPy multiplies the kernel with its padding too: an Inf in the kernel times the
    zero fill is NaN there. Image NaN/Inf stay within the outputs that see them."""
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
                    out = check_sp(engine2d_ops, name, image.astype(dtype),
                                   kernel.astype(dtype), *args)
                    assert_same_non_finite(out, REFERENCE[name](image, kernel, *args))


def test_2d_examples_from_scipy_docs(ops):
    """The Scharr-gradient example: complex kernel, delegated; and its real parts here."""
    rng = np.random.default_rng(7)
    img = rand(rng, (40, 50))
    scharr = np.array([[-3 - 3j, 0 - 10j, +3 - 3j], [-10 + 0j, 0 + 0j, +10 + 0j],
                       [-3 + 3j, 0 + 10j, +3 + 3j]])
    expected = ss.convolve2d(img, scharr, boundary="symm", mode="same")
    for f in (ops, PUBLIC):
        np.testing.assert_array_equal(
            f.convolve2d(img, scharr, boundary="symm", mode="same"), expected)
        gx = f.convolve2d(img, scharr.real, boundary="symm", mode="same")
        gy = f.convolve2d(img, scharr.imag, boundary="symm", mode="same")
        np.testing.assert_allclose(gx + 1j * gy, expected, rtol=1e-12, atol=1e-12)


def test_2d_boundaries_on_a_ramp(ops):
    """The extension rules spelled out: symm repeats the edge, wrap is periodic."""
    x = np.arange(4.0).reshape(1, 4)
    pick_left = np.zeros((1, 7))
    pick_left[0, 0] = 1.0  # correlate2d 'full' column j reads extended column j - 6
    for boundary, cols in [("symm", [2, 3, 3, 2, 1, 0, 0, 1, 2, 3]),
                           ("wrap", [2, 3, 0, 1, 2, 3, 0, 1, 2, 3]),
                           ("fill", [0, 0, 0, 0, 0, 0, 0, 1, 2, 3])]:
        out = ops.correlate2d(x, pick_left, "full", boundary)
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
@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_errors_match_scipy(name, case, ops):
    func, ref_func = getattr(ops, name), REFERENCE[name]
    kwargs = ERRORS_2D[case]
    same_error(lambda: func(**kwargs), lambda: ref_func(**kwargs))


@pytest.mark.parametrize("boundary", ["wrap", "circular", "symm", "symmetric"])
def test_2d_wrapping_an_empty_image_is_an_error_not_a_crash(boundary, ops):
    """SciPy divides by the empty axis' size there (SIGFPE kills the interpreter):
    fastconv raises instead. Other empty cases are SciPy's own results."""
    for f in (PUBLIC, ops):
        for name in NAMES_2D:
            func, ref_func = getattr(f, name), REFERENCE[name]
            for x_shape, k_shape, mode in [((0, 3), (2, 2), "full"), ((3, 0), (2, 2), "full"),
                                           ((3, 0), (1, 2), "full"), ((0, 3), (2, 0), "full")]:
                with pytest.raises(ValueError, match="cannot extend an empty image"):
                    func(np.ones(x_shape), np.ones(k_shape), mode, boundary)
            for x_shape, k_shape, mode in [((0, 3), (2, 2), "same"),
                                           ((3, 0), (0, 2), "full"), ((3, 0), (1, 1), "full"),
                                           ((2, 0), (1, 0), "valid"),
                                           ((0, 3), (0, 3), "valid")]:
                expected = ref_func(np.ones(x_shape), np.ones(k_shape), mode, boundary)
                actual = func(np.ones(x_shape), np.ones(k_shape), mode, boundary)
                assert actual.shape == expected.shape
                np.testing.assert_array_equal(actual, expected)


def test_2d_error_messages_say_what_is_wrong(ops):
    for f in (PUBLIC, ops):
        with pytest.raises(ValueError, match="correlate2d inputs must both be 2-D arrays"):
            f.correlate2d(np.ones(3), np.ones((2, 2)))
        with pytest.raises(ValueError, match="convolve2d inputs must both be 2-D arrays"):
            f.convolve2d(np.ones((3, 3)), np.ones((1, 2, 2)))
        with pytest.raises(ValueError,
                           match="For 'valid' mode, one must be at least as large"):
            f.convolve2d(np.ones((2, 5)), np.ones((3, 3)), "valid")
        with pytest.raises(ValueError,
                           match="Acceptable mode flags are 'valid', 'same', or 'full'"):
            f.correlate2d(np.ones((3, 3)), np.ones((2, 2)), "middle")
        with pytest.raises(ValueError, match=r"Acceptable boundary flags are 'fill', "
                                             r"'circular' \(or 'wrap'\), and 'symmetric' "
                                             r"\(or 'symm'\)"):
            f.correlate2d(np.ones((3, 3)), np.ones((2, 2)), boundary="mirror")
        with pytest.raises(ValueError, match="Incorrect boundary value"):
            f.convolve2d(np.ones((3, 3)), np.ones((2, 2)), boundary="reflect")


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
@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_delegated_dtypes_are_identical(name, case, mode, boundary, ops):
    func, ref_func = getattr(ops, name), REFERENCE[name]
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


@pytest.mark.parametrize("name", NAMES_2D)
def test_2d_inputs_unmodified(name, engine2d_ops, rng):
    func = getattr(engine2d_ops, name)
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
    forced = bound(PATH_POLICIES[engine])
    for name in NAMES_1D:
        check_np(forced, name, a, v, mode)


@budget(200)
@given(x_shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       k_shape=st.tuples(st.integers(1, 12), st.integers(1, 12)),
       mode=st.sampled_from(["full", "same", "valid"]), boundary=st.sampled_from(BOUNDARIES),
       fillvalue=st.sampled_from([0, 0.0, 1.0, -3.5]), f32=st.booleans(),
       engine=st.sampled_from(ENGINES_2D), seed=st.integers(0, 2**32 - 1))
def test_2d_random_shapes(x_shape, k_shape, mode, boundary, fillvalue, f32, engine, seed):
    rng = np.random.default_rng(seed)
    dtype = F32 if f32 else F64
    x, k = rand(rng, x_shape, dtype), rand(rng, k_shape, dtype)
    forced = bound(ENGINE_2D_POLICIES[engine])
    for name in NAMES_2D:
        if mode == "valid" and not _valid_ok(x_shape, k_shape):
            same_error(lambda: getattr(forced, name)(x, k, mode, boundary, fillvalue),
                       lambda: REFERENCE[name](x, k, mode, boundary, fillvalue))
        else:
            check_sp(forced, name, x, k, mode, boundary, fillvalue)


# ------------------------------------------------------------------------------------
# The public defaults
# ------------------------------------------------------------------------------------
def test_small_problems_go_to_numpy_and_scipy_loops(rng):
    """Below a few thousand multiply-adds NumPy's/SciPy's own loops are faster than any
    kernel call from Python: the public functions leave those to them, with their exact
    results (bit for bit, which fastconv's kernels are not: they differ in last bits)."""
    kernels = bound(KERNELS_ONLY)
    a, v = rand(rng, 50, F32), rand(rng, 7, F32)
    assert cost.numpy_is_faster(a.size * v.size, DEFAULT)  # both ndarrays: delegated
    kernels_differ = False
    for mode, length in [("valid", 44), ("same", 50), ("full", 56)]:
        expected = np.convolve(a, v, mode)
        actual = fastconv.convolve(a, v, mode)
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)
        kernels_differ |= bool((kernels.convolve(a, v, mode) != expected).any())
        # A list is not delegated up front; the cost model then picks NumPy's loop.
        assert cost.choose_1d(50, 7, length, F64, DEFAULT)[0] == "numpy"
        expected = np.correlate(v, a.tolist(), mode)
        actual = fastconv.correlate(v, a.tolist(), mode)
        assert actual.dtype == expected.dtype
        np.testing.assert_array_equal(actual, expected)
    # FMA builds round differently from NumPy's product-then-sum loop, so there the bits
    # also show who computed; the baseline build may match them, and the cost-model
    # assertions above pin the routing alone.
    fma_build = fastconv._dispatch.SIMD_LEVEL != "baseline"
    assert kernels_differ or not fma_build, "fastconv's kernels give NumPy's bits here"
    k64 = rand(rng, (3, 3), F64)
    for dtype in (F64, F32):
        x, k = rand(rng, (12, 10), dtype), k64.astype(dtype)
        assert cost.scipy_is_faster(12 * 10 * 9, DEFAULT)
        kernels_differ = False
        for boundary in ("fill", "wrap", "symm"):
            expected = ss.correlate2d(x, k, "same", boundary)
            actual = fastconv.correlate2d(x, k, "same", boundary)
            assert actual.dtype == expected.dtype
            np.testing.assert_array_equal(actual, expected)
            kernels_differ |= bool((kernels.correlate2d(x, k, "same", boundary)
                                    != expected).any())
        if dtype == F32 and fma_build:
            assert kernels_differ, "fastconv's kernels give SciPy's bits here"
    # 80 * 80 * 9 multiply-adds: fastconv's kernel, its bits, not SciPy's.
    big, k32 = rand(rng, (80, 80), F32), k64.astype(F32)
    assert not cost.scipy_is_faster(80 * 80 * 9, DEFAULT)
    out = check_sp(PUBLIC, "convolve2d", big, k32, "same", "symm")
    np.testing.assert_array_equal(out, kernels.convolve2d(big, k32, "same", "symm"))
    assert (out != ss.convolve2d(big, k32, "same", "symm")).any()


def test_exported():
    for name in ("convolve", "correlate", "convolve2d", "correlate2d"):
        assert name in fastconv.__all__
        assert getattr(fastconv, name) is getattr(fsig, name)

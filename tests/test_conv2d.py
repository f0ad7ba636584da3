"""conv2d: every method and dtype against fastconv.reference.conv2d, over a grid of cases.

Each case is one geometry (shapes, stride, dilation, padding form, groups, bias). The
float64 reference result is computed once per case on data that float32 represents
exactly, then every method x dtype pair is compared with it.
"""
import zlib

import numpy as np
import pytest

import fastconv
from fastconv import reference

from conftest import DTYPES, METHODS, assert_close, randn


def case(id, x_shape, w_shape, bias=False, **kwargs):
    return pytest.param(x_shape, w_shape, bias, kwargs, id=id)


CASES = [
    # --- kernel sizes 1x1 .. 7x7, odd and even images, batch 1 and 3 ---
    case("k1-valid", (1, 5, 6, 3), (1, 1, 3, 4)),
    case("k1-bias-b3", (3, 7, 7, 5), (1, 1, 5, 9), bias=True),
    case("k2-valid-even", (1, 8, 8, 2), (2, 2, 2, 3)),
    case("k2-same-even", (3, 8, 6, 3), (2, 2, 3, 4), padding="same"),
    case("k3-valid", (1, 7, 7, 3), (3, 3, 3, 5)),
    case("k3-valid-bias-b3", (3, 8, 9, 2), (3, 3, 2, 4), bias=True),
    case("k3-same-odd", (2, 9, 7, 3), (3, 3, 3, 6), bias=True, padding="same"),
    case("k4-same", (1, 10, 9, 2), (4, 4, 2, 3), padding="same"),
    case("k5-valid", (2, 9, 11, 2), (5, 5, 2, 5), bias=True),
    case("k5-same", (1, 9, 8, 3), (5, 5, 3, 2), padding="same"),
    case("k6-same-even", (1, 10, 10, 1), (6, 6, 1, 3), padding="same"),
    case("k7-valid", (1, 9, 10, 3), (7, 7, 3, 6)),
    case("k7-same-b3", (3, 8, 9, 2), (7, 7, 2, 3), bias=True, padding="same"),
    # --- non-square kernels and images ---
    case("k3x5-valid", (2, 10, 7, 3), (3, 5, 3, 4)),
    case("k1x4-same", (1, 6, 11, 2), (1, 4, 2, 5), padding="same"),
    case("k5x2-same-stride23", (2, 11, 9, 3), (5, 2, 3, 4), bias=True, padding="same", stride=(2, 3)),
    case("k2x7-valid", (1, 4, 12, 2), (2, 7, 2, 3)),
    # --- strides, including stride > kernel ---
    case("stride2-valid", (1, 9, 9, 2), (3, 3, 2, 3), stride=2),
    case("stride2-valid-even", (3, 10, 8, 2), (3, 3, 2, 3), bias=True, stride=2),
    case("stride21-valid", (1, 11, 9, 1), (3, 3, 1, 2), stride=(2, 1)),
    case("stride13-same", (2, 8, 13, 3), (3, 3, 3, 2), padding="same", stride=(1, 3)),
    case("stride3-same", (1, 13, 11, 2), (3, 3, 2, 4), padding="same", stride=3),
    case("stride4-k1", (2, 9, 10, 3), (1, 1, 3, 5), stride=4),
    case("stride3-k2-valid", (1, 11, 13, 2), (2, 2, 2, 3), stride=3),
    case("stride-gt-image", (2, 7, 6, 2), (3, 3, 2, 3), stride=20),
    case("stride-gt-image-same", (1, 7, 6, 2), (3, 2, 2, 9), bias=True, padding="same", stride=(20, 9)),
    case("stride5-k2-same", (1, 12, 9, 2), (2, 2, 2, 3), bias=True, padding="same", stride=5),
    # --- dilation ---
    case("dil2-valid", (1, 9, 9, 2), (3, 3, 2, 3), dilation=2),
    case("dil23-same", (2, 10, 11, 2), (3, 3, 2, 4), padding="same", dilation=(2, 3)),
    case("dil2-stride2-same", (1, 11, 10, 3), (3, 2, 3, 2), bias=True, padding="same", stride=2, dilation=2),
    case("k1-dil3", (1, 6, 5, 3), (1, 1, 3, 4), dilation=3),
    case("dil-k-eq-input", (1, 7, 9, 2), (4, 5, 2, 3), dilation=2),
    case("dil3-stride2-pad", (1, 12, 12, 1), (2, 3, 1, 2), padding=2, stride=(2, 1), dilation=3),
    # --- explicit padding forms ---
    case("pad0", (1, 6, 7, 2), (3, 3, 2, 3), padding=0),
    case("pad1-int", (2, 7, 6, 3), (3, 3, 3, 4), bias=True, padding=1),
    case("pad2-int-k3", (1, 5, 5, 2), (3, 3, 2, 2), padding=2),
    case("pad-pair", (1, 6, 8, 2), (3, 5, 2, 3), padding=(1, 2)),
    case("pad-pair-zero-h", (1, 6, 8, 2), (3, 3, 2, 3), padding=(0, 3)),
    case("pad-pairs", (2, 7, 6, 2), (3, 3, 2, 3), padding=((0, 2), (3, 1))),
    case("pad-pairs-top-only", (1, 6, 6, 3), (2, 2, 3, 2), padding=((2, 0), (0, 0))),
    case("pad-pairs-lists", (1, 6, 5, 2), (3, 3, 2, 2), padding=[[1, 0], [0, 2]]),
    case("pad-pairs-stride", (1, 9, 8, 2), (4, 3, 2, 3), bias=True, padding=((1, 3), (2, 0)), stride=(3, 2)),
    # --- groups and depthwise ---
    case("groups2", (1, 7, 6, 4), (3, 3, 2, 6), groups=2),
    case("groups2-bias-same", (3, 6, 7, 4), (3, 3, 2, 4), bias=True, padding="same", groups=2),
    case("groups3-cout-per-group1", (1, 6, 6, 6), (3, 3, 2, 3), groups=3),
    case("groups4-1x1", (2, 5, 5, 8), (1, 1, 2, 12), bias=True, groups=4),
    case("groups2-cout-per-group8", (2, 7, 7, 4), (3, 3, 2, 16), bias=True, padding="same", groups=2),
    case("groups2-cout-per-group9", (1, 6, 8, 6), (2, 3, 3, 18), stride=(2, 1), groups=2),
    case("depthwise-mult8", (1, 6, 7, 2), (3, 3, 1, 16), bias=True, padding=1, groups=2),
    case("depthwise", (1, 8, 7, 5), (3, 3, 1, 5), groups=5),
    case("depthwise-bias-same-stride2", (3, 9, 9, 4), (3, 3, 1, 4), bias=True, padding="same", stride=2, groups=4),
    case("depthwise-mult2", (1, 7, 8, 3), (3, 3, 1, 6), groups=3),
    case("depthwise-mult2-same-dil", (2, 9, 8, 3), (3, 3, 1, 6), bias=True, padding="same", dilation=2, groups=3),
    case("depthwise-5x5-c17", (1, 8, 8, 17), (5, 5, 1, 17), bias=True, padding="same", groups=17),
    # --- channel counts that do not fill register tiles; C = 1; odd C ---
    case("cin1-cout1", (2, 7, 8, 1), (3, 3, 1, 1)),
    case("cout7", (1, 6, 6, 3), (3, 3, 3, 7), bias=True),
    case("cout9", (1, 6, 7, 2), (3, 3, 2, 9)),
    case("cout17-cin5", (2, 6, 6, 5), (3, 3, 5, 17), bias=True, padding="same"),
    case("cout33-cin35", (1, 6, 5, 35), (3, 3, 35, 33), bias=True),
    case("cout24-cin19-1x1", (1, 9, 7, 19), (1, 1, 19, 24)),
    case("cout65-1x1", (1, 5, 5, 4), (1, 1, 4, 65), bias=True),
    # --- register blocks: first layers (long contiguous kernel rows), narrow and wide
    # channel blocks with tails, rows a little wider than a block ---
    case("first-layer-7x7x3-s2", (2, 14, 30, 3), (7, 7, 3, 64), bias=True, padding="same", stride=2),
    case("first-layer-3x3x1x40", (2, 6, 27, 1), (3, 3, 1, 40), bias=True),
    case("cout120-blocks-and-tail", (1, 7, 13, 5), (3, 3, 5, 120), padding="same"),
    case("cout96-row-of-9", (2, 4, 11, 3), (3, 3, 3, 96), bias=True),
    # --- kernel as large as the (padded) input ---
    case("kernel-eq-input", (2, 5, 7, 3), (5, 7, 3, 4), bias=True),
    case("kernel-eq-input-same", (1, 5, 5, 2), (5, 5, 2, 3), padding="same"),
    case("kernel-gt-input-padded", (1, 3, 4, 2), (5, 5, 2, 3), padding=((1, 1), (0, 1))),
    case("kernel-gt-input-same", (1, 3, 3, 2), (4, 5, 2, 2), padding="same", stride=2),
    case("image-1x1-k1", (3, 1, 1, 4), (1, 1, 4, 5), bias=True),
    case("image-1-row", (1, 1, 9, 2), (1, 3, 2, 3), padding="same"),
    # --- more output pixels than a tile (im2col and thread splitting) ---
    case("many-pixels-1x1", (2, 21, 23, 3), (1, 1, 3, 5), bias=True),
    case("many-pixels-3x3", (2, 20, 19, 4), (3, 3, 4, 8), bias=True, padding="same"),
]


_CACHE = {}


def case_data(x_shape, w_shape, bias, kwargs):
    """Inputs and the float64 reference result for one case, computed once per session."""
    key = repr((x_shape, w_shape, bias, sorted(kwargs.items())))
    if key not in _CACHE:
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        x = randn(rng, x_shape)
        w = randn(rng, w_shape)
        b = randn(rng, (w_shape[3],)) if bias else None
        expected = reference.conv2d(x, w, b, **kwargs)
        for a in (x, w, b, expected):
            if a is not None:
                a.setflags(write=False)  # shared between tests: nothing may write to them
        _CACHE[key] = x, w, b, expected
    return _CACHE[key]


def n_terms(w_shape):
    kh, kw, cin_per_group, _ = w_shape
    return kh * kw * cin_per_group


@pytest.mark.parametrize("x_shape, w_shape, bias, kwargs", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_conv2d_matches_reference(method, dtype, x_shape, w_shape, bias, kwargs):
    x, w, b, expected = case_data(x_shape, w_shape, bias, kwargs)
    got = fastconv.conv2d(
        x.astype(dtype),
        w.astype(dtype),
        None if b is None else b.astype(dtype),
        method=method,
        **kwargs,
    )
    assert_close(got, expected, dtype, n_terms(w_shape))


UNBATCHED = [
    case("k3-valid", (7, 6, 3), (3, 3, 3, 4), bias=True),
    case("k2-same-stride2", (9, 8, 2), (2, 2, 2, 5), padding="same", stride=2),
    case("depthwise", (6, 7, 4), (3, 3, 1, 4), groups=4, padding=1),
]


@pytest.mark.parametrize("x_shape, w_shape, bias, kwargs", UNBATCHED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_unbatched_input_gives_unbatched_output(method, dtype, x_shape, w_shape, bias, kwargs):
    x, w, b, expected = case_data(x_shape, w_shape, bias, kwargs)
    assert expected.ndim == 3
    b = None if b is None else b.astype(dtype)
    got = fastconv.conv2d(x.astype(dtype), w.astype(dtype), b, method=method, **kwargs)
    assert got.ndim == 3
    assert_close(got, expected, dtype, n_terms(w_shape))
    # ... and the same numbers as the image sent as a batch of one.
    batched = fastconv.conv2d(x[None].astype(dtype), w.astype(dtype), b, method=method, **kwargs)
    np.testing.assert_array_equal(got, batched[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_methods_agree_on_a_larger_layer(rng, dtype):
    """direct, im2col and auto agree to rounding on a layer too big for the reference loop."""
    x = randn(rng, (4, 24, 26, 16)).astype(dtype)
    w = randn(rng, (3, 3, 16, 20)).astype(dtype)
    b = randn(rng, (20,)).astype(dtype)
    results = {m: fastconv.conv2d(x, w, b, padding="same", method=m) for m in METHODS}
    expected = results["direct"].astype(np.float64)
    # A spot check of the direct result itself on one image and a corner of the plane.
    ref = reference.conv2d(x[1:2, :6, :7], w, b, padding=((1, 0), (1, 0)))
    assert_close(results["direct"][1:2, :5, :6], ref[:, :5, :6], dtype, 9 * 16)
    for m in ("im2col", "auto"):
        assert_close(results[m], expected, dtype, 9 * 16)


@pytest.mark.parametrize("x_shape, w_shape, groups, expected", [
    ((8, 64, 64, 64), (1, 1, 64, 2), 1, "im2col"),     # a U-Net's 1x1 head
    ((8, 64, 64, 32), (1, 1, 32, 4), 1, "im2col"),
    ((16, 40, 40, 64), (3, 3, 64, 1), 1, "im2col"),    # DnCNN's last layer
    ((8, 64, 64, 16), (1, 1, 16, 2), 1, "direct"),     # too few input channels
    ((8, 64, 64, 64), (3, 3, 64, 4), 1, "direct"),     # 3x3 to 4 channels: direct's
    ((8, 64, 64, 64), (1, 1, 64, 6), 1, "direct"),
    ((8, 64, 64, 64), (1, 1, 32, 2), 2, "direct"),     # groups: no single GEMM
])
@pytest.mark.parametrize("simd", ["avx512", "avx2", "baseline"])
def test_auto_streams_a_few_outputs_from_many_inputs_through_the_gemm(
        x_shape, w_shape, groups, expected, simd):
    from fastconv._plan import conv2d_plan
    if simd not in fastconv._dispatch.variants("_direct"):
        pytest.skip(f"no {simd} build here")
    plan = conv2d_plan(x_shape, w_shape, x_shape[1:3], np.dtype(np.float32), groups=groups,
                       simd=simd)
    assert plan.method == expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_thread_count_does_not_change_the_result(restore_threads, rng, method, dtype):
    # Large enough (about 6.6M multiply-adds) to pass any sensible serial threshold.
    x = randn(rng, (4, 20, 20, 16))
    w = randn(rng, (3, 3, 16, 32))
    b = randn(rng, (32,))
    args = (x.astype(dtype), w.astype(dtype), b.astype(dtype))
    results = []
    for n in (1, 2):
        fastconv.set_num_threads(n)
        assert fastconv.get_num_threads() == n
        results.append(fastconv.conv2d(*args, padding="same", stride=(1, 2), method=method))
    # Threads split the output, never a sum: the numbers are identical, not just close.
    np.testing.assert_array_equal(results[0], results[1])
    expected = reference.conv2d(x[:1], w, b, padding="same", stride=(1, 2))
    assert_close(results[1][:1], expected, dtype, 9 * 16)


THREAD_SPLITS = [
    # shapes where the work divides unevenly, or barely, between two threads
    case("one-output-row", (1, 3, 64, 16), (3, 3, 16, 24), bias=True),
    case("three-images-odd-rows", (3, 5, 40, 16), (3, 3, 16, 8), stride=(1, 1)),
    case("odd-everything", (2, 33, 17, 8), (3, 3, 8, 10), padding="same", stride=2),
    case("depthwise", (2, 21, 19, 32), (3, 3, 1, 32), bias=True, padding="same", groups=32),
    case("groups4", (1, 17, 23, 16), (3, 3, 4, 20), groups=4, dilation=2),
]


@pytest.mark.parametrize("x_shape, w_shape, bias, kwargs", THREAD_SPLITS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_thread_splits(restore_threads, method, dtype, x_shape, w_shape, bias, kwargs):
    x, w, b, expected = case_data(x_shape, w_shape, bias, kwargs)
    args = (x.astype(dtype), w.astype(dtype), None if b is None else b.astype(dtype))
    results = []
    for n in (2, 1):
        fastconv.set_num_threads(n)
        results.append(fastconv.conv2d(*args, method=method, **kwargs))
    np.testing.assert_array_equal(results[0], results[1])
    assert_close(results[0], expected, dtype, n_terms(w_shape))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_nan_and_inf_in_x_propagate(method, dtype):
    """A NaN or Inf pixel poisons exactly the outputs whose field contains it."""
    rng = np.random.default_rng(7)
    x = randn(rng, (2, 9, 8, 2))
    w = randn(rng, (3, 3, 2, 3))
    x[0, 4, 3, 1] = np.nan
    x[1, 0, 0, 0] = np.inf
    x[1, 7, 6, 1] = -np.inf
    expected = reference.conv2d(x, w, padding="same")
    got = fastconv.conv2d(x.astype(dtype), w.astype(dtype), padding="same", method=method)
    assert np.isnan(expected).sum() == 9 * 3  # the 3x3 neighbourhood, all channels
    assert np.isinf(expected).sum() >= 4 * 3
    assert_close(got, expected, dtype, 9 * 2)


@pytest.mark.parametrize("method", METHODS)
def test_is_cross_correlation_not_convolution(method):
    """A kernel with a single 1 at (0, 0) copies the top-left neighbour: no flip."""
    x = np.arange(25, dtype=np.float64).reshape(1, 5, 5, 1)
    w = np.zeros((3, 3, 1, 1))
    w[0, 0, 0, 0] = 1.0
    got = fastconv.conv2d(x, w, method=method)
    np.testing.assert_array_equal(got[0, :, :, 0], x[0, :3, :3, 0])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_non_finite_input_times_zero_weight_is_nan(method, dtype, bad):
    """IEEE: nan * 0 and inf * 0 are nan. The reference must say so too (BLAS, which it
    uses for finite inputs, may skip zero multipliers), and every method agrees."""
    x = np.arange(12, dtype=np.float64).reshape(3, 2, 2, 1)
    x[2, 0, 0, 0] = bad
    w = np.zeros((1, 1, 1, 1))  # one output channel: the product is a BLAS gemv
    expected = np.zeros((3, 2, 2, 1))
    expected[2, 0, 0, 0] = np.nan
    np.testing.assert_array_equal(reference.conv2d(x, w), expected)
    got = fastconv.conv2d(x.astype(dtype), w.astype(dtype), method=method)
    np.testing.assert_array_equal(got, expected.astype(dtype))

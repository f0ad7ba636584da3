"""Issue 13, for people who filter images: conv2d's border modes (np.pad's meaning),
exact integer and bool pooling, and the separable filter sep_conv2d.

Every border mode is checked against np.pad followed by a valid convolution
(fastconv.reference), on every method and every SIMD build; integer pooling against
NumPy's own max and mean at the edges of each type.
"""
import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import fastconv
from fastconv import _dispatch, _geometry, reference
from fastconv.conv import _conv2d, _sep_conv2d
from fastconv.pool import _pool2d

from _hypothesis_profiles import budget
from conftest import RTOL, assert_close, randn

PAD_MODES = ("constant", "reflect", "symmetric", "edge", "wrap")
METHODS = ("direct", "im2col", "auto")
DIRECT_BUILDS = sorted(_dispatch.variants("_direct"))
POOL_BUILDS = sorted(_dispatch.variants("_pool"))
SEPARABLE_BUILDS = sorted(_dispatch.variants("_separable"))
INTEGER_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
                  np.uint64]


def _np_pad(x, pads, mode, cval=0.0):
    widths = ((0, 0), pads[0], pads[1], (0, 0))
    if mode == "constant":
        return np.pad(x, widths, constant_values=cval)
    return np.pad(x, widths, mode=mode)


# ---------------------------------------------------------------------------
# The index maps are np.pad's
# ---------------------------------------------------------------------------
@budget(400)
@given(size=st.integers(1, 9), before=st.integers(0, 40), after=st.integers(0, 40),
       mode=st.sampled_from(PAD_MODES), data=st.data())
def test_pad_index_is_np_pad_of_arange(size, before, after, mode, data):
    kwargs = {"constant_values": -1} if mode == "constant" else {}
    expected = np.pad(np.arange(size), (before, after), mode=mode, **kwargs)
    start = data.draw(st.integers(0, expected.size - 1))
    stop = data.draw(st.integers(start, expected.size))
    got = _geometry.pad_index(size, before, start, stop, mode)
    np.testing.assert_array_equal(got, expected[start:stop])


@budget(300)
@given(size=st.integers(1, 12), eff=st.integers(1, 8), stride=st.integers(1, 4),
       before=st.integers(0, 9), after=st.integers(0, 9))
def test_interior_range_holds_exactly_the_windows_inside_the_image(size, eff, stride, before,
                                                                    after):
    out = _geometry.output_size(size, eff, stride, (before, after))
    lo, hi = _geometry.interior_range(size, eff, stride, before, out)
    inside = [o for o in range(out) if o * stride >= before
              and o * stride + eff <= before + size]
    assert list(range(lo, hi)) == inside


# ---------------------------------------------------------------------------
# conv2d's pad_mode against np.pad + a valid convolution
# ---------------------------------------------------------------------------
@st.composite
def padded_convolutions(draw):
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 8)), draw(st.integers(1, 8))
    c_in = draw(st.integers(1, 4))
    groups = draw(st.sampled_from([1, c_in]))
    c_out = groups * draw(st.integers(1, 3))
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad = st.integers(0, 2 * max(h, w) + 2)  # up to twice the image: reflects again
    padding = draw(st.one_of(st.just("same"), st.tuples(st.tuples(pad, pad),
                                                         st.tuples(pad, pad))))
    eff = _geometry.effective_kernel((k_h, k_w), dilation)
    pads = _geometry.resolve_padding(padding, (h, w), eff, stride)
    assume(all(n_ + p[0] + p[1] >= k for n_, p, k in zip((h, w), pads, eff)))
    return (n, h, w, c_in), (k_h, k_w, c_in // groups, c_out), dict(
        stride=stride, dilation=dilation, padding=padding, groups=groups)


@budget(400)
@given(case=padded_convolutions(), mode=st.sampled_from(PAD_MODES),
       method=st.sampled_from(METHODS), simd=st.sampled_from(DIRECT_BUILDS),
       dtype=st.sampled_from([np.float32, np.float64]), cval=st.sampled_from([0.0, 1.5]),
       seed=st.integers(0, 2**16))
def test_pad_mode_is_np_pad_then_valid_convolution(case, mode, method, simd, dtype, cval,
                                                   seed):
    x_shape, w_shape, kwargs = case
    rng = np.random.default_rng(seed)
    x, w, b = randn(rng, x_shape), randn(rng, w_shape), randn(rng, w_shape[3])
    note(f"{x_shape} {w_shape} {kwargs} {mode} {method} {simd}")
    expected = reference.conv2d(x, w, b, pad_mode=mode, cval=cval, **kwargs)
    got = _conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), method=method,
                  pad_mode=mode, cval=cval, simd=simd, **kwargs)
    assert_close(got, expected, dtype, n_terms=np.prod(w_shape[:3]) + 1)


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", [
    # TensorFlow's asymmetric "same" (the extra row and column at the bottom/right)
    ((2, 9, 10, 3), (4, 4, 3, 5), dict(padding="same", stride=2)),
    # padding wider than the image: reflects / wraps more than once
    ((1, 3, 4, 2), (3, 3, 2, 2), dict(padding=((7, 5), (9, 3)))),
    ((1, 2, 3, 1), (2, 2, 1, 1), dict(padding=((6, 6), (8, 1)), dilation=(2, 3))),
    # a one-pixel image
    ((1, 1, 1, 3), (3, 3, 3, 4), dict(padding="same")),
    ((2, 1, 1, 1), (5, 2, 1, 1), dict(padding=((4, 4), (3, 2)), stride=(2, 1))),
    # a large image: the interior runs in the kernel, the strips beside it
    ((1, 40, 70, 3), (7, 7, 1, 3), dict(padding="same", groups=3)),
])
def test_pad_mode_cases(mode, method, x_shape, w_shape, kwargs, rng):
    x, w = randn(rng, x_shape), randn(rng, w_shape)
    expected = reference.conv2d(x, w, pad_mode=mode, cval=-2.0, **kwargs)
    got = fastconv.conv2d(x, w, method=method, pad_mode=mode, cval=-2.0, **kwargs)
    assert_close(got, expected, np.float64, n_terms=np.prod(w_shape[:3]))
    # unbatched, float32 and out= take the same path
    out = np.empty(expected.shape[1:], np.float32)
    got32 = fastconv.conv2d(x[0].astype(np.float32), w.astype(np.float32), method=method,
                            pad_mode=mode, cval=-2.0, out=out, **kwargs)
    assert got32 is out
    assert_close(got32, expected[0], np.float32, n_terms=np.prod(w_shape[:3]))


def test_default_pad_mode_keeps_todays_results(rng):
    x, w = randn(rng, (2, 11, 9, 3)), randn(rng, (3, 3, 3, 4))
    today = fastconv.conv2d(x, w, padding="same")
    np.testing.assert_array_equal(
        fastconv.conv2d(x, w, padding="same", pad_mode="constant", cval=0.0), today)
    assert_close(today, reference.conv2d(x, w, padding="same"), np.float64, n_terms=27)


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_border_modes_with_non_finite_weights(mode, rng):
    """The direct kernel skips zero-padded taps; border outputs are recomputed from real
    padding, where 0 * inf = nan must appear exactly where np.pad's padding puts it."""
    x, w = randn(rng, (1, 6, 7, 2)), randn(rng, (3, 3, 2, 2))
    w[0, 0, 1, 0] = np.inf
    x[0, 0, 0, 1] = 0.0
    for method in METHODS:
        got = fastconv.conv2d(x, w, padding="same", pad_mode=mode, cval=0.0 if mode ==
                              "reflect" else 3.0, method=method)
        expected = reference.conv2d(x, w, padding="same", pad_mode=mode,
                                    cval=0.0 if mode == "reflect" else 3.0)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        assert_close(got, expected, np.float64, n_terms=18)


def test_pad_mode_never_modifies_the_input(rng):
    x = randn(rng, (1, 8, 8, 2))
    x.flags.writeable = False
    before = x.copy()
    fastconv.conv2d(x, randn(rng, (3, 3, 2, 1)), padding=4, pad_mode="wrap")
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("bad, error, match", [
    (dict(pad_mode="reflect_101"), ValueError, r"pad_mode must be one of .*'reflect'"),
    (dict(pad_mode="REFLECT"), ValueError, r"pad_mode must be one of"),
    (dict(pad_mode=None), ValueError, r"pad_mode must be one of"),
    (dict(cval="0"), TypeError, r"cval must be a real number"),
    (dict(cval=True), TypeError, r"cval must be a real number"),
    (dict(cval=1j), TypeError, r"cval must be a real number"),
])
def test_bad_border_arguments_are_named(bad, error, match):
    with pytest.raises(error, match=match):
        fastconv.conv2d(np.ones((4, 4, 1)), np.ones((3, 3, 1, 1)), padding="same", **bad)
    with pytest.raises(error, match=match):
        fastconv.sep_conv2d(np.ones((4, 4, 1)), [1.0], [1.0], **bad)


def test_border_pieces_are_split_for_large_strips(monkeypatch, rng):
    """Many images and tall left/right strips go through several bounded pieces, and
    pieces of one shape are run together only up to the same bound."""
    monkeypatch.setattr(fastconv._plan, "BORDER_PIECE_BYTES", 600)
    x, w = randn(rng, (5, 30, 20, 2)), randn(rng, (5, 3, 2, 2))
    expected = reference.conv2d(x, w, padding="same", pad_mode="symmetric", stride=(2, 1))
    got = fastconv.conv2d(x, w, padding="same", pad_mode="symmetric", stride=(2, 1))
    assert_close(got, expected, np.float64, n_terms=30)
    tiles = fastconv._plan.border_tiles(5, 0, 15, 2, 5, 40 * 8)
    assert len(tiles) > 5 and sorted({(a, b) for _, _, a, b in tiles})[0][0] == 0


@pytest.mark.parametrize("simd", DIRECT_BUILDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "wrap"])
@pytest.mark.parametrize("x_shape, k_hw, kwargs", [
    ((1, 37, 70, 3), (3, 3), dict(padding="same")),                 # rows in pairs
    ((2, 12, 41, 5), (7, 7), dict(padding="same", stride=(2, 1))),  # rows one by one
    ((1, 9, 30, 2), (3, 5), dict(padding=((4, 2), (9, 7)), dilation=(2, 3))),
    ((1, 2, 3, 3), (5, 4), dict(padding=((6, 5), (7, 8)))),         # wider than the image
    ((1, 4, 50, 40), (3, 3), dict(padding="same")),                 # several vectors
    ((1, 3, 6, 130), (3, 3), dict(padding="same")),                 # border in chunks
    ((1, 6, 300, 1), (3, 3), dict(padding="same")),                 # one channel, chunks
    ((2, 9, 11, 1), (5, 4), dict(padding=((7, 5), (12, 9)), stride=(2, 3))),
    ((1, 5, 140, 1), (17, 17), dict(padding="same", dilation=(1, 3))),
    ((1, 3, 100, 1), (23, 23), dict(padding="same")),                # batches of taps
    ((1, 3, 100, 3), (23, 23), dict(padding="same")),                # batches of taps
])
def test_kernels_that_take_the_border_themselves(simd, dtype, mode, x_shape, k_hw,
                                                       kwargs, rng):
    """The one-channel and flat depthwise rows read each padded position's source row
    and column from the index maps, where other kernels run border pieces."""
    c = x_shape[3]
    x, w = randn(rng, x_shape), randn(rng, (*k_hw, 1, c))
    stride_w = kwargs.get("stride", (1, 1))[1]
    dil_w = kwargs.get("dilation", (1, 1))[1]
    kernels = _dispatch.build("_direct", simd)[1]
    assert kernels.pads_from_source_maps(x_shape, w.shape, stride_w, dil_w,
                                         np.dtype(dtype).itemsize)
    expected = reference.conv2d(x, w, groups=c, pad_mode=mode, **kwargs)
    got = _conv2d(x.astype(dtype), w.astype(dtype), groups=c, method="direct",
                  pad_mode=mode, simd=simd, **kwargs)
    assert_close(got, expected, dtype, n_terms=k_hw[0] * k_hw[1])


@pytest.mark.parametrize("simd", DIRECT_BUILDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, k_hw, kwargs", [
    ((1, 23, 90, 3), (3, 3), dict(padding="same", pad_mode="reflect")),
    ((2, 13, 61, 4), (7, 5), dict(padding="same", stride=(2, 1), pad_mode="wrap")),
    ((1, 24, 100, 3), (17, 17), dict(padding=((3, 9), (2, 12)))),
    ((1, 30, 100, 3), (23, 23), dict(padding="same", pad_mode="symmetric")),  # batches
    ((1, 5, 40, 7), (3, 3), dict()),
    ((1, 5, 6, 3), (3, 3), dict(padding="same", pad_mode="edge")),  # too short: general
])
def test_one_kernel_for_every_channel_has_the_bits_of_the_general_path(
        simd, dtype, x_shape, k_hw, kwargs, rng):
    """A depthwise kernel equal in every channel (a blur of a colour image) runs its
    rows' interior as one-channel rows of C-value taps. A -0.0 in one channel makes the
    kernel unequal bit for bit, and so sends it down the general depthwise path, while
    multiplying by it changes no sum: both results must have the same bits."""
    c = x_shape[3]
    one = randn(rng, (*k_hw, 1, 1)).astype(dtype)
    one[0, 0] = 0.0
    w = np.repeat(one, c, axis=3)
    w_general = w.copy()
    w_general[0, 0, 0, 1] = -0.0
    x, bias = randn(rng, x_shape).astype(dtype), randn(rng, c).astype(dtype)
    got = _conv2d(x, w, bias, groups=c, method="direct", simd=simd, **kwargs)
    general = _conv2d(x, w_general, bias, groups=c, method="direct", simd=simd, **kwargs)
    np.testing.assert_array_equal(got, general)
    expected = reference.conv2d(x.astype(np.float64), w.astype(np.float64),
                                bias.astype(np.float64), groups=c, **kwargs)
    assert_close(got, expected, dtype, n_terms=k_hw[0] * k_hw[1] + 1)


@pytest.mark.parametrize("simd", DIRECT_BUILDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels, k_hw", [(1, (3, 3)), (1, (7, 5)), (3, (3, 3)),
                                            (4, (5, 7)), (1, (1, 9))])
def test_rows_alone_or_in_pairs_have_the_same_bits(simd, dtype, channels, k_hw, rng):
    """One-channel rows, and depthwise rows with one kernel in every channel, run two at
    a time where both rows' input rows are real: dropping the first input row shifts
    which rows pair up, and must not change a bit of any output row."""
    x = randn(rng, (2, 9, 150, channels)).astype(dtype)
    w = np.repeat(randn(rng, (*k_hw, 1, 1)), channels, axis=3).astype(dtype)
    kwargs = dict(groups=channels, method="direct", simd=simd)
    whole = _conv2d(x, w, **kwargs)
    np.testing.assert_array_equal(whole[:, 1:], _conv2d(x[:, 1:], w, **kwargs))
    np.testing.assert_array_equal(whole[:, 2:], _conv2d(x[:, 2:], w, **kwargs))
    reflected = _conv2d(x, w, padding="same", pad_mode="reflect", **kwargs)
    expected = reference.conv2d(x.astype(np.float64), w.astype(np.float64), groups=channels,
                                padding="same", pad_mode="reflect")
    assert_close(reflected, expected, dtype, n_terms=k_hw[0] * k_hw[1])


@pytest.mark.parametrize("rows, cols, match", [
    (np.zeros(9, np.intp), np.zeros(8, np.intp), "col_source has 8 positions for 9"),
    (np.zeros(8, np.intp), np.zeros(9, np.intp), "row_source has 8 positions for 9"),
    (np.full(9, 7, np.intp), np.zeros(9, np.intp), r"row_source\[0\] = 7 is not in \[0, 7\)"),
    (np.zeros(9, np.intp), np.full(9, -1, np.intp), r"col_source\[0\] = -1"),
    (np.zeros(9, np.intp), None, "come together"),
])
def test_the_kernel_refuses_source_maps_it_would_read_out_of_bounds(rows, cols, match):
    x, w = np.ones((1, 7, 7, 3)), np.ones((3, 3, 1, 3))
    out, bias = np.empty((1, 7, 7, 3)), np.zeros(3)
    with pytest.raises(ValueError, match=match):
        fastconv._direct.conv2d_direct(x, w, bias, out, (1, 1), (1, 1), (1, 1), 3, 1, rows,
                                       cols)


def test_source_maps_only_where_the_windows_read_most_positions(rng):
    """A stride far beyond the kernel over wide padding would make the maps span
    positions no window reads: such calls take the border pieces, with the same
    results."""
    from fastconv._geometry import conv_window, source_maps_fit
    assert source_maps_fit((1080, 1920), conv_window((1080, 1920), (3, 3), 1, 1, "same"))
    wide = conv_window((10, 10), (3, 3), (1, 4096), 1, ((0, 0), (5000, 5000)))
    assert not source_maps_fit((10, 10), wide)
    x, w = randn(rng, (1, 10, 10, 1)), randn(rng, (3, 3, 1, 1))
    got = fastconv.conv2d(x, w, stride=(1, 4096), padding=((0, 0), (5000, 5000)),
                          pad_mode="wrap")
    expected = reference.conv2d(x, w, stride=(1, 4096), padding=((0, 0), (5000, 5000)),
                                pad_mode="wrap")
    assert_close(got, expected, np.float64, n_terms=9)


def test_multi_channel_kernels_take_no_source_maps():
    x, w = np.ones((1, 7, 7, 4)), np.ones((3, 3, 4, 4))
    assert not fastconv._direct.pads_from_source_maps(x.shape, w.shape, 1, 1, 8)
    with pytest.raises(ValueError, match="pads with zeros only"):
        fastconv._direct.conv2d_direct(x, w, np.zeros(4), np.empty((1, 7, 7, 4)), (1, 1),
                                       (1, 1), (1, 1), 1, 1, np.zeros(9, np.intp),
                                       np.zeros(9, np.intp))


# ---------------------------------------------------------------------------
# sep_conv2d against the depthwise conv2d of the outer-product kernel
# ---------------------------------------------------------------------------
@budget(300)
@given(n=st.integers(1, 2), h=st.integers(1, 9), w=st.integers(1, 40), c=st.integers(1, 5),
       k_h=st.integers(1, 5), k_w=st.integers(1, 5), stride=st.tuples(st.integers(1, 3),
                                                                        st.integers(1, 3)),
       dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.one_of(st.just("same"), st.just("valid"),
                         st.tuples(st.tuples(st.integers(0, 12), st.integers(0, 12)),
                                   st.tuples(st.integers(0, 12), st.integers(0, 12)))),
       mode=st.sampled_from(PAD_MODES), simd=st.sampled_from(SEPARABLE_BUILDS),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_sep_conv2d_matches_the_outer_product_kernel(n, h, w, c, k_h, k_w, stride, dilation,
                                                     padding, mode, simd, dtype, seed):
    eff = _geometry.effective_kernel((k_h, k_w), dilation)
    pads = _geometry.resolve_padding(padding, (h, w), eff, stride)
    assume(all(n_ + p[0] + p[1] >= k for n_, p, k in zip((h, w), pads, eff)))
    rng = np.random.default_rng(seed)
    x, ky, kx = randn(rng, (n, h, w, c)), randn(rng, k_h), randn(rng, k_w)
    kwargs = dict(stride=stride, dilation=dilation, padding=padding, pad_mode=mode, cval=0.5)
    expected = reference.sep_conv2d(x, ky, kx, **kwargs)
    got = _sep_conv2d(x.astype(dtype), ky.astype(dtype), kx.astype(dtype), simd=simd, **kwargs)
    assert got.dtype == dtype and got.shape == expected.shape
    # The terms may cancel (a one-pixel image reflects every tap onto one value), so
    # rounding is judged against the sum of the terms' magnitudes, not the result's.
    magnitude = reference.sep_conv2d(np.abs(x), np.abs(ky), np.abs(kx), **kwargs)
    bound = RTOL[np.dtype(dtype)] * np.sqrt(k_h * k_w) * magnitude
    error = np.abs(got - expected)
    assert (error <= bound).all(), np.max(error / bound)


@pytest.mark.parametrize("simd", SEPARABLE_BUILDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [150, 5])
def test_sep_conv2d_rows_alone_or_in_pairs_have_the_same_bits(simd, dtype, width, rng):
    """Output rows run two at a time (their vertical passes share the input rows read)
    or alone (an odd last row, rows that read the constant): each row sums its taps in
    one order, so it has the same bits either way. Dropping the first input row moves
    every row from one place in its pair to the other."""
    x = randn(rng, (2, 21, width, 3)).astype(dtype)
    ky, kx = randn(rng, 5).astype(dtype), randn(rng, 3).astype(dtype)
    whole = _sep_conv2d(x, ky, kx, simd=simd)
    np.testing.assert_array_equal(whole[:, 1:], _sep_conv2d(x[:, 1:], ky, kx, simd=simd),
                                  strict=True)
    np.testing.assert_array_equal(whole[:, 2:], _sep_conv2d(x[:, 2:], ky, kx, simd=simd),
                                  strict=True)


@pytest.mark.parametrize("simd", SEPARABLE_BUILDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, taps, kwargs", [
    # rows of W*C values shorter than, equal to and longer than one register chunk
    ((2, 12, 21, 3), (7, 7), dict(padding="same", pad_mode="reflect")),
    ((1, 9, 64, 1), (3, 5), dict(padding="same", pad_mode="edge")),
    ((1, 6, 33, 2), (1, 9), dict(padding=((0, 0), (4, 4)), pad_mode="wrap")),
    ((1, 30, 100, 5), (5, 3), dict(stride=(3, 2), padding="same", pad_mode="symmetric")),
    ((3, 8, 50, 4), (2, 2), dict(dilation=(3, 5), padding=(3, 6), pad_mode="constant",
                                 cval=2.0)),
    ((1, 1, 1, 3), (3, 3), dict(padding="same", pad_mode="reflect")),
])
def test_sep_conv2d_cases(simd, dtype, shape, taps, kwargs, rng):
    x, ky, kx = randn(rng, shape), randn(rng, taps[0]), randn(rng, taps[1])
    expected = reference.sep_conv2d(x, ky, kx, **kwargs)
    got = _sep_conv2d(x.astype(dtype), ky.astype(dtype), kx.astype(dtype), simd=simd,
                      workers=2, **kwargs)
    assert_close(got, expected, dtype, n_terms=taps[0] * taps[1])


def test_sep_conv2d_equals_conv2d_with_the_outer_product(rng):
    x = randn(rng, (2, 20, 31, 3)).astype(np.float32)
    ky, kx = randn(rng, 7).astype(np.float32), randn(rng, 5).astype(np.float32)
    w = np.repeat(np.multiply.outer(ky, kx)[:, :, None, None], 3, axis=3)
    for mode in PAD_MODES:
        full = fastconv.conv2d(x, w, padding="same", pad_mode=mode, groups=3)
        sep = fastconv.sep_conv2d(x, ky, kx, padding="same", pad_mode=mode)
        np.testing.assert_allclose(sep, full, rtol=1e-5, atol=1e-5 * np.abs(full).max())


def test_sep_conv2d_api(rng):
    x = randn(rng, (10, 12, 3))
    # NumPy's promotion with float32, as conv2d's (a list of Python ints is int64)
    got = fastconv.sep_conv2d(np.abs(x).astype(np.uint8), np.array([1, 2, 1], np.int8),
                              np.array([1, 1], np.int16))
    assert got.dtype == np.float32 and got.shape == (8, 11, 3)
    assert fastconv.sep_conv2d(x.astype(np.uint8), [1, 2, 1], [1]).dtype == np.float64
    got = fastconv.sep_conv2d(x, [1.0], [1.0])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, x)
    # out= overlapping the input is computed into a temporary first
    y = x.copy()
    fastconv.sep_conv2d(y, [0.5, 0.5], [1.0], padding=((0, 1), (0, 0)), pad_mode="edge",
                        out=y)
    np.testing.assert_allclose(y[:-1], (x[:-1] + x[1:]) / 2)
    np.testing.assert_array_equal(y[-1], x[-1])
    with pytest.raises(ValueError, match="kernel_y must be a non-empty 1-D array"):
        fastconv.sep_conv2d(x, np.ones((3, 1)), [1.0])
    with pytest.raises(ValueError, match="kernel_x must be a non-empty 1-D array"):
        fastconv.sep_conv2d(x, [1.0], [])
    with pytest.raises(ValueError, match="larger than the padded input"):
        fastconv.sep_conv2d(x, np.ones(11), [1.0])


# ---------------------------------------------------------------------------
# Integer and bool pooling against NumPy
# ---------------------------------------------------------------------------
def _numpy_pool(x, pool, reduce):
    """np.max / np.mean over each non-overlapping pool x pool window (valid padding)."""
    n, h, w, c = x.shape
    oh, ow = h // pool, w // pool
    windows = x[:, :oh * pool, :ow * pool].reshape(n, oh, pool, ow, pool, c)
    return reduce(windows, axis=(2, 4))


def _edge_values(dtype, rng, shape):
    """Random values of ``dtype`` with its extremes (and 2**53 + 1 for 64-bit) planted."""
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    flat = x.reshape(-1)
    flat[:6] = [info.min, info.max, info.max, info.min, 0, 1]
    if info.bits == 64:
        flat[6:12] = [2**53 + 1, 2**53, 2**53 + 1, 2**53 - 1, info.max - 1, info.max]
    return x


@pytest.mark.parametrize("simd", POOL_BUILDS)
@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
@pytest.mark.parametrize("channels", [1, 3, 40])  # the register blocks and what is left
def test_integer_max_pool_is_exact_and_keeps_the_dtype(simd, dtype, channels, rng):
    x = _edge_values(dtype, rng, (2, 6, 8, channels))
    got = _pool2d("max_pool2d", x, 2, simd=simd)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, _numpy_pool(x, 2, np.max))
    # padded windows too: the reference clips them to the real pixels
    got = _pool2d("max_pool2d", x, 3, stride=2, padding="same", simd=simd)
    np.testing.assert_array_equal(got, _clipped_max(x, 3, 2))


def _clipped_max(x, pool, stride):
    """np.max over each window of 'same' pooling, clipped to the image (exact in x's dtype)."""
    window = _geometry.pool_window(x.shape[1:3], pool, stride, "same")
    (top, left), (oh, ow) = window.pad_top_left, window.out_hw
    out = np.empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - top, j * stride - left
            out[:, i, j] = x[:, max(r0, 0):r0 + pool, max(c0, 0):c0 + pool].max(axis=(1, 2))
    return out


def test_int64_max_pool_never_rounds_through_a_float():
    x = np.full((1, 2, 2, 1), 2**53, np.int64)
    x[0, 1, 1, 0] = 2**53 + 1
    got = fastconv.max_pool2d(x)
    assert got.dtype == np.int64 and int(got[0, 0, 0, 0]) == 2**53 + 1


@pytest.mark.parametrize("simd", POOL_BUILDS)
@pytest.mark.parametrize("dtype", INTEGER_DTYPES + [np.bool_])
def test_integer_avg_pool_is_np_mean(simd, dtype, rng):
    if dtype is np.bool_:
        x = rng.random((2, 6, 8, 5)) < 0.4
    else:
        x = _edge_values(dtype, rng, (2, 6, 8, 5))
    got = _pool2d("avg_pool2d", x, (2, 4), simd=simd)
    assert got.dtype == np.float64
    n, h, w, c = x.shape
    expected = x.reshape(n, 3, 2, 2, 4, c).mean(axis=(2, 4))
    assert expected.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=4e-16, atol=0)
    # with "same" padding the mean is over the real pixels only
    got = _pool2d("avg_pool2d", x, 3, stride=2, padding="same", simd=simd)
    np.testing.assert_allclose(got, reference.avg_pool2d(x, 3, stride=2, padding="same"),
                               rtol=4e-16)


@pytest.mark.parametrize("simd", POOL_BUILDS)
def test_bool_max_pool_is_any(simd, rng):
    x = rng.random((2, 7, 9, 35)) < 0.1
    got = _pool2d("max_pool2d", x, 3, stride=2, padding="same", simd=simd)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, _clipped_max(x, 3, 2))


def test_integer_pool_out_and_unbatched(rng):
    x = _edge_values(np.int16, rng, (6, 8, 3))
    out = np.empty((3, 4, 3), np.int16)
    assert fastconv.max_pool2d(x, out=out) is out
    np.testing.assert_array_equal(out, _numpy_pool(x[None], 2, np.max)[0])
    with pytest.raises(TypeError, match="out has dtype float32, but the result has dtype int16"):
        fastconv.max_pool2d(x, out=np.empty((3, 4, 3), np.float32))
    with pytest.raises(TypeError, match="dtype float64"):
        fastconv.avg_pool2d(x, out=np.empty((3, 4, 3), np.float32))
    # float16 still computes in float32, as before
    assert fastconv.max_pool2d(x.astype(np.float16)).dtype == np.float32

"""Gradients of conv2d and the pools, and conv2d_transpose (issue 11).

Checked three independent ways: against fastconv.reference's plain loops (every
kernel path, both dtypes, 1 and 2 threads), by the adjoint identities, and by finite
differences of a non-linear loss in float64 with Hypothesis-drawn geometries. Then
the forward functions' contract: dtype rule, unbatched input, out=, workers=, clear
errors, inputs never modified, and a thread-count-independent weight gradient.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fastconv
import fastconv.grad
from fastconv import reference
from fastconv._geometry import conv_window
from fastconv.grad import _grad_input, _kernels as grad_kernels
from fastconv._plan import grad_input_method, grad_input_plan, grad_weight_plan, input_group_merge
from _hypothesis_profiles import budget
from conftest import DTYPES, assert_close, randn

# (x shape, w shape, forward keywords): stride 2, 1x1, depthwise, grouped, dilated,
# narrow channels, "same" and explicit asymmetric padding, both kernel paths.
CONV_CASES = [
    ((2, 7, 8, 3), (3, 3, 3, 8), {}),
    ((2, 9, 9, 4), (3, 3, 4, 8), {"stride": 2, "padding": "same"}),
    ((1, 10, 11, 6), (3, 3, 6, 6), {"stride": 2}),
    ((2, 6, 6, 16), (1, 1, 16, 8), {}),
    ((2, 7, 7, 8), (1, 1, 8, 16), {"stride": 2}),
    ((2, 8, 9, 6), (3, 3, 1, 6), {"groups": 6, "padding": "same"}),            # depthwise
    ((1, 9, 8, 4), (3, 3, 1, 8), {"groups": 4, "stride": 2, "padding": 1}),   # multiplier 2
    ((2, 8, 8, 8), (3, 3, 4, 6), {"groups": 2, "dilation": 2, "padding": "same"}),
    ((1, 12, 10, 5), (5, 3, 5, 7), {"stride": (3, 2), "dilation": (1, 2),
                                    "padding": ((2, 0), (1, 3))}),
    ((2, 11, 11, 1), (3, 3, 1, 32), {"padding": "same"}),                     # narrow input
    ((1, 13, 13, 32), (3, 3, 32, 2), {"stride": 2, "padding": "same"}),       # narrow output
    ((3, 16, 16, 8), (4, 4, 8, 8), {"stride": 2, "padding": "same"}),
    ((2, 6, 5, 8), (1, 1, 8, 16), {"padding": ((1, 0), (2, 1))}),          # pad > kernel
    ((2, 9, 9, 16), (3, 3, 16, 16), {"padding": 2}),
    ((2, 9, 9, 16), (3, 3, 8, 16), {"groups": 2, "stride": 2, "dilation": 2, "padding": 3}),
    ((1, 11, 13, 4), (2, 5, 4, 8), {"stride": (4, 3), "dilation": (3, 2), "padding": 2}),
    ((2, 10, 10, 6), (1, 1, 6, 8), {"stride": 3}),                          # empty phases
    ((2, 6, 7, 32), (3, 3, 4, 32), {"groups": 8, "padding": "same"}),   # ResNeXt-like: 4/group
    ((2, 9, 11, 4), (5, 4, 1, 8), {"groups": 4, "stride": (1, 2), "dilation": (1, 2),
                                   "padding": "same"}),     # depthwise, 20 taps in 3 passes
]
CONV_IDS = [f"{x}-{w}-{kw}" for x, w, kw in CONV_CASES]


def _conv_data(rng, x_shape, w_shape, kwargs):
    x = randn(rng, x_shape)
    w = randn(rng, w_shape)
    y_shape = reference.conv2d(x, w, **kwargs).shape
    return x, w, randn(rng, y_shape)


def _grad_input_by(method, dy, w, input_shape, *, stride=1, padding="valid", dilation=1,
                   groups=1, workers=None):
    """conv2d_grad_input (4-D arrays) by one method: "phases" (what the public function
    runs: conv2d's kernels per stride phase) or "kernel" (_grad's GEMM + col2im / direct)."""
    return _grad_input(dy, False, w, tuple(input_shape), stride, padding, dilation, groups,
                       None, workers, dtype=np.result_type(dy, w, np.float32),
                       shape_name="input_shape", method=method)


@pytest.mark.parametrize("method", ["phases", "kernel"])
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES, ids=CONV_IDS)
def test_conv2d_grad_input_matches_the_reference(rng, x_shape, w_shape, kwargs, dtype, workers,
                                                 method):
    x, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    expected = reference.conv2d_grad_input(dy, w, x.shape, **kwargs)
    got = _grad_input_by(method, dy.astype(dtype), w.astype(dtype), x.shape, workers=workers,
                         **kwargs)
    assert_close(got, expected, dtype, n_terms=w.size)


# The phase kernel ("direct": dx's channels in multiples of 32 on every build): wide and
# narrow register blocks, bands of rows (blocks crossing rows) and long rows one at a
# time, border and short blocks, the kernel in slices, stride phases with no taps,
# dilation, asymmetric and over-wide padding, unequal strides.
PHASE_CASES = [
    ((2, 9, 9, 32), (3, 3, 32, 8), {"stride": 2, "padding": "same"}),
    ((2, 10, 23, 64), (3, 3, 64, 16), {"stride": 2, "padding": 1}),
    ((1, 12, 29, 96), (4, 4, 96, 5), {"stride": 2, "padding": 1}),
    ((2, 13, 12, 32), (5, 3, 32, 7), {"stride": (3, 2), "dilation": (1, 2),
                                      "padding": ((2, 0), (1, 3))}),
    ((1, 11, 13, 32), (2, 5, 32, 8), {"stride": (4, 3), "dilation": (3, 2), "padding": 2}),
    ((2, 10, 10, 32), (1, 1, 32, 8), {"stride": 3}),                     # empty phases
    ((2, 7, 7, 160), (3, 3, 160, 24), {"stride": 2}),
    ((1, 5, 40, 128), (3, 3, 128, 3), {"stride": 2, "padding": ((3, 1), (2, 4))}),
    ((1, 3, 3, 32), (3, 3, 32, 4), {"stride": 2, "padding": "same"}),    # border blocks only
    # The kernel in slices: 4 taps x 320 dy channels, in both blocks.
    ((1, 9, 30, 96), (3, 3, 96, 320), {"stride": 2, "padding": "same"}),
    # Bands of 28- to 55-pixel phase rows, blocks crossing rows.
    ((2, 10, 56, 64), (3, 3, 64, 16), {"stride": 2, "padding": 1}),
    ((1, 5, 101, 32), (3, 3, 32, 8), {"stride": 2, "padding": "same"}),
    ((1, 4, 110, 96), (3, 3, 96, 64), {"stride": 2, "padding": ((0, 2), (3, 1))}),
    # Phase rows of more than 192 pixels go one row at a time.
    ((1, 5, 401, 32), (3, 3, 32, 8), {"stride": 2, "padding": "same"}),
    # Phases of 49 taps; the zero border wider than dy (1x1 dy, a 13x13 kernel).
    ((1, 30, 27, 32), (13, 13, 32, 8), {"stride": 2, "padding": "same"}),
    ((1, 13, 13, 32), (13, 13, 32, 8), {"stride": 2, "padding": 6}),
]
PHASE_IDS = [f"{x}-{w}-{kw}" for x, w, kw in PHASE_CASES]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", PHASE_CASES, ids=PHASE_IDS)
def test_the_phase_kernel_matches_the_reference(rng, x_shape, w_shape, kwargs, dtype, workers):
    x, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    expected = reference.conv2d_grad_input(dy, w, x.shape, **kwargs)
    got = _grad_input_by("direct", dy.astype(dtype), w.astype(dtype), x.shape,
                         workers=workers, **kwargs)
    assert_close(got, expected, dtype, n_terms=w.size)


@pytest.mark.parametrize("x_shape, w_shape, kwargs", PHASE_CASES[:3], ids=PHASE_IDS[:3])
def test_the_phase_kernel_starts_from_the_bias(rng, x_shape, w_shape, kwargs):
    """conv2d_transpose hands its bias to the phase kernel, which starts each sum from
    it; phases and rows with no taps get the bias alone."""
    x, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    bias = randn(rng, (x_shape[3],))
    expected = reference.conv2d_grad_input(dy, w, x.shape, **kwargs) + bias
    got = _grad_input(dy, False, w, x.shape, kwargs.get("stride", 1),
                      kwargs.get("padding", "valid"), kwargs.get("dilation", 1), 1, None, None,
                      dtype=np.dtype(np.float64), shape_name="input_shape", bias=bias,
                      method="direct")
    assert_close(got, expected, np.float64, n_terms=w.size + 1)


def test_the_phase_kernel_refuses_what_it_cannot_block():
    """C_in not in half register blocks is the caller's to avoid: the kernel says so
    instead of computing."""
    kernels = grad_kernels()
    dy = np.zeros((1, 4, 4, 8))
    with pytest.raises(ValueError, match="kernel contract"):
        kernels.conv2d_grad_input_phases(dy, np.zeros((3, 3, 3, 8)), np.zeros((1, 8, 8, 3)),
                                         (2, 2), (1, 1), (1, 1), np.empty(0), 1)


@pytest.mark.parametrize("x_shape, w_shape, kwargs, method", [
    ((4, 56, 56, 64), (3, 3, 64, 128), {"stride": 2, "padding": "same"}, "direct"),
    ((2, 56, 56, 32), (3, 3, 32, 64), {"stride": 2, "padding": 1}, "direct"),
    ((8, 14, 14, 256), (3, 3, 256, 512), {"stride": 2, "padding": "same"}, "direct"),
    ((8, 6, 6, 64), (3, 3, 64, 512), {"stride": 2, "padding": "same"}, "kernel"),
    ((2, 56, 56, 48), (3, 3, 48, 64), {"stride": 2, "padding": 1}, "kernel"),
    ((2, 56, 56, 64), (3, 3, 64, 64), {"padding": 1}, "phases"),
])
def test_the_plan_takes_the_phase_kernel_for_long_phase_rows(x_shape, w_shape, kwargs,
                                                              method):
    """With AVX-512's 64-channel blocks: stride 2 on 56- and 14-wide maps takes the phase
    kernel; 3-pixel phase rows with 512 dy channels, and channels that are not whole
    half blocks, take the GEMM + col2im; stride 1 takes conv2d's phases."""
    window = conv_window(x_shape[1:3], w_shape[:2], kwargs.get("stride", 1), 1,
                         kwargs["padding"])
    assert grad_input_method(window.stride, w_shape, 1, x_shape[2], 32) == method


def test_stride_2_with_an_infinite_weight_gives_the_references_infinities(rng):
    """Taps outside dy are zero pixels to the phase kernel, and 0 * inf is nan: a kernel
    that is not finite goes to the GEMM + col2im, which multiplies real dy values only."""
    x_shape, w = (1, 12, 60, 32), randn(rng, (3, 3, 32, 4))
    w[2, 2, 3, 1] = np.inf                       # its taps read past dy at the top left
    dy = np.abs(randn(rng, (1, 6, 30, 4))) + 0.5
    got = fastconv.conv2d_grad_input(dy, w, x_shape, stride=2, padding="same")
    expected = reference.conv2d_grad_input(dy, w, x_shape, stride=2, padding="same")
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    finite = np.isfinite(expected)
    assert_close(got[finite], expected[finite], np.float64, n_terms=w.size)


def test_a_map_shorter_than_the_stride_plans_what_the_kernel_takes(rng):
    """One input row at stride 2: the empty row phase's taps (2 x 17 > 32) do not count,
    and the phase kernel runs what the plan gives it."""
    x_shape, w = (1, 1, 40, 32), randn(rng, (3, 17, 32, 4))
    dy = randn(rng, (1, 1, 40, 4))
    got = fastconv.conv2d_grad_input(dy, w, x_shape, stride=(2, 1), padding="same")
    expected = reference.conv2d_grad_input(dy, w, x_shape, stride=(2, 1), padding="same")
    assert_close(got, expected, np.float64, n_terms=w.size)


def test_only_avx512_builds_plan_the_phase_kernel():
    from fastconv.grad import _phase_channels
    level = fastconv._dispatch.build("_grad")[0]
    expected = {np.float32: 32, np.float64: 16} if level == "avx512" else {np.float32: 0,
                                                                           np.float64: 0}
    for dtype, channels in expected.items():
        assert _phase_channels(np.dtype(dtype)) == channels


@pytest.mark.parametrize("case, method", [
    (((1, 20, 20, 8), (3, 3, 8, 8), {"padding": "same"}), "phases"),
    (CONV_CASES[1], "kernel"), (CONV_CASES[5], "kernel"), (CONV_CASES[9], "kernel"),
    (CONV_CASES[3], "kernel")])
def test_the_public_function_runs_the_planned_method(rng, case, method):
    groups = case[2].get("groups", 1)
    assert grad_input_method(conv_window(case[0][1:3], case[1][:2], case[2].get("stride", 1),
                                         1, case[2].get("padding", "valid")).stride,
                             case[1], groups, case[0][2]) == method
    x, w, dy = _conv_data(rng, *case)
    np.testing.assert_array_equal(fastconv.conv2d_grad_input(dy, w, x.shape, **case[2]),
                                  _grad_input_by(method, dy, w, x.shape, **case[2]))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES, ids=CONV_IDS)
def test_conv2d_grad_weight_matches_the_reference(rng, x_shape, w_shape, kwargs, dtype, workers):
    x, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    expected = reference.conv2d_grad_weight(x, dy, w.shape, **kwargs)
    got = fastconv.conv2d_grad_weight(x.astype(dtype), dy.astype(dtype), w.shape,
                                      workers=workers, **kwargs)
    assert_close(got, expected, dtype, n_terms=dy.size // dy.shape[-1])


# Padded layers, and where in dy a non-finite value goes: windows that reach the padding
# (the kernel skips their padding taps, which equals multiplying by zero only for a
# finite dy) and windows inside the image.
PADDED_CASES = [
    ((2, 7, 8, 3), (3, 3, 3, 8), {"padding": "same"}),
    ((2, 8, 9, 6), (3, 3, 1, 6), {"groups": 6, "padding": "same"}),             # depthwise
    ((1, 11, 10, 4), (3, 3, 4, 5), {"stride": 2, "padding": ((2, 0), (1, 2))}),
    ((2, 9, 9, 4), (3, 3, 2, 4), {"groups": 2, "dilation": 2, "padding": "same"}),
    ((1, 9, 9, 8), (5, 5, 8, 16), {"padding": 2}),
]


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("where", ["corner", "top", "right", "bottom", "interior"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", PADDED_CASES,
                         ids=[f"{x}-{w}-{kw}" for x, w, kw in PADDED_CASES])
def test_conv2d_grad_weight_of_a_non_finite_dy_with_padding(rng, x_shape, w_shape, kwargs,
                                                            dtype, where, value):
    """A padding tap times an inf or nan in dy is nan, as in the reference (whose
    padding is real zeros), whether dy's value sits where windows reach the padding
    or inside."""
    x, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    out_h, out_w = dy.shape[1:3]
    i, j = {"corner": (0, 0), "top": (0, out_w // 2), "right": (out_h // 2, out_w - 1),
            "bottom": (out_h - 1, out_w // 2), "interior": (out_h // 2, out_w // 2)}[where]
    dy[-1, i, j, -1] = value
    expected = reference.conv2d_grad_weight(x, dy, w.shape, **kwargs)
    got = fastconv.conv2d_grad_weight(x.astype(dtype), dy.astype(dtype), w.shape, **kwargs)
    assert_close(got, expected, dtype, n_terms=dy.size // dy.shape[-1])


def _paths(x_shape, w_shape, kwargs):
    """(the grad_input kernel's path, grad_weight's path) for one case, as planned."""
    groups = kwargs.get("groups", 1)
    window = conv_window(x_shape[1:3], w_shape[:2], kwargs.get("stride", 1),
                         kwargs.get("dilation", 1), kwargs.get("padding", "valid"))
    plan = grad_input_plan(x_shape, w_shape, window.out_hw, window.stride[0],
                           window.dilation[0], np.dtype(np.float32), groups)
    input_path = "col2im" if plan.use_blas else "direct"
    weight_plan = grad_weight_plan(x_shape, w_shape, window.out_hw, window.stride[0],
                                   np.dtype(np.float32), groups, dilation_w=window.dilation[1])
    return input_path, weight_plan.layout


def test_the_cases_cover_every_kernel_path():
    paths = [_paths(*case) for case in CONV_CASES]
    assert {p[0] for p in paths} == {"col2im", "direct"}
    weight_paths = {p[1] for p in paths} | {_paths(*case[:3])[1] for case in WIDE_WEIGHT_CASES}
    assert weight_paths == set(grad_kernels().WEIGHT_LAYOUTS)


# Wider layers: channel counts that leave a partial vector (20, 33, 70) and uneven
# register blocks (20 = 7 + 7 + 6), images smaller than a band, one layout each.
WIDE_WEIGHT_CASES = [
    ((3, 5, 6, 20), (3, 3, 20, 40), {"padding": "same"}, "by_tap"),
    ((5, 4, 4, 24), (1, 1, 24, 33), {}, "by_tap"),
    ((2, 7, 6, 70), (3, 3, 70, 5), {"stride": 2, "padding": 1}, "by_tap_flipped"),
    ((2, 9, 8, 1), (3, 3, 1, 20), {"dilation": 2, "padding": "same"}, "by_field"),
    ((2, 11, 9, 3), (5, 4, 3, 48), {"stride": (2, 1), "padding": "same"}, "by_row"),
    ((3, 5, 4, 1), (3, 3, 1, 20), {}, "by_row"),
    ((2, 8, 8, 3), (3, 3, 3, 4), {"dilation": (1, 2), "padding": "same"}, "by_field_flipped"),
    ((2, 6, 6, 14), (3, 3, 7, 34), {"groups": 2, "padding": "same"}, "by_field_flipped"),
    ((2, 6, 6, 70), (3, 3, 1, 70), {"groups": 70, "padding": "same"}, "depthwise"),
    ((2, 9, 7, 3), (4, 3, 1, 12), {"groups": 3, "padding": "same", "stride": (2, 1)},
     "depthwise"),                                                  # channel multiplier 4
    ((2, 13, 12, 35), (5, 5, 1, 70), {"groups": 35, "padding": "same", "dilation": (1, 2)},
     "depthwise"),                                  # multiplier 2; 5 passes of a kernel row
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs, layout", WIDE_WEIGHT_CASES,
                         ids=[f"{c[3]}-{c[1][3]}" for c in WIDE_WEIGHT_CASES])
def test_grad_weight_bits_depend_on_the_chunks_alone(rng, x_shape, w_shape, kwargs, layout,
                                                     dtype):
    """The kernel's bands, column parts and threads change how the work is cut, never
    the result: each value adds its pixels in the same order (the by-row and depthwise
    layouts' order depends on the band, so there the band stays). And it is the
    gradient."""
    x, _, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    window = conv_window(x_shape[1:3], w_shape[:2], kwargs.get("stride", 1),
                         kwargs.get("dilation", 1), kwargs.get("padding", "valid"))
    groups = kwargs.get("groups", 1)
    assert _paths(x_shape, w_shape, kwargs)[1] == layout
    kernels = grad_kernels()
    xs, dys = x.astype(dtype), dy.astype(dtype)
    results = []
    cuts = [(1, 16, 1), (2, 16, 2), (3, 64, 2), (1000, 128, 1)]
    if layout in ("by_row", "depthwise"):
        cuts = [(8, 16, 1), (8, 16, 2), (8, 64, 2), (8, 128, 1)]
    for band, part_width, threads in cuts:
        dw = np.full(w_shape, np.nan, dtype)
        kernels.conv2d_grad_weight(xs, dys, dw, window.stride, window.dilation,
                                   window.pad_top_left, groups, kernels.WEIGHT_LAYOUTS[layout],
                                   band, 3, part_width, threads)
        results.append(dw)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    expected = reference.conv2d_grad_weight(x, dy, w_shape, **kwargs)
    assert_close(results[0], expected, dtype, n_terms=dy.size // dy.shape[-1])


@pytest.mark.parametrize("layout", ["depthwise", "by_tap", "by_row", "by_field"])
def test_grad_weight_kernel_of_an_empty_dy_is_zero(layout):
    """No output rows: an empty sum, before any workspace is sized from them (a depthwise
    multiplier's repeated rows divided by out_h)."""
    kernels = grad_kernels()
    x = np.ones((1, 2, 3, 2), np.float32)
    dy = np.ones((1, 0, 3, 4), np.float32)
    groups = 2 if layout in ("depthwise", "by_field") else 1
    dw = np.full((3, 1, 2 // groups, 4), np.nan, np.float32)
    kernels.conv2d_grad_weight(x, dy, dw, (1, 1), (1, 1), (0, 0), groups,
                               kernels.WEIGHT_LAYOUTS[layout], 4, 1, 16, 1)
    assert (dw == 0).all()


def test_narrow_groups_merged_keep_each_group_apart():
    """Narrow groups run merged (the plan's weight/input_group_merge); the merge never
    lets one group's values reach another's, even an inf in dy (where the input
    gradient's block-diagonal kernel would give 0 * inf = nan: it does not merge then)."""
    rng = np.random.default_rng(3)
    x, w = randn(rng, (2, 7, 6, 16)), randn(rng, (3, 3, 2, 16))
    kwargs = {"groups": 8, "padding": "same"}
    assert input_group_merge(w.shape, 8) > 1
    assert grad_weight_plan(x.shape, w.shape, (7, 6), 1, np.dtype(np.float32), 8).merged > 1
    dy = randn(rng, (2, 7, 6, 16))
    dy[0, 3, 2, 5] = np.inf                       # group 2's outputs 4 and 5
    got = fastconv.conv2d_grad_input(dy, w, x.shape, **kwargs)
    expected = reference.conv2d_grad_input(dy, w, x.shape, **kwargs)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(expected))
    assert np.isfinite(np.delete(got, [4, 5], axis=3)).all()
    finite = np.isfinite(expected)
    assert_close(got[finite], expected[finite], np.float64, n_terms=w.size)
    dw = fastconv.conv2d_grad_weight(x, dy, w.shape, **kwargs)
    expected_dw = reference.conv2d_grad_weight(x, dy, w.shape, **kwargs)
    np.testing.assert_array_equal(np.isfinite(dw), np.isfinite(expected_dw))
    finite = np.isfinite(expected_dw)
    assert_close(dw[finite], expected_dw[finite], np.float64, n_terms=dy.size // 16)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES, ids=CONV_IDS)
def test_conv2d_transpose_matches_the_reference(rng, x_shape, w_shape, kwargs, dtype):
    _, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    bias = randn(rng, (w.shape[2] * kwargs.get("groups", 1),))
    try:
        expected = reference.conv2d_transpose(dy, w, bias, **kwargs)
    except ValueError:  # Keras' inferred size is not always one the forward conv maps back
        with pytest.raises(ValueError, match="gives dy's"):
            fastconv.conv2d_transpose(dy.astype(dtype), w.astype(dtype), bias, **kwargs)
        return
    got = fastconv.conv2d_transpose(dy.astype(dtype), w.astype(dtype), bias.astype(dtype),
                                    **kwargs)
    assert_close(got, expected, dtype, n_terms=w.size)


@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES[:6], ids=CONV_IDS[:6])
def test_conv2d_grad_input_is_the_transpose_of_conv2d_as_a_matrix(x_shape, w_shape, kwargs):
    """grad_input's matrix is conv2d's, transposed: grad_input(e_i) is row i of conv2d's
    matrix A, whose column j is conv2d(e_j)."""
    rng = np.random.default_rng(3)
    x_shape = (1, *x_shape[1:])
    w = randn(rng, w_shape)
    size = int(np.prod(x_shape))
    forward = np.stack([fastconv.conv2d(np.eye(size)[j].reshape(x_shape), w, **kwargs).ravel()
                        for j in range(size)], axis=1)
    y_shape = fastconv.conv2d(np.zeros(x_shape), w, **kwargs).shape
    backward = np.stack([fastconv.conv2d_grad_input(np.eye(forward.shape[0])[i].reshape(y_shape),
                                                    w, x_shape, **kwargs).ravel()
                         for i in range(forward.shape[0])], axis=0)
    np.testing.assert_allclose(backward, forward, rtol=1e-12, atol=1e-12)


# --- Keras' Conv2DTranspose sizes ---------------------------------------------------------
@pytest.mark.parametrize("size, kernel, stride, padding, output_padding, expected", [
    (8, 3, 2, "same", None, 16),
    (8, 3, 2, "valid", None, 17),
    (8, 4, 2, "valid", None, 18),
    (8, 4, 2, "same", None, 16),
    (8, 1, 3, "valid", None, 24),          # kernel smaller than the stride: in * stride
    (8, 3, 2, "same", 1, 16),
    (8, 3, 2, "same", 0, 15),
    (8, 3, 2, "valid", 1, 18),
    (8, 3, 1, 1, None, 8),                 # explicit padding: PyTorch's formula
    (8, 4, 2, 1, None, 16),
    (8, 4, 2, 1, 1, 17),
])
def test_conv2d_transpose_output_size_follows_keras(size, kernel, stride, padding,
                                                    output_padding, expected):
    x = np.ones((1, size, size, 2), np.float32)
    w = np.ones((kernel, kernel, 3, 2), np.float32)
    y = fastconv.conv2d_transpose(x, w, stride=stride, padding=padding,
                                  output_padding=output_padding)
    assert y.shape == (1, expected, expected, 3)


def test_conv2d_transpose_output_padding_must_be_lower_than_the_stride():
    with pytest.raises(ValueError, match="output_padding 2 must be lower than the stride"):
        fastconv.conv2d_transpose(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1)), stride=2,
                                  output_padding=2)


def test_conv2d_transpose_spreads_each_pixel_into_the_kernel():
    x = np.zeros((5, 5, 1)); x[2, 3] = 1.0
    w = randn(np.random.default_rng(0), (3, 3, 2, 1))
    y = fastconv.conv2d_transpose(x, w, stride=2, padding="same")
    assert y.shape == (10, 10, 2)
    # The forward conv's output pixel (2, 3) reads rows 4..6 and columns 6..8 (pads 0, 1).
    np.testing.assert_array_equal(y[4:7, 6:9, :], w[..., 0])
    assert np.count_nonzero(y) == np.count_nonzero(w)


# --- pooling gradients --------------------------------------------------------------------
POOL_CASES = [
    ((2, 8, 8, 3), {}),
    ((2, 9, 9, 40), {"pool_size": 3, "stride": 2}),                   # windows overlap
    ((1, 7, 9, 33), {"pool_size": 3, "stride": 2, "padding": "same"}),
    ((2, 5, 7, 1), {"pool_size": (2, 3), "stride": 1}),
    ((1, 6, 6, 64), {"pool_size": 3, "stride": 1, "padding": 1}),
    ((2, 7, 7, 5), {"pool_size": 2, "padding": "same"}),
    # Register blocks of max_pool2d_grad (32 channels): whole ones, and a last one that
    # overlaps the one before, where windows tile the image and where they overlap
    # (test_simd_variants splits an image's channels among work items).
    ((2, 6, 8, 45), {}),
    ((1, 9, 7, 70), {"pool_size": 3, "stride": 2, "padding": "same"}),
    ((1, 4, 6, 100), {}),
]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, kwargs", POOL_CASES)
@pytest.mark.parametrize("data", ["normal", "ties", "nans"])
def test_max_pool2d_grad_matches_the_reference(rng, x_shape, kwargs, dtype, workers, data):
    x = randn(rng, x_shape) if data == "normal" else rng.integers(0, 3, x_shape).astype(float)
    if data == "nans":
        x[rng.random(x_shape) < 0.2] = np.nan
    dy = randn(rng, reference.max_pool2d(x, **kwargs).shape)
    expected = reference.max_pool2d_grad(x, dy, **kwargs)
    got = fastconv.max_pool2d_grad(x.astype(dtype), dy.astype(dtype), workers=workers, **kwargs)
    assert_close(got, expected, dtype, n_terms=9)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, kwargs", POOL_CASES)
def test_avg_pool2d_grad_matches_the_reference(rng, x_shape, kwargs, dtype, workers):
    dy = randn(rng, reference.avg_pool2d(np.zeros(x_shape), **kwargs).shape)
    expected = reference.avg_pool2d_grad(dy, x_shape, **kwargs)
    got = fastconv.avg_pool2d_grad(dy.astype(dtype), x_shape, workers=workers, **kwargs)
    assert_close(got, expected, dtype, n_terms=9)


def test_max_pool2d_grad_goes_to_the_first_maximum_and_to_the_first_nan():
    x = np.array([[1.0, 7.0, 7.0, np.nan],
                  [7.0, 2.0, np.nan, 0.0]]).reshape(1, 2, 4, 1)
    dx = fastconv.max_pool2d_grad(x, np.array([10.0, 20.0]).reshape(1, 1, 2, 1))
    np.testing.assert_array_equal(dx[0, ..., 0], [[0, 10, 0, 20], [0, 0, 0, 0]])
    np.testing.assert_array_equal(dx, reference.max_pool2d_grad(x, [[[[10.0], [20.0]]]]))


def test_overlapping_max_windows_add_up():
    x = np.zeros((1, 3, 5, 1)); x[0, 1, 2, 0] = 5.0   # the max of both 3x3 stride-2 windows
    dx = fastconv.max_pool2d_grad(x, np.array([1.0, 2.0]).reshape(1, 1, 2, 1), 3, stride=2)
    assert dx[0, 1, 2, 0] == 3.0 and np.count_nonzero(dx) == 1


def test_avg_pool2d_grad_divides_by_the_real_pixels():
    dx = fastconv.avg_pool2d_grad(np.ones((1, 2, 2, 1)), (1, 3, 3, 1), padding="same")
    np.testing.assert_array_equal(dx[0, ..., 0], [[.25, .25, .5], [.25, .25, .5], [.5, .5, 1]])


# --- the adjoint identities and finite differences (float64, Hypothesis) ----------------
@st.composite
def conv_geometries(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans())
    cin_g = 1 if depthwise else draw(st.integers(1, 3))
    cout_g = draw(st.integers(1, 3)) if depthwise else draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(
        st.sampled_from(["valid", "same"]),
        st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                  st.tuples(st.integers(0, 2), st.integers(0, 2)))))
    h = draw(st.integers((kh - 1) * dilation[0] + 1, 9))
    w = draw(st.integers((kw - 1) * dilation[1] + 1, 9))
    n = draw(st.integers(1, 2))
    kwargs = {"stride": stride, "dilation": dilation, "padding": padding, "groups": groups}
    return (n, h, w, cin_g * groups), (kh, kw, cin_g, cout_g * groups), kwargs


@budget(150)
@given(geometry=conv_geometries(), seed=st.integers(0, 2**31 - 1))
def test_adjoint_identities(geometry, seed):
    x_shape, w_shape, kwargs = geometry
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = fastconv.conv2d(x, w, **kwargs)
    dy = rng.standard_normal(y.shape)
    lhs = np.vdot(y, dy)
    scale = np.abs(x).sum() * np.abs(w).sum() * np.abs(dy).max() + 1.0
    dx = fastconv.conv2d_grad_input(dy, w, x.shape, **kwargs)
    dw = fastconv.conv2d_grad_weight(x, dy, w.shape, **kwargs)
    assert abs(lhs - np.vdot(x, dx)) <= 1e-12 * scale
    assert abs(lhs - np.vdot(w, dw)) <= 1e-12 * scale


def _central_difference(f, at, direction, eps=1e-6):
    return (f(at + eps * direction) - f(at - eps * direction)) / (2 * eps)


@budget(80)
@given(geometry=conv_geometries(), seed=st.integers(0, 2**31 - 1))
def test_finite_differences_of_a_nonlinear_loss(geometry, seed):
    """L(x, w) = sum(dy * tanh(conv2d(x, w) + b)): the chain rule through the gradients
    agrees with central differences along random directions."""
    x_shape, w_shape, kwargs = geometry
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), 0.5 * rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[3])
    dy = rng.standard_normal(fastconv.conv2d(x, w, **kwargs).shape)

    def loss(x, w):
        return float(np.sum(dy * np.tanh(fastconv.conv2d(x, w, b, **kwargs))))

    dz = dy * (1 - np.tanh(fastconv.conv2d(x, w, b, **kwargs)) ** 2)
    grads = {"x": fastconv.conv2d_grad_input(dz, w, x.shape, **kwargs),
             "w": fastconv.conv2d_grad_weight(x, dz, w.shape, **kwargs),
             "b": dz.sum((0, 1, 2))}
    for name, at, f in [("x", x, lambda v: loss(v, w)), ("w", w, lambda v: loss(x, v)),
                        ("b", b, None)]:
        direction = rng.standard_normal(at.shape)
        if f is None:
            f = lambda v: float(np.sum(dy * np.tanh(fastconv.conv2d(x, w, v, **kwargs))))  # noqa: E731
        numeric = _central_difference(f, at, direction)
        analytic = np.vdot(grads[name], direction)
        assert abs(numeric - analytic) <= 1e-6 * (1 + abs(analytic)), name


@budget(60)
@given(shape=st.tuples(st.integers(1, 2), st.integers(3, 9), st.integers(3, 9),
                       st.integers(1, 40)),
       pool=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["valid", "same"]), seed=st.integers(0, 2**31 - 1))
def test_pool_gradients_by_finite_differences(shape, pool, stride, padding, seed):
    rng = np.random.default_rng(seed)
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.01   # distinct: no ties
    kwargs = {"stride": stride, "padding": padding}
    dy = rng.standard_normal(fastconv.max_pool2d(x, pool, **kwargs).shape)
    direction = rng.standard_normal(shape)
    for forward, grad in [
            (fastconv.max_pool2d, fastconv.max_pool2d_grad(x, dy, pool, **kwargs)),
            (fastconv.avg_pool2d, fastconv.avg_pool2d_grad(dy, shape, pool, **kwargs))]:
        numeric = _central_difference(
            lambda v: float(np.vdot(dy, forward(v, pool, **kwargs))), x, direction, eps=1e-5)
        assert abs(numeric - np.vdot(grad, direction)) <= 1e-7 * (1 + abs(numeric))


# --- determinism -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", [
    ((16, 20, 20, 16), (3, 3, 16, 32), {"padding": "same"}),
    ((16, 20, 20, 24), (3, 3, 1, 24), {"groups": 24, "padding": "same"}),
    ((16, 12, 12, 32), (1, 1, 32, 32), {}),
])
def test_grad_weight_is_the_same_bits_on_any_thread_count(x_shape, w_shape, kwargs, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape).astype(dtype)
    dy = rng.standard_normal(fastconv.conv2d(x, np.zeros(w_shape, dtype), **kwargs).shape
                             ).astype(dtype)
    plan = grad_weight_plan(x.shape, w_shape, dy.shape[1:3], 1, np.dtype(dtype),
                            kwargs.get("groups", 1), workers=2)
    assert plan.chunks > 1 and plan.threads == 2, plan   # the test needs a real split
    one = fastconv.conv2d_grad_weight(x, dy, w_shape, workers=1, **kwargs)
    for _ in range(3):
        two = fastconv.conv2d_grad_weight(x, dy, w_shape, workers=2, **kwargs)
        np.testing.assert_array_equal(one, two)


# Small maps whose bands are whole images, several to a GEMM: an odd batch (a last,
# smaller band), a 1x1 kernel (the product lands in dx), stride and padding, groups.
WHOLE_IMAGE_CASES = [
    ((5, 7, 7, 16), (3, 3, 16, 24), {"padding": "same"}),
    ((6, 4, 5, 8), (1, 1, 8, 16), {}),
    ((7, 9, 9, 6), (4, 4, 6, 10), {"stride": 2, "padding": 1}),
    ((4, 6, 6, 8), (3, 3, 4, 12), {"groups": 2, "padding": "same"}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape, w_shape, kwargs", WHOLE_IMAGE_CASES,
                         ids=[f"{x}-{w}-{kw}" for x, w, kw in WHOLE_IMAGE_CASES])
def test_grad_input_bands_of_several_whole_images(rng, x_shape, w_shape, kwargs, dtype):
    """The GEMM + col2im kernel with several images to a band matches the reference,
    and gives the same bits on one thread and two."""
    x, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
    window = conv_window(x_shape[1:3], w_shape[:2], kwargs.get("stride", 1), 1,
                         kwargs.get("padding", "valid"))
    plan = grad_input_plan(x_shape, w_shape, window.out_hw, window.stride[0], 1,
                           np.dtype(dtype), kwargs.get("groups", 1), workers=2)
    assert plan.use_blas and plan.images_per_band > 1, plan   # the case needs the path
    expected = reference.conv2d_grad_input(dy, w, x.shape, **kwargs)
    one = _grad_input_by("kernel", dy.astype(dtype), w.astype(dtype), x.shape, workers=1,
                         **kwargs)
    two = _grad_input_by("kernel", dy.astype(dtype), w.astype(dtype), x.shape, workers=2,
                         **kwargs)
    assert_close(one, expected, dtype, n_terms=w.size)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 3])
def test_grad_input_kernel_is_the_same_bits_on_any_thread_count(dtype, batch):
    """The GEMM + col2im kernel runs an image per thread when the batch allows, and
    (image, band) items in two barrier-parted phases when it does not (one image, two
    threads); both add the even bands first, so they agree to the bit."""
    rng = np.random.default_rng(6)
    w = rng.standard_normal((3, 3, 64, 24)).astype(dtype)
    x_shape = (batch, 120, 100, 64)
    dy = rng.standard_normal((batch, 60, 50, 24)).astype(dtype)
    kw = dict(stride=2, padding="same")
    assert grad_input_method((2, 2), w.shape, 1, x_shape[2]) == "kernel"
    plan = grad_input_plan(x_shape, w.shape, (60, 50), 2, 1, np.dtype(dtype), 1, workers=2)
    assert plan.use_blas and -(-60 // plan.tile_rows) >= 3, plan   # several bands
    one = _grad_input_by("kernel", dy, w, x_shape, workers=1, **kw)
    two = _grad_input_by("kernel", dy, w, x_shape, workers=2, **kw)
    np.testing.assert_array_equal(one, two)


def test_a_global_pool_of_2_24_pixels():
    """max_pool2d_grad keeps each maximum's place in the window as a float, exact below
    2**24 pixels: a larger window is a ValueError naming pool_size. avg_pool2d_grad keeps
    no places, so its global pool works at any size."""
    side = 4096
    dy = np.full((1, 1, 1, 1), 2.0**24, np.float32)
    dx = fastconv.avg_pool2d_grad(dy, (1, side, side, 1), side)
    assert dx.shape == (1, side, side, 1) and np.all(dx == 1.0)
    x = np.zeros((1, side, side, 1), np.float32)
    with pytest.raises(ValueError, match="pool_size"):
        fastconv.max_pool2d_grad(x, dy, side)


# --- the forward functions' contract ------------------------------------------------------
def _calls(dtypes=(np.float64, np.float64)):
    """One valid call of each function, with arguments of the two dtypes given."""
    a, b = dtypes
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (2, 6, 7, 4)).astype(a)
    w = rng.integers(-3, 4, (3, 3, 4, 5)).astype(b)
    dy = rng.integers(-3, 4, (2, 3, 4, 5)).astype(a)
    pool_dy = rng.integers(-3, 4, (2, 3, 4, 4)).astype(b)
    kw = {"stride": 2, "padding": "same"}
    return {
        "conv2d_grad_input": (fastconv.conv2d_grad_input, (dy, w, x.shape), kw),
        "conv2d_grad_weight": (fastconv.conv2d_grad_weight, (x, dy.astype(b), w.shape), kw),
        "conv2d_transpose": (fastconv.conv2d_transpose, (dy, w), kw),
        "max_pool2d_grad": (fastconv.max_pool2d_grad, (x, pool_dy), {"padding": "same"}),
        "avg_pool2d_grad": (fastconv.avg_pool2d_grad, (pool_dy, x.shape), {"padding": "same"}),
    }


FUNCTIONS = list(_calls())


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("dtypes, expected", [
    ((np.float32, np.float32), np.float32),
    ((np.float32, np.float64), np.float64),
    ((np.int8, np.float16), np.float32),
    ((np.int64, np.int64), np.float64),
])
def test_result_dtype(name, dtypes, expected):
    fn, args, kwargs = _calls(dtypes)[name]
    result = fn(*args, **kwargs)
    assert result.dtype == expected
    reference_result = getattr(reference, name)(*args, **kwargs)
    assert_close(result, reference_result, expected, n_terms=36)


def _unbatched(arg):
    return arg[0] if isinstance(arg, np.ndarray) and arg.ndim == 4 and arg.shape[0] == 2 else arg


@pytest.mark.parametrize("name", FUNCTIONS)
def test_unbatched_input_gives_an_unbatched_result(name):
    fn, args, kwargs = _calls()[name]
    batched = fn(*args, **kwargs)
    args1 = [_unbatched(a) if isinstance(a, np.ndarray) else a for a in args]
    if name in ("conv2d_grad_input", "avg_pool2d_grad"):
        args1[-1] = args[-1][1:]
    if name == "conv2d_grad_weight":
        expected = fn(args[0][:1], args[1][:1], args[2], **kwargs)
    else:
        expected = batched[0]
    np.testing.assert_allclose(fn(*args1, **kwargs), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_out_is_filled_and_returned(name):
    fn, args, kwargs = _calls()[name]
    expected = fn(*args, **kwargs)
    out = np.full_like(expected, np.nan)
    assert fn(*args, out=out, **kwargs) is out
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="out has shape"):
        fn(*args, out=np.empty(expected.shape + (1,)), **kwargs)
    with pytest.raises(TypeError, match="out has dtype"):
        fn(*args, out=np.empty(expected.shape, np.float32), **kwargs)
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(*args, out=np.empty(expected.shape[::-1]).T, **kwargs)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_out_overlapping_an_input_gets_the_right_answer(name):
    fn, args, kwargs = _calls()[name]
    expected = fn(*args, **kwargs)
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    first = args[0]
    if first.size >= expected.size:
        out = first.reshape(-1)[:expected.size].reshape(expected.shape)
        assert fn(*args, out=out, **kwargs) is out
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_inputs_are_not_modified_whatever_their_layout(name):
    fn, args, kwargs = _calls()[name]
    expected = fn(*args, **kwargs)
    views = []
    for a in args:
        if isinstance(a, np.ndarray):
            big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
            view = big[tuple(slice(None, None, 2) for _ in a.shape)]
            view[...] = a
            view.flags.writeable = False
            views.append(view)
        else:
            views.append(a)
    snapshot = [v.copy() if isinstance(v, np.ndarray) else v for v in views]
    np.testing.assert_array_equal(fn(*views, **kwargs), expected)
    for v, s in zip(views, snapshot):
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, s)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_bad_workers(name):
    fn, args, kwargs = _calls()[name]
    with pytest.raises(ValueError, match="workers must be a positive integer or -1"):
        fn(*args, workers=0, **kwargs)
    with pytest.raises(TypeError, match="workers must be an integer"):
        fn(*args, workers=1.5, **kwargs)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_lists_are_accepted(name):
    fn, args, kwargs = _calls()[name]
    expected = fn(*args, **kwargs)
    lists = [a.tolist() if isinstance(a, np.ndarray) else a for a in args]
    np.testing.assert_array_equal(fn(*lists, **kwargs), expected)


def test_bias_gradient_is_the_sum_of_dy():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 5, 5, 3)), rng.standard_normal((3, 3, 3, 4)), np.zeros(4)
    dy = rng.standard_normal((2, 3, 3, 4))
    eps = 1e-6
    numeric = [(np.vdot(dy, fastconv.conv2d(x, w, b + eps * e)) -
                np.vdot(dy, fastconv.conv2d(x, w, b - eps * e))) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(numeric, dy.sum((0, 1, 2)), rtol=1e-7)


@pytest.mark.parametrize("call, exc, pattern", [
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 13, 13, 2)), np.ones((3, 3, 1, 2)),
                                        (1, 31, 28, 1), stride=2),
     ValueError, r"gives dy's \(13, 13\) only from heights in \[27, 28\] and widths in "
                 r"\[27, 28\] \(it would give \(15, 13\)\)"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 2)),
                                        (1, 11, 8, 1), stride=2, padding="same"),
     ValueError, r"heights in \[7, 8\] and widths in \[7, 8\]"),
    (lambda: fastconv.conv2d_grad_weight(np.ones((1, 8, 8, 1)), np.ones((1, 5, 6, 2)),
                                         (3, 3, 1, 2)),
     ValueError, r"x.shape has height and width \(8, 8\).*heights in \[7, 7\]"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 2)),
                                        (1, 6, 6)),
     ValueError, "input_shape must have 4 entries"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 2)), 6),
     TypeError, "input_shape must be a tuple of ints"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 2)),
                                        (1, 6, 6, 1.5)),
     TypeError, "input_shape must be an integer"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 4, 4, 3)), np.ones((3, 3, 1, 2)),
                                        (1, 6, 6, 1)),
     ValueError, "dy has 3 channels but w of shape"),
    (lambda: fastconv.conv2d_grad_input(np.ones((2, 4, 4, 2)), np.ones((3, 3, 1, 2)),
                                        (1, 6, 6, 1)),
     ValueError, "input_shape has batch size 1 but dy has 2"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 2)),
                                        (1, 6, 6, 3)),
     ValueError, "expects 2"),
    (lambda: fastconv.conv2d_grad_weight(np.ones((1, 6, 6, 4)), np.ones((1, 4, 4, 2)),
                                         (3, 3, 4, 2), groups=2),
     ValueError, r"expects 8 \(kernel_shape.shape\[2\] \* groups\)"),
    (lambda: fastconv.conv2d_grad_weight(np.ones((1, 6, 6, 1)), np.ones((4, 4, 2)),
                                         (3, 3, 1, 2)),
     ValueError, "dy has 3 dimensions but x has 4"),
    (lambda: fastconv.conv2d_grad_weight(np.ones((1, 6, 6, 1)), np.ones((1, 4, 4, 2)),
                                         (3, 3, 1)),
     ValueError, "kernel_shape must have 4 entries"),
    (lambda: fastconv.conv2d_transpose(np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 3))),
     ValueError, r"x has 2 channels but w of shape \(3, 3, 1, 3\) expects 3"),
    (lambda: fastconv.conv2d_transpose(np.ones((1, 4, 4, 2)), np.ones((3, 3, 1, 2)), np.ones(2)),
     ValueError, r"bias must have shape \(1,\)"),
    (lambda: fastconv.conv2d_transpose(np.ones((1, 4, 4, 2)), np.ones((4, 4, 1, 2)), stride=2,
                                       padding="same", output_padding=0),
     ValueError, r"the output size has height and width \(6, 6\).*heights in \[7, 8\]"),
    (lambda: fastconv.max_pool2d_grad(np.ones((1, 6, 6, 2)), np.ones((1, 2, 3, 2))),
     ValueError, r"x has height and width \(6, 6\).*heights in \[4, 5\]"),
    (lambda: fastconv.max_pool2d_grad(np.ones((1, 6, 6, 2)), np.ones((1, 3, 3, 1))),
     ValueError, "dy has 1 channels but x has 2"),
    (lambda: fastconv.avg_pool2d_grad(np.ones((1, 3, 3, 2)), (1, 6, 6, 2), 2, padding=2),
     ValueError, "must be smaller than pool_size"),
    (lambda: fastconv.avg_pool2d_grad(np.ones((3, 3)), (6, 6)),
     ValueError, "dy must have 3 .* or 4 .* dimensions"),
    (lambda: fastconv.avg_pool2d_grad(np.ones((3, 3, 2), complex), (6, 6, 2)),
     TypeError, "dy has unsupported dtype complex128"),
])
def test_bad_calls_raise_naming_the_argument(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_zero_sized_but_well_defined_calls():
    assert fastconv.conv2d_grad_input(np.ones((0, 3, 3, 2)), np.ones((3, 3, 1, 2)),
                                      (0, 5, 5, 1)).shape == (0, 5, 5, 1)
    dw = fastconv.conv2d_grad_weight(np.ones((0, 5, 5, 1)), np.ones((0, 3, 3, 2)), (3, 3, 1, 2))
    np.testing.assert_array_equal(dw, np.zeros((3, 3, 1, 2)))
    dx = fastconv.conv2d_grad_input(np.ones((1, 3, 3, 0)), np.ones((3, 3, 1, 0)), (1, 5, 5, 1))
    np.testing.assert_array_equal(dx, np.zeros((1, 5, 5, 1)))
    assert fastconv.max_pool2d_grad(np.ones((1, 4, 4, 0)), np.ones((1, 2, 2, 0))).shape == (
        1, 4, 4, 0)


# --- every SIMD build of the _grad kernels ----------------------------------------------
GRAD_BUILDS = fastconv._dispatch.variants("_grad")


@pytest.mark.parametrize("level", sorted(GRAD_BUILDS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_simd_build_of_the_gradient_kernels(level, dtype, monkeypatch):
    monkeypatch.setattr(fastconv.grad, "_kernels", lambda: GRAD_BUILDS[level])
    rng = np.random.default_rng(7)
    for x_shape, w_shape, kwargs in (CONV_CASES[1], CONV_CASES[5], CONV_CASES[6],
                                     CONV_CASES[11]):
        x, w, dy = _conv_data(rng, x_shape, w_shape, kwargs)
        assert_close(_grad_input_by("kernel", dy.astype(dtype), w.astype(dtype), x.shape,
                                    **kwargs),
                     reference.conv2d_grad_input(dy, w, x.shape, **kwargs), dtype, w.size)
        assert_close(fastconv.conv2d_grad_weight(x.astype(dtype), dy.astype(dtype), w.shape,
                                                 **kwargs),
                     reference.conv2d_grad_weight(x, dy, w.shape, **kwargs), dtype,
                     dy.size // dy.shape[-1])
    for x_shape, kwargs in POOL_CASES[1:3]:
        x = rng.integers(0, 3, x_shape).astype(float)
        dy = randn(rng, reference.max_pool2d(x, **kwargs).shape)
        assert_close(fastconv.max_pool2d_grad(x.astype(dtype), dy.astype(dtype), **kwargs),
                     reference.max_pool2d_grad(x, dy, **kwargs), dtype, 9)
        assert_close(fastconv.avg_pool2d_grad(dy.astype(dtype), x_shape, **kwargs),
                     reference.avg_pool2d_grad(dy, x_shape, **kwargs), dtype, 9)


@pytest.mark.parametrize("level", sorted(GRAD_BUILDS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("w_shape, groups, threads", [
    ((3, 3, 40, 37), 1, 2),     # tiles of 16 channels with ragged edges on both axes
    ((1, 2, 16, 48), 3, 1),
    ((5, 1, 3, 70), 2, 2),
    ((2, 2, 1, 9), 9, 2),       # depthwise
])
def test_reversed_adjoint_kernel_is_the_kernel_reversed_with_channel_axes_swapped(
        level, dtype, w_shape, groups, threads):
    k_h, k_w, cin_g, c_out = w_shape
    w = randn(np.random.default_rng(3), w_shape).astype(dtype)
    expected = (w[::-1, ::-1].reshape(k_h, k_w, cin_g, groups, c_out // groups)
                .transpose(0, 1, 4, 3, 2).reshape(k_h, k_w, c_out // groups, groups * cin_g))
    got = np.full(expected.shape, np.nan, dtype)
    GRAD_BUILDS[level].reversed_adjoint_kernel(w, got, groups, threads)
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="kernel contract"):
        GRAD_BUILDS[level].reversed_adjoint_kernel(
            w, np.empty(got.shape[:3] + (got.shape[3] + 1,), dtype), groups, threads)


@pytest.mark.parametrize("fn, signature", [
    (fastconv.conv2d_grad_input, "(dy, w, input_shape, *, stride=1, padding='valid', "
                                 "dilation=1, groups=1, out=None, workers=None)"),
    (fastconv.conv2d_grad_weight, "(x, dy, kernel_shape, *, stride=1, padding='valid', "
                                  "dilation=1, groups=1, out=None, workers=None)"),
    (fastconv.conv2d_transpose, "(x, w, bias=None, *, stride=1, padding='valid', "
                                "output_padding=None, dilation=1, groups=1, out=None, "
                                "workers=None)"),
    (fastconv.max_pool2d_grad, "(x, dy, pool_size=2, *, stride=None, padding='valid', "
                               "out=None, workers=None)"),
    (fastconv.avg_pool2d_grad, "(dy, input_shape, pool_size=2, *, stride=None, "
                               "padding='valid', out=None, workers=None)"),
])
def test_signatures_are_the_issues(fn, signature):
    """The signatures issue 11 asks for, annotations aside."""
    import inspect

    params = [p.replace(annotation=inspect.Parameter.empty)
              for p in inspect.signature(fn).parameters.values()]
    assert str(inspect.Signature(params)) == signature
    assert fn.__name__ in fastconv.__all__


def test_max_pool2d_grad_is_the_same_bits_on_any_thread_count(rng):
    """Two threads split one image's channels into parts (pool_grad_plan), one thread
    takes them whole: every value is the same."""
    from fastconv._plan import pool_grad_plan
    x = rng.integers(0, 5, (1, 64, 64, 100)).astype(np.float32)
    dy = randn(rng, (1, 22, 22, 100)).astype(np.float32)
    assert pool_grad_plan(x.shape, (22, 22), (3, 3), 2).part_channels < 100
    one = fastconv.max_pool2d_grad(x, dy, 3, padding="same", workers=1)
    two = fastconv.max_pool2d_grad(x, dy, 3, padding="same", workers=2)
    np.testing.assert_array_equal(one, two)
    assert_close(two, reference.max_pool2d_grad(x, dy, 3, padding="same"), np.float32,
                 n_terms=9)

"""Every SIMD build of the loop-nest kernels (baseline, AVX2, AVX-512) against the reference.

The dispatcher picks one build per process; these tests run each build this CPU
can run through the public functions' internal entry points (``simd=``), so every
compiled path is checked, not only the one chosen here.
"""
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv import _dispatch, reference
from fastconv._plan import conv2d_plan
from fastconv.conv import _conv2d
from fastconv.pool import _pool2d

from conftest import assert_close, randn

DIRECT = _dispatch.variants("_direct")
POOL = _dispatch.variants("_pool")
GRAD = _dispatch.variants("_grad")

CONV_CASES = [
    # (x shape, w shape, kwargs): one-channel rows, depthwise, grouped, multi-channel
    ((2, 13, 37, 1), (3, 3, 1, 1), dict(padding="same")),
    ((1, 11, 41, 1), (5, 2, 1, 1), dict(stride=(2, 3), dilation=(1, 2), padding=((1, 3), (4, 0)))),
    ((2, 9, 10, 19), (3, 3, 1, 19), dict(padding="same", groups=19)),
    ((1, 8, 9, 6), (3, 2, 2, 9), dict(groups=3, stride=2, padding=1)),
    ((2, 7, 8, 5), (3, 3, 5, 37), dict(dilation=2, padding="same")),
    # Register blocks: wide, narrow and leftover channels; rows of 7, 11 and 28 pixels
    # (blocks overlap at the row's end); contiguous kernel rows and dilated ones.
    ((2, 9, 21, 3), (7, 7, 3, 112), dict(stride=2, padding="same")),
    ((3, 10, 30, 1), (3, 3, 1, 48), dict()),
    ((1, 6, 17, 8), (3, 3, 4, 80), dict(groups=2, padding="same")),
    ((1, 8, 20, 4), (3, 3, 4, 64), dict(dilation=(1, 2), padding="same")),
    ((1, 5, 9, 2), (3, 3, 2, 100), dict()),
    ((1, 5, 16, 2), (3, 3, 2, 48), dict()),
    # One-channel rows wide enough for register chunks of every build (the last chunk
    # overlapping), with borders, horizontal dilation and vertical stride.
    ((1, 6, 300, 1), (3, 5, 1, 1), dict(padding="same")),
    ((2, 7, 150, 1), (2, 3, 1, 1), dict(dilation=(1, 2), stride=(2, 1), padding=((1, 0), (3, 2)))),
    ((1, 4, 129, 1), (1, 2, 1, 1), dict()),
    # Packed panels for a group's remaining channels (C_out per group below a narrow
    # block, not a power of two): 16-pixel blocks, 4-pixel blocks on rows narrower than
    # 16, a last block moved back, zero-padded channels never stored.
    ((2, 9, 37, 32), (1, 1, 32, 16), dict()),
    ((1, 5, 30, 96), (1, 1, 96, 24), dict()),
    ((3, 14, 14, 6), (5, 5, 6, 16), dict()),
    ((1, 13, 21, 3), (3, 3, 3, 16), dict(padding="same")),
    ((2, 9, 19, 16), (3, 3, 4, 16), dict(groups=4, padding="same")),
    ((1, 11, 29, 8), (3, 3, 8, 3), dict(stride=2, padding="same")),
    ((1, 7, 7, 20), (3, 3, 20, 10), dict(padding="same")),
    ((1, 12, 40, 12), (3, 3, 4, 30), dict(groups=3, dilation=2, padding="same")),
    ((2, 8, 5, 6), (3, 3, 6, 40), dict()),
    ((1, 9, 17, 5), (1, 7, 5, 7), dict(padding="same")),
    ((1, 6, 16, 64), (3, 3, 64, 144), dict()),
    # Wide blocks from packed panels (C_out wider than one block), reductions long enough
    # to run in L1-sized slices of taps (accumulated in the output), a row whose last
    # block overlaps its neighbour and runs whole, borders in every slice.
    ((1, 7, 13, 32), (3, 3, 16, 128), dict(groups=2, dilation=(2, 1), padding="same")),
    ((2, 5, 9, 40), (3, 3, 40, 192), dict(stride=(1, 2), padding=((2, 0), (1, 3)))),
    ((1, 3, 12, 300), (1, 1, 300, 64), dict()),
    # More taps than AVX-512's L2-sized slices of a wide block hold (2048 rows of 64
    # floats or 32 doubles), in bands of whole 6-pixel blocks over two images.
    ((2, 5, 13, 232), (3, 3, 232, 64), dict(padding="same")),
    ((1, 6, 4, 3), (2, 2, 3, 9), dict()),
    # Few input channels on maps 16 to 63 pixels wide: bands of whole rows, blocks that
    # stay within a row (borders through the padded window), wide + narrow + panel
    # channels, a reduction long enough for slices, stride and dilation.
    ((3, 12, 32, 3), (3, 3, 3, 112), dict(padding="same")),
    ((2, 9, 45, 5), (11, 11, 5, 40), dict(padding="same")),
    ((2, 10, 35, 7), (3, 3, 7, 24), dict(stride=(1, 2), padding=((0, 2), (1, 1)))),
    ((1, 7, 63, 15), (5, 3, 15, 33), dict(dilation=(2, 1), padding="same")),
    # Sweep kernels (one group, 1-4 input channels, 3x3 or 5x5, stride 1 or 2): blocks
    # along a row inside the image and through the padded window at its borders, every
    # block shape (16, 24, 32, 40, 8 and 6 output channels; rows narrower than a panel
    # block), dilated rows, asymmetric padding.
    ((2, 9, 40, 3), (3, 3, 3, 16), dict(padding="same")),
    ((1, 7, 37, 1), (3, 3, 1, 24), dict(padding="same")),
    ((2, 8, 33, 2), (3, 3, 2, 8), dict(dilation=(2, 1), padding=((2, 1), (0, 1)))),
    ((1, 8, 21, 4), (3, 3, 4, 40), dict(padding="same")),
    ((2, 11, 35, 3), (3, 3, 3, 32), dict(stride=2, padding="same")),
    ((1, 9, 50, 1), (3, 3, 1, 12), dict(stride=2, padding=1)),
    ((3, 12, 14, 1), (5, 5, 1, 6), dict()),
    ((1, 10, 40, 3), (5, 5, 3, 20), dict(padding="same")),
    ((1, 13, 41, 3), (5, 5, 3, 16), dict(stride=2, padding="same")),
    # Column blocks (at most 16 output channels per group, rows of at least one block of
    # pixels): chunks of 4, 2 and 1 channels, stride phases, dilation, asymmetric padding,
    # a row ending inside a block, groups, one input channel.
    ((1, 5, 70, 3), (3, 3, 3, 3), dict(padding="same")),
    ((1, 6, 140, 4), (3, 5, 2, 10), dict(groups=2, stride=(1, 2), dilation=(2, 1),
                                         padding=((1, 2), (3, 1)))),
    ((2, 4, 67, 6), (1, 7, 6, 16), dict(padding="same")),
    ((1, 3, 200, 1), (3, 3, 1, 2), dict(padding="same")),
    ((1, 9, 230, 2), (3, 4, 2, 7), dict(stride=3, dilation=(1, 3), padding="same")),
    # Grouped blocks (C_in/groups == C_out/groups in {2, 4, 8}, whole channel blocks): a
    # band's last block moved back, borders, stride, dilation, a 7x7 kernel (more taps
    # than one gather call takes).
    ((2, 9, 11, 128), (3, 3, 4, 128), dict(groups=32, padding="same")),
    ((1, 10, 13, 64), (3, 3, 2, 64), dict(groups=32, stride=2, dilation=(1, 2), padding="same")),
    ((1, 12, 9, 128), (7, 7, 8, 128), dict(groups=16, padding=((3, 2), (1, 4)))),
    ((1, 6, 7, 192), (3, 1, 4, 192), dict(groups=48)),
    ((2, 7, 7, 128), (3, 3, 16, 128), dict(groups=8, padding="same")),
    # Groups of two whole vectors (16 a group with AVX2 or float64 AVX-512, 32 with
    # float32 AVX-512): each broadcast feeds both of a group's vectors.
    ((1, 10, 12, 64), (3, 3, 16, 64), dict(groups=4, stride=2, dilation=(1, 2),
                                          padding="same")),
    ((1, 9, 13, 128), (3, 3, 32, 128), dict(groups=4, padding="same")),
    # A last grouped block with fewer channels than the block (masked): RegNet's widths
    # (152 = 2 x 64 + 24, 8 a group; 160 = 2 x 64 + 32, 16 a group), groups of two
    # vectors (96, 32 a group), a layer narrower than one block (56), 4 and 2 a group,
    # a 7x7 kernel (partial sums reloaded), stride and dilation, and a map whose last
    # block moves back over its neighbour.
    ((2, 9, 10, 152), (3, 3, 8, 152), dict(groups=19, padding="same")),
    ((1, 11, 12, 152), (3, 3, 8, 152), dict(groups=19, stride=2, padding=1)),
    ((1, 9, 11, 160), (3, 3, 16, 160), dict(groups=10, padding="same")),
    ((2, 7, 8, 96), (3, 3, 32, 96), dict(groups=3, padding="same")),
    ((2, 8, 9, 56), (3, 3, 8, 56), dict(groups=7, dilation=(2, 1), padding="same")),
    ((1, 12, 10, 40), (7, 7, 4, 40), dict(groups=10, padding="same")),
    ((1, 5, 13, 36), (3, 3, 2, 36), dict(groups=18)),
    ((1, 30, 7, 200), (3, 3, 8, 200), dict(groups=25, padding="same")),
    # Depthwise layers as flat rows (stride_w 1, channels not filling register blocks):
    # RGB, odd C, C that fills half a block, wide C with a remainder, dilation, a row too
    # short for one chunk.
    ((1, 20, 300, 3), (3, 3, 1, 3), dict(groups=3, padding="same")),
    ((2, 10, 70, 32), (3, 3, 1, 32), dict(groups=32, padding="same")),
    ((1, 10, 90, 5), (5, 5, 1, 5), dict(groups=5, padding=((1, 3), (4, 0)), dilation=(1, 2))),
    ((1, 5, 130, 144), (3, 3, 1, 144), dict(groups=144, padding="same")),
    ((1, 12, 50, 16), (3, 3, 1, 16), dict(groups=16, stride=(2, 1), padding="same")),
    ((1, 6, 9, 7), (3, 3, 1, 7), dict(groups=7)),
    # Depthwise steps: a last column of vectors moved back (C = 20, 200), rows of 4 to 7
    # interior pixels (the 4-step kernel, its last block moved back), border pixels in
    # chunks of channels, and a kernel with more taps than one call takes (chunks only).
    ((2, 6, 40, 20), (3, 3, 1, 20), dict(groups=20, padding="same")),
    ((1, 7, 8, 200), (3, 3, 1, 200), dict(groups=200, padding="same")),
    ((1, 5, 11, 40), (3, 4, 1, 40), dict(groups=40, padding="same", dilation=(2, 1))),
    ((1, 12, 40, 6), (9, 9, 1, 6), dict(groups=6, padding="same")),
    # One-channel rows with more taps than one row-kernel call takes.
    ((1, 12, 300, 1), (9, 9, 1, 1), dict(padding="same")),
    # Strided depthwise layers: sweeps (wide blocks, then narrow ones, the last masked),
    # and, for a stride without sweeps, wide, half and quarter tap blocks, then per pixel.
    ((1, 9, 40, 52), (3, 3, 1, 52), dict(groups=52, stride=3, padding="same")),
    ((1, 20, 40, 32), (3, 3, 1, 32), dict(groups=32, stride=2, padding="same")),
    ((1, 21, 41, 96), (3, 3, 1, 96), dict(groups=96, stride=2, padding="same")),
    ((1, 30, 50, 144), (5, 5, 1, 144), dict(groups=144, stride=2, padding="same")),
    ((1, 9, 9, 24), (3, 3, 1, 24), dict(groups=24, stride=(1, 2))),
    ((2, 17, 70, 40), (3, 3, 1, 40), dict(groups=40, stride=(2, 3), dilation=2,
                                          padding="same")),
    # Depthwise sweeps (wide blocks inside the row; 3, 5 and 7 wide at stride 1 and 2,
    # 3 wide dilated by 2 and 4): ConvNeXt's 7x7, row dilation, a stride with no sweep,
    # column dilation with a sweep (2, 4: DeepLab's) and without (3; 2 at stride 2: the
    # tap loop), channels past the wide blocks.
    ((2, 9, 20, 128), (7, 7, 1, 128), dict(groups=128, padding="same")),
    ((1, 12, 23, 64), (7, 7, 1, 64), dict(groups=64, stride=2, padding="same")),
    ((1, 11, 23, 64), (5, 5, 1, 64), dict(groups=64, padding=((1, 3), (2, 2)))),
    ((1, 8, 19, 160), (3, 3, 1, 160), dict(groups=160, dilation=(2, 1), padding="same")),
    ((1, 8, 19, 64), (3, 3, 1, 64), dict(groups=64, stride=3)),
    ((1, 8, 19, 64), (3, 3, 1, 64), dict(groups=64, dilation=(1, 2), padding="same")),
    ((2, 9, 23, 320), (3, 3, 1, 320), dict(groups=320, dilation=4, padding="same")),
    ((1, 7, 20, 64), (3, 3, 1, 64), dict(groups=64, dilation=(2, 4), padding=((1, 3), (5, 2)))),
    ((1, 8, 19, 64), (3, 3, 1, 64), dict(groups=64, dilation=(1, 3), padding="same")),
    ((1, 8, 19, 64), (3, 3, 1, 64), dict(groups=64, stride=2, dilation=2, padding="same")),
    ((1, 13, 29, 116), (3, 3, 1, 116), dict(groups=116, stride=2, padding=1)),
    # Masked depthwise sweeps for the channels past the wide blocks: narrow blocks, the
    # last one masked (ShuffleNetV2's 116 at stride 2, 100 at stride 2 with a 7x7 kernel),
    # and stride-1 layers of 5x5 and 7x7 kernels that leave flat rows for them
    # (ConvNeXt's 96, 13 channels in one masked vector); rows of 4 to 7 pixels (wide
    # blocks, the last masked, no narrow ones), rows too short for either (the tap loop), a
    # 7x7 kernel that AVX2's narrow sweep cannot hold, and rows wholly in the padding.
    ((1, 11, 25, 100), (7, 7, 1, 100), dict(groups=100, stride=2, padding=3)),
    ((2, 9, 30, 96), (7, 7, 1, 96), dict(groups=96, padding="same")),
    ((1, 10, 21, 13), (5, 5, 1, 13), dict(groups=13, padding="same")),
    ((1, 9, 6, 40), (5, 5, 1, 40), dict(groups=40, padding="same")),
    ((1, 6, 6, 128), (5, 5, 1, 128), dict(groups=128, padding="same")),
    ((1, 8, 3, 40), (5, 5, 1, 40), dict(groups=40, padding="same")),
    ((2, 7, 9, 20), (7, 7, 1, 20), dict(groups=20, padding="same")),
    ((1, 3, 12, 24), (5, 5, 1, 24), dict(groups=24, padding=((6, 6), (2, 2)))),
    # Channel mixes (1x1, C_in = C_out <= 8, each pixel to itself): the flat run's
    # vector steps and its ends value by value, every phase count (C = 3, 5, 6, 7 do not
    # divide the lanes), groups, images shorter than one step, "same" padding (none).
    ((1, 20, 30, 3), (1, 1, 3, 3), dict()),
    ((2, 9, 31, 5), (1, 1, 5, 5), dict(padding="same")),
    ((1, 7, 45, 6), (1, 1, 2, 6), dict(groups=3)),
    ((1, 11, 23, 7), (1, 1, 7, 7), dict()),
    ((3, 5, 17, 8), (1, 1, 4, 8), dict(groups=2)),
    ((1, 33, 10, 2), (1, 1, 2, 2), dict()),
    ((1, 1, 1, 4), (1, 1, 4, 4), dict()),
    ((2, 2, 3, 3), (1, 1, 3, 3), dict()),
]


@pytest.fixture(params=sorted(DIRECT), ids=lambda level: f"simd-{level}")
def direct_build(request):
    return request.param


@pytest.fixture(params=sorted(POOL), ids=lambda level: f"simd-{level}")
def pool_build(request):
    return request.param


def _expected_level(features, built):
    """The widest level this CPU runs by NumPy's own CPU probe (an oracle independent of
    fastconv's), among the levels that were built."""
    if {"AVX512F", "AVX512_SKX"} <= features and "avx512" in built:
        return "avx512"
    if {"AVX2", "FMA3"} <= features and "avx2" in built:
        return "avx2"
    return "baseline"


def _chosen_level(env_value):
    """The level a fresh interpreter picks with FASTCONV_SIMD=env_value (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "FASTCONV_SIMD"}
    # The child imports the same fastconv as this process (source tree or installed).
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    if env_value is not None:
        env["FASTCONV_SIMD"] = env_value
    code = "import fastconv._dispatch as d; print(d.SIMD_LEVEL)"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1]


@pytest.mark.parametrize("cap", [None, "avx512", "avx2", "baseline"])
def test_dispatcher_picks_the_widest_build_the_cpu_runs(cap):
    """Unset, FASTCONV_SIMD picks the widest build NumPy's CPU probe says this CPU runs;
    set, it caps the choice at that level."""
    if fastconv._config.debug_build():
        # Debug builds compile only the bounds-checked baseline kernels, and use them.
        assert list(DIRECT) == ["baseline"] and _chosen_level(cap) == "baseline"
        return
    features = set(fastconv._info._runtime_cpu_features())
    if not features:
        pytest.skip("NumPy's CPU feature probe is unavailable")
    built = set(DIRECT)
    if platform.machine().lower() in ("x86_64", "amd64"):
        # A release build on x86-64 makes every level; the CPU decides what runs.
        assert _expected_level(features, {"avx512", "avx2", "baseline"}) in built
    allowed = _dispatch.LEVELS[_dispatch.LEVELS.index(cap or "avx512"):]
    expected = _expected_level(features, built & set(allowed))
    assert _chosen_level(cap) == expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs, ws, kwargs", CONV_CASES)
def test_direct_builds_match_reference(direct_build, xs, ws, kwargs, dtype, rng):
    x, w, b = randn(rng, xs), randn(rng, ws), randn(rng, ws[3])
    expected = reference.conv2d(x, w, b, **kwargs)
    got = _conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), method="direct",
                  simd=direct_build, **kwargs)
    assert_close(got, expected, dtype, n_terms=ws[0] * ws[1] * ws[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_builds_pack_large_kernels_on_two_threads(direct_build, dtype, rng):
    # A kernel over 256 KiB is packed by all the call's threads, both the wide blocks'
    # panels and the panels of the channels left after them (80 = 64 + 16 on AVX-512).
    xs, ws = (1, 8, 10, 128), (3, 3, 128, 80)
    plan = conv2d_plan(xs, ws, (8, 10), np.dtype(dtype), method="direct", workers=2,
                       simd=direct_build)
    if plan.threads < 2:
        pytest.skip("this build runs one thread")
    x, w, b = randn(rng, xs), randn(rng, ws), randn(rng, ws[3])
    expected = reference.conv2d(x, w, b, padding="same")
    got = _conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), padding="same",
                  method="direct", workers=2, simd=direct_build)
    assert_close(got, expected, dtype, n_terms=ws[0] * ws[1] * ws[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs, ws, groups", [((1, 6, 7, 152), (3, 3, 8, 152), 19),
                                             ((2, 5, 9, 40), (3, 3, 4, 40), 10),
                                             ((1, 7, 6, 96), (3, 3, 32, 96), 3),
                                             ((1, 6, 9, 20), (5, 5, 1, 20), 20),
                                             ((2, 5, 10, 100), (7, 7, 1, 100), 100),
                                             ((1, 4, 6, 44), (5, 5, 1, 44), 44)])
def test_masked_last_block_writes_only_its_channels(direct_build, xs, ws, groups, dtype, rng):
    # The masked last block of a grouped or depthwise layer ends at the output's last
    # value: ``out`` is the front of a larger buffer, whose values after it must stay as
    # they were.
    x, w, b = randn(rng, xs), randn(rng, ws), randn(rng, ws[3])
    buffer = np.full(xs[0] * xs[1] * xs[2] * ws[3] + 64, 7.0, dtype)
    out = buffer[:-64].reshape(xs[:3] + (ws[3],))
    _conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), groups=groups,
            padding="same", method="direct", out=out, simd=direct_build)
    assert_close(out, reference.conv2d(x, w, b, groups=groups, padding="same"), dtype,
                 n_terms=ws[0] * ws[1] * ws[2])
    assert np.all(buffer[-64:] == 7.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("pool_size, stride, padding", [(2, None, "valid"), (3, 2, "same"),
                                                        ((2, 3), 1, "same")])
def test_pool_builds_match_reference(pool_build, op, pool_size, stride, padding, dtype, rng):
    x = randn(rng, (2, 9, 11, 37))
    x[0, 1, 1, :5] = np.nan
    x[1, 4, 2, 7] = -np.inf
    expected = getattr(reference, op)(x, pool_size, stride=stride, padding=padding)
    got = _pool2d(op, x.astype(dtype), pool_size, stride=stride, padding=padding,
                  simd=pool_build)
    assert_close(got, expected, dtype, n_terms=9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs, ws, groups", [
    ((1, 3, 37, 5), (3, 3, 5, 8), 1),        # a packed panel of 8 channels
    ((1, 3, 37, 4), (3, 2, 4, 70), 1),       # wide + narrow blocks + a panel
    ((1, 3, 37, 6), (3, 3, 2, 6), 3),        # grouped, a panel per group
    ((1, 3, 300, 3), (3, 3, 1, 3), 3),       # depthwise as flat rows
    ((1, 3, 37, 40), (3, 3, 1, 40), 40),     # depthwise blocks
    ((1, 3, 300, 1), (3, 3, 1, 1), 1),       # one channel, register chunks
    ((1, 3, 300, 3), (1, 1, 3, 3), 1),       # a channel mix: vector steps, then its ends
    ((1, 5, 100, 6), (1, 1, 3, 6), 2),       # a grouped channel mix
])
def test_every_path_rounds_an_output_pixel_the_same_way(direct_build, xs, ws, groups, dtype,
                                                        rng):
    """An output column computed alone (one pixel wide: per-pixel loops) has the same bits
    as in the whole row (register blocks, flat rows, chunks): every path of a build sums
    a pixel's taps in one order with the same multiply-add. fastconv.dask's bit-identity
    rests on it."""
    x, w = randn(rng, xs).astype(dtype), randn(rng, ws).astype(dtype)
    b = randn(rng, ws[3]).astype(dtype)
    whole = _conv2d(x, w, b, groups=groups, method="direct", simd=direct_build)
    k_w = ws[1]
    for width in (1, 5, 17):
        for j in range(0, whole.shape[2] - width + 1, width):
            part = _conv2d(x[:, :, j:j + width + k_w - 1], w, b, groups=groups,
                           method="direct", simd=direct_build)
            np.testing.assert_array_equal(part, whole[:, :, j:j + width], strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels, groups", [(3, 1), (4, 2), (7, 1)])
def test_channel_mix_keeps_non_finite_values_in_their_pixel(direct_build, channels, groups,
                                                            dtype, rng):
    """The channel mix reads each output vector's neighbours in the flat run, masked off;
    a NaN or Inf there must not leak into the next pixel or the next group."""
    x = randn(rng, (1, 6, 50, channels))
    x[0, 2, 9, 0] = np.nan
    x[0, 3, 20, channels - 1] = np.inf
    x[0, 5, 49, 1] = -np.inf
    w, b = randn(rng, (1, 1, channels // groups, channels)), randn(rng, channels)
    expected = reference.conv2d(x, w, b, groups=groups)
    got = _conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), groups=groups,
                  method="direct", simd=direct_build)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    finite = np.isfinite(expected)
    assert_close(np.where(finite, got, 0), np.where(finite, expected, 0), dtype,
                 n_terms=channels)


# conv2d_grad_input's phase kernel (conv2d's register blocks over dy's stride phases):
# wide and narrow blocks on every build (dx channels in multiples of 32), bands of short
# rows and long rows alone, border blocks, phases without taps, a bias.
PHASE_CASES = [
    ((2, 11, 30, 96), (3, 3, 96, 16), dict(stride=2, padding="same")),
    ((1, 9, 20, 32), (4, 4, 32, 24), dict(stride=2, padding=1)),
    ((1, 10, 17, 64), (2, 3, 64, 8), dict(stride=(3, 2), dilation=(1, 2), padding=(2, 1))),
    ((2, 4, 5, 32), (1, 1, 32, 8), dict(stride=3)),
    ((1, 9, 30, 96), (3, 3, 96, 64), dict(stride=2, padding="same")),   # kernel in slices
    ((1, 4, 110, 96), (3, 3, 96, 64), dict(stride=2, padding=((0, 2), (3, 1)))),  # long rows
]


@pytest.fixture(params=sorted(GRAD), ids=lambda level: f"simd-{level}")
def grad_build(request):
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, kwargs", PHASE_CASES)
def test_grad_input_phase_kernel_of_every_build(grad_build, x_shape, w_shape, kwargs, dtype):
    from fastconv._geometry import conv_window
    rng = np.random.default_rng(11)
    x, w = randn(rng, x_shape), randn(rng, w_shape)
    bias = randn(rng, (x_shape[3],))
    dy = randn(rng, reference.conv2d(x, w, **kwargs).shape)
    expected = reference.conv2d_grad_input(dy, w, x_shape, **kwargs) + bias
    window = conv_window(x_shape[1:3], w_shape[:2], kwargs.get("stride", 1),
                         kwargs.get("dilation", 1), kwargs.get("padding", "valid"))
    got = np.full(x_shape, np.nan, dtype)
    GRAD[grad_build].conv2d_grad_input_phases(dy.astype(dtype), w.astype(dtype), got,
                                              window.stride, window.dilation,
                                              window.pad_top_left, bias.astype(dtype), 2)
    assert_close(got, expected, dtype, n_terms=w.size + 1)


# max_pool2d_grad's register blocks (32 channels) and the memory path below them, on
# every build: windows that tile the image and windows that overlap, a last block that
# overlaps the one before, an image's channels in parts (part_channels), NaN and ties.
POOL_GRAD_CASES = [
    ((2, 6, 8, 45), 2, 2, "valid", 45),
    ((1, 9, 7, 70), 3, 2, "same", 70),
    ((1, 8, 8, 100), 2, 2, "valid", 32),
    ((1, 8, 8, 100), 2, 2, "valid", 64),          # a part of 36: a block overlaps
    ((1, 9, 7, 100), 3, 2, "same", 64),
    ((2, 7, 9, 5), 3, 1, "same", 5),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, pool, stride, padding, part_channels", POOL_GRAD_CASES)
def test_max_pool2d_grad_of_every_build(grad_build, x_shape, pool, stride, padding,
                                        part_channels, dtype):
    from fastconv._geometry import pool_window
    rng = np.random.default_rng(12)
    x = rng.integers(0, 4, x_shape).astype(float)
    x[rng.random(x_shape) < 0.1] = np.nan
    dy = randn(rng, reference.max_pool2d(x, pool, stride=stride, padding=padding).shape)
    expected = reference.max_pool2d_grad(x, dy, pool, stride=stride, padding=padding)
    window = pool_window(x_shape[1:3], pool, stride, padding)
    got = np.full(x_shape, np.nan, dtype)
    GRAD[grad_build].max_pool2d_grad(x.astype(dtype), dy.astype(dtype), got, window.size,
                                     window.stride, window.pad_top_left, 2, part_channels)
    assert_close(got, expected, dtype, n_terms=pool * pool)

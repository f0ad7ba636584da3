"""The plan of one call: which kernel runs, on how many threads, in which tiles.

The public functions validate (``_validate``) and size (``_geometry``) a call, then ask
here how to run it. Each plan knows how its kernel splits work among threads (the
items its ``prange`` hands out), so callers never derive that themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from types import ModuleType
from typing import Optional

import math

import numpy as np

from . import _config, _dispatch, _threads

METHODS = ("auto", "direct", "im2col")
BLAS_INT_MAX = 2**31 - 1

# Below this many multiply-adds a thread team costs more than it saves.
MIN_WORK_PER_THREAD = 1 << 17
# Below this many multiply-adds per output value, im2col's GEMM is too short to pay for
# packing its patches (see choose_method).
SHORT_REDUCTION = 64
# A GEMM this narrow (output channels per group) runs far below its peak, while the
# direct kernel's packed panels vectorise any width. Measured on the AVX2 build (2
# threads, float32): direct beat im2col by 2.0x on LeNet's 5x5x6x16, 1.6x on a 3x3x3x32
# CIFAR stem, 1.2x on MobileNetV2's 1x1 32->16, and tied on ResNeXt's 16 per group.
NARROW_GEMM_COLUMNS = 32
# A layer with one group, at least this many input channels and at most
# NARROW_OUTPUT_COLUMNS output channels (POINTWISE_OUTPUT_COLUMNS for 1x1) is a matrix
# times a few vectors: memory-bound, which OpenBLAS's GEMM reaches while the direct
# kernel's column blocks lay out every input channel's rows first. Measured (2 threads,
# float32, (8,64,64,C_in), AVX-512 and AVX2 alike): im2col ran 1.7-6.5x faster on 1x1
# layers to 1-4 channels from 32-256, and 1.0-2.0x on 3x3 layers to 1-3 channels (a
# U-Net's 1x1 64->2 head went from 0.29x PyTorch to 1.4x, DnCNN's 3x3 64->1 from 0.57x
# to 1.1x); 3x3 to 4 channels and 1x1 to 6-24 ran 0.6-1.4x, so direct keeps them.
WIDE_INPUT_CHANNELS = 32
NARROW_OUTPUT_COLUMNS = 3
POINTWISE_OUTPUT_COLUMNS = 4
# Per-thread patch tile: big enough for an efficient GEMM, small enough to stay in L2.
# Measured (one thread, float32, OpenBLAS SkylakeX): 1 MiB / 512 rows beat 256 KiB by
# 10-20% on the 3x3x64x64 and 3x3x32x64 layers; larger budgets gained nothing.
IM2COL_TILE_BYTES = 1 << 20
IM2COL_MAX_TILE_ROWS = 512


def threads_for(workers: Optional[int], work: int, parallel_items: int) -> int:
    """Threads for one call: the requested count, capped by the work and the items to split.

    ``workers`` is a validated count or None (the global setting); ``work`` a rough
    count of inner operations; ``parallel_items`` the pieces the kernel hands out.
    """
    if not _config.openmp_enabled():
        return 1
    wanted = _threads.get_num_threads() if workers is None else workers
    by_work = max(1, work // MIN_WORK_PER_THREAD)
    return int(max(1, min(wanted, by_work, parallel_items)))


def im2col_tile_rows(k_len: int, itemsize: int) -> int:
    """Output pixels per im2col tile: as many as fit the byte budget, at least one."""
    return max(1, min(IM2COL_MAX_TILE_ROWS, IM2COL_TILE_BYTES // (k_len * itemsize)))


def choose_method(method: str, k_len: int, c_in: int, c_out: int, groups: int,
                  simd_level: str) -> str:
    """The kernel for one convolution.

    Measured (2 threads, float32 and float64): the register-blocked direct kernel beats
    im2col through OpenBLAS on every benchmark layer when built for AVX-512, by up to
    1.7x on first layers (7x7x3x64, 3x3x1x32), where its kernel rows are one long
    contiguous run; they tie on 1x1. On the AVX2 and SSE2 builds im2col wins by 1.3-3x
    on multi-channel layers, except where the GEMM's reduction (KH*KW*C_in/groups) is
    too short to pay for packing: 3x3x1x32 ran 1.6x faster direct on AVX2. One-channel
    images and depthwise layers have no matrix product worth the packing; nor has a
    layer with at most NARROW_GEMM_COLUMNS output channels per group, unless it has
    only a few (NARROW_OUTPUT_COLUMNS) from many input channels: a memory-bound matrix
    times a few vectors, which the GEMM streams best on every build.
    """
    cout_per_group = c_out // groups
    # BLAS takes 32-bit sizes and leading dimensions (K, C_out, and C_in for 1x1).
    fits_blas = max(k_len, c_in, c_out) <= BLAS_INT_MAX
    if method == "im2col":
        if not fits_blas:
            raise ValueError(
                f"method='im2col' needs KH*KW*C_in/groups ({k_len}), C_in ({c_in}) and "
                f"C_out ({c_out}) below 2**31 (a BLAS int); use method='direct'"
            )
        return "im2col"
    if method == "direct" or not fits_blas:
        return "direct"
    pointwise = k_len == c_in // groups
    if (groups == 1 and c_in >= WIDE_INPUT_CHANNELS
            and c_out <= (POINTWISE_OUTPUT_COLUMNS if pointwise else NARROW_OUTPUT_COLUMNS)):
        return "im2col"
    if cout_per_group <= NARROW_GEMM_COLUMNS:
        return "direct"
    if simd_level == "avx512" or k_len < SHORT_REDUCTION:
        return "direct"
    return "im2col"


@dataclass(frozen=True)
class ConvPlan:
    """How one conv2d call runs."""

    method: str                 # "direct" or "im2col"
    threads: int
    tile_rows: int              # im2col: output pixels per tile; direct: 0
    kernels: ModuleType         # the compiled module that runs it
    simd_level: str


def conv2d_plan(x_shape: tuple[int, ...], w_shape: tuple[int, ...], out_hw: tuple[int, int],
                dtype: np.dtype, groups: int = 1, method: str = "auto",
                workers: Optional[int] = None, simd: Optional[str] = None) -> ConvPlan:
    """Plan a convolution of NHWC ``x_shape`` with HWIO ``w_shape`` giving ``out_hw``.

    ``simd`` picks a kernel build ("baseline", "avx2", "avx512") instead of the one
    chosen at import, for the tests of every build.
    """
    level, direct = _dispatch.build("_direct", simd)
    k_h, k_w, cin_per_group, c_out = w_shape
    batch, c_in = x_shape[0], x_shape[3]
    k_len = k_h * k_w * cin_per_group
    pixels = batch * out_hw[0] * out_hw[1]
    macs = pixels * c_out * k_len
    chosen = choose_method(method, k_len, c_in, c_out, groups, level)
    if chosen == "im2col":
        from . import _im2col

        rows = im2col_tile_rows(k_len, np.dtype(dtype).itemsize)
        n_tiles = -(-pixels // rows)  # the im2col kernel's prange runs over tiles
        return ConvPlan("im2col", threads_for(workers, macs, n_tiles), rows, _im2col, level)
    # The direct kernel's prange runs over output rows (image, row).
    return ConvPlan("direct", threads_for(workers, macs, batch * out_hw[0]), 0, direct, level)


@dataclass(frozen=True)
class PoolPlan:
    """How one pooling call runs."""

    threads: int
    kernels: ModuleType
    simd_level: str


def pool2d_plan(x_shape: tuple[int, ...], out_hw: tuple[int, int], pool: tuple[int, int],
                workers: Optional[int] = None, simd: Optional[str] = None) -> PoolPlan:
    """Plan a pooling call: one pass over the input, split by output rows."""
    level, kernels = _dispatch.build("_pool", simd)
    batch, _, _, channels = x_shape
    out_values = batch * out_hw[0] * out_hw[1] * channels
    work = math.prod(x_shape) + out_values * pool[0] * pool[1]
    return PoolPlan(threads_for(workers, work, batch * out_hw[0]), kernels, level)


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------
# A group narrower than this (cin_g * cout_g; depthwise is 1) has no matrix product
# worth a BLAS call: its gradients run a direct loop over channels.
MIN_BLAS_GROUP = 16
# conv2d_grad_weight's partial sums (one per chunk of output rows) stay within this.
GRAD_WEIGHT_PARTIAL_BYTES = 64 << 20


@dataclass(frozen=True)
class GradPlan:
    """How one gradient call runs."""

    use_blas: bool              # GEMM + col2im; else a direct loop (depthwise)
    threads: int
    tile_rows: int = 0          # dy rows per band
    images_per_band: int = 1    # whole images to one GEMM (bands of whole images only)


def _blas_worthy(w_shape: tuple[int, ...], groups: int) -> bool:
    return w_shape[2] * (w_shape[3] // groups) >= MIN_BLAS_GROUP


def grad_input_method(stride: tuple[int, int], w_shape: tuple[int, ...], groups: int,
                      in_w: int, phase_channels: int = 0) -> str:
    """How conv2d_grad_input runs. Unit stride: "phases", one conv2d with the kernel
    reversed, on conv2d's tuned kernels (the gradient is then as fast as the forward
    pass), unless that conv2d would have few output channels (the forward input's
    channels: on MNIST's 3x3x1x32 it ran 20x slower than _grad's GEMM + col2im).
    Stride > 1: "direct", _grad's phase kernel on conv2d's register blocks, when the
    layer has one group and its input channels come in multiples of ``phase_channels``
    (half a register block of this build and dtype; 0: none). Otherwise "kernel",
    _grad's GEMM + col2im. Depthwise layers (one input channel a group) always take
    the kernel's gather loop (fc_depthwise_gather): at stride 1, 2 threads, it ran
    1.0-1.3x the phase conv2d on AVX-512 and 1.0-1.8x on AVX2 (MobileNet's 3x3 128,
    5x5 256, 3x3 576), and its phases at stride 2 are tiny convolutions.
    """
    cin_per_group = w_shape[2]
    if groups > 1 and cin_per_group == 1:
        return "kernel"
    if tuple(stride) != (1, 1):
        direct = (groups == 1 and phase_channels > 0 and cin_per_group % phase_channels == 0
                  and w_shape[3] <= PHASE_DY_CHANNELS_PER_PIXEL * (in_w // stride[1]))
        return "direct" if direct else "kernel"
    wide = cin_per_group >= MIN_PHASE_OUTPUT_CHANNELS and in_w >= MIN_PHASE_WIDTH
    return "phases" if wide else "kernel"


# The phase kernel reuses a slice of the kernel (in L1) across one row of a phase's
# pixels, and reads dy's channels for each: it runs when a phase row has at least
# C_out / PHASE_DY_CHANNELS_PER_PIXEL pixels, else the GEMM + col2im does. 2 threads,
# float32, AVX-512, in one process:
# - Emerald Rapids Xeon, the phase kernel's speed over the GEMM's: 1.1-1.5x with 28-56
#   pixels a phase row and 64-256 dy channels, but 0.60x with 8 and 256 and 0.42x with
#   7 and 512 (the constant was 16 then).
# - AMD EPYC (Zen 5), where the benchmarks now run, against PyTorch: the GEMM + col2im
#   0.46-0.56x on every wide layer; the phase kernel 0.79-0.95x with 7-14 pixels and
#   256-512 dy channels (ResNet's 28x28x128 and 14x14x256 s2, DCGAN's 4x4x128x256) and
#   1.3-1.5x on ResNet's 1x1 256->512 s2 (28 pixels, 512 channels).
# Tuned for the second: on the first, layers between C_out / 16 and C_out / 128 pixels
# a phase row run slower than they did.
PHASE_DY_CHANNELS_PER_PIXEL = 128


# Narrow maps go to the GEMM + col2im kernel. Measured in one process, interleaved, 2
# threads, float32, AVX-512, the phase conv2d against it: 14x14 (256 and 512 channels)
# 1.26-1.33x, 10x10 1.23x; 7x7 512 1.09x at batch 8 but 0.68x at batch 1, where preparing
# the reversed kernel (1.7 ms for 3x3x512x512) costs as much as the convolution.
MIN_PHASE_WIDTH = 10


# The phases' conv2d writes the forward input's channels; conv2d's direct kernel blocks
# output channels, and below this many per group it runs far under its speed.
MIN_PHASE_OUTPUT_CHANNELS = 8


# conv2d_grad_input merges groups until each has this many channels on both sides.
MERGE_INPUT_CHANNELS = 8


def input_group_merge(w_shape: tuple[int, ...], groups: int) -> int:
    """How many neighbouring groups conv2d_grad_input runs as one (a divisor of
    ``groups``; 1: none), with the kernel made block-diagonal: zeros off the groups'
    own blocks, so f times the work, in matrix products and conv2d kernels wide enough
    to run at speed. ResNeXt's 3x3 with 4 channels a group (groups=32) ran at 0.17-0.19x
    PyTorch, and at 0.74-0.79x with 2 groups merged (4 was 0.51x); 2 channels a group
    went from 0.12x to 1.05x with 4 merged. The smallest merge that gives the groups
    MERGE_INPUT_CHANNELS input channels (the gradient's outputs); wide inputs are left
    alone (64 -> 2 per group ran 1.2-1.4x slower merged). Depthwise layers have kernels
    of their own."""
    cin_g = w_shape[2]
    if groups == 1 or cin_g == 1 or cin_g >= MERGE_INPUT_CHANNELS:
        return 1
    return min(f for f in range(1, groups + 1)
               if groups % f == 0 and (f * cin_g >= MERGE_INPUT_CHANNELS or f == groups))


def grad_input_plan(dx_shape: tuple[int, ...], w_shape: tuple[int, ...],
                    dy_hw: tuple[int, int], stride_h: int, dilation_h: int, dtype: np.dtype,
                    groups: int, workers: Optional[int] = None) -> GradPlan:
    """conv2d_grad_input: bands of dy rows (GEMM + col2im), each band's columns within the
    im2col tile budget but at least the kernel's height (so that bands two apart never
    write the same dx row); the direct loop runs over dx rows."""
    k_h, k_w, cin_per_group, c_out = w_shape
    macs = dx_shape[0] * dy_hw[0] * dy_hw[1] * k_h * k_w * cin_per_group * c_out
    if not _blas_worthy(w_shape, groups):
        return GradPlan(False, threads_for(workers, macs, dx_shape[0] * dx_shape[1]))
    k_len = k_h * k_w * cin_per_group
    pixels_per_band = im2col_tile_rows(k_len, np.dtype(dtype).itemsize)
    eff_h = (k_h - 1) * dilation_h + 1
    band_rows = max(-(-eff_h // stride_h), pixels_per_band // dy_hw[1], 1)
    band_rows = min(band_rows, max(dy_hw[0], -(-eff_h // stride_h)))
    bands = -(-dy_hw[0] // band_rows)
    images = 1
    image_rows = dy_hw[0] * dy_hw[1]
    if bands == 1 and image_rows < GRAD_INPUT_GEMM_ROWS:
        # Small maps: enough whole images to a GEMM for GRAD_INPUT_GEMM_ROWS rows, within
        # GRAD_INPUT_BAND_BYTES of columns, and at least GRAD_INPUT_MIN_BANDS bands for
        # the threads. From the shape alone, so that the bits do not depend on the
        # thread count.
        image_bytes = image_rows * k_len * np.dtype(dtype).itemsize
        images = max(1, min(-(-GRAD_INPUT_GEMM_ROWS // image_rows),
                            dx_shape[0] // GRAD_INPUT_MIN_BANDS,
                            GRAD_INPUT_BAND_BYTES // image_bytes))
    parallel = -(-dx_shape[0] // images) * max(1, bands // 2)
    return GradPlan(True, threads_for(workers, macs, parallel), band_rows, images)


# conv2d_grad_input's GEMMs get at least this many rows (dy pixels) from several whole
# images when one image has fewer, within GRAD_INPUT_BAND_BYTES of columns. BLAS packs
# the kernel once per GEMM, a cost that short GEMMs do not cover: one thread, OpenBLAS
# SkylakeX, a 3x3x512x512 kernel ran 74 GFLOP/s with one 7x7 image (49 rows) to a GEMM
# and 122 with four (196 rows); 4x4x256x128 on 8x8 images went from 47 (64 rows) to 64
# (512 rows). Long GEMMs gain nothing (256 rows: 64, 512 rows: 66).
GRAD_INPUT_GEMM_ROWS = 256
GRAD_INPUT_BAND_BYTES = 4 << 20
GRAD_INPUT_MIN_BANDS = 2


@dataclass(frozen=True)
class WeightGradPlan:
    """How one conv2d_grad_weight call runs (see _grad.conv2d_grad_weight_outer)."""

    layout: str        # which operand the micro-kernel broadcasts, and the sums' layout
    threads: int
    band: int          # output rows (pixels, for the im2col layouts) a pass keeps in cache
    chunks: int        # partial sums over consecutive rows: the result depends on this
    part_width: int    # columns of one work item (a multiple of 16)
    merged: int = 1    # groups the kernel takes as one (weight_group_merge)


# Below this many input channels per group a tap's channels are too few values to
# broadcast against each loaded vector of dy (the loads would bind), so the sums run
# over whole receptive fields, packed as im2col packs them.
WEIGHT_MIN_TAP_CHANNELS = 8
# The row layouts' widest kernel (_grad.pyx's FC_TAPS_ROW_MAX); wider ones go
# through receptive fields.
WEIGHT_DEPTHWISE_MAX_WIDTH = 64
# A pass's vectors of dy (or of x, flipped) stay about this size, so that they stay in
# cache while the register blocks of the other side go by. Measured on one core
# (AVX-512, float32, interleaved): 8 rows of ResNet's 28x28x128 layer ran at 187 GFLOP/s
# against 96 for 1 row; 56x56x64 was flat from 1 to 32 rows (110-125).
WEIGHT_PANEL_BYTES = 64 << 10
# Work items (chunk x part) to share among threads; the chunks, which fix the
# rounding, come from the shape alone.
WEIGHT_ITEMS = 8
WEIGHT_MAX_CHUNKS = 16
# Columns per item: wide enough that a pass loads whole register blocks of dy.
WEIGHT_PART_WIDTH = 64


def _lane_use(n: int, lanes: int = 16) -> float:
    return n / (-(-n // lanes) * lanes)


def _weight_sum_values(layout: str, w_shape: tuple[int, ...], groups: int) -> int:
    """Values in one partial sum of conv2d_grad_weight (_grad.pyx's _sum_shape): rows of
    the broadcast side, each padded to 16 values."""
    k_h, k_w, cin_g, c_out = w_shape
    taps, cout_g = k_h * k_w, c_out // groups

    def pad(n: int) -> int:
        return -(-n // 16) * 16

    if layout == "depthwise":
        return taps * pad(c_out)
    if layout == "by_tap_flipped":
        return groups * taps * cout_g * pad(cin_g)
    if layout == "by_field_flipped":
        return groups * cout_g * pad(taps * cin_g)
    return groups * taps * cin_g * pad(cout_g)


def weight_group_merge(w_shape: tuple[int, ...], groups: int, itemsize: int) -> int:
    """How many neighbouring groups conv2d_grad_weight sums as one wider group (a divisor
    of ``groups``; 1: none), for grouped layers whose groups are narrower than a vector.
    The kernel then also sums the products of the merged groups' channels with each
    other, and only the diagonal blocks are kept: f times the work, on full vectors.
    ResNeXt's 3x3 with 4 channels a group (groups=32) ran at 0.26-0.39x PyTorch
    through receptive fields and 0.68-1.13x with 4 groups merged (16 channels); 2
    channels a group went from 0.27x to 1.57x with 8 merged. Depthwise layers (one input
    channel a group) have a layout of their own."""
    cin_g, cout_g = w_shape[2], w_shape[3] // groups
    lanes = 64 // itemsize
    if groups == 1 or cin_g == 1 or cout_g >= lanes:
        return 1
    if cin_g >= WEIGHT_MIN_TAP_CHANNELS and _lane_use(cin_g) > _lane_use(cout_g) \
            and cin_g > cout_g:
        return 1   # the flipped layout fills its vectors with the inputs: merging only adds work
    return max(f for f in range(1, groups + 1) if groups % f == 0 and f * cout_g <= lanes)


def grad_weight_plan(x_shape: tuple[int, ...], w_shape: tuple[int, ...],
                     dy_hw: tuple[int, int], stride_h: int, dtype: np.dtype, groups: int,
                     workers: Optional[int] = None, dilation_w: int = 1) -> WeightGradPlan:
    """conv2d_grad_weight: a sum over output pixels of outer products (x's channels or
    receptive fields times dy's), held in registers by fastconv_outer.h's kernels.
    Narrow groups are merged first (weight_group_merge): the plan is then the merged
    layer's, with ``merged`` groups taken as one."""
    merged = weight_group_merge(w_shape, groups, np.dtype(dtype).itemsize)
    if merged > 1:
        wide = (w_shape[0], w_shape[1], w_shape[2] * merged, w_shape[3])
        plan = _grad_weight_plan(x_shape, wide, dy_hw, stride_h, dtype, groups // merged,
                                 workers, dilation_w)
        return replace(plan, merged=merged)
    return _grad_weight_plan(x_shape, w_shape, dy_hw, stride_h, dtype, groups, workers,
                             dilation_w)


def _grad_weight_plan(x_shape: tuple[int, ...], w_shape: tuple[int, ...],
                      dy_hw: tuple[int, int], stride_h: int, dtype: np.dtype, groups: int,
                      workers: Optional[int] = None, dilation_w: int = 1) -> WeightGradPlan:
    k_h, k_w, cin_g, c_out = w_shape
    cout_g = c_out // groups
    batch, _, in_w, c_in = x_shape
    itemsize = np.dtype(dtype).itemsize
    k_len = k_h * k_w * cin_g
    if groups > 1 and cin_g == 1 and k_w <= WEIGHT_DEPTHWISE_MAX_WIDTH:
        # Any channel multiplier: with x's channels repeated to match dy's, 2 to 32 ran
        # 1.3-6x faster than through receptive fields (one input channel is no matrix).
        layout, width = "depthwise", c_out
    elif cin_g >= WEIGHT_MIN_TAP_CHANNELS:
        # Broadcast the narrower side when that fills more vector lanes (64 -> 3).
        flip = _lane_use(cin_g) > _lane_use(cout_g) and cin_g > cout_g
        layout, width = ("by_tap_flipped", cin_g) if flip else ("by_tap", cout_g)
    elif (groups == 1 and dilation_w == 1 and k_w <= WEIGHT_DEPTHWISE_MAX_WIDTH
          and not (_lane_use(k_len) > _lane_use(cout_g) and k_len > cout_g)):
        # A kernel row's taps are consecutive values of x: broadcast them together,
        # without packing fields (which cost 2x the sums on MNIST's 3x3x1x32).
        layout, width = "by_row", cout_g
    else:
        flip = _lane_use(k_len) > _lane_use(cout_g) and k_len > cout_g
        layout, width = ("by_field_flipped", k_len) if flip else ("by_field", cout_g)
    if layout.startswith("by_field"):
        units = batch * dy_hw[0] * dy_hw[1]
        band = max(16, min(WEIGHT_PANEL_BYTES // (min(width, 64) * itemsize),
                           IM2COL_TILE_BYTES // (k_len * itemsize)))
        # Each item packs its own fields: split the columns only by group.
        parts_per_group = 1
    else:
        units = batch * dy_hw[0]
        band = max(1, WEIGHT_PANEL_BYTES // (dy_hw[1] * min(width, 64) * itemsize))
        # Depthwise: one part, so that a pass reads whole pixels (fastconv_outer.h).
        parts_per_group = (1 if layout == "depthwise"
                           else max(1, min(8, width // WEIGHT_PART_WIDTH)))
    part_width = -(-(-(-width // parts_per_group)) // 16) * 16
    parts = -(-width // part_width) * (1 if layout == "depthwise" else groups)
    sum_bytes = max(1, _weight_sum_values(layout, w_shape, groups) * itemsize)
    chunks = max(1, min(WEIGHT_MAX_CHUNKS, units, -(-WEIGHT_ITEMS // parts),
                        GRAD_WEIGHT_PARTIAL_BYTES // sum_bytes))
    macs = batch * dy_hw[0] * dy_hw[1] * k_len * c_out
    return WeightGradPlan(layout, threads_for(workers, macs, chunks * parts), band, chunks,
                          part_width)


@dataclass(frozen=True)
class PoolGradPlan:
    """How a pooling gradient runs: its prange goes over (image, part of the channels)."""

    threads: int
    part_channels: int


# max_pool2d_grad's register block (_grad.pyx's MAX_GRAD_BLOCK): parts of an image's
# channels are multiples of it.
POOL_GRAD_BLOCK = 32


def pool_grad_plan(x_shape: tuple[int, ...], out_hw: tuple[int, int], pool: tuple[int, int],
                   workers: Optional[int] = None) -> PoolGradPlan:
    """Threads, and the channels of a work item: all of an image's where there are two
    images a thread, since an item that reads part of each pixel leaves the rest of its
    cache lines to another item (96 channels as 64 + 32 ran 1.3x slower from memory);
    else parts of whole register blocks, up to two items a thread."""
    batch, _, _, channels = x_shape
    work = 2 * math.prod(x_shape) + batch * out_hw[0] * out_hw[1] * channels * pool[0] * pool[1]
    blocks = -(-channels // POOL_GRAD_BLOCK)
    threads = threads_for(workers, work, batch * blocks)
    parts = min(blocks, -(-2 * threads // batch)) if threads > 1 else 1
    part_channels = channels if parts <= 1 else -(-blocks // parts) * POOL_GRAD_BLOCK
    return PoolGradPlan(threads, max(1, part_channels))


# A border piece (the padded input of a few output rows of one border strip) stays
# below this size, so the workspace of a padded call is bounded whatever the image.
BORDER_PIECE_BYTES = 1 << 22


def border_tiles(batch: int, r0: int, r1: int, stride_h: int, eff_h: int,
                 row_bytes: int) -> list[tuple[int, int, int, int]]:
    """(n0, n1, a, b): images n0..n1-1 and output rows a..b-1 of a border strip of output
    rows r0..r1-1, in pieces of at most BORDER_PIECE_BYTES (but at least one image and
    one output row each). ``row_bytes`` is one padded input row of the strip."""
    one_row = eff_h * row_bytes  # the input rows one output row reads, per image
    images = max(1, min(batch, BORDER_PIECE_BYTES // max(1, one_row)))
    rows_fit = (BORDER_PIECE_BYTES // max(1, images * row_bytes) - eff_h) // stride_h + 1
    band = max(1, rows_fit)
    return [(n0, min(n0 + images, batch), a, min(a + band, r1))
            for n0 in range(0, batch, images) for a in range(r0, r1, band)]


@dataclass(frozen=True)
class SeparablePlan:
    """How one sep_conv2d call runs."""

    threads: int
    kernels: ModuleType
    simd_level: str


def separable_plan(x_shape: tuple[int, ...], out_hw: tuple[int, int], taps: int,
                   workers: Optional[int] = None, simd: Optional[str] = None) -> SeparablePlan:
    """Plan a separable filter: the kernel's prange runs over output rows (image, row)."""
    level, kernels = _dispatch.build("_separable", simd)
    batch, _, width, channels = x_shape
    work = batch * out_hw[0] * (width + out_hw[1]) * channels * taps
    return SeparablePlan(threads_for(workers, work, batch * out_hw[0]), kernels, level)

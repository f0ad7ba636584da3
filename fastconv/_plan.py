"""The plan of one call: which kernel runs, on how many threads, in which tiles.

The public functions validate (``_validate``) and size (``_geometry``) a call, then ask
here how to run it. Each plan knows how its kernel splits work among threads (the
items its ``prange`` hands out), so callers never derive that themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Optional

import math

import numpy as np

from . import _config, _dispatch, _threads

METHODS = ("auto", "direct", "im2col")
# What "auto" may run besides those: the depthwise kernel (fastconv._depthwise).
BLAS_INT_MAX = 2**31 - 1

# Below this many multiply-adds a thread team costs more than it saves.
MIN_WORK_PER_THREAD = 1 << 17
# Below this many multiply-adds per output value, im2col's GEMM is too short to pay for
# packing its patches (see choose_method).
SHORT_REDUCTION = 64
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
    layer with a handful of output channels.
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
    if method == "direct" or not fits_blas or cout_per_group < 8:
        return "direct"
    if simd_level == "avx512" or k_len < SHORT_REDUCTION:
        return "direct"
    return "im2col"


# The depthwise kernel wins for images with a few channels (RGB), where the direct
# kernel's per-pixel loops have almost nothing to vectorise. Measured (float32, 2
# threads, a shared and busy machine, medians): 3x3 on 1080x1920x3 27 ms against
# 396 ms direct, 7x7 148 against 1235; 3x3 on 540x960 with C = 2, 4, 8: 22-24 ms
# against 76-92. It ties at C = 16 and 32 and loses at C = 1 (the direct kernel's
# one-channel rows: 20 against 16 ms on 512x512) and at C = 64 (86 against 16 ms).
DEPTHWISE_CHANNELS = (2, 8)


def depthwise_applies(method: str, c_in: int, w_shape: tuple[int, ...], groups: int,
                      stride_w: int) -> bool:
    """Whether "auto" runs the depthwise kernel: one kernel per channel (groups == C_in
    == C_out) at stride 1 along the width, for C_in in ``DEPTHWISE_CHANNELS``."""
    low, high = DEPTHWISE_CHANNELS
    return (method == "auto" and groups == c_in and w_shape[2] == 1 and w_shape[3] == c_in
            and stride_w == 1 and low <= c_in <= high)


@dataclass(frozen=True)
class ConvPlan:
    """How one conv2d call runs."""

    method: str                 # "direct", "im2col" or "depthwise"
    threads: int
    tile_rows: int              # im2col: output pixels per tile; direct: 0
    kernels: ModuleType         # the compiled module that runs it
    simd_level: str


def conv2d_plan(x_shape: tuple[int, ...], w_shape: tuple[int, ...], out_hw: tuple[int, int],
                dtype: np.dtype, groups: int = 1, method: str = "auto",
                workers: Optional[int] = None, simd: Optional[str] = None,
                stride_w: int = 1) -> ConvPlan:
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
    if depthwise_applies(method, c_in, w_shape, groups, stride_w):
        level, depthwise = _dispatch.build("_depthwise", simd)
        # its prange runs over output rows (image, row)
        return ConvPlan("depthwise", threads_for(workers, macs, batch * out_hw[0]), 0,
                        depthwise, level)
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

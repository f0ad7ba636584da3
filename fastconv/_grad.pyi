# Stub for the compiled module fastconv._grad (src/fastconv/_grad.pyx).
# Checked against the built module by `python -m mypy.stubtest` in .ci/typecheck.
#
# Argument rules as in _direct.pyi: all arrays float32 or all float64 (Cython fused
# ``floating``), 4-D ones C-contiguous, the result array (dx or dw) writable; the
# result is written into it.
from typing import SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)

WEIGHT_LAYOUTS: dict[str, int]
PHASE_CHANNELS_F32: int
PHASE_CHANNELS_F64: int

def conv2d_grad_input(
    dy: npt.NDArray[_Float],
    w: npt.NDArray[_Float],
    dx: npt.NDArray[_Float],
    stride: tuple[SupportsIndex, SupportsIndex],
    dilation: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    groups: SupportsIndex,
    use_blas: bool,
    band_rows: SupportsIndex,
    n_threads: int,
    images_per_band: SupportsIndex = 1,
) -> None: ...
def conv2d_grad_input_phases(
    dy: npt.NDArray[_Float],
    w: npt.NDArray[_Float],
    dx: npt.NDArray[_Float],
    stride: tuple[SupportsIndex, SupportsIndex],
    dilation: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    bias: npt.NDArray[_Float],
    n_threads: int,
) -> None: ...
def conv2d_grad_weight(
    x: npt.NDArray[_Float],
    dy: npt.NDArray[_Float],
    dw: npt.NDArray[_Float],
    stride: tuple[SupportsIndex, SupportsIndex],
    dilation: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    groups: SupportsIndex,
    layout: int,
    band: SupportsIndex,
    n_chunks: SupportsIndex,
    part_width: SupportsIndex,
    n_threads: int,
) -> None: ...
def max_pool2d_grad(
    x: npt.NDArray[_Float],
    dy: npt.NDArray[_Float],
    dx: npt.NDArray[_Float],
    pool_size: tuple[SupportsIndex, SupportsIndex],
    stride: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    n_threads: int,
    part_channels: SupportsIndex,
) -> None: ...
def avg_pool2d_grad(
    dy: npt.NDArray[_Float],
    dx: npt.NDArray[_Float],
    pool_size: tuple[SupportsIndex, SupportsIndex],
    stride: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    n_threads: int,
    part_channels: SupportsIndex,
) -> None: ...
def reversed_adjoint_kernel(
    w: npt.NDArray[_Float],
    out: npt.NDArray[_Float],
    groups: SupportsIndex,
    n_threads: int,
) -> None: ...

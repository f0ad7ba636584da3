# Stub for the compiled module fastconv._im2col (src/fastconv/_im2col.pyx).
# Checked against the built module by `python -m mypy.stubtest` in .ci/typecheck.
#
# Argument rules as in _direct.pyi: all arrays float32 or all float64 (Cython fused
# ``floating``), 4-D ones C-contiguous, ``out`` writable; the result is written into
# ``out``.
from typing import SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)

def conv2d_im2col(
    x: npt.NDArray[_Float],
    w: npt.NDArray[_Float],
    bias: npt.NDArray[_Float],
    out: npt.NDArray[_Float],
    stride: tuple[SupportsIndex, SupportsIndex],
    dilation: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    groups: SupportsIndex,
    rows_per_tile: SupportsIndex,
    n_threads: int,
) -> None: ...

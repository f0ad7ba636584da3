# Stub for the compiled module fastconv._depthwise (src/fastconv/_depthwise.pyx); the SIMD
# builds _depthwise_avx2 and _depthwise_avx512 come from the same source and re-export this.
# Checked against the built modules by `python -m mypy.stubtest` in .ci/typecheck.
#
# Every float array is float32, or every one float64 (Cython fused ``floating``); 4-D
# arrays C-contiguous, ``out`` writable; ``w`` is (KH, KW, 1, C). Only the rectangle
# ``rows_cols = (r0, r1, c0, c1)`` of ``out`` is written.
from typing import SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)

def conv2d_depthwise_interior(
    x: npt.NDArray[_Float],
    w: npt.NDArray[_Float],
    bias: npt.NDArray[_Float],
    out: npt.NDArray[_Float],
    rows_cols: tuple[SupportsIndex, SupportsIndex, SupportsIndex, SupportsIndex],
    stride_h: SupportsIndex,
    dilation: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    n_threads: int,
) -> None: ...

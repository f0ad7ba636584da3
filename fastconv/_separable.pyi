# Stub for the compiled module fastconv._separable (src/fastconv/_separable.pyx); the SIMD
# builds _separable_avx2 and _separable_avx512 come from the same source and re-export this.
# Checked against the built modules by `python -m mypy.stubtest` in .ci/typecheck.
#
# Every float array is float32, or every one float64 (Cython fused ``floating``); ``x``
# and ``out`` are C-contiguous NHWC, ``out`` writable; ``rows`` and ``cols`` are intp
# index maps (-1: ``cval``). The result is written into ``out``.
from typing import SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)

def sep_conv2d(
    x: npt.NDArray[_Float],
    kernel_y: npt.NDArray[_Float],
    kernel_x: npt.NDArray[_Float],
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    cval: float,
    out: npt.NDArray[_Float],
    stride: tuple[SupportsIndex, SupportsIndex],
    dilation: tuple[SupportsIndex, SupportsIndex],
    left: SupportsIndex,
    n_threads: int,
) -> None: ...

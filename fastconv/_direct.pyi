# Stub for the compiled module fastconv._direct (src/fastconv/_direct.pyx); the SIMD
# builds _direct_avx2 and _direct_avx512 come from the same source and re-export this.
# Checked against the built modules by `python -m mypy.stubtest` in .ci/typecheck.
#
# The kernels take ``floating`` memoryviews (a Cython fused type): every array argument
# must be float32, or every one float64 -- hence one constrained TypeVar. 4-D arrays
# must be C-contiguous, ``out`` writable. ``Py_ssize_t`` parameters accept any
# ``__index__`` object (SupportsIndex); ``int`` ones want an int. Returns None: the
# result is written into ``out``.
from typing import Optional, SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)

def conv2d_direct(
    x: npt.NDArray[_Float],
    w: npt.NDArray[_Float],
    bias: npt.NDArray[_Float],
    out: npt.NDArray[_Float],
    stride: tuple[SupportsIndex, SupportsIndex],
    dilation: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    groups: SupportsIndex,
    n_threads: int,
    row_source: Optional[npt.NDArray[np.intp]] = None,
    col_source: Optional[npt.NDArray[np.intp]] = None,
) -> None: ...

def pads_from_source_maps(
    x_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    stride_w: SupportsIndex,
    dil_w: SupportsIndex,
    itemsize: SupportsIndex,
) -> bool: ...

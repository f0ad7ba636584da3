# Stub for the compiled module fastconv._pool (src/fastconv/_pool.pyx); the SIMD builds
# _pool_avx2 and _pool_avx512 come from the same source and re-export this.
# Checked against the built modules by `python -m mypy.stubtest` in .ci/typecheck.
#
# ``x`` and ``out`` are C-contiguous NHWC, ``out`` writable; the result is written into
# ``out``. max_pool2d: both of one float or integer dtype (fused ``ordered``);
# avg_pool2d: both float32 or both float64; avg_pool2d_integer: an integer ``x`` and a
# float64 ``out``.
from typing import Any, SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)
_Ordered = TypeVar("_Ordered", np.float32, np.float64, np.int8, np.uint8, np.int16, np.uint16,
                   np.int32, np.uint32, np.int64, np.uint64)

def max_pool2d(
    x: npt.NDArray[_Ordered],
    out: npt.NDArray[_Ordered],
    pool_size: tuple[SupportsIndex, SupportsIndex],
    stride: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    n_threads: int,
) -> None: ...
def avg_pool2d(
    x: npt.NDArray[_Float],
    out: npt.NDArray[_Float],
    pool_size: tuple[SupportsIndex, SupportsIndex],
    stride: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    n_threads: int,
) -> None: ...
def avg_pool2d_integer(
    x: npt.NDArray[np.integer[Any]],
    out: npt.NDArray[np.float64],
    pool_size: tuple[SupportsIndex, SupportsIndex],
    stride: tuple[SupportsIndex, SupportsIndex],
    pad_top_left: tuple[SupportsIndex, SupportsIndex],
    n_threads: int,
) -> None: ...

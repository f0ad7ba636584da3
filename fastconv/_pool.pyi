# Stub for the compiled module fastconv._pool (src/fastconv/_pool.pyx); the SIMD builds
# _pool_avx2 and _pool_avx512 come from the same source and re-export this.
# Checked against the built modules by `python -m mypy.stubtest` in .ci/typecheck.
#
# ``x`` and ``out`` are both float32 or both float64 (Cython fused ``floating``),
# C-contiguous NHWC, ``out`` writable; the result is written into ``out``.
from typing import SupportsIndex, TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)

def max_pool2d(
    x: npt.NDArray[_Float],
    out: npt.NDArray[_Float],
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

# Stub for the compiled module fastconv._probe (src/fastconv/_probe.pyx); the SIMD builds
# _probe_avx2 and _probe_avx512 come from the same source and re-export this.
# Checked against the built modules by `python -m mypy.stubtest` in .ci/typecheck.
from typing import SupportsIndex

def fma_gflops(iterations: SupportsIndex = 2000000, n_threads: int = 1) -> float: ...

# Stub for fastconv._probe_avx2: the same source as fastconv._probe, built for avx2.
from ._probe import fma_gflops as fma_gflops

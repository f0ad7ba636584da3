# Stub for fastconv._probe_avx512: the same source as fastconv._probe, built for avx512.
from ._probe import fma_gflops as fma_gflops

# Stub for fastconv._pool_avx512: the same source as fastconv._pool, built for avx512.
from ._pool import avg_pool2d as avg_pool2d, max_pool2d as max_pool2d

# Stub for fastconv._pool_avx2: the same source as fastconv._pool, built for avx2.
from ._pool import avg_pool2d as avg_pool2d, avg_pool2d_integer as avg_pool2d_integer, \
    max_pool2d as max_pool2d

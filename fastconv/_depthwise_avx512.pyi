# Stub for fastconv._depthwise_avx512: the same source as fastconv._depthwise, built for avx512.
from ._depthwise import conv2d_depthwise_interior as conv2d_depthwise_interior

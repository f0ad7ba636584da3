# Stub for fastconv._depthwise_avx2: the same source as fastconv._depthwise, built for avx2.
from ._depthwise import conv2d_depthwise_interior as conv2d_depthwise_interior

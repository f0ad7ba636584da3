# Stub for fastconv._separable_avx2: the same source as fastconv._separable, built for avx2.
from ._separable import sep_conv2d as sep_conv2d

# Stub for fastconv._direct_avx2: the same source as fastconv._direct, built for avx2.
from ._direct import conv2d_direct as conv2d_direct
from ._direct import pads_from_source_maps as pads_from_source_maps

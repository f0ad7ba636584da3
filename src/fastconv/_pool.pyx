"""Max and average pooling over NHWC: one pass over the input, channels innermost.

Windows are clipped to the image before any work, so padding never takes part:
the max is over real pixels only and the mean divides by the count of real
pixels (TensorFlow's SAME rule). The Python layer guarantees every window
holds at least one real pixel.

Max pooling runs on every float and integer width (``ordered``): an integer image is
compared as integers and keeps its dtype, with no float round trip (bool arrives
viewed as uint8). Average pooling of integers sums in float64 and divides by the
count, as ``np.mean`` does; of floats it stays in the input's precision.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport (int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t,
                          uint64_t)
from libc.string cimport memcpy

from fastconv._geometry cimport Window, check_pool_contract, make_window, pixel_offset

# What max pooling compares: floats (NaN wins) and every integer width.
ctypedef fused ordered:
    float
    double
    int8_t
    uint8_t
    int16_t
    uint16_t
    int32_t
    uint32_t
    int64_t
    uint64_t

# What average pooling sums into float64, as np.mean does for integers.
ctypedef fused integral:
    int8_t
    uint8_t
    int16_t
    uint16_t
    int32_t
    uint32_t
    int64_t
    uint64_t


cdef inline void _clip(Py_ssize_t o, Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t size,
                       Py_ssize_t extent, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    cdef Py_ssize_t start = o * stride - pad
    lo[0] = start if start > 0 else 0
    hi[0] = start + size if start + size < extent else extent


cdef inline void _max_into(Py_ssize_t n, const ordered* x, ordered* m) noexcept nogil:
    cdef Py_ssize_t i
    cdef ordered v
    for i in range(n):
        v = x[i]
        # NaN wins, as in np.max: once m[i] is NaN nothing compares greater.
        # A select rather than a branch, so the loop vectorizes.
        m[i] = v if (v > m[i]) | (v != v) else m[i]


cdef inline void _add_into(Py_ssize_t n, const floating* x, floating* s) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        s[i] += x[i]


# Channels per register block: each window pixel's block is folded into accumulators
# that stay in registers, and each output value is stored once (folding whole pixels
# through memory loads and stores the output row once per window pixel). 32 values
# in both dtypes: with blocks of 16 float64 GCC left the max loop scalar and branchy
# (5 ms instead of 0.34-0.58 on (64,26,26,32) 2x2, one thread, every SIMD build).
# Channels past the last block go the memory way.
cdef enum:
    POOL_BLOCK = 32


cdef inline void _max_block(const ordered* x_image, ordered* o, Window* g,
                            Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t w0,
                            Py_ssize_t w1) noexcept nogil:
    """o[:POOL_BLOCK] = max over the clipped window of x_image's channel block (both
    pointers already offset to the block's first channel)."""
    cdef:
        Py_ssize_t ih, iw, j
        ordered acc[POOL_BLOCK]
        const ordered* px = x_image + pixel_offset(g, 0, h0, w0)
        ordered v
    for j in range(POOL_BLOCK):
        acc[j] = px[j]
    # The first pixel is folded in again: max(a, a) is a, and no branch is needed.
    for ih in range(h0, h1):
        for iw in range(w0, w1):
            px = x_image + pixel_offset(g, 0, ih, iw)
            for j in range(POOL_BLOCK):
                v = px[j]
                # NaN wins, as in np.max: once acc[j] is NaN nothing compares greater.
                # A select rather than a branch, so the loop vectorizes.
                acc[j] = v if (v > acc[j]) | (v != v) else acc[j]
    for j in range(POOL_BLOCK):
        o[j] = acc[j]


cdef inline void _avg_block(const floating* x_image, floating* o, Window* g,
                            Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t w0, Py_ssize_t w1,
                            floating scale) noexcept nogil:
    """o[:POOL_BLOCK] = scale * sum over the clipped window of x_image's channel block."""
    cdef:
        Py_ssize_t ih, iw, j
        floating acc[POOL_BLOCK]
        const floating* px
    for j in range(POOL_BLOCK):
        acc[j] = 0
    for ih in range(h0, h1):
        for iw in range(w0, w1):
            px = x_image + pixel_offset(g, 0, ih, iw)
            for j in range(POOL_BLOCK):
                acc[j] += px[j]
    for j in range(POOL_BLOCK):
        o[j] = acc[j] * scale


cdef void _max_output_row(const ordered* x, ordered* out, Window* g,
                          Py_ssize_t row) noexcept nogil:
    cdef:
        Py_ssize_t n = row // g.out_h, oh = row % g.out_h
        Py_ssize_t h0, h1, w0, w1, ow, ih, iw, block
        Py_ssize_t C = g.in_c, c_blocked = C - C % POOL_BLOCK
        const ordered* x_image = x + n * g.in_h * g.in_w * C
        ordered* o = out + row * g.out_w * C
    _clip(oh, g.stride_h, g.pad_top, g.k_h, g.in_h, &h0, &h1)
    for ow in range(g.out_w):
        _clip(ow, g.stride_w, g.pad_left, g.k_w, g.in_w, &w0, &w1)
        for block in range(c_blocked // POOL_BLOCK):
            _max_block(x_image + block * POOL_BLOCK, o + block * POOL_BLOCK, g, h0, h1, w0, w1)
        if c_blocked < C:
            memcpy(o + c_blocked, x_image + pixel_offset(g, 0, h0, w0) + c_blocked,
                   (C - c_blocked) * sizeof(ordered))
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    _max_into(C - c_blocked,
                              x_image + pixel_offset(g, 0, ih, iw) + c_blocked, o + c_blocked)
        o += C


cdef void _avg_output_row(const floating* x, floating* out, Window* g,
                          Py_ssize_t row) noexcept nogil:
    cdef:
        Py_ssize_t n = row // g.out_h, oh = row % g.out_h
        Py_ssize_t h0, h1, w0, w1, ow, ih, iw, c, block
        Py_ssize_t C = g.in_c, c_blocked = C - C % POOL_BLOCK
        const floating* x_image = x + n * g.in_h * g.in_w * C
        floating* o = out + row * g.out_w * C
        floating scale
    _clip(oh, g.stride_h, g.pad_top, g.k_h, g.in_h, &h0, &h1)
    for ow in range(g.out_w):
        _clip(ow, g.stride_w, g.pad_left, g.k_w, g.in_w, &w0, &w1)
        scale = 1.0 / ((h1 - h0) * (w1 - w0))
        for block in range(c_blocked // POOL_BLOCK):
            _avg_block(x_image + block * POOL_BLOCK, o + block * POOL_BLOCK, g, h0, h1, w0, w1,
                       scale)
        if c_blocked < C:
            memcpy(o + c_blocked, x_image + pixel_offset(g, 0, h0, w0) + c_blocked,
                   (C - c_blocked) * sizeof(floating))
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    if ih == h0 and iw == w0:
                        continue
                    _add_into(C - c_blocked,
                              x_image + pixel_offset(g, 0, ih, iw) + c_blocked, o + c_blocked)
            for c in range(c_blocked, C):
                o[c] *= scale
        o += C


cdef void _mean_output_row(const integral* x, double* out, Window* g,
                           Py_ssize_t row) noexcept nogil:
    """np.mean of each window of an integer image: a float64 sum of the values (each
    converted first, so no integer sum can overflow), divided by the count."""
    cdef:
        Py_ssize_t n = row // g.out_h, oh = row % g.out_h
        Py_ssize_t h0, h1, w0, w1, ow, ih, iw, c
        Py_ssize_t C = g.in_c
        const integral* x_image = x + n * g.in_h * g.in_w * C
        const integral* px
        double* o = out + row * g.out_w * C
        double count
    _clip(oh, g.stride_h, g.pad_top, g.k_h, g.in_h, &h0, &h1)
    for ow in range(g.out_w):
        _clip(ow, g.stride_w, g.pad_left, g.k_w, g.in_w, &w0, &w1)
        count = <double>((h1 - h0) * (w1 - w0))
        for c in range(C):
            o[c] = 0
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                px = x_image + pixel_offset(g, 0, ih, iw)
                for c in range(C):
                    o[c] += <double>px[c]
        for c in range(C):
            o[c] /= count
        o += C


cdef Window _pool_window(const Py_ssize_t* in_shape, const Py_ssize_t* out_shape,
                         tuple pool_size, tuple stride, tuple pad_top_left) except *:
    cdef Window g = make_window(in_shape, out_shape, pool_size, stride, (1, 1), pad_top_left, 1)
    check_pool_contract(&g)
    return g


def max_pool2d(const ordered[:, :, :, ::1] x, ordered[:, :, :, ::1] out, tuple pool_size,
               tuple stride, tuple pad_top_left, int n_threads):
    """out = max over each window's real pixels, written in place; NaN propagates.
    Any float or integer width (bool viewed as uint8); out has x's dtype."""
    cdef Window g = _pool_window(x.shape, out.shape, pool_size, stride, pad_top_left)
    cdef Py_ssize_t row
    with nogil:
        for row in prange(g.batch * g.out_h, num_threads=n_threads, schedule="dynamic"):
            _max_output_row(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &g, row)


def avg_pool2d(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out, tuple pool_size,
               tuple stride, tuple pad_top_left, int n_threads):
    """out = mean over each window's real pixels, written in place."""
    cdef Window g = _pool_window(x.shape, out.shape, pool_size, stride, pad_top_left)
    cdef Py_ssize_t row
    with nogil:
        for row in prange(g.batch * g.out_h, num_threads=n_threads, schedule="dynamic"):
            _avg_output_row(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &g, row)


def avg_pool2d_integer(const integral[:, :, :, ::1] x, double[:, :, :, ::1] out,
                       tuple pool_size, tuple stride, tuple pad_top_left, int n_threads):
    """out (float64) = np.mean over each window's real pixels of an integer image."""
    cdef Window g = _pool_window(x.shape, out.shape, pool_size, stride, pad_top_left)
    cdef Py_ssize_t row
    with nogil:
        for row in prange(g.batch * g.out_h, num_threads=n_threads, schedule="dynamic"):
            _mean_output_row(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &g, row)

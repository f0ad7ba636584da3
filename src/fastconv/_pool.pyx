"""Max and average pooling over NHWC: one pass over the input, channels innermost.

Windows are clipped to the image before any work, so padding never takes part:
the max is over real pixels only and the mean divides by the count of real
pixels (TensorFlow's SAME rule). The Python layer guarantees every window
holds at least one real pixel.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

from fastconv._geometry cimport Window, check_pool_contract, make_window, pixel_offset


cdef inline void _clip(Py_ssize_t o, Py_ssize_t stride, Py_ssize_t pad, Py_ssize_t size,
                       Py_ssize_t extent, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    cdef Py_ssize_t start = o * stride - pad
    lo[0] = start if start > 0 else 0
    hi[0] = start + size if start + size < extent else extent


cdef inline void _max_into(Py_ssize_t n, const floating* x, floating* m) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating v
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


cdef inline void _max_block(const floating* x_image, floating* o, Window* g,
                            Py_ssize_t h0, Py_ssize_t h1, Py_ssize_t w0,
                            Py_ssize_t w1) noexcept nogil:
    """o[:POOL_BLOCK] = max over the clipped window of x_image's channel block (both
    pointers already offset to the block's first channel)."""
    cdef:
        Py_ssize_t ih, iw, j
        floating acc[POOL_BLOCK]
        const floating* px = x_image + pixel_offset(g, 0, h0, w0)
        floating v
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


cdef void _pool_output_row(const floating* x, floating* out, Window* g, Py_ssize_t row,
                           bint take_max) noexcept nogil:
    cdef:
        Py_ssize_t n = row // g.out_h, oh = row % g.out_h
        Py_ssize_t h0, h1, w0, w1, ow, ih, iw, c, c0, block
        Py_ssize_t C = g.in_c, c_blocked = C - C % POOL_BLOCK
        const floating* x_image = x + n * g.in_h * g.in_w * C
        floating* o = out + row * g.out_w * C
        floating scale = 1  # set per window for average pooling
    _clip(oh, g.stride_h, g.pad_top, g.k_h, g.in_h, &h0, &h1)
    for ow in range(g.out_w):
        _clip(ow, g.stride_w, g.pad_left, g.k_w, g.in_w, &w0, &w1)
        if not take_max:
            scale = 1.0 / ((h1 - h0) * (w1 - w0))
        for block in range(c_blocked // POOL_BLOCK):
            c0 = block * POOL_BLOCK
            if take_max:
                _max_block(x_image + c0, o + c0, g, h0, h1, w0, w1)
            else:
                _avg_block(x_image + c0, o + c0, g, h0, h1, w0, w1, scale)
        if c_blocked < C:
            memcpy(o + c_blocked, x_image + pixel_offset(g, 0, h0, w0) + c_blocked,
                   (C - c_blocked) * sizeof(floating))
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    if ih == h0 and iw == w0:
                        continue
                    if take_max:
                        _max_into(C - c_blocked,
                                  x_image + pixel_offset(g, 0, ih, iw) + c_blocked, o + c_blocked)
                    else:
                        _add_into(C - c_blocked,
                                  x_image + pixel_offset(g, 0, ih, iw) + c_blocked, o + c_blocked)
            if not take_max:
                for c in range(c_blocked, C):
                    o[c] *= scale
        o += C


cdef int _pool(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out, tuple pool_size,
                tuple stride, tuple pad_top_left, int n_threads, bint take_max) except -1:
    cdef Window g = make_window(x.shape, out.shape, pool_size,
                                stride, (1, 1), pad_top_left, 1)
    check_pool_contract(&g)
    cdef Py_ssize_t row
    with nogil:
        for row in prange(g.batch * g.out_h, num_threads=n_threads, schedule="dynamic"):
            _pool_output_row(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &g, row, take_max)
    return 0


def max_pool2d(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out, tuple pool_size,
               tuple stride, tuple pad_top_left, int n_threads):
    """out = max over each window's real pixels, written in place; NaN propagates."""
    _pool(x, out, pool_size, stride, pad_top_left, n_threads, True)


def avg_pool2d(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out, tuple pool_size,
               tuple stride, tuple pad_top_left, int n_threads):
    """out = mean over each window's real pixels, written in place."""
    _pool(x, out, pool_size, stride, pad_top_left, n_threads, False)

"""Depthwise convolution (one kernel per channel, groups == C_in == C_out) of the
interior of NHWC images, vectorised over the contiguous W*C axis.

At stride 1 along the width, output row segment [c0, c1) of one image row is, for
every tap (i, j), the input row segment shifted by j * dil_w pixels times that tap's
weights, which repeat with period C along the segment. So each tap is one long
multiply-add of two contiguous runs: the input and a small periodic weight pattern
(``pattern[t, q] = w[i, j, 0, q % C]``, one chunk plus C values long, entered at
``j0 % C``). This serves images with few channels (RGB), where the per-pixel loops of
the direct kernel have almost nothing to vectorise.

Only outputs whose windows lie inside the image are computed here; the Python layer
computes the border strips from small padded pieces (whatever the pad mode).
"""
from cython cimport floating
from cython.parallel cimport prange, threadid

import numpy as np

cdef extern from *:
    """
    #include <stddef.h>
    #if defined(__GNUC__) || defined(__clang__)
    #  if defined(__AVX512F__)
    #    define FC_DW_VBYTES 64
    #  else
    #    define FC_DW_VBYTES 32
    #  endif
    typedef float fc_dw_vf __attribute__((vector_size(FC_DW_VBYTES), may_alias, aligned(4)));
    typedef double fc_dw_vd __attribute__((vector_size(FC_DW_VBYTES), may_alias, aligned(8)));
    #  define FC_DW_CHUNK(T) (8 * (FC_DW_VBYTES / (ptrdiff_t)sizeof(T)))
    #  define FC_DW(NAME, T, V)                                                          \
    static inline void NAME(T *dest, const T **src, const T *pattern, ptrdiff_t plen,    \
                            const T *bias_pattern, ptrdiff_t ntaps, ptrdiff_t n,         \
                            ptrdiff_t C) {                                               \
        const ptrdiff_t L = FC_DW_VBYTES / sizeof(T), CH = 8 * L;                        \
        ptrdiff_t j0 = 0, j, t;                                                          \
        if (n >= CH) {                                                                   \
            for (;;) {                                                                   \
                const ptrdiff_t phase = j0 % C;                                          \
                const T *b = bias_pattern + phase;                                       \
                V a0 = *(const V *)(b), a1 = *(const V *)(b + L);                        \
                V a2 = *(const V *)(b + 2 * L), a3 = *(const V *)(b + 3 * L);            \
                V a4 = *(const V *)(b + 4 * L), a5 = *(const V *)(b + 5 * L);            \
                V a6 = *(const V *)(b + 6 * L), a7 = *(const V *)(b + 7 * L);            \
                for (t = 0; t < ntaps; t++) {                                            \
                    const T *p = src[t] + j0;                                            \
                    const T *q = pattern + t * plen + phase;                             \
                    a0 += *(const V *)(q) * *(const V *)(p);                             \
                    a1 += *(const V *)(q + L) * *(const V *)(p + L);                     \
                    a2 += *(const V *)(q + 2 * L) * *(const V *)(p + 2 * L);             \
                    a3 += *(const V *)(q + 3 * L) * *(const V *)(p + 3 * L);             \
                    a4 += *(const V *)(q + 4 * L) * *(const V *)(p + 4 * L);             \
                    a5 += *(const V *)(q + 5 * L) * *(const V *)(p + 5 * L);             \
                    a6 += *(const V *)(q + 6 * L) * *(const V *)(p + 6 * L);             \
                    a7 += *(const V *)(q + 7 * L) * *(const V *)(p + 7 * L);             \
                }                                                                        \
                *(V *)(dest + j0) = a0;         *(V *)(dest + j0 + L) = a1;              \
                *(V *)(dest + j0 + 2 * L) = a2; *(V *)(dest + j0 + 3 * L) = a3;          \
                *(V *)(dest + j0 + 4 * L) = a4; *(V *)(dest + j0 + 5 * L) = a5;          \
                *(V *)(dest + j0 + 6 * L) = a6; *(V *)(dest + j0 + 7 * L) = a7;          \
                if (j0 == n - CH) break;                                                 \
                j0 = j0 + CH < n - CH ? j0 + CH : n - CH;                                \
            }                                                                            \
            return;                                                                      \
        }                                                                                \
        for (j = 0; j < n; j++) dest[j] = bias_pattern[j % C];                           \
        for (t = 0; t < ntaps; t++)                                                      \
            for (j = 0; j < n; j++) dest[j] += pattern[t * plen + j % C] * src[t][j];    \
    }
    FC_DW(fc_dw_f32, float, fc_dw_vf)
    FC_DW(fc_dw_f64, double, fc_dw_vd)
    #else
    #  define FC_DW_CHUNK(T) 0
    #  define FC_DW(NAME, T)                                                             \
    static void NAME(T *dest, const T **src, const T *pattern, ptrdiff_t plen,           \
                     const T *bias_pattern, ptrdiff_t ntaps, ptrdiff_t n, ptrdiff_t C) { \
        ptrdiff_t j, t;                                                                  \
        for (j = 0; j < n; j++) dest[j] = bias_pattern[j % C];                           \
        for (t = 0; t < ntaps; t++)                                                      \
            for (j = 0; j < n; j++) dest[j] += pattern[t * plen + j % C] * src[t][j];    \
    }
    FC_DW(fc_dw_f32, float)
    FC_DW(fc_dw_f64, double)
    #endif
    static const ptrdiff_t fc_dw_chunk_f32 = FC_DW_CHUNK(float);
    static const ptrdiff_t fc_dw_chunk_f64 = FC_DW_CHUNK(double);
    """
    const Py_ssize_t fc_dw_chunk_f32
    const Py_ssize_t fc_dw_chunk_f64
    void fc_dw_f32(float* dest, const float** src, const float* pattern, Py_ssize_t plen,
                   const float* bias_pattern, Py_ssize_t n_taps, Py_ssize_t n,
                   Py_ssize_t C) noexcept nogil
    void fc_dw_f64(double* dest, const double** src, const double* pattern, Py_ssize_t plen,
                   const double* bias_pattern, Py_ssize_t n_taps, Py_ssize_t n,
                   Py_ssize_t C) noexcept nogil


cdef void _output_row(const floating* x, floating* out, Py_ssize_t item, Py_ssize_t r0,
                      Py_ssize_t rows, Py_ssize_t c0, Py_ssize_t c1, Py_ssize_t H,
                      Py_ssize_t W, Py_ssize_t C, Py_ssize_t OH, Py_ssize_t OW,
                      Py_ssize_t k_h, Py_ssize_t k_w, Py_ssize_t stride_h, Py_ssize_t dil_h,
                      Py_ssize_t dil_w, Py_ssize_t top, Py_ssize_t left,
                      const floating* pattern, Py_ssize_t plen, const floating* bias_pattern,
                      const floating** tap_ptrs) noexcept nogil:
    cdef:
        Py_ssize_t n = item // rows, oh = r0 + item % rows, i, j, ih
        const floating* image = x + n * H * W * C
    for i in range(k_h):
        ih = oh * stride_h - top + i * dil_h
        for j in range(k_w):
            tap_ptrs[i * k_w + j] = image + (ih * W + c0 - left + j * dil_w) * C
    if floating is float:
        fc_dw_f32(out + ((n * OH + oh) * OW + c0) * C, tap_ptrs, pattern, plen, bias_pattern,
                  k_h * k_w, (c1 - c0) * C, C)
    else:
        fc_dw_f64(out + ((n * OH + oh) * OW + c0) * C, tap_ptrs, pattern, plen, bias_pattern,
                  k_h * k_w, (c1 - c0) * C, C)


def conv2d_depthwise_interior(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                              const floating[::1] bias, floating[:, :, :, ::1] out,
                              tuple rows_cols, Py_ssize_t stride_h, tuple dilation,
                              tuple pad_top_left, int n_threads):
    """out[:, r0:r1, c0:c1] of a depthwise convolution (w of shape (KH, KW, 1, C)) at
    stride (stride_h, 1), for ``rows_cols = (r0, r1, c0, c1)``: outputs whose windows
    lie inside the image. Other outputs are left untouched."""
    cdef:
        Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
        Py_ssize_t OH = out.shape[1], OW = out.shape[2]
        Py_ssize_t k_h = w.shape[0], k_w = w.shape[1], r0, r1, c0, c1, dil_h, dil_w
        Py_ssize_t top, left, chunk, plen, item, tid, t
        floating[:, ::1] pattern
        floating[::1] bias_pattern
        Py_ssize_t[:, ::1] tap_ptrs
    r0, r1, c0, c1 = rows_cols
    dil_h, dil_w = dilation
    top, left = pad_top_left
    # Defence in depth: every window of the rectangle must lie inside the image.
    if (w.shape[2] != 1 or w.shape[3] != C or bias.shape[0] != C or out.shape[0] != N
            or out.shape[3] != C or min(stride_h, dil_h, dil_w, n_threads) < 1
            or not (0 <= r0 <= r1 <= OH and 0 <= c0 <= c1 <= OW)
            or (r1 > r0 and (r0 * stride_h - top < 0
                             or (r1 - 1) * stride_h - top + (k_h - 1) * dil_h >= H))
            or (c1 > c0 and (c0 - left < 0 or c1 - 1 - left + (k_w - 1) * dil_w >= W))):
        raise ValueError("kernel contract: depthwise shapes or rectangle disagree")
    if N == 0 or r1 == r0 or c1 == c0 or C == 0:
        return
    chunk = fc_dw_chunk_f32 if floating is float else fc_dw_chunk_f64
    plen = chunk + C
    dtype = np.float32 if floating is float else np.float64
    # The weights (and the bias) repeated with period C: one chunk plus one period.
    pattern = np.ascontiguousarray(
        np.tile(np.asarray(w).reshape(k_h * k_w, C), (1, plen // C + 1))[:, :plen], dtype=dtype)
    bias_pattern = np.ascontiguousarray(np.tile(np.asarray(bias), plen // C + 1)[:plen],
                                        dtype=dtype)
    # padded by a cache line: threads rewrite their tap pointers for every output row
    tap_ptrs = np.empty((n_threads, k_h * k_w + 8), dtype=np.intp)
    with nogil:
        for item in prange(N * (r1 - r0), num_threads=n_threads, schedule="dynamic", chunksize=4):
            tid = threadid()
            _output_row(&x[0, 0, 0, 0], &out[0, 0, 0, 0], item, r0, r1 - r0, c0, c1, H, W, C,
                        OH, OW, k_h, k_w, stride_h, dil_h, dil_w, top, left, &pattern[0, 0],
                        plen, &bias_pattern[0], <const floating**>&tap_ptrs[tid, 0])

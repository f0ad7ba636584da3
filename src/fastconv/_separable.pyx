"""Separable filtering of NHWC images: a vertical 1-D pass, then a horizontal one.

Each output row is made from one row buffer per thread, never from an
intermediate image. The vertical pass sums the kernel_y taps of whole input rows
into the buffer; a row is W*C contiguous values, so the sum vectorises over the
whole row at once, whatever C is. The buffer's padding columns are then filled
by the column index map (or with the constant), and the horizontal pass sums the
kernel_x taps of the buffer, again over contiguous runs of (output pixels x C).

Borders arrive as index maps built by the Python layer from np.pad itself
(``_geometry.pad_index``): ``rows[i]`` is the input row read by padded row i,
``cols[j]`` the input column read by padded column j, -1 meaning the constant.
Because both passes are linear and the maps act on one axis each, filtering the
mapped rows and then mapping the filtered row's columns equals filtering np.pad's
padded image.
"""
from cython cimport floating
from cython.parallel cimport prange, threadid

import numpy as np


# The multiply-add loop, in C with GCC/Clang vector types: eight vector accumulators
# hold a chunk of the output in registers across all the taps, and each value is
# stored once. (Written as plain loops in Cython, GCC merged pairs of taps and left
# the loop scalar on every build, 10x slower.) The vector width follows the build:
# 64 bytes with AVX-512, else 32 (two SSE registers each on the baseline build).
# The last chunk of a row overlaps the one before it rather than running a scalar
# tail (it writes the same values again). Other compilers get the plain loop.
cdef extern from *:
    """
    #include <stddef.h>
    #if defined(__GNUC__) || defined(__clang__)
    #  if defined(__AVX512F__)
    #    define FC_VBYTES 64
    #  else
    #    define FC_VBYTES 32
    #  endif
    typedef float fc_vf __attribute__((vector_size(FC_VBYTES), may_alias, aligned(4)));
    typedef double fc_vd __attribute__((vector_size(FC_VBYTES), may_alias, aligned(8)));
    #  define FC_TAPS(NAME, T, V)                                                        \
    static inline void NAME(T *dest, const T **src, ptrdiff_t off, const T *w,           \
                            ptrdiff_t ntaps, ptrdiff_t n, T start) {                     \
        const ptrdiff_t L = FC_VBYTES / sizeof(T), CH = 8 * L;                           \
        ptrdiff_t j0 = 0, j, t;                                                          \
        if (n >= CH) {                                                                   \
            for (;;) {                                                                   \
                V a0, a1, a2, a3, a4, a5, a6, a7;                                        \
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = (V){0} + start;                  \
                for (t = 0; t < ntaps; t++) {                                            \
                    const T *p = src[t] + off + j0;                                      \
                    const T wt = w[t];                                                   \
                    a0 += wt * *(const V *)(p);                                          \
                    a1 += wt * *(const V *)(p + L);                                      \
                    a2 += wt * *(const V *)(p + 2 * L);                                  \
                    a3 += wt * *(const V *)(p + 3 * L);                                  \
                    a4 += wt * *(const V *)(p + 4 * L);                                  \
                    a5 += wt * *(const V *)(p + 5 * L);                                  \
                    a6 += wt * *(const V *)(p + 6 * L);                                  \
                    a7 += wt * *(const V *)(p + 7 * L);                                  \
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
        for (j = 0; j < n; j++) dest[j] = start;                                         \
        for (t = 0; t < ntaps; t++)                                                      \
            for (j = 0; j < n; j++) dest[j] += w[t] * src[t][off + j];                   \
    }
    FC_TAPS(fc_taps_f32, float, fc_vf)
    FC_TAPS(fc_taps_f64, double, fc_vd)
    /* Two vertical sums at once, for output rows r and r + 1 (stride and dilation 1):
     * src holds the ntaps + 1 rows they read, row r taps 0 .. ntaps - 1 with weights
     * w[0 ..], row r + 1 taps 1 .. ntaps with the same weights. Each input vector is
     * loaded once for both rows: the single-row loop re-read ntaps rows from L2 per
     * row and was bound by it. Each row sums its taps in order from its start, as
     * FC_TAPS does, so either path gives the same bits; rows shorter than a chunk go
     * through FC_TAPS one after the other. */
    #  if defined(__AVX512F__)
    #    define FC_PAIR_VECTORS 8
    #  else
    #    define FC_PAIR_VECTORS 4   /* 2 x 4 accumulators in 16 registers */
    #  endif
    #  define FC_TAPS_PAIR(NAME, T, V, SINGLE)                                           \
    static inline void NAME(T *dest0, T *dest1, const T **src, const T *w,               \
                            ptrdiff_t ntaps, ptrdiff_t n, T start0, T start1) {          \
        enum { M = FC_PAIR_VECTORS };                                                    \
        const ptrdiff_t L = FC_VBYTES / sizeof(T), CH = M * L;                           \
        ptrdiff_t j0 = 0, t;                                                             \
        if (n >= CH) {                                                                   \
            for (;;) {                                                                   \
                V a[M], b[M], xv;                                                        \
                for (int m = 0; m < M; m++) {                                            \
                    a[m] = (V){0} + start0;                                              \
                    b[m] = (V){0} + start1;                                              \
                }                                                                        \
                for (int m = 0; m < M; m++)                                              \
                    a[m] += w[0] * *(const V *)(src[0] + j0 + m * L);                    \
                for (t = 1; t < ntaps; t++) {                                            \
                    const T *p = src[t] + j0;                                            \
                    const T w0 = w[t], w1 = w[t - 1];                                    \
                    for (int m = 0; m < M; m++) {                                        \
                        xv = *(const V *)(p + m * L);                                    \
                        a[m] += w0 * xv;                                                 \
                        b[m] += w1 * xv;                                                 \
                    }                                                                    \
                }                                                                        \
                for (int m = 0; m < M; m++)                                              \
                    b[m] += w[ntaps - 1] * *(const V *)(src[ntaps] + j0 + m * L);        \
                for (int m = 0; m < M; m++) {                                            \
                    *(V *)(dest0 + j0 + m * L) = a[m];                                   \
                    *(V *)(dest1 + j0 + m * L) = b[m];                                   \
                }                                                                        \
                if (j0 == n - CH) break;                                                 \
                j0 = j0 + CH < n - CH ? j0 + CH : n - CH;                                \
            }                                                                            \
            return;                                                                      \
        }                                                                                \
        SINGLE(dest0, src, 0, w, ntaps, n, start0);                                      \
        SINGLE(dest1, src + 1, 0, w, ntaps, n, start1);                                  \
    }
    FC_TAPS_PAIR(fc_taps_pair_f32, float, fc_vf, fc_taps_f32)
    FC_TAPS_PAIR(fc_taps_pair_f64, double, fc_vd, fc_taps_f64)
    #else
    #  define FC_TAPS(NAME, T)                                                           \
    static void NAME(T *dest, const T **src, ptrdiff_t off, const T *w,                  \
                     ptrdiff_t ntaps, ptrdiff_t n, T start) {                            \
        ptrdiff_t j, t;                                                                  \
        for (j = 0; j < n; j++) dest[j] = start;                                         \
        for (t = 0; t < ntaps; t++)                                                      \
            for (j = 0; j < n; j++) dest[j] += w[t] * src[t][off + j];                   \
    }
    FC_TAPS(fc_taps_f32, float)
    FC_TAPS(fc_taps_f64, double)
    /* Without vector types a pair is the two rows one after the other. */
    #  define FC_TAPS_PAIR(NAME, T, SINGLE)                                              \
    static void NAME(T *dest0, T *dest1, const T **src, const T *w, ptrdiff_t ntaps,     \
                     ptrdiff_t n, T start0, T start1) {                                  \
        SINGLE(dest0, src, 0, w, ntaps, n, start0);                                      \
        SINGLE(dest1, src + 1, 0, w, ntaps, n, start1);                                  \
    }
    FC_TAPS_PAIR(fc_taps_pair_f32, float, fc_taps_f32)
    FC_TAPS_PAIR(fc_taps_pair_f64, double, fc_taps_f64)
    #endif
    """
    void fc_taps_f32(float* dest, const float** src, Py_ssize_t offset, const float* weights,
                     Py_ssize_t n_taps, Py_ssize_t n, float start) noexcept nogil
    void fc_taps_f64(double* dest, const double** src, Py_ssize_t offset,
                     const double* weights, Py_ssize_t n_taps, Py_ssize_t n,
                     double start) noexcept nogil
    void fc_taps_pair_f32(float* dest0, float* dest1, const float** src,
                          const float* weights, Py_ssize_t n_taps, Py_ssize_t n, float start0,
                          float start1) noexcept nogil
    void fc_taps_pair_f64(double* dest0, double* dest1, const double** src,
                          const double* weights, Py_ssize_t n_taps, Py_ssize_t n,
                          double start0, double start1) noexcept nogil


cdef enum:
    PAD = 16  # values: at least one 64-byte cache line of any dtype here


cdef inline void _taps_into(floating* dest, const floating** sources, Py_ssize_t offset,
                            const floating* weights, Py_ssize_t n_taps, Py_ssize_t n,
                            floating start) noexcept nogil:
    """dest[j] = start + sum_t weights[t] * sources[t][offset + j] for j < n.

    One loop for both passes: the vertical pass's sources are input rows, the
    horizontal pass's the row buffer shifted by each tap.
    """
    if floating is float:
        fc_taps_f32(dest, sources, offset, weights, n_taps, n, start)
    else:
        fc_taps_f64(dest, sources, offset, weights, n_taps, n, start)


cdef inline void _fill_padding_column(floating* buf, const floating* real,
                                      const Py_ssize_t* cols, Py_ssize_t p, Py_ssize_t C,
                                      floating column_constant) noexcept nogil:
    """Padding column p of the filtered row: a copy of the filtered real column it maps
    to, or the constant through kernel_y."""
    cdef Py_ssize_t c
    if cols[p] < 0:
        for c in range(C):
            buf[p * C + c] = column_constant
    else:
        for c in range(C):
            buf[p * C + c] = real[cols[p] * C + c]


cdef void _output_row(const floating* x, floating* out, Py_ssize_t row,
                      const floating* ky, Py_ssize_t k_h, const floating* kx, Py_ssize_t k_w,
                      const Py_ssize_t* rows, const Py_ssize_t* cols, floating cval,
                      Py_ssize_t H, Py_ssize_t W, Py_ssize_t C, Py_ssize_t out_h,
                      Py_ssize_t out_w, Py_ssize_t stride_h, Py_ssize_t stride_w,
                      Py_ssize_t dil_h, Py_ssize_t dil_w, Py_ssize_t left, Py_ssize_t used_w,
                      floating* buf, const floating** row_ptrs, const floating** col_ptrs,
                      floating* row_weights) noexcept nogil:
    cdef:
        Py_ssize_t n = row // out_h, oh = row % out_h
        Py_ssize_t t, src_row, n_real = 0
        floating constant = 0, column_constant = 0
        floating* o = out + row * out_w * C
        floating* real = buf + left * C    # the buffer's columns that are real columns
        const floating* image = x + n * H * W * C
    # Vertical pass: the rows the kernel_y taps read, real ones by pointer and the
    # constant ones folded into the starting value.
    for t in range(k_h):
        src_row = rows[oh * stride_h + t * dil_h]
        if src_row < 0:
            constant += ky[t] * cval
        else:
            row_ptrs[n_real] = image + src_row * W * C
            row_weights[n_real] = ky[t]
            n_real += 1
        column_constant += ky[t] * cval
    _taps_into(real, row_ptrs, 0, row_weights, n_real, W * C, constant)
    _horizontal_pass(buf, o, kx, k_w, cols, column_constant, W, C, out_w, stride_w, dil_w,
                     left, used_w, col_ptrs)


cdef void _horizontal_pass(floating* buf, floating* o, const floating* kx, Py_ssize_t k_w,
                           const Py_ssize_t* cols, floating column_constant, Py_ssize_t W,
                           Py_ssize_t C, Py_ssize_t out_w, Py_ssize_t stride_w,
                           Py_ssize_t dil_w, Py_ssize_t left, Py_ssize_t used_w,
                           const floating** col_ptrs) noexcept nogil:
    """Output row o from a row buffer whose real columns hold the vertical pass."""
    cdef Py_ssize_t p, t, ow
    cdef floating* real = buf + left * C
    # Padding columns of the filtered row: copies of filtered real columns (the maps
    # commute with the vertical pass) or the constant through kernel_y.
    for p in range(left):
        _fill_padding_column(buf, real, cols, p, C, column_constant)
    for p in range(left + W, used_w):
        _fill_padding_column(buf, real, cols, p, C, column_constant)
    # Horizontal pass: tap t reads the buffer shifted by t * dil_w pixels.
    for t in range(k_w):
        col_ptrs[t] = buf + t * dil_w * C
    if stride_w == 1:
        _taps_into(o, col_ptrs, 0, kx, k_w, out_w * C, 0)
    else:
        for ow in range(out_w):
            _taps_into(o + ow * C, col_ptrs, ow * stride_w * C, kx, k_w, C, 0)


cdef void _output_row_pair(const floating* x, floating* out, Py_ssize_t row,
                           const floating* ky, Py_ssize_t k_h, const floating* kx,
                           Py_ssize_t k_w, const Py_ssize_t* rows, const Py_ssize_t* cols,
                           floating cval, Py_ssize_t H, Py_ssize_t W, Py_ssize_t C,
                           Py_ssize_t out_h, Py_ssize_t out_w, Py_ssize_t stride_w,
                           Py_ssize_t dil_w, Py_ssize_t left, Py_ssize_t used_w,
                           floating* buf, floating* buf_next, const floating** row_ptrs,
                           const floating** col_ptrs, floating* row_weights) noexcept nogil:
    """Output rows ``row`` and ``row + 1`` of one image (stride_h = dil_h = 1): their
    vertical passes together when all k_h + 1 rows they read are real (see
    FC_TAPS_PAIR), else one after the other."""
    cdef Py_ssize_t oh = row % out_h, t
    cdef floating column_constant = 0
    cdef const floating* image = x + (row // out_h) * H * W * C
    for t in range(k_h + 1):
        if rows[oh + t] < 0:
            _output_row(x, out, row, ky, k_h, kx, k_w, rows, cols, cval, H, W, C, out_h,
                        out_w, 1, stride_w, 1, dil_w, left, used_w, buf, row_ptrs,
                        col_ptrs, row_weights)
            _output_row(x, out, row + 1, ky, k_h, kx, k_w, rows, cols, cval, H, W, C,
                        out_h, out_w, 1, stride_w, 1, dil_w, left, used_w, buf, row_ptrs,
                        col_ptrs, row_weights)
            return
        row_ptrs[t] = image + rows[oh + t] * W * C
    for t in range(k_h):
        column_constant += ky[t] * cval
    if floating is float:
        fc_taps_pair_f32(buf + left * C, buf_next + left * C, row_ptrs, ky, k_h, W * C, 0, 0)
    else:
        fc_taps_pair_f64(buf + left * C, buf_next + left * C, row_ptrs, ky, k_h, W * C, 0, 0)
    _horizontal_pass(buf, out + row * out_w * C, kx, k_w, cols, column_constant, W, C,
                     out_w, stride_w, dil_w, left, used_w, col_ptrs)
    _horizontal_pass(buf_next, out + (row + 1) * out_w * C, kx, k_w, cols, column_constant,
                     W, C, out_w, stride_w, dil_w, left, used_w, col_ptrs)


def sep_conv2d(const floating[:, :, :, ::1] x, const floating[::1] kernel_y,
               const floating[::1] kernel_x, const Py_ssize_t[::1] rows,
               const Py_ssize_t[::1] cols, floating cval, floating[:, :, :, ::1] out,
               tuple stride, tuple dilation, Py_ssize_t left, int n_threads):
    """out[n, oh, ow, c] = sum_{i, j} ky[i] kx[j] xp[n, oh*sh + i*dh, ow*sw + j*dw, c],
    where xp is x padded by the index maps ``rows`` and ``cols`` (-1: ``cval``) and
    ``left`` is the count of padding columns before the first real one."""
    cdef:
        Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
        Py_ssize_t out_h = out.shape[1], out_w = out.shape[2]
        Py_ssize_t k_h = kernel_y.shape[0], k_w = kernel_x.shape[0]
        Py_ssize_t stride_h, stride_w, dil_h, dil_w, used_w, buf_len, row, i, tid
        Py_ssize_t item, half, oh
        bint pairs
        floating[:, ::1] bufs
        Py_ssize_t[:, ::1] tap_ptrs      # const floating* per tap (rows, then columns)
        floating[:, ::1] row_weights
    stride_h, stride_w = stride
    dil_h, dil_w = dilation
    # Defence in depth: the maps must cover every padded row and column read, and
    # name only real rows and columns (or -1).
    used_w = (out_w - 1) * stride_w + (k_w - 1) * dil_w + 1
    if (min(stride_h, stride_w, dil_h, dil_w, k_h, k_w, n_threads) < 1 or left < 0
            or out.shape[0] != N or out.shape[3] != C
            or rows.shape[0] < (out_h - 1) * stride_h + (k_h - 1) * dil_h + 1
            or cols.shape[0] < used_w):
        raise ValueError("kernel contract: separable shapes disagree")
    for i in range(rows.shape[0]):
        if not -1 <= rows[i] < H:
            raise ValueError("kernel contract: a row index is outside the image")
    for i in range(cols.shape[0]):
        if not -1 <= cols[i] < W:
            raise ValueError("kernel contract: a column index is outside the image")
    if N == 0 or out_h == 0 or out_w == 0 or C == 0:
        return
    # One row buffer per thread: every padded column read, and all W real ones.
    buf_len = (used_w if used_w > left + W else left + W) * C
    # Each thread's scratch is padded by a cache line (PAD values), so that no two
    # threads write one line: the tap pointers are rewritten for every output row.
    # Two row buffers per thread: output rows run in pairs (see _output_row_pair).
    bufs = np.empty((n_threads, 2 * (buf_len + PAD)),
                    dtype=np.float32 if floating is float else np.float64)
    tap_ptrs = np.empty((n_threads, k_h + 1 + k_w + PAD), dtype=np.intp)
    row_weights = np.empty((n_threads, k_h + PAD),
                           dtype=np.float32 if floating is float else np.float64)
    # Dynamic, in runs of a few rows: on a shared machine a thread that loses its core
    # leaves its rows to the other instead of holding up the call.
    pairs = stride_h == 1 and dil_h == 1
    half = (out_h + 1) // 2 if pairs else out_h
    with nogil:
        for item in prange(N * half, num_threads=n_threads, schedule="dynamic", chunksize=2):
            tid = threadid()
            oh = 2 * (item % half) if pairs else item % half
            row = item // half * out_h + oh
            if pairs and oh + 1 < out_h:
                _output_row_pair(&x[0, 0, 0, 0], &out[0, 0, 0, 0], row, &kernel_y[0], k_h,
                                 &kernel_x[0], k_w, &rows[0], &cols[0], cval, H, W, C,
                                 out_h, out_w, stride_w, dil_w, left, used_w, &bufs[tid, 0],
                                 &bufs[tid, buf_len + PAD],
                                 <const floating**>&tap_ptrs[tid, 0],
                                 <const floating**>&tap_ptrs[tid, k_h + 1],
                                 &row_weights[tid, 0])
            else:
                _output_row(&x[0, 0, 0, 0], &out[0, 0, 0, 0], row, &kernel_y[0], k_h,
                            &kernel_x[0], k_w, &rows[0], &cols[0], cval, H, W, C, out_h,
                            out_w, stride_h, stride_w, dil_h, dil_w, left, used_w,
                            &bufs[tid, 0], <const floating**>&tap_ptrs[tid, 0],
                            <const floating**>&tap_ptrs[tid, k_h + 1], &row_weights[tid, 0])

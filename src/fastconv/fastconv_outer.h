/* Outer-product sums, the micro-kernels of conv2d_grad_weight:
 *
 *     c[i][j] += sum over p < planes, r < rows, k < cols of a[p*a_plane + r*a_row + k*a_col + i]
 *                                                       * b[p*b_plane + r*b_row + k*b_col + j]
 *
 * for i < m, j < n. A run of (planes x rows x cols) pixels (images x rows x columns) is
 * the reduction: a holds m values per
 * pixel (input channels of one kernel tap, or a receptive field) that are broadcast, b
 * holds n values per pixel (output channels) that are loaded as vectors. MR x NV
 * accumulators (MR values of a times NV vectors of b) stay in registers over the whole
 * run, and are loaded from c before it and stored after it, so a caller can split a sum
 * into runs without changing a bit of it: every c[i][j] adds its pixels in row-major order.
 *
 * c's rows hold whole vectors: ldc is a multiple of the lanes, and the lanes past n are
 * scratch (b's past n load as zeros). One template, FC_DEFINE_OUTER_KERNEL, makes every
 * (MR, NV) shape and a masked-tail twin of each; fc_outer_sum_<tag> picks them.
 *
 * fc_product_sum_<tag> is the depthwise twin: c[j] += sum of a[...j] * b[...j] (one input
 * channel meets one output channel), vectorised over j. fc_product_field_<tag> takes a
 * block of kernel taps at once over a block of rows, adding each column's rows together
 * (column-major within the block). fc_depthwise_gather_<tag> is the depthwise input
 * gradient's kernel: the taps' weights in registers, a sum per pixel.
 */
#ifndef FASTCONV_OUTER_H
#define FASTCONV_OUTER_H

#include <stddef.h>
#include "fastconv_microkernel.h"

/* The register budget: at most FC_OUTER_NV vectors of b, and MR x NV accumulators with
 * room left for b's vectors and a broadcast (32 vector registers with AVX-512, 16 else). */
#if defined(__AVX512F__)
#define FC_OUTER_NV 4
#define FC_OUTER_ACC 24
#elif defined(__AVX2__)
#define FC_OUTER_NV 2
#define FC_OUTER_ACC 12
#else
#define FC_OUTER_NV 2
#define FC_OUTER_ACC 8
#endif
#define FC_OUTER_MR(NV) (FC_OUTER_ACC / (NV))
#define FC_OUTER_MR_MAX FC_OUTER_ACC

#define FC_OUTER_NAME(TAG, MR, NV, TAIL) fc_outer_##TAG##_##MR##x##NV##_##TAIL

#define FC_DEFINE_OUTER_KERNEL(T, TAG, MR, NV, TAIL)                                       \
static void FC_OUTER_NAME(TAG, MR, NV, TAIL)(                                              \
        const T* a, const ptrdiff_t* a_steps, const T* b, const ptrdiff_t* b_steps,        \
        const ptrdiff_t* extent, T* c, ptrdiff_t ldc, int tail)                            \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG };                                                       \
    const ptrdiff_t a_col = a_steps[0], a_row = a_steps[1], a_plane = a_steps[2];          \
    const ptrdiff_t b_col = b_steps[0], b_row = b_steps[1], b_plane = b_steps[2];          \
    const ptrdiff_t cols = extent[0], rows = extent[1] * extent[2];                        \
    fc_vec_##TAG acc[MR][NV], bv[NV];                                                      \
    FC_UNROLL(32) for (int i = 0; i < MR; i++)                                             \
        FC_UNROLL(8) for (int v = 0; v < NV; v++)                                          \
            acc[i][v] = fc_load_##TAG(c + i * ldc + v * LANES);                            \
    for (ptrdiff_t pr = 0, p = 0, r = 0; pr < rows; pr++) {                                \
        const T* pa = a + p * a_plane + r * a_row;                                         \
        const T* pb = b + p * b_plane + r * b_row;                                         \
        if (++r == extent[1]) { r = 0; p++; }                                              \
        for (ptrdiff_t k = 0; k < cols; k++) {                                             \
            FC_UNROLL(8) for (int v = 0; v < NV; v++)                                      \
                bv[v] = (TAIL && v == NV - 1) ? fc_load_tail_##TAG(pb + v * LANES, tail)   \
                                              : fc_load_##TAG(pb + v * LANES);             \
            FC_UNROLL(32) for (int i = 0; i < MR; i++) {                                   \
                fc_vec_##TAG ab = fc_splat_##TAG(pa[i]);                                   \
                FC_UNROLL(8) for (int v = 0; v < NV; v++)                                  \
                    acc[i][v] = fc_vfma_##TAG(ab, bv[v], acc[i][v]);                       \
            }                                                                              \
            pa += a_col;                                                                   \
            pb += b_col;                                                                   \
        }                                                                                  \
    }                                                                                      \
    FC_UNROLL(32) for (int i = 0; i < MR; i++)                                             \
        FC_UNROLL(8) for (int v = 0; v < NV; v++)                                          \
            fc_store_##TAG(c + i * ldc + v * LANES, acc[i][v]);                            \
}

/* Every MR from 1 to 24 (or fewer) for one NV, as X(MR, ...). */
#define FC_MR_1_1(X, ...) X(1, __VA_ARGS__)
#define FC_MR_1_2(X, ...) FC_MR_1_1(X, __VA_ARGS__) X(2, __VA_ARGS__)
#define FC_MR_1_3(X, ...) FC_MR_1_2(X, __VA_ARGS__) X(3, __VA_ARGS__)
#define FC_MR_1_4(X, ...) FC_MR_1_3(X, __VA_ARGS__) X(4, __VA_ARGS__)
#define FC_MR_1_5(X, ...) FC_MR_1_4(X, __VA_ARGS__) X(5, __VA_ARGS__)
#define FC_MR_1_6(X, ...) FC_MR_1_5(X, __VA_ARGS__) X(6, __VA_ARGS__)
#define FC_MR_1_7(X, ...) FC_MR_1_6(X, __VA_ARGS__) X(7, __VA_ARGS__)
#define FC_MR_1_8(X, ...) FC_MR_1_7(X, __VA_ARGS__) X(8, __VA_ARGS__)
#define FC_MR_1_12(X, ...) FC_MR_1_8(X, __VA_ARGS__) X(9, __VA_ARGS__) X(10, __VA_ARGS__) \
    X(11, __VA_ARGS__) X(12, __VA_ARGS__)
#define FC_MR_1_24(X, ...) FC_MR_1_12(X, __VA_ARGS__) X(13, __VA_ARGS__) X(14, __VA_ARGS__) \
    X(15, __VA_ARGS__) X(16, __VA_ARGS__) X(17, __VA_ARGS__) X(18, __VA_ARGS__)             \
    X(19, __VA_ARGS__) X(20, __VA_ARGS__) X(21, __VA_ARGS__) X(22, __VA_ARGS__)             \
    X(23, __VA_ARGS__) X(24, __VA_ARGS__)

#define FC_OUTER_DEFINE_PAIR(MR, T, TAG, NV) \
    FC_DEFINE_OUTER_KERNEL(T, TAG, MR, NV, 0) FC_DEFINE_OUTER_KERNEL(T, TAG, MR, NV, 1)
#define FC_OUTER_TABLE_ENTRY(MR, TAG, NV) \
    [NV - 1][MR - 1][0] = FC_OUTER_NAME(TAG, MR, NV, 0), [NV - 1][MR - 1][1] = FC_OUTER_NAME(TAG, MR, NV, 1),

/* The shapes of each build: NV = 1 .. FC_OUTER_NV, MR = 1 .. FC_OUTER_MR(NV). */
#if defined(__AVX512F__)
#define FC_OUTER_SHAPES(X, ...) FC_MR_1_24(X, __VA_ARGS__, 1) FC_MR_1_12(X, __VA_ARGS__, 2) \
    FC_MR_1_8(X, __VA_ARGS__, 3) FC_MR_1_6(X, __VA_ARGS__, 4)
#elif defined(__AVX2__)
#define FC_OUTER_SHAPES(X, ...) FC_MR_1_12(X, __VA_ARGS__, 1) FC_MR_1_6(X, __VA_ARGS__, 2)
#else
#define FC_OUTER_SHAPES(X, ...) FC_MR_1_8(X, __VA_ARGS__, 1) FC_MR_1_4(X, __VA_ARGS__, 2)
#endif

#define FC_DEFINE_OUTER_SUM(T, TAG)                                                        \
typedef void (*fc_outer_kernel_##TAG)(const T*, const ptrdiff_t*, const T*,               \
                                      const ptrdiff_t*, const ptrdiff_t*, T*, ptrdiff_t, int); \
FC_OUTER_SHAPES(FC_OUTER_DEFINE_PAIR, T, TAG)                                              \
static const fc_outer_kernel_##TAG fc_outer_table_##TAG[FC_OUTER_NV][FC_OUTER_MR_MAX][2] = { \
    FC_OUTER_SHAPES(FC_OUTER_TABLE_ENTRY, TAG)                                             \
};                                                                                         \
static void fc_outer_sum_##TAG(ptrdiff_t m, ptrdiff_t n, const T* a,                      \
                               const ptrdiff_t* a_steps, const T* b,                       \
                               const ptrdiff_t* b_steps, const ptrdiff_t* extent, T* c,    \
                               ptrdiff_t ldc)                                              \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG };                                                       \
    const ptrdiff_t vectors = (n + LANES - 1) / LANES;                                     \
    const int tail = (int) (n % LANES);                                                    \
    /* Blocks of b as even as the budget allows (9 vectors: 3 x 3, not 4 + 4 + 1). */      \
    const ptrdiff_t n_blocks = (vectors + FC_OUTER_NV - 1) / FC_OUTER_NV;                  \
    if (extent[0] <= 0 || extent[1] <= 0 || extent[2] <= 0)                                \
        return;                                                                            \
    for (ptrdiff_t blk = 0; blk < n_blocks; blk++) {                                       \
        const ptrdiff_t j0 = blk * vectors / n_blocks, j1 = (blk + 1) * vectors / n_blocks; \
        const int nv = (int) (j1 - j0);                                                    \
        const int masked = tail != 0 && j1 == vectors;                                     \
        const ptrdiff_t mr_max = FC_OUTER_MR(nv);                                          \
        /* Blocks of a as even as the budget allows, too. */                               \
        const ptrdiff_t m_blocks = (m + mr_max - 1) / mr_max;                              \
        for (ptrdiff_t ib = 0; ib < m_blocks; ib++) {                                      \
            const ptrdiff_t i0 = ib * m / m_blocks, i1 = (ib + 1) * m / m_blocks;          \
            fc_outer_table_##TAG[nv - 1][i1 - i0 - 1][masked](                             \
                a + i0, a_steps, b + j0 * LANES, b_steps, extent,                          \
                c + i0 * ldc + j0 * LANES, ldc, tail);                                     \
        }                                                                                  \
    }                                                                                      \
}

FC_DEFINE_OUTER_SUM(float, f32)
FC_DEFINE_OUTER_SUM(double, f64)

/* fc_product_sum_<tag>(n, a, a_steps, b, b_steps, extent, c):
 *     c[j] += sum over the same pixels of a[... + j] * b[... + j]
 * for j < n, FC_PRODUCT_NV vectors at a time; c padded to whole vectors, as above. */
/* Up to 8 vectors: a 128-channel pixel (float32, AVX-512) in one pass, whole cache lines
 * in order; in 64-channel passes, each pass used half of every pixel's lines, and a row
 * of them no longer fitted the L1 sets that it mapped to (12 GFLOP/s on one core). */
#define FC_PRODUCT_NV 8
#define FC_PRODUCT_BLOCK_BYTES (16 << 10)
#define FC_DEFINE_PRODUCT_KERNEL(T, TAG, NV, TAIL)                                         \
static void fc_product_##TAG##_##NV##_##TAIL(                                              \
        const T* a, const ptrdiff_t* a_steps, const T* b, const ptrdiff_t* b_steps,        \
        const ptrdiff_t* extent, ptrdiff_t first, ptrdiff_t count, T* c, int tail)         \
{                                                                                          \
    /* Pixels first .. first + count - 1 of the run, in its (plane, row, column) order. */ \
    enum { LANES = FC_LANES_##TAG };                                                       \
    const ptrdiff_t cols = extent[0];                                                      \
    ptrdiff_t k = first % cols, r = (first / cols) % extent[1], p = first / cols / extent[1]; \
    fc_vec_##TAG acc[NV];                                                                  \
    FC_UNROLL(8) for (int v = 0; v < NV; v++)                                              \
        acc[v] = fc_load_##TAG(c + v * LANES);                                             \
    while (count > 0) {                                                                    \
        const T* pa = a + p * a_steps[2] + r * a_steps[1] + k * a_steps[0];                \
        const T* pb = b + p * b_steps[2] + r * b_steps[1] + k * b_steps[0];                \
        const ptrdiff_t run = cols - k < count ? cols - k : count;                         \
        for (ptrdiff_t i = 0; i < run; i++) {                                              \
            FC_UNROLL(8) for (int v = 0; v < NV; v++) {                                    \
                int last = TAIL && v == NV - 1;                                            \
                fc_vec_##TAG av = last ? fc_load_tail_##TAG(pa + v * LANES, tail)          \
                                       : fc_load_##TAG(pa + v * LANES);                    \
                fc_vec_##TAG bw = last ? fc_load_tail_##TAG(pb + v * LANES, tail)          \
                                       : fc_load_##TAG(pb + v * LANES);                    \
                acc[v] = fc_vfma_##TAG(av, bw, acc[v]);                                    \
            }                                                                              \
            pa += a_steps[0];                                                              \
            pb += b_steps[0];                                                              \
        }                                                                                  \
        count -= run;                                                                      \
        k = 0;                                                                             \
        if (++r == extent[1]) { r = 0; p++; }                                              \
    }                                                                                      \
    FC_UNROLL(8) for (int v = 0; v < NV; v++)                                              \
        fc_store_##TAG(c + v * LANES, acc[v]);                                             \
}
#define FC_DEFINE_PRODUCT_SUM(T, TAG)                                                      \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 1, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 1, 1)              \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 2, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 2, 1)              \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 3, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 3, 1)              \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 4, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 4, 1)              \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 5, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 5, 1)              \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 6, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 6, 1)              \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 7, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 7, 1)              \
FC_DEFINE_PRODUCT_KERNEL(T, TAG, 8, 0) FC_DEFINE_PRODUCT_KERNEL(T, TAG, 8, 1)              \
static void (*const fc_product_table_##TAG[FC_PRODUCT_NV][2])(                             \
        const T*, const ptrdiff_t*, const T*, const ptrdiff_t*, const ptrdiff_t*,          \
        ptrdiff_t, ptrdiff_t, T*, int) = {                                                 \
    {fc_product_##TAG##_1_0, fc_product_##TAG##_1_1},                                     \
    {fc_product_##TAG##_2_0, fc_product_##TAG##_2_1},                                     \
    {fc_product_##TAG##_3_0, fc_product_##TAG##_3_1},                                     \
    {fc_product_##TAG##_4_0, fc_product_##TAG##_4_1},                                     \
    {fc_product_##TAG##_5_0, fc_product_##TAG##_5_1},                                     \
    {fc_product_##TAG##_6_0, fc_product_##TAG##_6_1},                                     \
    {fc_product_##TAG##_7_0, fc_product_##TAG##_7_1},                                     \
    {fc_product_##TAG##_8_0, fc_product_##TAG##_8_1}};                                    \
static void fc_product_sum_##TAG(ptrdiff_t n, const T* a, const ptrdiff_t* a_steps,       \
                                 const T* b, const ptrdiff_t* b_steps,                     \
                                 const ptrdiff_t* extent, T* c)                            \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG };                                                       \
    const ptrdiff_t vectors = (n + LANES - 1) / LANES;                                     \
    const int tail = (int) (n % LANES);                                                    \
    if (extent[0] <= 0 || extent[1] <= 0 || extent[2] <= 0)                                \
        return;                                                                            \
    /* More channels than one pass takes: the passes go over blocks of pixels small     \
     * enough for L1 to keep them from one pass to the next (each value still adds its  \
     * pixels in the run's order). */                                                  \
    const ptrdiff_t total = extent[0] * extent[1] * extent[2];                             \
    ptrdiff_t block = total;                                                               \
    if (vectors > FC_PRODUCT_NV) {                                                         \
        block = FC_PRODUCT_BLOCK_BYTES / (2 * n * (ptrdiff_t) sizeof(T));                  \
        block = block < 8 ? 8 : block;                                                     \
    }                                                                                      \
    for (ptrdiff_t f0 = 0; f0 < total; f0 += block) {                                      \
        const ptrdiff_t count = total - f0 < block ? total - f0 : block;                   \
        for (ptrdiff_t j0 = 0; j0 < vectors; j0 += FC_PRODUCT_NV) {                        \
            const ptrdiff_t nv = vectors - j0 < FC_PRODUCT_NV ? vectors - j0 : FC_PRODUCT_NV; \
            fc_product_table_##TAG[nv - 1][tail != 0 && j0 + nv == vectors](               \
                a + j0 * LANES, a_steps, b + j0 * LANES, b_steps, extent, f0, count,       \
                c + j0 * LANES, tail);                                                     \
        }                                                                                  \
    }                                                                                      \
}

FC_DEFINE_PRODUCT_SUM(float, f32)
FC_DEFINE_PRODUCT_SUM(double, f64)

/* fc_product_field_<tag>(kh, kw, n, x, tap_row, tap_col, x_col, x_row, dy, dy_col, dy_row,
 *                        rows, cols, c, c_row, c_tap):
 * the depthwise sums of a kh x kw block of kernel taps at once, over a block of
 * rows x cols pixels:
 *     c[i*c_row + t*c_tap + j] += sum over k < cols, r < rows of
 *         x[k*x_col + r*x_row + i*tap_row + t*tap_col + j] * dy[k*dy_col + r*dy_row + j]
 * for i < kh, t < kw, j < n, the pixels in column-major order (a column's rows together).
 * Each dy vector is loaded once for all the taps: a 3x3 kernel's 9 taps read 3 new
 * vectors of x and one of dy from L2 for 9 multiply-adds, where a kernel row at a time
 * (3 taps) read 2 for 3 and was bound by L2 at 12-16 GFLOP/s on one core. The other
 * taps' x pixels are the same pixels a few steps later, read again from L1. Blocks of
 * more than FC_FIELD_TAPS_MAX taps go in several passes. */
#define FC_FIELD_TAPS_MAX 9
/* KH KW x NV accumulators, NV vectors of dy and one of x in registers: NV (KH KW + 1)
 * < 32 with AVX-512, < 16 elsewhere. */
#if defined(__AVX512F__)
#define FC_FIELD_REGS 31
#else
#define FC_FIELD_REGS 15
#endif
#define FC_FIELD_NV(NT) (FC_FIELD_REGS / ((NT) + 1) < FC_PRODUCT_NV ? FC_FIELD_REGS / ((NT) + 1) \
                                                                    : FC_PRODUCT_NV)
#define FC_DEFINE_FIELD_KERNEL(T, TAG, KH, KW, NV, TAIL)                                   \
static void fc_field_##TAG##_##KH##x##KW##_##NV##_##TAIL(                                  \
        const T* x, ptrdiff_t tap_row, ptrdiff_t tap_col, ptrdiff_t x_col, ptrdiff_t x_row, \
        const T* dy, ptrdiff_t dy_col, ptrdiff_t dy_row, ptrdiff_t rows, ptrdiff_t cols,   \
        T* c, ptrdiff_t c_row, ptrdiff_t c_tap, int tail)                                  \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG };                                                       \
    fc_vec_##TAG acc[KH][KW][NV], dv[NV];                                                  \
    FC_UNROLL(8) for (int i = 0; i < KH; i++)                                              \
        FC_UNROLL(8) for (int t = 0; t < KW; t++)                                          \
            FC_UNROLL(8) for (int v = 0; v < NV; v++)                                      \
                acc[i][t][v] = fc_load_##TAG(c + i * c_row + t * c_tap + v * LANES);       \
    for (ptrdiff_t k = 0; k < cols; k++) {                                                 \
        const T* xr = x + k * x_col;                                                       \
        const T* dr = dy + k * dy_col;                                                     \
        for (ptrdiff_t r = 0; r < rows; r++, xr += x_row, dr += dy_row) {                  \
            FC_UNROLL(8) for (int v = 0; v < NV; v++)                                      \
                dv[v] = (TAIL && v == NV - 1) ? fc_load_tail_##TAG(dr + v * LANES, tail)   \
                                              : fc_load_##TAG(dr + v * LANES);             \
            /* A pointer per kernel row and a step per column: addresses that GCC keeps \
             * in registers (offsets per tap ran out of them and went to the stack). */  \
            FC_UNROLL(8) for (int i = 0; i < KH; i++) {                                    \
                const T* xi = xr + i * tap_row;                                            \
                FC_OPAQUE(xi);                                                             \
                FC_UNROLL(8) for (int t = 0; t < KW; t++) {                                \
                    FC_UNROLL(8) for (int v = 0; v < NV; v++) {                            \
                        fc_vec_##TAG xv = (TAIL && v == NV - 1)                            \
                            ? fc_load_tail_##TAG(xi + t * tap_col + v * LANES, tail)       \
                            : fc_load_##TAG(xi + t * tap_col + v * LANES);                 \
                        acc[i][t][v] = fc_vfma_##TAG(xv, dv[v], acc[i][t][v]);             \
                    }                                                                      \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    FC_UNROLL(8) for (int i = 0; i < KH; i++)                                              \
        FC_UNROLL(8) for (int t = 0; t < KW; t++)                                          \
            FC_UNROLL(8) for (int v = 0; v < NV; v++)                                      \
                fc_store_##TAG(c + i * c_row + t * c_tap + v * LANES, acc[i][t][v]);       \
}
#define FC_FIELD_PAIR(NV, T, TAG, KH, KW) \
    FC_DEFINE_FIELD_KERNEL(T, TAG, KH, KW, NV, 0) FC_DEFINE_FIELD_KERNEL(T, TAG, KH, KW, NV, 1)
#define FC_FIELD_ENTRY(NV, TAG, KH, KW) \
    [KH - 1][KW - 1][NV - 1][0] = fc_field_##TAG##_##KH##x##KW##_##NV##_0, \
    [KH - 1][KW - 1][NV - 1][1] = fc_field_##TAG##_##KH##x##KW##_##NV##_1,
/* The NV of each block of KH x KW taps, as FC_MR_1_<FC_FIELD_NV(KH KW)>. */
#if defined(__AVX512F__)
#define FC_FIELD_NV_1 FC_MR_1_8
#define FC_FIELD_NV_2 FC_MR_1_8
#define FC_FIELD_NV_3 FC_MR_1_7
#define FC_FIELD_NV_4 FC_MR_1_6
#define FC_FIELD_NV_5 FC_MR_1_5
#define FC_FIELD_NV_6 FC_MR_1_4
#define FC_FIELD_NV_7 FC_MR_1_3
#define FC_FIELD_NV_8 FC_MR_1_3
#define FC_FIELD_NV_9 FC_MR_1_3
#else
#define FC_FIELD_NV_1 FC_MR_1_7
#define FC_FIELD_NV_2 FC_MR_1_5
#define FC_FIELD_NV_3 FC_MR_1_3
#define FC_FIELD_NV_4 FC_MR_1_3
#define FC_FIELD_NV_5 FC_MR_1_2
#define FC_FIELD_NV_6 FC_MR_1_2
#define FC_FIELD_NV_7 FC_MR_1_1
#define FC_FIELD_NV_8 FC_MR_1_1
#define FC_FIELD_NV_9 FC_MR_1_1
#endif
/* Every block (KH, KW) of at most FC_FIELD_TAPS_MAX taps, and every NV it takes. */
#define FC_FIELD_SHAPES(X, ...) \
    FC_FIELD_NV_1(X, __VA_ARGS__, 1, 1) FC_FIELD_NV_2(X, __VA_ARGS__, 1, 2) \
    FC_FIELD_NV_3(X, __VA_ARGS__, 1, 3) FC_FIELD_NV_4(X, __VA_ARGS__, 1, 4) \
    FC_FIELD_NV_5(X, __VA_ARGS__, 1, 5) FC_FIELD_NV_6(X, __VA_ARGS__, 1, 6) \
    FC_FIELD_NV_7(X, __VA_ARGS__, 1, 7) FC_FIELD_NV_8(X, __VA_ARGS__, 1, 8) \
    FC_FIELD_NV_9(X, __VA_ARGS__, 1, 9) \
    FC_FIELD_NV_2(X, __VA_ARGS__, 2, 1) FC_FIELD_NV_4(X, __VA_ARGS__, 2, 2) \
    FC_FIELD_NV_6(X, __VA_ARGS__, 2, 3) FC_FIELD_NV_8(X, __VA_ARGS__, 2, 4) \
    FC_FIELD_NV_3(X, __VA_ARGS__, 3, 1) FC_FIELD_NV_6(X, __VA_ARGS__, 3, 2) \
    FC_FIELD_NV_9(X, __VA_ARGS__, 3, 3) \
    FC_FIELD_NV_4(X, __VA_ARGS__, 4, 1) FC_FIELD_NV_8(X, __VA_ARGS__, 4, 2) \
    FC_FIELD_NV_5(X, __VA_ARGS__, 5, 1) FC_FIELD_NV_6(X, __VA_ARGS__, 6, 1) \
    FC_FIELD_NV_7(X, __VA_ARGS__, 7, 1) FC_FIELD_NV_8(X, __VA_ARGS__, 8, 1) \
    FC_FIELD_NV_9(X, __VA_ARGS__, 9, 1)

#define FC_DEFINE_PRODUCT_FIELD(T, TAG)                                                    \
typedef void (*fc_field_kernel_##TAG)(const T*, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, \
                                      const T*, ptrdiff_t, ptrdiff_t, ptrdiff_t, ptrdiff_t, \
                                      T*, ptrdiff_t, ptrdiff_t, int);                      \
FC_FIELD_SHAPES(FC_FIELD_PAIR, T, TAG)                                                     \
static const fc_field_kernel_##TAG                                                         \
        fc_field_table_##TAG[FC_FIELD_TAPS_MAX][FC_FIELD_TAPS_MAX][FC_PRODUCT_NV][2] = {   \
    FC_FIELD_SHAPES(FC_FIELD_ENTRY, TAG)                                                   \
};                                                                                         \
static void fc_product_field_##TAG(ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t n, const T* x,    \
                                   ptrdiff_t tap_row, ptrdiff_t tap_col, ptrdiff_t x_col,  \
                                   ptrdiff_t x_row, const T* dy, ptrdiff_t dy_col,         \
                                   ptrdiff_t dy_row, ptrdiff_t rows, ptrdiff_t cols, T* c, \
                                   ptrdiff_t c_row, ptrdiff_t c_tap)                       \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG };                                                       \
    const ptrdiff_t vectors = (n + LANES - 1) / LANES;                                     \
    const int tail = (int) (n % LANES);                                                    \
    if (cols <= 0 || rows <= 0)                                                            \
        return;                                                                            \
    /* Blocks of whole kernel rows where they fit, else pieces of one row. */              \
    const ptrdiff_t bw = kw < FC_FIELD_TAPS_MAX ? kw : FC_FIELD_TAPS_MAX;                  \
    const ptrdiff_t bh = FC_FIELD_TAPS_MAX / bw;                                           \
    for (ptrdiff_t i0 = 0; i0 < kh; i0 += bh) {                                            \
        const ptrdiff_t nh = kh - i0 < bh ? kh - i0 : bh;                                  \
        for (ptrdiff_t t0 = 0; t0 < kw; t0 += bw) {                                        \
            const ptrdiff_t nw = kw - t0 < bw ? kw - t0 : bw;                              \
            /* Passes as even as the budget allows (4 vectors: 2 + 2, not 3 + 1: a pass    \
             * of one vector streams the rows again for a quarter of their lines). */        \
            const ptrdiff_t nv_max = FC_FIELD_NV(nh * nw);                                 \
            const ptrdiff_t passes = (vectors + nv_max - 1) / nv_max;                      \
            for (ptrdiff_t pass = 0; pass < passes; pass++) {                              \
                const ptrdiff_t j0 = pass * vectors / passes;                              \
                const ptrdiff_t nv = (pass + 1) * vectors / passes - j0;                   \
                fc_field_table_##TAG[nh - 1][nw - 1][nv - 1][tail != 0 && j0 + nv == vectors]( \
                    x + i0 * tap_row + t0 * tap_col + j0 * LANES, tap_row, tap_col, x_col, \
                    x_row, dy + j0 * LANES, dy_col, dy_row, rows, cols,                    \
                    c + i0 * c_row + t0 * c_tap + j0 * LANES, c_row, c_tap, tail);         \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
}

FC_DEFINE_PRODUCT_FIELD(float, f32)
FC_DEFINE_PRODUCT_FIELD(double, f64)

/* fc_depthwise_gather_<tag>(taps, dy_offsets, w_offsets, n, dy, dy_col, w, cols, dx, dx_col,
 *                           accumulate):
 * the depthwise input gradient of a run of pixels that share their taps:
 *     dx[k*dx_col + j] (+)= sum over t < taps of dy[k*dy_col + dy_offsets[t] + j]
 *                                                * w[w_offsets[t] + j]
 * for k < cols, j < n, the taps in order; dx is overwritten unless ``accumulate``.
 * The taps' weights stay in registers over the run and each sum in one register, so a
 * pixel costs a load of dy per tap and one store, where adding tap by tap into dx
 * loaded and stored dx for every tap. More than FC_DW_GATHER_TAPS_MAX taps go in passes. */
#define FC_DW_GATHER_TAPS_MAX 9
/* NT x NV weights, NV sums and one dy vector: NV (NT + 1) < 32 with AVX-512, < 16 else. */
#define FC_DW_GATHER_NV(NT) FC_FIELD_NV(NT)
#define FC_DEFINE_DW_GATHER_KERNEL(T, TAG, NT, NV, TAIL)                                      \
static void fc_dw_gather_##TAG##_##NT##_##NV##_##TAIL(                                        \
        const ptrdiff_t* dy_offsets, const ptrdiff_t* w_offsets, const T* dy,              \
        ptrdiff_t dy_col, const T* w, ptrdiff_t cols, T* dx, ptrdiff_t dx_col,             \
        int accumulate, int tail)                                                          \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG };                                                       \
    fc_vec_##TAG wv[NT][NV], acc[NV];                                                      \
    ptrdiff_t off[NT];                                                                     \
    FC_UNROLL(16) for (int t = 0; t < NT; t++) {                                           \
        off[t] = dy_offsets[t];                                                            \
        FC_UNROLL(8) for (int v = 0; v < NV; v++)                                          \
            wv[t][v] = (TAIL && v == NV - 1)                                               \
                       ? fc_load_tail_##TAG(w + w_offsets[t] + v * LANES, tail)            \
                       : fc_load_##TAG(w + w_offsets[t] + v * LANES);                      \
    }                                                                                      \
    for (ptrdiff_t k = 0; k < cols; k++) {                                                 \
        const T* d = dy + k * dy_col;                                                      \
        T* o = dx + k * dx_col;                                                            \
        FC_UNROLL(8) for (int v = 0; v < NV; v++) {                                        \
            if (accumulate)                                                                \
                acc[v] = (TAIL && v == NV - 1) ? fc_load_tail_##TAG(o + v * LANES, tail)   \
                                               : fc_load_##TAG(o + v * LANES);             \
            else                                                                           \
                acc[v] = fc_splat_##TAG((T) 0);                                            \
        }                                                                                  \
        FC_UNROLL(16) for (int t = 0; t < NT; t++)                                         \
            FC_UNROLL(8) for (int v = 0; v < NV; v++) {                                    \
                fc_vec_##TAG dv = (TAIL && v == NV - 1)                                    \
                                  ? fc_load_tail_##TAG(d + off[t] + v * LANES, tail)       \
                                  : fc_load_##TAG(d + off[t] + v * LANES);                 \
                acc[v] = fc_vfma_##TAG(dv, wv[t][v], acc[v]);                              \
            }                                                                              \
        FC_UNROLL(8) for (int v = 0; v < NV; v++) {                                        \
            if (TAIL && v == NV - 1)                                                       \
                fc_store_tail_##TAG(o + v * LANES, acc[v], tail);                          \
            else                                                                           \
                fc_store_##TAG(o + v * LANES, acc[v]);                                     \
        }                                                                                  \
    }                                                                                      \
}
#define FC_DW_GATHER_PAIR(NV, T, TAG, NT) \
    FC_DEFINE_DW_GATHER_KERNEL(T, TAG, NT, NV, 0) FC_DEFINE_DW_GATHER_KERNEL(T, TAG, NT, NV, 1)
#define FC_DW_GATHER_ENTRY(NV, TAG, NT) \
    [NT - 1][NV - 1][0] = fc_dw_gather_##TAG##_##NT##_##NV##_0, \
    [NT - 1][NV - 1][1] = fc_dw_gather_##TAG##_##NT##_##NV##_1,
#define FC_DW_GATHER_SHAPES(X, ...) \
    FC_FIELD_NV_1(X, __VA_ARGS__, 1) FC_FIELD_NV_2(X, __VA_ARGS__, 2) \
    FC_FIELD_NV_3(X, __VA_ARGS__, 3) FC_FIELD_NV_4(X, __VA_ARGS__, 4) \
    FC_FIELD_NV_5(X, __VA_ARGS__, 5) FC_FIELD_NV_6(X, __VA_ARGS__, 6) \
    FC_FIELD_NV_7(X, __VA_ARGS__, 7) FC_FIELD_NV_8(X, __VA_ARGS__, 8) \
    FC_FIELD_NV_9(X, __VA_ARGS__, 9)

#define FC_DEFINE_DEPTHWISE_GATHER(T, TAG)                                                 \
typedef void (*fc_dw_gather_kernel_##TAG)(const ptrdiff_t*, const ptrdiff_t*, const T*,       \
                                       ptrdiff_t, const T*, ptrdiff_t, T*, ptrdiff_t, int, int); \
FC_DW_GATHER_SHAPES(FC_DW_GATHER_PAIR, T, TAG)                                                   \
static const fc_dw_gather_kernel_##TAG                                                        \
        fc_dw_gather_table_##TAG[FC_DW_GATHER_TAPS_MAX][FC_PRODUCT_NV][2] = {                    \
    FC_DW_GATHER_SHAPES(FC_DW_GATHER_ENTRY, TAG)                                                 \
};                                                                                         \
static void fc_depthwise_gather_##TAG(ptrdiff_t taps, const ptrdiff_t* dy_offsets,         \
                                      const ptrdiff_t* w_offsets, ptrdiff_t n, const T* dy, \
                                      ptrdiff_t dy_col, const T* w, ptrdiff_t cols, T* dx,  \
                                      ptrdiff_t dx_col, int accumulate)                    \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG };                                                       \
    const ptrdiff_t vectors = (n + LANES - 1) / LANES;                                     \
    const int tail = (int) (n % LANES);                                                    \
    if (cols <= 0 || n <= 0)                                                               \
        return;                                                                            \
    if (taps <= 0) {   /* no tap reaches these pixels */                                   \
        if (!accumulate)                                                                   \
            for (ptrdiff_t k = 0; k < cols; k++)                                           \
                for (ptrdiff_t j = 0; j < n; j++)                                          \
                    dx[k * dx_col + j] = (T) 0;                                            \
        return;                                                                            \
    }                                                                                      \
    for (ptrdiff_t t0 = 0; t0 < taps; t0 += FC_DW_GATHER_TAPS_MAX) {                          \
        const ptrdiff_t nt = taps - t0 < FC_DW_GATHER_TAPS_MAX ? taps - t0 : FC_DW_GATHER_TAPS_MAX; \
        const ptrdiff_t nv_max = FC_DW_GATHER_NV(nt);                                         \
        const ptrdiff_t passes = (vectors + nv_max - 1) / nv_max;                          \
        for (ptrdiff_t pass = 0; pass < passes; pass++) {                                  \
            const ptrdiff_t j0 = pass * vectors / passes;                                  \
            const ptrdiff_t nv = (pass + 1) * vectors / passes - j0;                       \
            fc_dw_gather_table_##TAG[nt - 1][nv - 1][tail != 0 && j0 + nv == vectors](        \
                dy_offsets + t0, w_offsets + t0, dy + j0 * LANES, dy_col, w + j0 * LANES,  \
                cols, dx + j0 * LANES, dx_col, accumulate || t0 > 0, tail);                \
        }                                                                                  \
    }                                                                                      \
}

FC_DEFINE_DEPTHWISE_GATHER(float, f32)
FC_DEFINE_DEPTHWISE_GATHER(double, f64)

#endif

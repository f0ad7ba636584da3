/* Register-block micro-kernels of the direct convolution: MR output pixels x NV vectors of
 * output channels, accumulated over a run of taps.
 *
 * Each tap broadcasts one input value per pixel and multiplies it with NV vectors of one
 * weight row, so a block of MR x NV accumulators lives in registers for the whole run.
 * Written with the build's vector intrinsics because GCC, given the same loop over
 * arrays, kept part of the accumulators on the stack (3x3x512x512 ran at half the FMA
 * peak). The multiply-add rounds as fc_fma / fc_fmaf do (fastconv_config.h): fused on
 * FMA builds, a product then a sum elsewhere, so every path of a build gives the same bits.
 *
 * One definition, FC_DEFINE_TAP_KERNEL, generates every shape; fastconv_config.h's
 * COUT_BLOCK fixes NV = COUT_BLOCK / lanes per build (see _direct.pyx's shape table).
 */
#ifndef FASTCONV_MICROKERNEL_H
#define FASTCONV_MICROKERNEL_H

#include <stddef.h>
#include "fastconv_config.h"

/* fc_vec_f32 / f64: the build's full vector; fc_vec_hf32 / hf64: half of one (the
 * narrowest panels, COUT_BLOCK / 8 channels, fill one). */
#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m256 fc_vec_hf32;
typedef __m256d fc_vec_hf64;
#define FC_LANES_hf32 8
#define FC_LANES_hf64 4
static inline fc_vec_hf32 fc_load_hf32(const float* p) { return _mm256_loadu_ps(p); }
static inline fc_vec_hf64 fc_load_hf64(const double* p) { return _mm256_loadu_pd(p); }
static inline void fc_store_hf32(float* p, fc_vec_hf32 v) { _mm256_storeu_ps(p, v); }
static inline void fc_store_hf64(double* p, fc_vec_hf64 v) { _mm256_storeu_pd(p, v); }
static inline fc_vec_hf32 fc_splat_hf32(float v) { return _mm256_set1_ps(v); }
static inline fc_vec_hf64 fc_splat_hf64(double v) { return _mm256_set1_pd(v); }
static inline fc_vec_hf32 fc_vfma_hf32(fc_vec_hf32 a, fc_vec_hf32 b, fc_vec_hf32 c) { return _mm256_fmadd_ps(a, b, c); }
static inline fc_vec_hf64 fc_vfma_hf64(fc_vec_hf64 a, fc_vec_hf64 b, fc_vec_hf64 c) { return _mm256_fmadd_pd(a, b, c); }
typedef __m512 fc_vec_f32;
typedef __m512d fc_vec_f64;
#define FC_LANES_f32 16
#define FC_LANES_f64 8
static inline fc_vec_f32 fc_load_f32(const float* p) { return _mm512_loadu_ps(p); }
static inline fc_vec_f64 fc_load_f64(const double* p) { return _mm512_loadu_pd(p); }
static inline void fc_store_f32(float* p, fc_vec_f32 v) { _mm512_storeu_ps(p, v); }
static inline void fc_store_f64(double* p, fc_vec_f64 v) { _mm512_storeu_pd(p, v); }
static inline fc_vec_f32 fc_splat_f32(float v) { return _mm512_set1_ps(v); }
static inline fc_vec_f64 fc_splat_f64(double v) { return _mm512_set1_pd(v); }
static inline fc_vec_f32 fc_vfma_f32(fc_vec_f32 a, fc_vec_f32 b, fc_vec_f32 c) { return _mm512_fmadd_ps(a, b, c); }
static inline fc_vec_f64 fc_vfma_f64(fc_vec_f64 a, fc_vec_f64 b, fc_vec_f64 c) { return _mm512_fmadd_pd(a, b, c); }
/* fc_and: the bits of a where the mask m is all ones, zero bits elsewhere. */
static inline fc_vec_f32 fc_and_f32(fc_vec_f32 a, fc_vec_f32 m) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(m))); }
static inline fc_vec_f64 fc_and_f64(fc_vec_f64 a, fc_vec_f64 m) { return _mm512_castsi512_pd(_mm512_and_si512(_mm512_castpd_si512(a), _mm512_castpd_si512(m))); }
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m128 fc_vec_hf32;
typedef __m128d fc_vec_hf64;
#define FC_LANES_hf32 4
#define FC_LANES_hf64 2
static inline fc_vec_hf32 fc_load_hf32(const float* p) { return _mm_loadu_ps(p); }
static inline fc_vec_hf64 fc_load_hf64(const double* p) { return _mm_loadu_pd(p); }
static inline void fc_store_hf32(float* p, fc_vec_hf32 v) { _mm_storeu_ps(p, v); }
static inline void fc_store_hf64(double* p, fc_vec_hf64 v) { _mm_storeu_pd(p, v); }
static inline fc_vec_hf32 fc_splat_hf32(float v) { return _mm_set1_ps(v); }
static inline fc_vec_hf64 fc_splat_hf64(double v) { return _mm_set1_pd(v); }
static inline fc_vec_hf32 fc_vfma_hf32(fc_vec_hf32 a, fc_vec_hf32 b, fc_vec_hf32 c) { return _mm_fmadd_ps(a, b, c); }
static inline fc_vec_hf64 fc_vfma_hf64(fc_vec_hf64 a, fc_vec_hf64 b, fc_vec_hf64 c) { return _mm_fmadd_pd(a, b, c); }
typedef __m256 fc_vec_f32;
typedef __m256d fc_vec_f64;
#define FC_LANES_f32 8
#define FC_LANES_f64 4
static inline fc_vec_f32 fc_load_f32(const float* p) { return _mm256_loadu_ps(p); }
static inline fc_vec_f64 fc_load_f64(const double* p) { return _mm256_loadu_pd(p); }
static inline void fc_store_f32(float* p, fc_vec_f32 v) { _mm256_storeu_ps(p, v); }
static inline void fc_store_f64(double* p, fc_vec_f64 v) { _mm256_storeu_pd(p, v); }
static inline fc_vec_f32 fc_splat_f32(float v) { return _mm256_set1_ps(v); }
static inline fc_vec_f64 fc_splat_f64(double v) { return _mm256_set1_pd(v); }
static inline fc_vec_f32 fc_vfma_f32(fc_vec_f32 a, fc_vec_f32 b, fc_vec_f32 c) { return _mm256_fmadd_ps(a, b, c); }
static inline fc_vec_f64 fc_vfma_f64(fc_vec_f64 a, fc_vec_f64 b, fc_vec_f64 c) { return _mm256_fmadd_pd(a, b, c); }
static inline fc_vec_f32 fc_and_f32(fc_vec_f32 a, fc_vec_f32 m) { return _mm256_and_ps(a, m); }
static inline fc_vec_f64 fc_and_f64(fc_vec_f64 a, fc_vec_f64 m) { return _mm256_and_pd(a, m); }
#elif defined(__SSE2__) && !defined(__FMA__)
#include <emmintrin.h>
typedef __m128 fc_vec_f32;
typedef __m128d fc_vec_f64;
#define FC_LANES_f32 4
#define FC_LANES_f64 2
static inline fc_vec_f32 fc_load_f32(const float* p) { return _mm_loadu_ps(p); }
static inline fc_vec_f64 fc_load_f64(const double* p) { return _mm_loadu_pd(p); }
static inline void fc_store_f32(float* p, fc_vec_f32 v) { _mm_storeu_ps(p, v); }
static inline void fc_store_f64(double* p, fc_vec_f64 v) { _mm_storeu_pd(p, v); }
static inline fc_vec_f32 fc_splat_f32(float v) { return _mm_set1_ps(v); }
static inline fc_vec_f64 fc_splat_f64(double v) { return _mm_set1_pd(v); }
static inline fc_vec_f32 fc_vfma_f32(fc_vec_f32 a, fc_vec_f32 b, fc_vec_f32 c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline fc_vec_f64 fc_vfma_f64(fc_vec_f64 a, fc_vec_f64 b, fc_vec_f64 c) { return _mm_add_pd(_mm_mul_pd(a, b), c); }
static inline fc_vec_f32 fc_and_f32(fc_vec_f32 a, fc_vec_f32 m) { return _mm_and_ps(a, m); }
static inline fc_vec_f64 fc_and_f64(fc_vec_f64 a, fc_vec_f64 m) { return _mm_and_pd(a, m); }
#define FC_HALF_IS_FULL 1
#else
/* Any other target: one lane, rounded by fc_fma / fc_fmaf like the scalar loops. */
typedef float fc_vec_f32;
typedef double fc_vec_f64;
#define FC_LANES_f32 1
#define FC_LANES_f64 1
static inline fc_vec_f32 fc_load_f32(const float* p) { return *p; }
static inline fc_vec_f64 fc_load_f64(const double* p) { return *p; }
static inline void fc_store_f32(float* p, fc_vec_f32 v) { *p = v; }
static inline void fc_store_f64(double* p, fc_vec_f64 v) { *p = v; }
static inline fc_vec_f32 fc_splat_f32(float v) { return v; }
static inline fc_vec_f64 fc_splat_f64(double v) { return v; }
static inline fc_vec_f32 fc_vfma_f32(fc_vec_f32 a, fc_vec_f32 b, fc_vec_f32 c) { return fc_fmaf(a, b, c); }
static inline fc_vec_f64 fc_vfma_f64(fc_vec_f64 a, fc_vec_f64 b, fc_vec_f64 c) { return fc_fma(a, b, c); }
static inline fc_vec_f32 fc_and_f32(fc_vec_f32 a, fc_vec_f32 m) {
    union { float f; unsigned int u; } x = {a}, y = {m}; x.u &= y.u; return x.f; }
static inline fc_vec_f64 fc_and_f64(fc_vec_f64 a, fc_vec_f64 m) {
    union { double f; unsigned long long u; } x = {a}, y = {m}; x.u &= y.u; return x.f; }
#define FC_HALF_IS_FULL 1
#endif

#ifdef FC_HALF_IS_FULL
/* No narrower vector here: a half vector is a full one (COUT_BLOCK / 8 fills it). */
typedef fc_vec_f32 fc_vec_hf32;
typedef fc_vec_f64 fc_vec_hf64;
#define FC_LANES_hf32 FC_LANES_f32
#define FC_LANES_hf64 FC_LANES_f64
#define fc_load_hf32 fc_load_f32
#define fc_load_hf64 fc_load_f64
#define fc_store_hf32 fc_store_f32
#define fc_store_hf64 fc_store_f64
#define fc_splat_hf32 fc_splat_f32
#define fc_splat_hf64 fc_splat_f64
#define fc_vfma_hf32 fc_vfma_f32
#define fc_vfma_hf64 fc_vfma_f64
#endif

/* Loads of the first n <= lanes values of a vector, zeros after them, without reading past
 * them; and stores of the first n values, without writing past them. */
#if defined(__AVX512F__)
static inline fc_vec_f32 fc_load_tail_f32(const float* p, int n) { return _mm512_maskz_loadu_ps((__mmask16) ((1u << n) - 1), p); }
static inline fc_vec_f64 fc_load_tail_f64(const double* p, int n) { return _mm512_maskz_loadu_pd((__mmask8) ((1u << n) - 1), p); }
#elif defined(__AVX2__) && defined(__FMA__)
static inline fc_vec_f32 fc_load_tail_f32(const float* p, int n) {
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))); }
static inline fc_vec_f64 fc_load_tail_f64(const double* p, int n) {
    return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))); }
#else
static inline fc_vec_f32 fc_load_tail_f32(const float* p, int n) {
    float t[FC_LANES_f32] = {0}; for (int i = 0; i < n; i++) t[i] = p[i]; return fc_load_f32(t); }
static inline fc_vec_f64 fc_load_tail_f64(const double* p, int n) {
    double t[FC_LANES_f64] = {0}; for (int i = 0; i < n; i++) t[i] = p[i]; return fc_load_f64(t); }
#endif
#if defined(__AVX512F__)
static inline void fc_store_tail_f32(float* p, fc_vec_f32 v, int n) { _mm512_mask_storeu_ps(p, (__mmask16) ((1u << n) - 1), v); }
static inline void fc_store_tail_f64(double* p, fc_vec_f64 v, int n) { _mm512_mask_storeu_pd(p, (__mmask8) ((1u << n) - 1), v); }
#elif defined(__AVX2__) && defined(__FMA__)
static inline void fc_store_tail_f32(float* p, fc_vec_f32 v, int n) {
    _mm256_maskstore_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), v); }
static inline void fc_store_tail_f64(double* p, fc_vec_f64 v, int n) {
    _mm256_maskstore_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)), v); }
#else
static inline void fc_store_tail_f32(float* p, fc_vec_f32 v, int n) {
    float t[FC_LANES_f32]; fc_store_f32(t, v); for (int i = 0; i < n; i++) p[i] = t[i]; }
static inline void fc_store_tail_f64(double* p, fc_vec_f64 v, int n) {
    double t[FC_LANES_f64]; fc_store_f64(t, v); for (int i = 0; i < n; i++) p[i] = t[i]; }
#endif

/* The widest register block's output channels, per build and dtype: measured on one core
 * at 4 pixels, with AVX-512 4 x 64 floats beat 4 x 32, 6 x 32, 8 x 32 and 3 x 64; with
 * AVX2 and SSE2, 32 beat 8, 16, 24 and matched 64. */
#if defined(__AVX512F__)
#define FC_COUT_BLOCK_F32 64   /* 4 vectors: x 6 pixels, 24 zmm accumulators */
#define FC_COUT_BLOCK_F64 32
#elif defined(__AVX2__)
#define FC_COUT_BLOCK_F32 32   /* 4 vectors: x 6 pixels, in passes of 12 ymm accumulators */
#define FC_COUT_BLOCK_F64 16
#else
#define FC_COUT_BLOCK_F32 32   /* more than 16 xmm hold: still measured best */
#define FC_COUT_BLOCK_F64 16
#endif

/* The widest block's pixels (MR). Six pixels load each weight vector once per 6 multiply-
 * adds rather than 4: on 3x3 layers of 64-512 channels (7x7 to 56x56 maps, weights
 * streamed from L2) 6 x 64 ran 7-20% faster than 4 x 64 with AVX-512, and 6 x 32 in
 * passes of 6 x 2 vectors 12-25% faster than 4 x 32 with AVX2. */
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define FC_WIDE_PIXELS 6
#else
#define FC_WIDE_PIXELS 4
#endif
/* The weights a wide block reads while its band's blocks run over a slice of the
 * reduction (_direct.pyx, _band_of_blocks). With AVX-512 the block is one pass over its
 * taps and streams them from L2: 24 KiB slices (to stay in L1) cost 5-10% in reloading
 * the accumulators, and unsliced, a 3x3x1024 block's 2.4 MiB ran 26% slower. Elsewhere
 * the block runs in passes (FC_PASS_VECTORS), each reading every tap's weights: the
 * second pass must find them in L1. */
#if defined(__AVX512F__)
#define FC_WIDE_SLICE_BYTES (512 << 10)
#else
#define FC_WIDE_SLICE_BYTES (24 << 10)
#endif

#define FC_STRINGIFY_(x) #x
#define FC_UNROLL(n) _Pragma(FC_STRINGIFY_(GCC unroll n))

/* Accumulators one pass of a kernel keeps in registers: a block larger than that runs as
 * passes over groups of FC_PASS_PIXELS pixels and FC_PASS_VECTORS vectors, each over all
 * its taps (the weights are in L1 by then). With 16 vector registers (AVX2, SSE2), a
 * 4 x 4 block left GCC two accumulators on the stack and every weight a memory operand;
 * passes of 2 vectors keep their accumulators (at most 12 with FMA; 8 without, where a
 * product needs a register of its own), 2 weights and a broadcast in registers. A pass
 * takes MR, or MR halved until its accumulators fit. */
#if defined(__AVX512F__)
#define FC_MAX_ACC 24
#define FC_PASS_VECTORS(NV) (NV)
#elif defined(__AVX2__) && defined(__FMA__)
#define FC_MAX_ACC 12
#define FC_PASS_VECTORS(NV) ((NV) < 2 ? (NV) : 2)
#else
#define FC_MAX_ACC 8
#define FC_PASS_VECTORS(NV) ((NV) < 2 ? (NV) : 2)
#endif
#define FC_PASS_FITS(M, NV) ((M) * FC_PASS_VECTORS(NV) <= FC_MAX_ACC)
#define FC_PASS_PIXELS(MR, NV)                                                             \
    (FC_PASS_FITS(MR, NV) ? (MR) : FC_PASS_FITS((MR) / 2, NV) ? (MR) / 2                   \
     : FC_PASS_FITS((MR) / 4, NV) ? (MR) / 4 : (MR) / 8)

/* Hides a pointer's value from the optimiser, so that it addresses loads from it as
 * pointer + constant rather than through an index register it shares with others. */
#if defined(__GNUC__)
#define FC_OPAQUE(p) __asm__("" : "+r"(p))
#else
#define FC_OPAQUE(p) ((void) 0)
#endif

/* Both kernels start from `init` (pixel p's row at init + p * init_stride: the bias with
 * stride 0, or a partial sum) and store the block at out + p * out_stride. The values
 * move between memory and registers as whole vectors, which the store-to-load
 * forwarding of a scalar-initialised accumulator array did not. */
#define FC_BLOCK_PASSES(TAG, MR, NV, TAP_LOOP)                                             \
    enum { LANES = FC_LANES_##TAG, MRP = FC_PASS_PIXELS(MR, NV),                           \
           NVP = FC_PASS_VECTORS(NV) };                                                    \
    _Static_assert(MR % MRP == 0 && NV % NVP == 0, "a pass must divide the block");       \
    for (int pp = 0; pp < MR; pp += MRP) {                                                 \
        for (int vv = 0; vv < NV; vv += NVP) {                                             \
            fc_vec_##TAG a[MRP][NVP], wv[NVP];                                             \
            FC_UNROLL(16) for (int p = 0; p < MRP; p++)                                    \
                FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                \
                    a[p][v] = fc_load_##TAG(init + (pp + p) * init_stride                  \
                                            + (vv + v) * LANES);                           \
            TAP_LOOP                                                                       \
            FC_UNROLL(16) for (int p = 0; p < MRP; p++)                                    \
                FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                \
                    fc_store_##TAG(out + (pp + p) * out_stride + (vv + v) * LANES,         \
                                   a[p][v]);                                               \
        }                                                                                  \
    }
#define FC_BLOCK_TAP(TAG, X_OF_P)                                                          \
    FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                            \
        wv[v] = fc_load_##TAG(w + (vv + v) * LANES);                                       \
    FC_UNROLL(16) for (int p = 0; p < MRP; p++) {                                          \
        fc_vec_##TAG xb = fc_splat_##TAG(X_OF_P);                                          \
        FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                        \
            a[p][v] = fc_vfma_##TAG(xb, wv[v], a[p][v]);                                   \
    }                                                                                      \
    w += w_stride;

/* fc_taps_<NAME>(x_pixels, offsets, n_taps, w, w_stride, init, init_stride, out,
 * out_stride): for t < n_taps,
 *     block[p][:NR] += x_pixels[p][offsets[t]] * w[t * w_stride : ...][:NR]
 * for the MR pixels p, NR = NV vectors. */
#define FC_DEFINE_TAP_KERNEL(NAME, T, TAG, MR, NV)                                         \
static inline void fc_taps_##NAME(const T* const* x_pixels, const ptrdiff_t* offsets,      \
                                  ptrdiff_t n_taps, const T* w_first, ptrdiff_t w_stride,  \
                                  const T* init, ptrdiff_t init_stride, T* out,            \
                                  ptrdiff_t out_stride)                                    \
{                                                                                          \
    /* Pixels equally spaced (a block within one row): each tap walks from the first   \
     * pixel by the spacing, instead of holding MR pointers, which on 16-pixel blocks  \
     * GCC kept in vector registers and moved back for every multiply-add. */           \
    ptrdiff_t spacing = MR > 1 ? x_pixels[1] - x_pixels[0] : 0;                            \
    int even = 1;                                                                          \
    FC_UNROLL(16) for (int p = 2; p < MR; p++)                                             \
        even &= x_pixels[p] == x_pixels[0] + p * spacing;                                  \
    if (even) {                                                                            \
        FC_BLOCK_PASSES(TAG, MR, NV,                                                       \
            const T* w = w_first;                                                          \
            const T* x0 = x_pixels[pp];                                                    \
            for (ptrdiff_t t = 0; t < n_taps; t++) {                                       \
                const T* q = x0 + offsets[t];                                              \
                FC_BLOCK_TAP(TAG, *(q += spacing, q - spacing))                            \
            })                                                                             \
        return;                                                                            \
    }                                                                                      \
    FC_BLOCK_PASSES(TAG, MR, NV,                                                           \
        const T* xp[MRP];                                                                  \
        const T* w = w_first;                                                              \
        FC_UNROLL(16) for (int p = 0; p < MRP; p++) xp[p] = x_pixels[pp + p];              \
        for (ptrdiff_t t = 0; t < n_taps; t++) {                                           \
            ptrdiff_t offset = offsets[t];                                                 \
            FC_BLOCK_TAP(TAG, xp[p][offset])                                               \
        })                                                                                 \
}

/* fc_gather_<NAME>(x_pixels, w_rows, n_channels, n_runs, w_stride, init, init_stride,
 * out, out_stride): the same block over runs of taps that each have their own pixel
 * pointers, for blocks at the image's left and right borders (a tap in the padding
 * points at a zero pixel): for run k,
 *     block[p][:NR] += x_pixels[k * MR + p][r] * w_rows[k][r * w_stride : ...][:NR]
 * for r < n_channels[k]. One call covers all of a block's kernel taps, so that the
 * accumulators stay in registers however few channels a kernel tap has (RGB: 3). */
#define FC_DEFINE_GATHER_KERNEL(NAME, T, TAG, MR, NV)                                      \
static inline void fc_gather_##NAME(const T* const* x_pixels, const T* const* w_rows,      \
                                    const ptrdiff_t* n_channels, ptrdiff_t n_runs,         \
                                    ptrdiff_t w_stride, const T* init,                     \
                                    ptrdiff_t init_stride, T* out, ptrdiff_t out_stride)   \
{                                                                                          \
    FC_BLOCK_PASSES(TAG, MR, NV,                                                           \
        for (ptrdiff_t k = 0; k < n_runs; k++) {                                           \
            const T* const* xp = x_pixels + k * MR + pp;                                   \
            const T* w = w_rows[k];                                                        \
            for (ptrdiff_t r = 0; r < n_channels[k]; r++) {                                \
                FC_BLOCK_TAP(TAG, xp[p][r])                                                \
            }                                                                              \
        })                                                                                 \
}

#define FC_DEFINE_BLOCK_KERNELS(NAME, T, TAG, MR, NV) \
    FC_DEFINE_TAP_KERNEL(NAME, T, TAG, MR, NV)        \
    FC_DEFINE_GATHER_KERNEL(NAME, T, TAG, MR, NV)

/* The shapes of _direct.pyx's table (MR pixels x NR channels, NR a fraction of
 * COUT_BLOCK): wide FC_WIDE_PIXELS x 1, narrow 8 x 1/2, narrow tail 4 x 1/2, quarter
 * panels 16 x 1/4 and 4 x 1/4, eighth panels 16 x 1/8 and 4 x 1/8 (half vectors). */
FC_DEFINE_BLOCK_KERNELS(wide_f32, float, f32, FC_WIDE_PIXELS, FC_COUT_BLOCK_F32 / FC_LANES_f32)
FC_DEFINE_BLOCK_KERNELS(wide_f64, double, f64, FC_WIDE_PIXELS, FC_COUT_BLOCK_F64 / FC_LANES_f64)
FC_DEFINE_BLOCK_KERNELS(narrow_f32, float, f32, 8, FC_COUT_BLOCK_F32 / 2 / FC_LANES_f32)
FC_DEFINE_BLOCK_KERNELS(narrow_f64, double, f64, 8, FC_COUT_BLOCK_F64 / 2 / FC_LANES_f64)
FC_DEFINE_BLOCK_KERNELS(narrow_tail_f32, float, f32, 4, FC_COUT_BLOCK_F32 / 2 / FC_LANES_f32)
FC_DEFINE_BLOCK_KERNELS(narrow_tail_f64, double, f64, 4, FC_COUT_BLOCK_F64 / 2 / FC_LANES_f64)

FC_DEFINE_BLOCK_KERNELS(panel4_f32, float, f32, 16, FC_COUT_BLOCK_F32 / 4 / FC_LANES_f32)
FC_DEFINE_BLOCK_KERNELS(panel4_f64, double, f64, 16, FC_COUT_BLOCK_F64 / 4 / FC_LANES_f64)
FC_DEFINE_BLOCK_KERNELS(short_panel4_f32, float, f32, 4, FC_COUT_BLOCK_F32 / 4 / FC_LANES_f32)
FC_DEFINE_BLOCK_KERNELS(short_panel4_f64, double, f64, 4, FC_COUT_BLOCK_F64 / 4 / FC_LANES_f64)
FC_DEFINE_BLOCK_KERNELS(panel8_f32, float, hf32, 16, FC_COUT_BLOCK_F32 / 8 / FC_LANES_hf32)
FC_DEFINE_BLOCK_KERNELS(panel8_f64, double, hf64, 16, FC_COUT_BLOCK_F64 / 8 / FC_LANES_hf64)
FC_DEFINE_BLOCK_KERNELS(short_panel8_f32, float, hf32, 4, FC_COUT_BLOCK_F32 / 8 / FC_LANES_hf32)
FC_DEFINE_BLOCK_KERNELS(short_panel8_f64, double, hf64, 4, FC_COUT_BLOCK_F64 / 8 / FC_LANES_hf64)

/* Sweep kernels, for blocks along one output row of a layer with few input channels
 * (grayscale, RGB, RGBA) and one group: the block's input columns are read once each, and
 * every input value, broadcast once, meets the weights of all the kernel columns that
 * read it, held in registers. The tap kernel broadcasts one value per multiply-add: an
 * RGB 3x3 layer to 16 channels ran at 48 GFLOP/s on one core with it, and at 110 with a
 * sweep kernel (AVX-512). fc_sweep_<NAME>(k_w, stride, channels, x, row_step, k_h, w,
 * w_stride, init, init_stride, out, out_stride) computes block NAME's MR pixels x NV
 * vectors,
 *     block[p] = init[p] + sum over kh < k_h, kw < k_w, c < channels of
 *                x[kh * row_step + (p * stride + kw) * channels + c]
 *                * w[((kh * k_w + kw) * channels + c) * w_stride : ...]
 * adding the taps in that order, the tap table's, so a pixel has the same bits as from the
 * tap kernel. It returns 0, having done nothing, for a (k_w, stride, channels) it has no
 * kernel for. A pass holds FC_SWEEP_PASS_PIXELS pixels and one vector, with the KW x C
 * weight vectors of a kernel row. A block of several vectors runs a pass per vector,
 * where the tap kernel broadcasts each value once for all of them: a sweep pays only
 * with passes of 8 pixels or more at stride 1 there (RGBA 3x3 to 24 channels ran 0.75x
 * as fast with AVX2's passes of 2 pixels, RGB stride 2 0.88x with AVX-512's). One
 * vector needs passes of at least 4 pixels. */
#if defined(__AVX512F__)
#define FC_VECTOR_REGS 32
#else
#define FC_VECTOR_REGS 16
#endif
#define FC_SWEEP_FITS(M, WR) ((M) + (WR) + 1 <= FC_VECTOR_REGS)
#define FC_SWEEP_PASS_PIXELS(MR, WR)                                                         \
    (FC_SWEEP_FITS(MR, WR) ? (MR) : FC_SWEEP_FITS((MR) / 2, WR) ? (MR) / 2                     \
     : FC_SWEEP_FITS((MR) / 4, WR) ? (MR) / 4 : (MR) / 8)
#define FC_DEFINE_SWEEP_KERNEL(NAME, T, TAG, MR, NV, KW, S, C)                               \
static inline int fc_sweep_##NAME##_##KW##_##S##_##C(                                       \
        const T* x, ptrdiff_t row_step, ptrdiff_t k_h, const T* w, ptrdiff_t w_stride,     \
        const T* init, ptrdiff_t init_stride, T* out, ptrdiff_t out_stride)                \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG, WR = (KW) * (C), MRP = FC_SWEEP_PASS_PIXELS(MR, WR),    \
           FITS = FC_SWEEP_FITS(MRP, WR) && MRP >= ((NV) == 1 ? 4 : 8)                     \
                  && ((NV) == 1 || (S) == 1),                                              \
           PASS = FITS ? MRP : 1, U = (PASS - 1) * (S) + (KW) };                           \
    if (!FITS)                                                                             \
        return 0;                                                                          \
    for (int pp = 0; pp < MR; pp += PASS) {                                                \
        for (int v = 0; v < NV; v++) {                                                     \
            fc_vec_##TAG acc[PASS], wv[KW][C];                                             \
            FC_UNROLL(32) for (int p = 0; p < PASS; p++)                                   \
                acc[p] = fc_load_##TAG(init + (pp + p) * init_stride + v * LANES);         \
            const T* xr = x + pp * (S) * (C);                                              \
            const T* wk = w + v * LANES;                                                   \
            for (ptrdiff_t kh = 0; kh < k_h; kh++) {                                       \
                FC_UNROLL(8) for (int kw = 0; kw < KW; kw++)                               \
                    FC_UNROLL(8) for (int c = 0; c < C; c++)                               \
                        wv[kw][c] = fc_load_##TAG(wk + (kw * (C) + c) * w_stride);         \
                FC_UNROLL(64) for (int u = 0; u < U; u++)                                  \
                    FC_UNROLL(8) for (int c = 0; c < C; c++) {                             \
                        fc_vec_##TAG xb = fc_splat_##TAG(xr[u * (C) + c]);                 \
                        FC_UNROLL(8) for (int kw = 0; kw < KW; kw++) {                     \
                            const int q = u - kw;                                          \
                            if (q >= 0 && q % (S) == 0 && q / (S) < PASS)                  \
                                acc[q / (S)] = fc_vfma_##TAG(xb, wv[kw][c], acc[q / (S)]); \
                        }                                                                  \
                    }                                                                      \
                xr += row_step;                                                            \
                FC_OPAQUE(xr);                                                             \
                wk += WR * w_stride;                                                       \
            }                                                                              \
            FC_UNROLL(32) for (int p = 0; p < PASS; p++)                                   \
                fc_store_##TAG(out + (pp + p) * out_stride + v * LANES, acc[p]);           \
        }                                                                                  \
    }                                                                                      \
    return 1;                                                                              \
}
/* The (KW, S, C) of the sweep kernels: 3x3 and 5x5 kernels at stride 1 or 2 on
 * one to four channels (3x3 on 2 and 4 at stride 1 only). */
#define FC_SWEEP_SHAPES(X, ...)                                                              \
    X(__VA_ARGS__, 3, 1, 1) X(__VA_ARGS__, 3, 1, 2) X(__VA_ARGS__, 3, 1, 3)                \
    X(__VA_ARGS__, 3, 1, 4) X(__VA_ARGS__, 3, 2, 1) X(__VA_ARGS__, 3, 2, 3)                \
    X(__VA_ARGS__, 5, 1, 1) X(__VA_ARGS__, 5, 1, 3) X(__VA_ARGS__, 5, 2, 3)
#define FC_SWEEP_CASE(NAME, KW, S, C)                                                        \
    case (KW) * 100 + (S) * 10 + (C):                                                      \
        return fc_sweep_##NAME##_##KW##_##S##_##C(x, row_step, k_h, w, w_stride, init,      \
                                                 init_stride, out, out_stride);
#define FC_SWEEP_DEFINE_ONE(NAME, T, TAG, MR, NV, KW, S, C) FC_DEFINE_SWEEP_KERNEL(NAME, T, TAG, MR, NV, KW, S, C)
#define FC_DEFINE_SWEEP_KERNELS(NAME, T, TAG, MR, NV)                                        \
FC_SWEEP_SHAPES(FC_SWEEP_DEFINE_ONE, NAME, T, TAG, MR, NV)                                     \
static inline int fc_sweep_##NAME(ptrdiff_t k_w, ptrdiff_t stride, ptrdiff_t channels,      \
                                 const T* x, ptrdiff_t row_step, ptrdiff_t k_h, const T* w, \
                                 ptrdiff_t w_stride, const T* init, ptrdiff_t init_stride, \
                                 T* out, ptrdiff_t out_stride)                             \
{                                                                                          \
    if (k_w > 9 || stride > 9 || channels > 9)                                             \
        return 0;                                                                          \
    switch (k_w * 100 + stride * 10 + channels) {                                          \
        FC_SWEEP_SHAPES(FC_SWEEP_CASE, NAME)                                                   \
        default:                                                                           \
            return 0;                                                                      \
    }                                                                                      \
}
FC_DEFINE_SWEEP_KERNELS(narrow_f32, float, f32, 8, FC_COUT_BLOCK_F32 / 2 / FC_LANES_f32)
FC_DEFINE_SWEEP_KERNELS(narrow_f64, double, f64, 8, FC_COUT_BLOCK_F64 / 2 / FC_LANES_f64)
FC_DEFINE_SWEEP_KERNELS(narrow_tail_f32, float, f32, 4, FC_COUT_BLOCK_F32 / 2 / FC_LANES_f32)
FC_DEFINE_SWEEP_KERNELS(narrow_tail_f64, double, f64, 4, FC_COUT_BLOCK_F64 / 2 / FC_LANES_f64)
FC_DEFINE_SWEEP_KERNELS(panel4_f32, float, f32, 16, FC_COUT_BLOCK_F32 / 4 / FC_LANES_f32)
FC_DEFINE_SWEEP_KERNELS(panel4_f64, double, f64, 16, FC_COUT_BLOCK_F64 / 4 / FC_LANES_f64)
FC_DEFINE_SWEEP_KERNELS(short_panel4_f32, float, f32, 4, FC_COUT_BLOCK_F32 / 4 / FC_LANES_f32)
FC_DEFINE_SWEEP_KERNELS(short_panel4_f64, double, f64, 4, FC_COUT_BLOCK_F64 / 4 / FC_LANES_f64)
FC_DEFINE_SWEEP_KERNELS(panel8_f32, float, hf32, 16, FC_COUT_BLOCK_F32 / 8 / FC_LANES_hf32)
FC_DEFINE_SWEEP_KERNELS(panel8_f64, double, hf64, 16, FC_COUT_BLOCK_F64 / 8 / FC_LANES_hf64)
FC_DEFINE_SWEEP_KERNELS(short_panel8_f32, float, hf32, 4, FC_COUT_BLOCK_F32 / 8 / FC_LANES_hf32)
FC_DEFINE_SWEEP_KERNELS(short_panel8_f64, double, hf64, 4, FC_COUT_BLOCK_F64 / 8 / FC_LANES_hf64)

/* Depthwise sweeps, for a depthwise layer's register blocks (one channel multiplier)
 * inside the image's rows: MR output pixels of a row, up to NV vectors of channels. Each
 * input vector of a kernel row is loaded once and meets the weights of every kernel
 * column that reads it, held in registers, where the tap loop loads it once per tap: a
 * 7x7 kernel at stride 1 loads 10 input vectors per kernel row for 4 pixels rather
 * than 28. fc_dw_sweep_<NAME>_<KW>_<S>_<D>(x_row, first_col, in_w, pix_step, row_step,
 * k_h, w, w_step, init, out, out_step, channels), for a KW-wide kernel at stride S and
 * column dilation D, computes for c < channels
 *     block[p][c] = init[c] + sum over kh < k_h, kw < KW of
 *                   X(kh, first_col + p * S + kw * D)[c] * w[(kh * KW + kw) * w_step + c]
 * where X(kh, col) = x_row + kh * row_step + col * pix_step for 0 <= col < in_w and
 * zeros outside (left and right padding, multiplied as the tap loop multiplies its zero
 * pixel), adding each pixel's taps in (kh, kw) order as the tap loop does: the same bits.
 * Vectors of channels run one after another, so a last vector of fewer channels than
 * lanes costs one masked pass, and nothing is read or written past `channels`: a layer's
 * channels need not fill whole blocks. fc_dw_sweep_<NAME>_kernel(k_w, stride, dil) finds
 * the sweep, or NULL for a kernel without one, for one that does not pay on the build
 * (FC_DW_SWEEP_PAYS), or for one whose pass would not fit the vector registers: a pass
 * holds MR accumulators, the k_w weights of a kernel row, an input vector and a zero
 * (with AVX2's 16 registers, the narrow block's 7-wide sweep spilled 11-74 vectors). */
#define FC_DW_SWEEP_FITS(MR, KW) ((MR) + (KW) + 3 <= FC_VECTOR_REGS)
#define FC_LOAD_WHOLE(TAG, p, n) fc_load_##TAG(p)
#define FC_LOAD_FIRST(TAG, p, n) fc_load_tail_##TAG(p, n)
#define FC_STORE_WHOLE(TAG, p, v, n) fc_store_##TAG(p, v)
#define FC_STORE_FIRST(TAG, p, v, n) fc_store_tail_##TAG(p, v, n)
/* One vector of channels, the first n of its lanes loaded and stored (LOAD, STORE). */
#define FC_DW_SWEEP_VECTOR(T, TAG, MR, KW, S, D, LOAD, STORE, n)                            \
    {                                                                                      \
        fc_vec_##TAG acc[MR], wv[KW];                                                      \
        FC_UNROLL(16) for (int p = 0; p < MR; p++)                                         \
            acc[p] = LOAD(TAG, init + v * LANES, n);                                       \
        const T* xr = x_row + v * LANES;                                                   \
        const T* wr = w + v * LANES;                                                       \
        for (ptrdiff_t kh = 0; kh < k_h; kh++) {                                           \
            FC_UNROLL(16) for (int kw = 0; kw < KW; kw++)                                  \
                wv[kw] = LOAD(TAG, wr + kw * w_step, n);                                   \
            FC_UNROLL(64) for (int u = 0; u < U; u++) {                                    \
                const fc_vec_##TAG xv = u >= u_lo && u < u_hi                              \
                    ? LOAD(TAG, xr + (first_col + u) * pix_step, n) : fc_splat_##TAG(0);   \
                FC_UNROLL(16) for (int kw = 0; kw < KW; kw++) {                            \
                    const int q = u - kw * (D);                                            \
                    if (q >= 0 && q % (S) == 0 && q / (S) < (MR))                          \
                        acc[q / (S)] = fc_vfma_##TAG(xv, wv[kw], acc[q / (S)]);            \
                }                                                                          \
            }                                                                              \
            xr += row_step;                                                                \
            FC_OPAQUE(xr);                                                                 \
            wr += (KW) * w_step;                                                           \
        }                                                                                  \
        FC_UNROLL(16) for (int p = 0; p < MR; p++)                                         \
            STORE(TAG, out + p * out_step + v * LANES, acc[p], n);                         \
    }
#define FC_DEFINE_DW_SWEEP(NAME, T, TAG, MR, NV, KW, S, D)                                 \
static inline void fc_dw_sweep_##NAME##_##KW##_##S##_##D(                                 \
        const T* x_row, ptrdiff_t first_col, ptrdiff_t in_w, ptrdiff_t pix_step,           \
        ptrdiff_t row_step, ptrdiff_t k_h, const T* w, ptrdiff_t w_step, const T* init,    \
        T* out, ptrdiff_t out_step, ptrdiff_t channels)                                    \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG, U = ((MR) - 1) * (S) + ((KW) - 1) * (D) + 1 };          \
    /* The block's input columns first_col + u inside the image: u_lo <= u < u_hi. */      \
    const ptrdiff_t u_lo = first_col < 0 ? -first_col : 0, u_hi = in_w - first_col;        \
    const int whole = (int) (channels / LANES), rest = (int) (channels % LANES);          \
    for (int v = 0; v < whole && v < NV; v++)                                              \
        FC_DW_SWEEP_VECTOR(T, TAG, MR, KW, S, D, FC_LOAD_WHOLE, FC_STORE_WHOLE, LANES)     \
    if (rest && whole < NV) {                                                              \
        const int v = whole;                                                               \
        FC_DW_SWEEP_VECTOR(T, TAG, MR, KW, S, D, FC_LOAD_FIRST, FC_STORE_FIRST, rest)      \
    }                                                                                      \
}
/* The (KW, S, D) of the depthwise sweeps: 3x3, 5x5 and 7x7 kernels at stride 1 or 2,
 * and 3x3 ones dilated by 2 and 4 at stride 1 (DeepLab's depthwise layers). */
#define FC_DW_SWEEP_SHAPES(X, ...)                                                           \
    X(__VA_ARGS__, 3, 1, 1) X(__VA_ARGS__, 3, 2, 1) X(__VA_ARGS__, 5, 1, 1)                \
    X(__VA_ARGS__, 5, 2, 1) X(__VA_ARGS__, 7, 1, 1) X(__VA_ARGS__, 7, 2, 1)                \
    X(__VA_ARGS__, 3, 1, 2) X(__VA_ARGS__, 3, 1, 4)
#define FC_DW_SWEEP_DEFINE_ONE(NAME, T, TAG, MR, NV, KW, S, D) FC_DEFINE_DW_SWEEP(NAME, T, TAG, MR, NV, KW, S, D)
/* Dilated sweeps run on builds of 16 vector registers only: on (8,33,33,C) 3x3 layers
 * dilated by 2 and 4 they ran 1.1-1.3x as fast as the tap loop with AVX2, 0.76-1.0x
 * with AVX-512. */
#define FC_DW_SWEEP_PAYS(D) ((D) == 1 || FC_VECTOR_REGS < 32)
#define FC_DW_SWEEP_CASE(NAME, MR, KW, S, D)                                                 \
    case (KW) * 100 + (S) * 10 + (D):                                                      \
        return FC_DW_SWEEP_FITS(MR, KW) && FC_DW_SWEEP_PAYS(D)                             \
               ? fc_dw_sweep_##NAME##_##KW##_##S##_##D : NULL;
/* fc_dw_sweep_<NAME>_kernel(k_w, stride, dil): the sweep for that kernel, or NULL. */
#define FC_DEFINE_DW_SWEEPS(NAME, T, TAG, MR, NV)                                          \
FC_DW_SWEEP_SHAPES(FC_DW_SWEEP_DEFINE_ONE, NAME, T, TAG, MR, NV)                           \
static inline fc_dw_sweep_fn_##TAG fc_dw_sweep_##NAME##_kernel(ptrdiff_t k_w, ptrdiff_t stride, \
                                                              ptrdiff_t dil)               \
{                                                                                          \
    if (k_w < 1 || k_w > 9 || stride < 1 || stride > 9 || dil < 1 || dil > 9)             \
        return NULL;                                                                       \
    switch (k_w * 100 + stride * 10 + dil) {                                               \
        FC_DW_SWEEP_SHAPES(FC_DW_SWEEP_CASE, NAME, MR)                                     \
        default:                                                                           \
            return NULL;                                                                   \
    }                                                                                      \
}
#define FC_DEFINE_DW_SWEEP_FN(T, TAG)                                                      \
typedef void (*fc_dw_sweep_fn_##TAG)(const T* x_row, ptrdiff_t first_col, ptrdiff_t in_w,  \
                                     ptrdiff_t pix_step, ptrdiff_t row_step, ptrdiff_t k_h, \
                                     const T* w, ptrdiff_t w_step, const T* init, T* out,  \
                                     ptrdiff_t out_step, ptrdiff_t channels);
FC_DEFINE_DW_SWEEP_FN(float, f32)
FC_DEFINE_DW_SWEEP_FN(double, f64)
/* The depthwise blocks' shapes (_direct.pyx): wide, PIX_BLOCK pixels x COUT_BLOCK, and
 * narrow, NARROW_PIX_BLOCK x COUT_BLOCK / 2. */
FC_DEFINE_DW_SWEEPS(dw_wide_f32, float, f32, 4, FC_COUT_BLOCK_F32 / FC_LANES_f32)
FC_DEFINE_DW_SWEEPS(dw_wide_f64, double, f64, 4, FC_COUT_BLOCK_F64 / FC_LANES_f64)
FC_DEFINE_DW_SWEEPS(dw_narrow_f32, float, f32, 8, FC_COUT_BLOCK_F32 / 2 / FC_LANES_f32)
FC_DEFINE_DW_SWEEPS(dw_narrow_f64, double, f64, 8, FC_COUT_BLOCK_F64 / 2 / FC_LANES_f64)
/* fc_dw_sweep_<tag>(wide, k_w, stride, dil): the wide (else narrow) block's sweep for
 * that kernel, or NULL where the build has none. */
#define FC_DEFINE_DW_SWEEP_OF_BLOCK(TAG)                                                   \
static inline fc_dw_sweep_fn_##TAG fc_dw_sweep_##TAG(int wide, ptrdiff_t k_w,              \
                                                    ptrdiff_t stride, ptrdiff_t dil)       \
{                                                                                          \
    return wide ? fc_dw_sweep_dw_wide_##TAG##_kernel(k_w, stride, dil)                     \
                : fc_dw_sweep_dw_narrow_##TAG##_kernel(k_w, stride, dil);                  \
}
FC_DEFINE_DW_SWEEP_OF_BLOCK(f32)
FC_DEFINE_DW_SWEEP_OF_BLOCK(f64)

/* fc_sweep_<tag>(shape, ...): the sweep kernel of block shape `shape` (FC_SWEEP_NARROW
 * ...: _direct.pyx's table), with fc_sweep_<NAME>'s arguments and result. */
enum { FC_SWEEP_NARROW, FC_SWEEP_NARROW_TAIL, FC_SWEEP_PANEL4, FC_SWEEP_SHORT_PANEL4,
       FC_SWEEP_PANEL8, FC_SWEEP_SHORT_PANEL8 };
#define FC_DEFINE_SWEEP_BY_SHAPE(T, TAG)                                                   \
static inline int fc_sweep_##TAG(int shape, ptrdiff_t k_w, ptrdiff_t stride,              \
                                 ptrdiff_t channels, const T* x, ptrdiff_t row_step,       \
                                 ptrdiff_t k_h, const T* w, ptrdiff_t w_stride,            \
                                 const T* init, ptrdiff_t init_stride, T* out,             \
                                 ptrdiff_t out_stride)                                     \
{                                                                                          \
    int (*kernel)(ptrdiff_t, ptrdiff_t, ptrdiff_t, const T*, ptrdiff_t, ptrdiff_t,         \
                  const T*, ptrdiff_t, const T*, ptrdiff_t, T*, ptrdiff_t) =               \
        shape == FC_SWEEP_NARROW ? fc_sweep_narrow_##TAG                                   \
        : shape == FC_SWEEP_NARROW_TAIL ? fc_sweep_narrow_tail_##TAG                       \
        : shape == FC_SWEEP_PANEL4 ? fc_sweep_panel4_##TAG                                 \
        : shape == FC_SWEEP_SHORT_PANEL4 ? fc_sweep_short_panel4_##TAG                     \
        : shape == FC_SWEEP_PANEL8 ? fc_sweep_panel8_##TAG                                 \
        : shape == FC_SWEEP_SHORT_PANEL8 ? fc_sweep_short_panel8_##TAG : NULL;             \
    return kernel != NULL && kernel(k_w, stride, channels, x, row_step, k_h, w, w_stride,  \
                                    init, init_stride, out, out_stride);                   \
}
FC_DEFINE_SWEEP_BY_SHAPE(float, f32)
FC_DEFINE_SWEEP_BY_SHAPE(double, f64)

/* Column blocks, for the narrowest layers (a few output channels per group): vectorised
 * along the output row instead of across channels, so no lane is wasted on channels a
 * layer does not have. The caller lays the kernel rows' input out as contiguous rows
 * (one per input row, channel and stride phase, zero-padded); tap t of output pixel j
 * reads rows[tap_offsets[t] + j]. CO channels x FC_COLUMN_VECTORS vectors of pixels
 * accumulate in registers:
 *     block[co * FC_COLUMN_PIXELS_<tag> + j] = bias[co] + sum_t w[t * CO + co] * rows[...]
 * Taps are summed in the same order as the other blocks, from the bias, so a pixel has
 * the same bits whichever block computed it. */
#if defined(__AVX512F__)
#define FC_COLUMN_VECTORS 4
#else
#define FC_COLUMN_VECTORS 2
#endif
#define FC_COLUMN_PIXELS_f32 (FC_COLUMN_VECTORS * FC_LANES_f32)
#define FC_COLUMN_PIXELS_f64 (FC_COLUMN_VECTORS * FC_LANES_f64)

#define FC_DEFINE_COLUMN_KERNEL(NAME, T, TAG, CO)                                          \
static inline void fc_columns_##NAME(const T* rows, const ptrdiff_t* tap_offsets,          \
                                     ptrdiff_t n_taps, const T* w, const T* bias,          \
                                     T* block)                                             \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG, V = FC_COLUMN_VECTORS };                                \
    fc_vec_##TAG a[CO][V], xv[V];                                                          \
    FC_UNROLL(16) for (int c = 0; c < CO; c++)                                             \
        FC_UNROLL(16) for (int v = 0; v < V; v++)                                          \
            a[c][v] = fc_splat_##TAG(bias[c]);                                             \
    for (ptrdiff_t t = 0; t < n_taps; t++) {                                               \
        const T* src = rows + tap_offsets[t];                                              \
        FC_UNROLL(16) for (int v = 0; v < V; v++)                                          \
            xv[v] = fc_load_##TAG(src + v * LANES);                                        \
        FC_UNROLL(16) for (int c = 0; c < CO; c++) {                                       \
            fc_vec_##TAG wb = fc_splat_##TAG(w[t * CO + c]);                               \
            FC_UNROLL(16) for (int v = 0; v < V; v++)                                      \
                a[c][v] = fc_vfma_##TAG(xv[v], wb, a[c][v]);                               \
        }                                                                                  \
    }                                                                                      \
    FC_UNROLL(16) for (int c = 0; c < CO; c++)                                             \
        FC_UNROLL(16) for (int v = 0; v < V; v++)                                          \
            fc_store_##TAG(block + c * V * LANES + v * LANES, a[c][v]);                    \
}

FC_DEFINE_COLUMN_KERNEL(4_f32, float, f32, 4)
FC_DEFINE_COLUMN_KERNEL(4_f64, double, f64, 4)
FC_DEFINE_COLUMN_KERNEL(2_f32, float, f32, 2)
FC_DEFINE_COLUMN_KERNEL(2_f64, double, f64, 2)
FC_DEFINE_COLUMN_KERNEL(1_f32, float, f32, 1)
FC_DEFINE_COLUMN_KERNEL(1_f64, double, f64, 1)

/* Channel mix: a 1x1 convolution with C_in = C_out = C <= FC_MIX_MAX_CHANNELS_<tag>
 * (a colour matrix, any groups) over a flat run of pixels, vectorised along the run
 * instead of across C. Output value j (pixel j / C, channel o = j % C) is
 *     bias[o] + sum over d in (-C, C) of x[j + d] * w[o + d][o]    (0 <= o + d < C),
 * so an output vector is 2C - 1 unaligned loads of x times weight vectors that depend
 * only on the vector's phase j % C: no lane shuffles, whatever C. The lanes whose
 * x[j + d] lies in a neighbouring pixel (or another group) are masked to zero before the
 * multiply, so a NaN or Inf in one pixel never reaches the next. The sum runs over
 * input channels in order from the bias, as the register blocks sum.
 *
 * The phases repeat every `period` = lcm(C, lanes) values. A step takes FC_MIX_VECTORS
 * periods and runs each phase's vectors together, so that the phase's mask and weight
 * vectors are loaded once for FC_MIX_VECTORS multiply-adds.
 *
 * fc_channel_mix_<tag>(x, begin, end, channels, period, table, out): values begin ..
 * end - 1; begin a multiple of the lanes, end - begin of FC_MIX_VECTORS * period;
 * x[begin - (C - 1)] .. x[end + C - 2] readable. table holds, per phase, the bias
 * vector and 2C - 1 (mask, weight) vector pairs: FC_MIX_PHASE_VECTORS(C) vectors. */
/* Beyond these C the register blocks (C filling half a vector or more) were faster,
 * measured on 540x960 and 32 x 64x64 images: 2C - 1 multiply-adds per output vector
 * against C. */
#if defined(__AVX512F__)
#define FC_MIX_MAX_CHANNELS_f32 7
#define FC_MIX_MAX_CHANNELS_f64 4
#elif defined(__AVX2__)
#define FC_MIX_MAX_CHANNELS_f32 6
#define FC_MIX_MAX_CHANNELS_f64 4
#else
#define FC_MIX_MAX_CHANNELS_f32 4
#define FC_MIX_MAX_CHANNELS_f64 4
#endif
#define FC_MIX_VECTORS 4   /* independent accumulators: the FMA latency is covered */
#define FC_MIX_PHASE_VECTORS(C) (1 + 2 * (2 * (C) - 1))

#define FC_DEFINE_CHANNEL_MIX_KERNEL(T, TAG)                                               \
static inline void fc_channel_mix_##TAG(const T* x, ptrdiff_t begin, ptrdiff_t end,        \
                                        ptrdiff_t channels, ptrdiff_t period,              \
                                        const T* table, T* out)                            \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG, V = FC_MIX_VECTORS };                                   \
    const ptrdiff_t taps = 2 * channels - 1;                                               \
    const ptrdiff_t phase_len = FC_MIX_PHASE_VECTORS(channels) * LANES;                    \
    for (ptrdiff_t step = begin; step < end; step += V * period) {                         \
        for (ptrdiff_t j = step; j < step + period; j += LANES) {                          \
            const T* t = table + (j % channels) * phase_len;                               \
            fc_vec_##TAG a[V];                                                             \
            FC_UNROLL(8) for (int v = 0; v < V; v++)                                       \
                a[v] = fc_load_##TAG(t);                                                   \
            const T* src = x + j - (channels - 1);                                         \
            for (ptrdiff_t k = 0; k < taps; k++) {                                         \
                fc_vec_##TAG mask = fc_load_##TAG(t + (1 + 2 * k) * LANES);                \
                fc_vec_##TAG wv = fc_load_##TAG(t + (2 + 2 * k) * LANES);                  \
                FC_UNROLL(8) for (int v = 0; v < V; v++)                                   \
                    a[v] = fc_vfma_##TAG(fc_and_##TAG(fc_load_##TAG(src + k + v * period), \
                                                      mask), wv, a[v]);                    \
            }                                                                              \
            FC_UNROLL(8) for (int v = 0; v < V; v++)                                       \
                fc_store_##TAG(out + j + v * period, a[v]);                                \
        }                                                                                  \
    }                                                                                      \
}

FC_DEFINE_CHANNEL_MIX_KERNEL(float, f32)
FC_DEFINE_CHANNEL_MIX_KERNEL(double, f64)

/* Row kernels, for layers with too few channels per pixel to fill register blocks: the
 * output row seen as one flat run of values, FC_ROW_VECTORS vectors (a chunk) at a time.
 * Tap t adds srcs[t][j] times its weight to value j of the chunk:
 *   fc_row_depthwise_<tag>(srcs, weights, n_taps, j, init, out): a weight per value,
 *       weights[t] + j (a depthwise row: the tap's C weights repeated, from the chunk's
 *       first channel), for input srcs[t] + j and output out + j, starting from init;
 *   fc_row_single_<tag>(srcs, weights, n_taps, j, init, out): one weight per tap,
 *       weights[t] (a one-channel image), for the values from j on: srcs[t] + j is
 *       the chunk's input and out + j its output, starting from init[0:]. The callers
 *       build the taps once per row.
 * Taps are summed in the order given, from the start value, as fc_fma / fc_fmaf round,
 * so that a value has the same bits as on the per-pixel path. */
#define FC_ROW_VECTORS 8
#define FC_ROW_CHUNK_f32 (FC_ROW_VECTORS * FC_LANES_f32)
#define FC_ROW_CHUNK_f64 (FC_ROW_VECTORS * FC_LANES_f64)

#define FC_ROW_LOOP(T, TAG, START_V, WEIGHT_V)                                             \
    enum { LANES = FC_LANES_##TAG, V = FC_ROW_VECTORS };                                   \
    fc_vec_##TAG a[V];                                                                     \
    FC_UNROLL(16) for (int v = 0; v < V; v++)                                              \
        a[v] = START_V;                                                                    \
    for (ptrdiff_t t = 0; t < n_taps; t++) {                                               \
        const T* src = srcs[t] + j;                                                        \
        FC_UNROLL(16) for (int v = 0; v < V; v++)                                          \
            a[v] = fc_vfma_##TAG(WEIGHT_V, fc_load_##TAG(src + v * LANES), a[v]);          \
    }                                                                                      \
    FC_UNROLL(16) for (int v = 0; v < V; v++)                                              \
        fc_store_##TAG(out + j + v * LANES, a[v]);

#define FC_DEFINE_ROW_KERNELS(T, TAG)                                                      \
static inline void fc_row_depthwise_##TAG(const T* const* srcs, const T* const* weights,   \
                                          ptrdiff_t n_taps, ptrdiff_t j, const T* init,    \
                                          T* out)                                          \
{                                                                                          \
    FC_ROW_LOOP(T, TAG, fc_load_##TAG(init + v * LANES),                                   \
                fc_load_##TAG(weights[t] + j + v * LANES))                                 \
}                                                                                          \
static inline void fc_row_single_##TAG(const T* const* srcs, const T* weights,             \
                                       ptrdiff_t n_taps, ptrdiff_t j, const T* init,       \
                                       T* out)                                             \
{                                                                                          \
    FC_ROW_LOOP(T, TAG, fc_load_##TAG(init + v * LANES), fc_splat_##TAG(weights[t]))       \
}
FC_DEFINE_ROW_KERNELS(float, f32)
FC_DEFINE_ROW_KERNELS(double, f64)

/* One-channel pairs: two consecutive output rows of a one-channel row (stride_h and
 * dil_h 1) at once, FC_PAIR_ROW_VECTORS vectors of each. The rows share k_h of their
 * k_h + 1 input rows: each input vector is loaded once and multiplied into both rows'
 * accumulators, with weight w[kh] for the upper row and w[kh - 1] for the lower one,
 * one load for two multiply-adds instead of one.
 * fc_row_single_pair_<tag>(srcs, weights, k_h, k_w, j, init, out_a, out_b):
 * srcs[r * k_w + kw] is input row r's tap kw (r <= k_h) at output value 0, weights[kh *
 * k_w + kw] the tap's weight; out_a[j:][:chunk] and out_b[j:][:chunk] start from
 * init[0:] and sum their taps in fc_row_single's order (kh, then kw), so the bits match.
 * GCC loads a tap's V input vectors before its multiply-adds: with 16 registers, 2 x 6
 * accumulators left three of them on the stack, so 2 x 4 it is. */
#if defined(__AVX512F__)
#define FC_PAIR_ROW_VECTORS 8
#else
#define FC_PAIR_ROW_VECTORS 4
#endif
#define FC_PAIR_ROW_CHUNK_f32 (FC_PAIR_ROW_VECTORS * FC_LANES_f32)
#define FC_PAIR_ROW_CHUNK_f64 (FC_PAIR_ROW_VECTORS * FC_LANES_f64)
#define FC_DEFINE_ROW_PAIR_KERNEL(T, TAG)                                                  \
static inline void fc_row_single_pair_##TAG(const T* const* srcs, const T* weights,        \
                                            ptrdiff_t k_h, ptrdiff_t k_w, ptrdiff_t j,     \
                                            const T* init, T* out_a, T* out_b)             \
{                                                                                          \
    enum { LANES = FC_LANES_##TAG, V = FC_PAIR_ROW_VECTORS };                              \
    fc_vec_##TAG a[V], b[V];                                                               \
    FC_UNROLL(16) for (int v = 0; v < V; v++)                                              \
        a[v] = b[v] = fc_load_##TAG(init + v * LANES);                                     \
    for (ptrdiff_t r = 0; r <= k_h; r++) {                                                 \
        for (ptrdiff_t k = 0; k < k_w; k++) {                                              \
            const T* src = srcs[r * k_w + k] + j;                                          \
            if (r == 0) {                                                                  \
                fc_vec_##TAG wa = fc_splat_##TAG(weights[k]);                              \
                FC_UNROLL(16) for (int v = 0; v < V; v++)                                  \
                    a[v] = fc_vfma_##TAG(wa, fc_load_##TAG(src + v * LANES), a[v]);        \
            } else if (r == k_h) {                                                         \
                fc_vec_##TAG wb = fc_splat_##TAG(weights[(r - 1) * k_w + k]);              \
                FC_UNROLL(16) for (int v = 0; v < V; v++)                                  \
                    b[v] = fc_vfma_##TAG(wb, fc_load_##TAG(src + v * LANES), b[v]);        \
            } else {                                                                       \
                fc_vec_##TAG wa = fc_splat_##TAG(weights[r * k_w + k]);                    \
                fc_vec_##TAG wb = fc_splat_##TAG(weights[(r - 1) * k_w + k]);              \
                FC_UNROLL(16) for (int v = 0; v < V; v++) {                                \
                    fc_vec_##TAG x = fc_load_##TAG(src + v * LANES);                       \
                    a[v] = fc_vfma_##TAG(wa, x, a[v]);                                     \
                    b[v] = fc_vfma_##TAG(wb, x, b[v]);                                     \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    FC_UNROLL(16) for (int v = 0; v < V; v++) {                                            \
        fc_store_##TAG(out_a + j + v * LANES, a[v]);                                       \
        fc_store_##TAG(out_b + j + v * LANES, b[v]);                                       \
    }                                                                                      \
}
FC_DEFINE_ROW_PAIR_KERNEL(float, f32)
FC_DEFINE_ROW_PAIR_KERNEL(double, f64)

/* Depthwise steps, for depthwise rows (multiplier 1, any C): M vectors of output values
 * that share their weights. In the flat view of a row (value j = pixel * C + channel),
 * value j's weight is w[tap][j % C], so vectors a whole number of pixels apart need the
 * same weight vector: each tap loads it once and multiplies it into every step (one
 * load per multiply-add, not two). Output step m is out_step values on, and reads its
 * input in_step values on (stride_w times as many pixels).
 * fc_dw_steps<M>_<tag>(srcs, weights, n_taps, phase, j_in, in_step, j_out, out_step, init,
 *                      out):
 *     out[j_out + m*out_step :][:L] = init[:L]
 *                   + sum_t weights[t][phase:][:L] * srcs[t][j_in + m*in_step :][:L]
 * for m < M, summed in tap order as fc_fma / fc_fmaf round (the bits of the per-pixel
 * loop). Rows with fewer pixels than 8 steps take the 4-step kernel. */
#define FC_DEFINE_DW_STEPS_KERNEL(M, T, TAG)                                               \
static inline void fc_dw_steps##M##_##TAG(const T* const* srcs, const T* const* weights,   \
                                          ptrdiff_t n_taps, ptrdiff_t phase, ptrdiff_t j_in, \
                                          ptrdiff_t in_step, ptrdiff_t j_out,              \
                                          ptrdiff_t out_step, const T* init, T* out)       \
{                                                                                          \
    fc_vec_##TAG a[M];                                                                     \
    FC_UNROLL(16) for (int m = 0; m < M; m++)                                              \
        a[m] = fc_load_##TAG(init);                                                        \
    for (ptrdiff_t t = 0; t < n_taps; t++) {                                               \
        const T* src = srcs[t] + j_in;                                                     \
        fc_vec_##TAG wv = fc_load_##TAG(weights[t] + phase);                               \
        FC_UNROLL(16) for (int m = 0; m < M; m++) {                                        \
            /* Walk the steps: M offsets m * in_step did not fit in registers. */         \
            a[m] = fc_vfma_##TAG(wv, fc_load_##TAG(src), a[m]);                            \
            src += in_step;                                                                \
        }                                                                                  \
    }                                                                                      \
    FC_UNROLL(16) for (int m = 0; m < M; m++)                                              \
        fc_store_##TAG(out + j_out + m * out_step, a[m]);                                  \
}
FC_DEFINE_DW_STEPS_KERNEL(8, float, f32)
FC_DEFINE_DW_STEPS_KERNEL(8, double, f64)
FC_DEFINE_DW_STEPS_KERNEL(4, float, f32)
FC_DEFINE_DW_STEPS_KERNEL(4, double, f64)

/* Depthwise pairs: the steps of two consecutive output rows (stride_h and dil_h 1) at
 * once. The rows share k_h of their k_h + 1 input rows: each input vector is loaded
 * once and multiplied into both rows' accumulators, with weight w[kh] for the upper row
 * and w[kh - 1] for the lower one, which halves the input reads from L2.
 * fc_dw_pair<M>_<tag>(srcs, weights, k_h, k_w, phase, j_in, in_step, j_out, out_step,
 *                     init, out_a, out_b): srcs[r * k_w + kw] is input row r's tap kw
 * (r <= k_h) for output pixel 0, weights[kh * k_w + kw] the tap's periodic weights; each
 * row's taps are summed in the order of fc_dw_steps (kh, then kw), so the bits match. */
#if defined(__AVX512F__)
#define FC_DW_PAIR_STEPS 8
#else
#define FC_DW_PAIR_STEPS 4   /* 2 x 4 accumulators in 16 registers */
#endif
#define FC_DEFINE_DW_PAIR_KERNEL(M, T, TAG)                                                \
static inline void fc_dw_pair_##TAG(const T* const* srcs, const T* const* weights,         \
                                    ptrdiff_t k_h, ptrdiff_t k_w, ptrdiff_t phase,         \
                                    ptrdiff_t j_in, ptrdiff_t in_step, ptrdiff_t j_out,    \
                                    ptrdiff_t out_step, const T* init, T* out_a, T* out_b) \
{                                                                                          \
    fc_vec_##TAG a[M], b[M];                                                               \
    FC_UNROLL(16) for (int m = 0; m < M; m++)                                              \
        a[m] = b[m] = fc_load_##TAG(init);                                                 \
    for (ptrdiff_t r = 0; r <= k_h; r++) {                                                 \
        for (ptrdiff_t k = 0; k < k_w; k++) {                                              \
            const T* src = srcs[r * k_w + k] + j_in;                                       \
            if (r == 0) {                                                                  \
                fc_vec_##TAG wa = fc_load_##TAG(weights[k] + phase);                       \
                FC_UNROLL(16) for (int m = 0; m < M; m++) {                                \
                    a[m] = fc_vfma_##TAG(wa, fc_load_##TAG(src), a[m]);                    \
                    src += in_step;                                                        \
                }                                                                          \
            } else if (r == k_h) {                                                         \
                fc_vec_##TAG wb = fc_load_##TAG(weights[(r - 1) * k_w + k] + phase);       \
                FC_UNROLL(16) for (int m = 0; m < M; m++) {                                \
                    b[m] = fc_vfma_##TAG(wb, fc_load_##TAG(src), b[m]);                    \
                    src += in_step;                                                        \
                }                                                                          \
            } else {                                                                       \
                fc_vec_##TAG wa = fc_load_##TAG(weights[r * k_w + k] + phase);             \
                fc_vec_##TAG wb = fc_load_##TAG(weights[(r - 1) * k_w + k] + phase);       \
                FC_UNROLL(16) for (int m = 0; m < M; m++) {                                \
                    fc_vec_##TAG v = fc_load_##TAG(src);                                   \
                    a[m] = fc_vfma_##TAG(wa, v, a[m]);                                     \
                    b[m] = fc_vfma_##TAG(wb, v, b[m]);                                     \
                    src += in_step;                                                        \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    FC_UNROLL(16) for (int m = 0; m < M; m++) {                                            \
        fc_store_##TAG(out_a + j_out + m * out_step, a[m]);                                \
        fc_store_##TAG(out_b + j_out + m * out_step, b[m]);                                \
    }                                                                                      \
}
FC_DEFINE_DW_PAIR_KERNEL(FC_DW_PAIR_STEPS, float, f32)
FC_DEFINE_DW_PAIR_KERNEL(FC_DW_PAIR_STEPS, double, f64)

/* Grouped blocks, for grouped layers with G = C_in/groups = C_out/groups in {2, 4, 8, 16}
 * (ResNeXt's 32x4d): one block of COUT_BLOCK channels spans COUT_BLOCK / G groups, whose
 * input channels are the same COUT_BLOCK channels of the input pixel. Lane c needs input
 * channel (c & ~(G-1)) + r for the group's r-th input channel: a permute of the loaded
 * input vector (fc_group_lanes), so no lane is wasted on a group's few channels.
 * fc_grouped_<NAME>(x_pixels, w_rows, n_runs, group, w_r_stride, channels, init,
 * init_stride, out, out_stride): for run k (a kernel tap (kh, kw)) and r < G,
 *     block[p][c] += x_pixels[k * MR + p][(c & ~(G-1)) + r] * (w_rows[k] + r * w_r_stride)[c]
 * summed in the same order as the other blocks (kh, kw, then r), for the block's first
 * `channels` channels (a multiple of G). A layer's last block may hold fewer channels than
 * the block (RegNet's 152 = 2 x 64 + 24): it reads and writes only its own, with masked
 * vectors (its weight rows are still whole vectors). */
#if defined(__AVX512F__)
#define FC_HAS_GROUPED 1
static inline fc_vec_f32 fc_group_lanes_f32(fc_vec_f32 v, const int* idx) {
    return _mm512_permutexvar_ps(_mm512_loadu_si512((const void*) idx), v);
}
static inline fc_vec_f64 fc_group_lanes_f64(fc_vec_f64 v, const int* idx) {
    return _mm512_permutexvar_pd(_mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i*) idx)), v);
}
#elif defined(__AVX2__) && defined(__FMA__)
#define FC_HAS_GROUPED 1
static inline fc_vec_f32 fc_group_lanes_f32(fc_vec_f32 v, const int* idx) {
    return _mm256_permutevar8x32_ps(v, _mm256_loadu_si256((const __m256i*) idx));
}
static inline fc_vec_f64 fc_group_lanes_f64(fc_vec_f64 v, const int* idx) {
    /* A double is two floats: lane k's pair of floats comes from double idx[k]. */
    __m128i d = _mm_loadu_si128((const __m128i*) idx);
    __m256i pairs = _mm256_cvtepu32_epi64(d);
    __m256i floats = _mm256_or_si256(_mm256_slli_epi64(_mm256_add_epi32(
        _mm256_add_epi32(pairs, pairs), _mm256_set1_epi64x(1)), 32), _mm256_add_epi32(pairs, pairs));
    return _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), floats));
}
#else
#define FC_HAS_GROUPED 0
#endif

#if FC_HAS_GROUPED
/* A grouped block whose groups are VPG whole vectors each: vector v's outputs belong to
 * group v / VPG, whose VPG * LANES input values the pixels broadcast one by one. Each
 * pixel's pointer steps on by one value, so that every multiply-add reads pointer +
 * constant: Intel cores split a multiply-add with an indexed operand in two micro-ops,
 * and ResNeXt's (4,14,14,512) 3x3, 16 a group, ran 1.23x faster than indexed. */
#define FC_GROUPED_BROADCASTS(T, TAG, MR, NV, VPG)                                         \
        FC_BLOCK_PASSES(TAG, MR, NV,                                                       \
            for (ptrdiff_t k = 0; k < n_runs; k++) {                                       \
                const T* xq[MRP];                                                          \
                FC_UNROLL(16) for (int p = 0; p < MRP; p++)                                \
                    xq[p] = x_pixels[k * MR + pp + p];                                     \
                const T* w = w_rows[k] + vv * LANES;                                       \
                for (ptrdiff_t r = 0; r < (VPG) * LANES; r++) {                            \
                    FC_UNROLL(16) for (int v = 0; v < NVP; v++)                            \
                        wv[v] = fc_load_##TAG(w + v * LANES);                              \
                    FC_UNROLL(16) for (int p = 0; p < MRP; p++) {                          \
                        FC_UNROLL(16) for (int v = 0; v < NVP; v++)                        \
                            a[p][v] = fc_vfma_##TAG(                                       \
                                fc_splat_##TAG(xq[p][(vv + v) / (VPG) * (VPG) * LANES]),   \
                                wv[v], a[p][v]);                                           \
                        xq[p]++;                                                           \
                        FC_OPAQUE(xq[p]);                                                  \
                    }                                                                      \
                    w += w_r_stride;                                                       \
                }                                                                          \
            })
/* Groups narrower than a vector: lanes_of[r] moves each lane's group's r-th input channel
 * into it (fc_group_lanes). FC_GROUPED_RUNS goes through a block's runs, each run's taps r
 * by r, pixel p's input for vector v given by X_OF(TAG, p, v): a whole or masked input
 * vector permuted, or a broadcast. */
#define FC_GROUP_LANES_TABLE(TAG)                                                          \
    int lanes_of[16][FC_LANES_##TAG];                                                      \
    for (int r = 0; r < group && r < 16; r++)                                              \
        for (int c = 0; c < FC_LANES_##TAG; c++)                                           \
            lanes_of[r][c] = (c & ~((int) group - 1)) + r;
#define FC_PERMUTED_WHOLE(TAG, p, v)                                                       \
    fc_group_lanes_##TAG(fc_load_##TAG(xp[p] + (vv + v) * LANES), lanes_of[r])
#define FC_PERMUTED_VALID(TAG, p, v)                                                       \
    fc_group_lanes_##TAG(fc_load_tail_##TAG(xp[p] + (vv + v) * LANES, valid[v]), lanes_of[r])
#define FC_BROADCAST_VALID(TAG, p, v) fc_splat_##TAG(xp[p][first[v] + r])
#define FC_GROUPED_RUNS(T, TAG, MR, X_OF)                                                  \
    for (ptrdiff_t k = 0; k < n_runs; k++) {                                               \
        const T* const* xp = x_pixels + k * MR + pp;                                       \
        for (ptrdiff_t r = 0; r < group; r++) {                                            \
            const T* w = w_rows[k] + r * w_r_stride;                                       \
            FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                    \
                wv[v] = fc_load_##TAG(w + (vv + v) * LANES);                               \
            FC_UNROLL(16) for (int p = 0; p < MRP; p++)                                    \
                FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                \
                    a[p][v] = fc_vfma_##TAG(X_OF(TAG, p, v), wv[v], a[p][v]);              \
        }                                                                                  \
    }
/* A block's lanes that hold one of its first `channels` channels, vector by vector. */
#define FC_VALID_LANES(channels, v, LANES)                                                 \
    ((channels) <= (v) * (LANES) ? 0 : (channels) >= ((v) + 1) * (LANES) ? (LANES)         \
     : (int) ((channels) - (v) * (LANES)))
/* The masked twin of a grouped block, for a layer's last block when it holds fewer
 * channels than the block (groups of at most one vector: _direct.pyx gives wider ones
 * whole blocks or per-group panels): init and out move through masked vectors. Groups
 * narrower than a vector load x masked and permute it (a lane reads only its own group's
 * channels, all valid or all not); groups of one vector broadcast, the vectors past
 * `channels` from the pixel's first value (in bounds; those lanes are never stored). */
#define FC_GROUPED_PART(T, TAG, MR, NV)                                                    \
    enum { LANES = FC_LANES_##TAG, MRP = FC_PASS_PIXELS(MR, NV),                           \
           NVP = FC_PASS_VECTORS(NV) };                                                    \
    FC_GROUP_LANES_TABLE(TAG)                                                              \
    for (int pp = 0; pp < MR; pp += MRP) {                                                 \
        for (int vv = 0; vv < NV; vv += NVP) {                                             \
            fc_vec_##TAG a[MRP][NVP], wv[NVP];                                             \
            int valid[NVP];                                                                \
            ptrdiff_t first[NVP];                                                          \
            FC_UNROLL(16) for (int v = 0; v < NVP; v++) {                                  \
                valid[v] = FC_VALID_LANES(channels, vv + v, LANES);                        \
                first[v] = valid[v] ? (vv + v) * LANES : 0;                                \
            }                                                                              \
            FC_UNROLL(16) for (int p = 0; p < MRP; p++)                                    \
                FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                \
                    a[p][v] = fc_load_tail_##TAG(init + (pp + p) * init_stride             \
                                                 + (vv + v) * LANES, valid[v]);            \
            if (group < LANES) {                                                           \
                FC_GROUPED_RUNS(T, TAG, MR, FC_PERMUTED_VALID)                             \
            } else {                                                                       \
                FC_GROUPED_RUNS(T, TAG, MR, FC_BROADCAST_VALID)                            \
            }                                                                              \
            FC_UNROLL(16) for (int p = 0; p < MRP; p++)                                    \
                FC_UNROLL(16) for (int v = 0; v < NVP; v++)                                \
                    fc_store_tail_##TAG(out + (pp + p) * out_stride + (vv + v) * LANES,    \
                                        a[p][v], valid[v]);                                \
        }                                                                                  \
    }
#define FC_DEFINE_GROUPED_KERNEL(NAME, T, TAG, MR, NV)                                     \
static inline void fc_grouped_##NAME(const T* const* x_pixels, const T* const* w_rows,     \
                                     ptrdiff_t n_runs, ptrdiff_t group, ptrdiff_t w_r_stride, \
                                     ptrdiff_t channels, const T* init,                    \
                                     ptrdiff_t init_stride, T* out, ptrdiff_t out_stride)  \
{                                                                                          \
    if (channels < (NV) * FC_LANES_##TAG) {                                                \
        FC_GROUPED_PART(T, TAG, MR, NV)                                                    \
        return;                                                                            \
    }                                                                                      \
    /* Groups of one or two whole vectors: broadcasts, no permute. */                   \
    if (group == FC_LANES_##TAG) {                                                         \
        FC_GROUPED_BROADCASTS(T, TAG, MR, NV, 1)                                           \
        return;                                                                            \
    }                                                                                      \
    if (group == 2 * FC_LANES_##TAG) {                                                     \
        FC_GROUPED_BROADCASTS(T, TAG, MR, NV, 2)                                           \
        return;                                                                            \
    }                                                                                      \
    FC_GROUP_LANES_TABLE(TAG)                                                              \
    FC_BLOCK_PASSES(TAG, MR, NV, FC_GROUPED_RUNS(T, TAG, MR, FC_PERMUTED_WHOLE))           \
}
/* As many pixels as the wide block: 6 ran 2-16% faster than 4 on ResNeXt's layers (8 and
 * 16 channels per group) with AVX-512 and AVX2. */
FC_DEFINE_GROUPED_KERNEL(wide_f32, float, f32, FC_WIDE_PIXELS, FC_COUT_BLOCK_F32 / FC_LANES_f32)
FC_DEFINE_GROUPED_KERNEL(wide_f64, double, f64, FC_WIDE_PIXELS, FC_COUT_BLOCK_F64 / FC_LANES_f64)
#else
/* No lane permute on this build: the grouped block is never chosen (FC_HAS_GROUPED 0). */
static inline void fc_grouped_wide_f32(const float* const* x_pixels, const float* const* w_rows,
                                       ptrdiff_t n_runs, ptrdiff_t group, ptrdiff_t w_r_stride,
                                       ptrdiff_t channels, const float* init,
                                       ptrdiff_t init_stride, float* out, ptrdiff_t out_stride) {}
static inline void fc_grouped_wide_f64(const double* const* x_pixels, const double* const* w_rows,
                                       ptrdiff_t n_runs, ptrdiff_t group, ptrdiff_t w_r_stride,
                                       ptrdiff_t channels, const double* init,
                                       ptrdiff_t init_stride, double* out, ptrdiff_t out_stride) {}
#endif

#endif

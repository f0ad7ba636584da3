/* Build facts and the OpenMP shim: the only place that looks at _OPENMP,
 * so every kernel compiles with or without OpenMP. */
#ifndef FASTCONV_CONFIG_H
#define FASTCONV_CONFIG_H

#ifdef _OPENMP
#include <omp.h>
static inline int fc_openmp_enabled(void) { return 1; }
static inline int fc_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int fc_openmp_enabled(void) { return 0; }
static inline int fc_omp_max_threads(void) { return 1; }
#endif

#if defined(__clang__)
#define FC_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define FC_COMPILER "gcc " __VERSION__
#elif defined(_MSC_VER)
#define FC_COMPILER "msvc"
#else
#define FC_COMPILER "unknown"
#endif

/* One multiply-add, rounded the same way on every code path of a build: a fused
 * multiply-add where the build targets FMA hardware, a product then a sum elsewhere.
 * The kernels are compiled with -ffp-contract=off, so the compiler never fuses on its
 * own: a vectorised register block and a scalar per-pixel loop then give the same bits
 * for the same sum, whatever path an output pixel takes (fastconv.dask relies on it). */
#if defined(__FMA__) || defined(__AVX512F__)
#define fc_fma(a, b, c) __builtin_fma((a), (b), (c))
#define fc_fmaf(a, b, c) __builtin_fmaf((a), (b), (c))
#else
static inline double fc_fma(double a, double b, double c) { return a * b + c; }
static inline float fc_fmaf(float a, float b, float c) { return a * b + c; }
#endif

/* Buffers the vector loops read whole vectors from (packed weight panels, the gradients'
 * workspaces), aligned to a cache line: malloc gives 16 bytes, and then every 64-byte
 * (AVX-512) load of a panel row spans two lines, which cost the direct kernel 5-12%.
 * Free with fc_aligned_free. */
#include <stdlib.h>
#include <string.h>
#define FC_CACHE_LINE 64
#if defined(_WIN32)   /* MSVC and MinGW: no posix_memalign */
#include <malloc.h>
static inline void* fc_aligned_alloc(size_t bytes) {
    return _aligned_malloc(bytes ? bytes : 1, FC_CACHE_LINE);
}
static inline void fc_aligned_free(void* p) { _aligned_free(p); }
#else
static inline void* fc_aligned_alloc(size_t bytes) {
    void* p = NULL;
    return posix_memalign(&p, FC_CACHE_LINE, bytes ? bytes : 1) == 0 ? p : NULL;
}
static inline void fc_aligned_free(void* p) { free(p); }
#endif
/* fc_aligned_alloc, zeroed; NULL when count * size overflows or memory runs out. */
static inline void* fc_aligned_calloc(size_t count, size_t size) {
    if (size && count > (size_t) -1 / size)
        return NULL;
    void* p = fc_aligned_alloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

/* A hint to bring the cache line at p in for reading; never faults, whatever p. */
#if defined(__GNUC__) || defined(__clang__)
#define fc_prefetch(p) __builtin_prefetch((p), 0, 3)
#else
#define fc_prefetch(p) ((void) (p))
#endif

/* The instruction sets the compiler was allowed to emit everywhere (the build's baseline). */
#define FC_STR_(x) #x
static const char fc_simd_baseline[] = ""
#ifdef __SSE2__
    "SSE2 "
#endif
#ifdef __SSE4_2__
    "SSE4.2 "
#endif
#ifdef __AVX__
    "AVX "
#endif
#ifdef __AVX2__
    "AVX2 "
#endif
#ifdef __FMA__
    "FMA "
#endif
#ifdef __AVX512F__
    "AVX512F "
#endif
#ifdef __ARM_NEON
    "NEON "
#endif
    ;

/* Run-time CPU features, for choosing among the SIMD builds of a kernel module.
 * __builtin_cpu_supports also checks that the OS saves the wider registers. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
static inline int fc_cpu_supports_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
static inline int fc_cpu_supports_avx512(void) {
    __builtin_cpu_init();
    return fc_cpu_supports_avx2() && __builtin_cpu_supports("avx512f")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq");
}
#else
static inline int fc_cpu_supports_avx2(void) { return 0; }
static inline int fc_cpu_supports_avx512(void) { return 0; }
#endif

#endif

"""The drop-ins' cost model: which engine is fastest for one problem.

Seconds, measured on the development machine (AMD EPYC Zen 4, 2 cores, AVX-512) by
``python -m fastconv.bench --calibrate``, one thread at a time. Re-measure when a
kernel changes; only the crossovers depend on these numbers, never a result.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Optional, Sequence, Tuple

import numpy as np

from .policy import Policy

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

# NumPy's own C loop (np.correlate): multiply-adds below which it always wins, its
# call overhead, and seconds per multiply-add for kernels shorter / not shorter than
# NUMPY_LONG_KERNEL taps (long ones use BLAS dots).
NUMPY_ALWAYS_BELOW = 40_000
SCIPY_ALWAYS_BELOW = 4_000  # multiply-adds: SciPy's 2-D loop (~0.5 GMAC/s) is faster
NUMPY_OVERHEAD = 1.5e-6
NUMPY_LONG_KERNEL = 64
NUMPY_SEC_PER_MAC = {F32: (0.3e-9, 0.085e-9), F64: (0.25e-9, 0.135e-9)}
# fastconv's direct path: Python + conv2d overhead per call, and seconds per multiply-add
# per thread, 1-D (one image row per thread) and 2-D (one channel).
DIRECT_OVERHEAD = 25e-6
DIRECT_SEC_PER_MAC = {F32: 1 / 9.4e9, F64: 1 / 4e9}
DIRECT2D_SEC_PER_MAC = {F32: 1 / 24e9, F64: 1 / 15.7e9}
# The overlap-save FFT: overhead per call, and seconds per (n log2 n) of one frame of
# n samples (two real transforms, the product and the copies), per thread. Transforms
# longer than FFT_CACHE_LENGTH leave the caches: FFT_CACHE_PENALTY more per doubling.
FFT_OVERHEAD = 50e-6
FFT_SEC_PER_NLOGN = {F32: 0.6e-9, F64: 1.2e-9}
FFT_CACHE_LENGTH = 16384
FFT_CACHE_PENALTY = 0.6

Engine = Tuple[str, Optional[Tuple[int, ...]]]


def numpy_is_faster(macs: int, policy: Policy) -> bool:
    """Tiny 1-D problems: NumPy's C loop beats any call into a kernel."""
    return policy.delegate_small and macs < NUMPY_ALWAYS_BELOW


def scipy_is_faster(macs: int, policy: Policy) -> bool:
    """Tiny 2-D problems: SciPy's C loop beats any call into a kernel."""
    return policy.delegate_small and macs < SCIPY_ALWAYS_BELOW


def direct_rows(macs: int, threads: int, n_taps: int, policy: Policy) -> int:
    """Rows (one per thread) to cut a 1-D direct problem into."""
    if threads < 2 or n_taps < policy.split_min_taps:
        return 1  # memory-bound: the copy into rows would cost more than a thread saves
    return max(1, min(threads, macs // policy.split_min_macs))


def choose_1d(n1: int, n2: int, length: int, dtype: np.dtype, policy: Policy,
              numpy_ok: bool = True) -> Engine:
    """("numpy" | "direct" | "fft" | "fft1", FFT shape or None) for a 1-D correlation of
    n1 samples with n2 <= n1 taps giving ``length`` outputs: the policy's forced engine,
    else the fastest by the cost model."""
    if policy.engine_1d is not None:
        return policy.engine_1d, policy.nfft
    threads = policy.thread_count()
    macs = length * n2
    t_direct = DIRECT_OVERHEAD + macs * DIRECT_SEC_PER_MAC[dtype] / direct_rows(
        macs, threads, n2, policy)
    best: Engine = ("direct", None)
    if numpy_ok and policy.delegate_small:
        per_mac = NUMPY_SEC_PER_MAC[dtype][n2 >= NUMPY_LONG_KERNEL]
        t_numpy = NUMPY_OVERHEAD + min(length, n1) * n2 * per_mac  # overlaps only
        if t_numpy < t_direct:
            best, t_direct = ("numpy", None), t_numpy
    # An FFT costs at least log2(frame) * FFT_SEC_PER_NLOGN per output, frame >= 2 * n2.
    fft_floor = FFT_OVERHEAD + length * math.log2(max(16, 2 * n2)) * FFT_SEC_PER_NLOGN[
        dtype] / threads
    if t_direct <= fft_floor:
        return best
    t_fft, nfft = best_fft_shape((length,), (n2,), dtype, threads)
    if t_fft < t_direct:
        best, t_direct = ("fft", nfft), t_fft
    t_fft1, nfft = fft1_cost(n1, n2, dtype)
    return ("fft1", nfft) if t_fft1 < t_direct else best


def choose_2d(out_shape: Sequence[int], k_shape: Sequence[int], dtype: np.dtype,
              policy: Policy) -> Engine:
    """("direct" | "fft", FFT shape or None) for a 2-D correlation."""
    if policy.engine_2d is not None:
        return policy.engine_2d, policy.nfft
    threads = policy.thread_count()
    macs = math.prod(out_shape) * math.prod(k_shape)
    rows = max(1, min(threads, out_shape[0], macs // policy.split_min_macs))
    t_direct = DIRECT_OVERHEAD + macs * DIRECT2D_SEC_PER_MAC[dtype] / rows
    if t_direct < FFT_OVERHEAD:
        return "direct", None
    t_fft, nfft = best_fft_shape(out_shape, k_shape, dtype, threads)
    return ("fft", nfft) if t_fft < t_direct else ("direct", None)


def fft1_cost(n1: int, n2: int, dtype: np.dtype) -> tuple[float, Tuple[int, ...]]:
    """(seconds, (size,)) of one circular correlation: three transforms of one size."""
    from scipy import fft as sp_fft
    size = sp_fft.next_fast_len(n1 + n2 - 1, real=True)
    per = size * math.log2(size) * FFT_SEC_PER_NLOGN[dtype]
    per *= 1 + FFT_CACHE_PENALTY * max(0.0, math.log2(size / FFT_CACHE_LENGTH))
    return FFT_OVERHEAD + 1.5 * per, (size,)


def fft_sizes(out: int, k: int) -> list[int]:
    """Candidate FFT lengths for one axis: a few multiples of the kernel, or one block."""
    from scipy import fft as sp_fft
    whole = sp_fft.next_fast_len(out + k - 1, real=True)
    sizes = {whole}
    for factor in (2, 4, 8, 16, 32, 64):
        size = sp_fft.next_fast_len(max(factor * k, 16), real=True)
        if size < whole:
            sizes.add(size)
    return sorted(sizes)


def fft_cost(out_shape: Sequence[int], k_shape: Sequence[int], nfft: Sequence[int],
             dtype: np.dtype, threads: int) -> float:
    """Predicted seconds of the overlap-save FFT with frame shape ``nfft``."""
    n_blocks = math.prod(-(-o // (n - k + 1)) for o, k, n in zip(out_shape, k_shape, nfft))
    size = math.prod(nfft)
    per_block = size * math.log2(max(size, 2)) * FFT_SEC_PER_NLOGN[dtype]
    per_block *= 1 + FFT_CACHE_PENALTY * max(0.0, math.log2(max(nfft) / FFT_CACHE_LENGTH))
    # scipy.fft shares whole frames among its workers: a few frames barely gain.
    return FFT_OVERHEAD + per_block * n_blocks / max(1, min(threads, n_blocks // 2))


def best_fft_shape(out_shape: Sequence[int], k_shape: Sequence[int], dtype: np.dtype,
                   threads: int) -> tuple[float, Tuple[int, ...]]:
    """(predicted seconds, FFT shape) minimising the overlap-save cost."""
    return _best_fft_shape(tuple(out_shape), tuple(k_shape), np.dtype(dtype), threads)


@functools.lru_cache(maxsize=256)
def _best_fft_shape(out_shape: Tuple[int, ...], k_shape: Tuple[int, ...], dtype: np.dtype,
                    threads: int) -> tuple[float, Tuple[int, ...]]:
    best: Optional[tuple[float, Tuple[int, ...]]] = None
    axes = [fft_sizes(o, k) for o, k in zip(out_shape, k_shape)]
    for nfft in itertools.product(*axes):
        cost = fft_cost(out_shape, k_shape, nfft, dtype, threads)
        if best is None or cost < best[0]:
            best = (cost, nfft)
    assert best is not None
    return best

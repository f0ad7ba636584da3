"""FFT engines: overlap-save with batched real FFTs (1-D and 2-D), and one circular FFT."""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .cost import fft1_cost


def fft_correlate(band: Callable[[int, int], np.ndarray], w: np.ndarray,
                  out_shape: Sequence[int], nfft: Sequence[int], threads: int,
                  batch_bytes: int) -> np.ndarray:
    """out[i] = sum_k padded[i + k] * w[k] ('valid' correlation, 1-D or 2-D), by FFTs.

    The output is cut into blocks of ``step = nfft - k + 1`` per axis; each block's input
    frame of ``nfft`` samples is read in place (overlapping strided frames), frames are
    transformed in batches of real FFTs, multiplied by the kernel's conjugate spectrum,
    transformed back, and the first ``step`` samples of each are the block's outputs.

    The padded input is never materialised whole: ``band(r0, r1)`` returns its rows
    (samples, in 1-D) r0 .. r1 - 1, as wide as whole blocks need (``blocks_extent``),
    zeros past its end. Each batch is a band of block rows sized to keep its spectra
    near ``batch_bytes``, so temporaries stay small, cached and reused.
    """
    from scipy import fft as sp_fft
    nd = len(out_shape)
    steps = [n - k + 1 for n, k in zip(nfft, w.shape)]
    blocks = [-(-o // s) for o, s in zip(out_shape, steps)]
    axes = tuple(range(nd, 2 * nd))
    kernel_spectrum = np.conj(sp_fft.rfftn(w, s=nfft))
    itemsize = np.dtype(w.dtype).itemsize
    spectrum_bytes = math.prod(nfft[:-1]) * (nfft[-1] // 2 + 1) * 2 * itemsize
    per_lead = spectrum_bytes * math.prod(blocks[1:])  # one row of blocks
    batch = max(1, min(blocks[0], batch_bytes // max(per_lead, 1)))
    if blocks[0] > 1:  # enough frames for every worker, but at least two batches' worth
        batch = max(batch, min(blocks[0], -(-2 * threads // math.prod(blocks[1:]))))
    out = np.empty(tuple(out_shape), dtype=w.dtype)
    for first in range(0, blocks[0], batch):
        last = min(first + batch, blocks[0])
        rows = band(first * steps[0], last * steps[0] + w.shape[0] - 1)
        frames = as_strided(
            rows, (last - first,) + tuple(blocks[1:]) + tuple(nfft),
            tuple(s * st for s, st in zip(steps, rows.strides)) + rows.strides,
            writeable=False)
        workers = max(1, min(threads, (last - first) * math.prod(blocks[1:])))
        spectrum = sp_fft.rfftn(frames, s=nfft, axes=axes, workers=workers)
        spectrum *= kernel_spectrum
        result = sp_fft.irfftn(spectrum, s=nfft, axes=axes, workers=workers,
                               overwrite_x=True)
        result = result[(Ellipsis,) + tuple(slice(0, s) for s in steps)]
        if nd == 2:  # (rows of blocks, blocks, step_h, step_w) -> (rows, step_h, blocks, step_w)
            result = result.transpose(0, 2, 1, 3)
        result = result.reshape([(last - first) * steps[0]] + [b * s for b, s in
                                                                zip(blocks[1:], steps[1:])])
        lo = first * steps[0]
        hi = min(last * steps[0], out_shape[0])
        out[lo:hi] = result[(slice(0, hi - lo),) + tuple(slice(0, o) for o in out_shape[1:])]
    return out


def blocks_extent(out_shape: Sequence[int], k_shape: Sequence[int],
                  nfft: Sequence[int]) -> Tuple[int, ...]:
    """Samples per axis that whole overlap-save blocks read: n_blocks * step + k - 1."""
    return tuple(-(-o // (n - k + 1)) * (n - k + 1) + k - 1
                 for o, k, n in zip(out_shape, k_shape, nfft))


def fft1_correlate1d(x: np.ndarray, w: np.ndarray, n_left: int, length: int,
                     nfft: Optional[Sequence[int]] = None) -> np.ndarray:
    """One circular correlation of size >= n1 + n2 - 1: c[j] = sum_k x[j + k] w[k] for
    lags j = -(n2 - 1) .. n1 - 1, the negative ones at the end; out[i] = c[i - n_left].

    Unlike overlap-save over the zero-extended signal, no transform length is spent on
    the n2 - 1 zeros of each end: better when the kernel is as long as the signal.
    """
    from scipy import fft as sp_fft
    n1, n2 = len(x), len(w)
    size = nfft[0] if nfft else fft1_cost(n1, n2, x.dtype)[1][0]
    spectrum = sp_fft.rfft(x, size)
    spectrum *= np.conj(sp_fft.rfft(w, size))
    circular: np.ndarray = sp_fft.irfft(spectrum, size, overwrite_x=True)
    if n_left == 0:
        return circular[:length]
    return np.concatenate((circular[size - n_left:], circular[:length - n_left]))

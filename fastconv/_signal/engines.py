"""The correlation engines behind the drop-ins: conv2d (direct) or FFT, 1-D and 2-D.

An FFT spreads one NaN or Inf over the whole output, where a direct sum confines it
to the outputs that see it; inputs with non-finite values therefore always take the
direct path. Zeros that a direct sum never multiplies (NumPy's partial overlaps) and
zeros SciPy pads with explicitly (``0 * inf = nan`` in SciPy's output) are reproduced
as such.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .._geometry import scipy_pads
from .._typing import PadMode, PadPairs
from ..conv import conv2d
from . import border, cost
from .fft import blocks_extent, fft1_correlate1d, fft_correlate
from .policy import Policy


def all_finite(arr: np.ndarray) -> bool:
    return bool(np.isfinite(arr).all())


# ---------------------------------------------------------------------------
# 1-D
# ---------------------------------------------------------------------------
def correlate1d(x: np.ndarray, w: np.ndarray, n_left: int, length: int, policy: Policy,
                engine: Optional[cost.Engine] = None) -> np.ndarray:
    """out[i] = sum_k x[i - n_left + k] * w[k] for i < length; taps outside x are skipped.

    x and w are 1-D arrays of the compute dtype, len(w) <= len(x). ``engine`` is the
    caller's choice, else the policy's or the cost model's ("numpy" runs direct here);
    no FFT is used on non-finite data.
    """
    n1 = len(x)
    if engine is None:
        engine = cost.choose_1d(n1, len(w), length, x.dtype, policy, numpy_ok=False)
    method, nfft = engine
    w_finite = all_finite(w)
    if method == "fft1" and w_finite and all_finite(x):
        return fft1_correlate1d(x, w, n_left, length, nfft)
    if method == "fft" and w_finite and all_finite(x):
        threads = policy.thread_count()
        if nfft is None:
            nfft = cost.best_fft_shape((length,), w.shape, x.dtype, threads)[1]

        def band(p0: int, p1: int) -> np.ndarray:  # padded[p] = x[p - n_left], zero outside x
            segment = np.zeros(p1 - p0, dtype=x.dtype)
            s0, s1 = max(p0 - n_left, 0), min(p1 - n_left, n1)
            if s1 > s0:
                segment[s0 + n_left - p0:s1 + n_left - p0] = x[s0:s1]
            return segment
        return fft_correlate(band, w, (length,), nfft, threads, policy.fft_batch_bytes)
    return direct_correlate1d(x, w, n_left, length, w_finite, policy)


def direct_correlate1d(x: np.ndarray, w: np.ndarray, n_left: int, length: int,
                       w_finite: bool, policy: Policy) -> np.ndarray:
    """conv2d on the signal as an image row; several rows when threads would help."""
    n1, n2 = len(x), len(w)
    n_right = length + n2 - 1 - n_left - n1
    if not w_finite and (n_left or n_right):
        return _direct_correlate1d_overlaps_only(x, w, n_left, length, policy)
    rows = cost.direct_rows(length * n2, policy.thread_count(), n2, policy)
    kernel = w.reshape(1, n2, 1, 1)
    if rows > 1 and w_finite:
        # Cut the (zero-extended) signal into `rows` overlapping rows: one per thread.
        # The explicit zeros meet finite weights only, so they add exact zeros.
        cols = -(-length // rows)
        seg = cols + n2 - 1
        image = np.zeros((1, rows, seg, 1), dtype=x.dtype)
        for r in range(rows):
            p0 = r * cols  # first padded position of this row
            s0 = max(p0 - n_left, 0)
            s1 = min(p0 + seg - n_left, n1)
            if s1 > s0:
                image[0, r, s0 + n_left - p0:s1 + n_left - p0, 0] = x[s0:s1]
        return conv2d(image, kernel, workers=policy.threads).reshape(-1)[:length]
    out = conv2d(x.reshape(1, 1, n1, 1), kernel, padding=((0, 0), (n_left, n_right)),
                 workers=policy.threads)
    return out.reshape(length)


def _direct_correlate1d_overlaps_only(x: np.ndarray, w: np.ndarray, n_left: int, length: int,
                                      policy: Policy) -> np.ndarray:
    """The same for a kernel with Inf/NaN, where zeros are not neutral (0 * inf = nan).

    NumPy sums only the taps that overlap x; conv2d's padding multiplies the zeros. So
    conv2d computes the full-overlap part, and the (n2 - 1)-long ends of the full
    correlation, which involve only the first / last n2 - 1 samples, come from NumPy's
    own loop on those samples.
    """
    n1, n2 = len(x), len(w)
    kernel = w.reshape(1, n2, 1, 1)
    middle = conv2d(x.reshape(1, 1, n1, 1), kernel, workers=policy.threads).reshape(n1 - n2 + 1)
    head = np.correlate(x[:n2 - 1], w, "full")[:n2 - 1]
    tail = np.correlate(x[n1 - n2 + 1:], w, "full")[n2 - 1:]
    start = n2 - 1 - n_left  # out[0] is full[start]
    return np.concatenate((head, middle, tail))[start:start + length]


# ---------------------------------------------------------------------------
# 2-D
# ---------------------------------------------------------------------------
def scipy_correlate2d(image: np.ndarray, kernel: np.ndarray, mode: int, bval: int,
                      fill: np.generic, flip: bool, policy: Policy) -> np.ndarray:
    """SciPy's _convolve2d for real float inputs, image at least kernel-sized if 'valid'."""
    pads = scipy_pads(image.shape, kernel.shape, mode, flip)
    weights = kernel[::-1, ::-1] if flip else kernel
    out_shape = tuple(n + p[0] + p[1] - k + 1
                      for n, p, k in zip(image.shape, pads, weights.shape))
    method, nfft = cost.choose_2d(out_shape, weights.shape, image.dtype, policy)
    w_finite = all_finite(weights)
    if method == "fft" and w_finite and math.isfinite(fill) and all_finite(image):
        threads = policy.thread_count()
        if nfft is None:
            nfft = cost.best_fft_shape(out_shape, weights.shape, image.dtype, threads)[1]
        width = blocks_extent(out_shape, weights.shape, nfft)[1]
        return fft_correlate(
            lambda r0, r1: border.extended_rows(image, pads, bval, fill, r0, r1, width),
            weights, out_shape, nfft, threads, policy.fft_batch_bytes)
    padded = any(p for pair in pads for p in pair)
    if not padded or (bval == border.FILL and fill == 0 and w_finite):
        return _conv2d_single(image, weights, pads, policy)
    if bval in (border.SYMM, border.WRAP):
        # np.pad's "symmetric" and "wrap": conv2d's one-channel kernel reads them in
        # place, every tap a real pixel (so 0 * inf needs no extension either).
        return _conv2d_single(image, weights, pads, policy, border.pad_mode(bval))
    # SciPy multiplies the kernel by every extended value, fill included (0 * inf = nan):
    # the extension must be real. Large images: conv2d with zero padding, then the
    # border strips (whose windows reach the extension) again over small extended
    # pieces; small ones: extend it whole.
    strips = border.border_strips(image.shape, weights.shape, pads, out_shape)
    no_pads = ((0, 0), (0, 0))
    if strips is None or image.size < policy.strips_min_pixels:
        return _conv2d_single(border.extend(image, pads, bval, fill), weights, no_pads, policy)
    out = _conv2d_single(image, weights, pads, policy)
    k_h, k_w = weights.shape
    for r0, r1, c0, c1 in strips:
        piece = border.extended_block(image, pads, bval, fill, r0, r1 + k_h - 1, c0,
                                      c1 + k_w - 1)
        if c1 - c0 < r1 - r0:  # tall and thin: as a few long rows (conv2d works by rows)
            out[r0:r1, c0:c1] = _conv2d_single(piece.T, weights.T, no_pads, policy).T
        else:
            out[r0:r1, c0:c1] = _conv2d_single(piece, weights, no_pads, policy)
    return out


def _conv2d_single(image: np.ndarray, weights: np.ndarray, pads: PadPairs,
                   policy: Policy, pad_mode: PadMode = "constant") -> np.ndarray:
    """conv2d of one 2-D image with one 2-D kernel, as a 2-D array."""
    out = conv2d(image[np.newaxis, :, :, np.newaxis], weights[:, :, np.newaxis, np.newaxis],
                 padding=pads, pad_mode=pad_mode, workers=policy.threads)
    return out[0, :, :, 0]

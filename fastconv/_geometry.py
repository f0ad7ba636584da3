"""Geometry: the one home for output sizes, padding, pooling defaults and halos.

Every public function, the reference implementation and the benchmark take their
sizes from here, so a rule (TensorFlow's "same", dilation, pooling's stride
default) is written exactly once. Arguments arrive validated (``_validate``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ._typing import IntPair, PadPairs
from ._validate import INDEX_MAX, padding_spec, positive_pair


def effective_kernel(kernel: Sequence[int], dilation: Sequence[int]) -> IntPair:
    """Extent of a dilated kernel: (k - 1) * d + 1 per axis."""
    kh, kw = ((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    return kh, kw


def same_padding(size: int, eff_kernel: int, stride: int) -> IntPair:
    """TensorFlow's SAME rule for one axis: out = ceil(size / stride), smaller half first."""
    out = -(-size // stride)
    total = max((out - 1) * stride + eff_kernel - size, 0)
    return (total // 2, total - total // 2)


def resolve_padding(padding: Any, in_hw: Sequence[int], eff_kernel_hw: Sequence[int],
                    stride_hw: Sequence[int]) -> PadPairs:
    """Turn any accepted padding spelling into ((top, bottom), (left, right))."""
    spec = padding_spec(padding)
    if spec == "valid":
        return ((0, 0), (0, 0))
    if spec == "same":
        top_bottom, left_right = (same_padding(n, k, s)
                                  for n, k, s in zip(in_hw, eff_kernel_hw, stride_hw))
        return (top_bottom, left_right)
    assert not isinstance(spec, str)
    return spec


def output_size(size: int, eff_kernel: int, stride: int, pad: Sequence[int]) -> int:
    """floor((size + before + after - eff_kernel) / stride) + 1, or 0 when the window never fits."""
    span = size + pad[0] + pad[1] - eff_kernel
    return span // stride + 1 if span >= 0 else 0


def window_geometry(in_hw: Sequence[int], kernel_hw: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int], padding: Any,
                    what: str = "kernel") -> tuple[PadPairs, IntPair]:
    """Resolve padding and output size for a sliding window over an (H, W) plane.

    Returns ``(pads, out_hw)`` with ``pads = ((top, bottom), (left, right))``.
    Raises ValueError when the (dilated) window is larger than the padded input.
    """
    eff = effective_kernel(kernel_hw, dilation)
    pads = resolve_padding(padding, in_hw, eff, stride)
    for n, (before, after) in zip(in_hw, pads):
        if n + before + after > INDEX_MAX:
            raise ValueError(
                f"padding {pads} on input {tuple(in_hw)} gives a padded size above "
                f"{INDEX_MAX} (2**63 - 1), beyond the kernels' index range"
            )
    out_h, out_w = (output_size(n, k, s, p) for n, k, s, p in zip(in_hw, eff, stride, pads))
    if min(out_h, out_w) < 1:
        raise ValueError(
            f"{what} of effective size {eff} (size {tuple(kernel_hw)}, dilation {tuple(dilation)}) "
            f"is larger than the padded input: input {tuple(in_hw)} with padding {pads}"
        )
    return pads, (out_h, out_w)


@dataclass(frozen=True)
class Window:
    """A validated sliding window over an (H, W) plane: what a kernel needs to know."""

    size: IntPair          # kernel or pool size (KH, KW)
    stride: IntPair
    dilation: IntPair
    pads: PadPairs         # ((top, bottom), (left, right))
    out_hw: IntPair

    @property
    def pad_top_left(self) -> IntPair:
        return (self.pads[0][0], self.pads[1][0])


def conv_window(in_hw: Sequence[int], kernel_hw: Sequence[int], stride: Any, dilation: Any,
                padding: Any) -> Window:
    """The window of a convolution: stride and dilation normalised, padding resolved."""
    stride_hw = positive_pair(stride, "stride")
    dilation_hw = positive_pair(dilation, "dilation")
    pads, out_hw = window_geometry(in_hw, kernel_hw, stride_hw, dilation_hw, padding)
    return Window(tuple(kernel_hw), stride_hw, dilation_hw, pads, out_hw)  # type: ignore[arg-type]


def pool_window(in_hw: Sequence[int], pool_size: Any, stride: Optional[Any],
                padding: Any) -> Window:
    """The window of a pooling layer. ``stride=None`` means the pool size (Keras' default).

    Padding must be smaller than the pool on each side, so that every window holds a
    real pixel: padding never takes part in a pooled value.
    """
    pool = positive_pair(pool_size, "pool_size")
    stride_hw = pool if stride is None else positive_pair(stride, "stride")
    pads, out_hw = window_geometry(in_hw, pool, stride_hw, (1, 1), padding, what="pool_size")
    for axis, (before, after), size in zip("hw", pads, pool):
        if before >= size or after >= size:
            raise ValueError(
                f"padding {pads} must be smaller than pool_size {pool} on each side "
                f"(axis {axis})"
            )
    return Window(pool, stride_hw, (1, 1), pads, out_hw)


# ---------------------------------------------------------------------------
# Border modes: np.pad's meaning, as index maps, and the outputs that need them
# ---------------------------------------------------------------------------
def pad_index(size: int, before: int, start: int, stop: int, mode: str) -> np.ndarray:
    """The source index of padded positions ``start .. stop - 1`` of an axis of ``size``
    values padded by ``before`` in front, as ``np.pad(np.arange(size), ..., mode)``
    would give it; -1 marks the constant of mode "constant".

    Computed for just the positions asked (np.pad would build the whole padded axis).
    np.pad repeats its reflections and wraps when the padding is wider than the axis,
    so each mode is periodic: wrap with period n, symmetric 2n, reflect 2n - 2 (a
    single value reflects to itself, as np.pad has it). ``size`` is >= 1.
    """
    j = np.arange(start - before, stop - before, dtype=np.intp)
    if mode == "constant":
        return np.where((j >= 0) & (j < size), j, -1)
    if mode == "edge":
        return np.clip(j, 0, size - 1)
    if mode == "wrap":
        return j % size
    period = 2 * size if mode == "symmetric" else 2 * size - 2
    if period == 0:  # "reflect" of one value
        return np.zeros_like(j)
    k = j % period
    return np.where(k < size, k, period - k - (mode == "symmetric"))


def interior_range(size: int, eff_kernel: int, stride: int, before: int,
                   out: int) -> IntPair:
    """Outputs [lo, hi) along one axis whose windows lie wholly inside the image
    (empty, lo >= hi, when none does). Output o reads padded positions
    o * stride .. o * stride + eff_kernel - 1; the image is before .. before + size - 1."""
    lo = min(-(-before // stride), out)
    last = before + size - eff_kernel  # the last window start inside the image
    hi = min(last // stride + 1, out) if last >= 0 else 0
    return lo, max(lo, hi)


def interior(in_hw: Sequence[int], eff_hw: Sequence[int], stride_hw: Sequence[int],
             pads: PadPairs, out_hw: Sequence[int]) -> tuple[IntPair, IntPair]:
    """((r_lo, r_hi), (c_lo, c_hi)): the output rows and columns whose windows lie inside
    the image (``interior_range`` per axis)."""
    rows, cols = (interior_range(n, k, s, p[0], o)
                  for n, k, s, p, o in zip(in_hw, eff_hw, stride_hw, pads, out_hw))
    return rows, cols


def border_strips(in_hw: Sequence[int], eff_hw: Sequence[int], stride_hw: Sequence[int],
                  pads: PadPairs, out_hw: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """Output rectangles (r0, r1, c0, c1) whose windows reach the padding: together with
    the interior they tile the output. Top and bottom strips span the full width; left
    and right ones the rows between. With no interior, the whole output is one strip."""
    (r_lo, r_hi), (c_lo, c_hi) = interior(in_hw, eff_hw, stride_hw, pads, out_hw)
    o_h, o_w = out_hw
    if r_lo >= r_hi or c_lo >= c_hi:
        return [(0, o_h, 0, o_w)]
    strips = [(0, r_lo, 0, o_w), (r_hi, o_h, 0, o_w),
              (r_lo, r_hi, 0, c_lo), (r_lo, r_hi, c_hi, o_w)]
    return [s for s in strips if s[1] > s[0] and s[3] > s[2]]


def positions_read(o0: int, o1: int, stride: int, eff_kernel: int) -> IntPair:
    """Padded positions [start, stop) that outputs o0 .. o1 - 1 read along one axis."""
    return o0 * stride, (o1 - 1) * stride + eff_kernel


# ---------------------------------------------------------------------------
# NumPy's and SciPy's correlation modes (the drop-ins in fastconv.signal)
# ---------------------------------------------------------------------------
VALID, SAME, FULL = 0, 1, 2  # the mode codes NumPy and SciPy use


def mode_output_size(n: int, k: int, mode: int) -> int:
    """Output length of a 'full' (n + k - 1), 'same' (n) or 'valid' (n - k + 1)
    correlation of n samples with k taps, as NumPy and SciPy define it (n >= k for
    NumPy; SciPy's may be <= 0, which it reports as its own error)."""
    if mode == FULL:
        return n + k - 1
    if mode == SAME:
        return n
    return n - k + 1


def numpy_window(n1: int, n2: int, mode: int) -> IntPair:
    """(n_left, length) of NumPy's ``_pyarray_correlate`` for n1 >= n2: output i reads
    x[i - n_left + k] for taps k, and there are ``length`` outputs."""
    n_left = {VALID: 0, SAME: n2 // 2, FULL: n2 - 1}[mode]
    return n_left, mode_output_size(n1, n2, mode)


def scipy_pads(in_shape: Sequence[int], k_shape: Sequence[int], mode: int,
               flip: bool) -> PadPairs:
    """((top, bottom), (left, right)): the extension of the image SciPy's output reads.

    SciPy's output pixel m reads image rows m - top .. m - top + k - 1 (after flipping
    the kernel for a convolution); top is k - 1 in 'full', 0 in 'valid', and in 'same'
    (k - 1) // 2 for correlation, k // 2 for convolution.
    """
    pads = []
    for n, k in zip(in_shape, k_shape):
        before = {FULL: k - 1, VALID: 0, SAME: k // 2 if flip else (k - 1) // 2}[mode]
        pads.append((before, mode_output_size(n, k, mode) + k - 1 - n - before))
    return (pads[0], pads[1])

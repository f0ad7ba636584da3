"""Geometry: the one home for output sizes, padding, pooling defaults and halos.

Every public function, the reference implementation and the benchmark take their
sizes from here, so a rule (TensorFlow's "same", dilation, pooling's stride
default) is written exactly once. Arguments arrive validated (``_validate``).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ._typing import IntPair, PadPairs
from ._validate import INDEX_MAX, nonnegative_pair, padding_spec, positive_pair


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


def source_maps_fit(in_hw: Sequence[int], window: Window) -> bool:
    """Whether ``source_maps`` stays small: along each axis, at most a few times what the
    image holds and the windows read. (A stride far beyond the kernel over wide padding
    spans positions that no window reads.)"""
    eff_hw = effective_kernel(window.size, window.dilation)
    return all(positions_read(0, out, stride, eff)[1] <= 4 * (size + out * eff)
               for size, out, stride, eff in zip(in_hw, window.out_hw, window.stride, eff_hw))


def source_maps(in_hw: Sequence[int], window: Window,
                mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols): ``pad_index`` of every padded position a convolution's windows read,
    from the first, along each axis: what a kernel that pads by index reads."""
    rows, cols = (pad_index(size, pad[0], 0, positions_read(0, out, stride, eff)[1], mode)
                  for size, pad, out, stride, eff in zip(
                      in_hw, window.pads, window.out_hw, window.stride,
                      effective_kernel(window.size, window.dilation)))
    return rows, cols


def interior_range(size: int, eff_kernel: int, stride: int, before: int,
                   out: int) -> IntPair:
    """Outputs [lo, hi) along one axis whose windows lie wholly inside the image
    (empty, lo >= hi, when none does). Output o reads padded positions
    o * stride .. o * stride + eff_kernel - 1; the image is before .. before + size - 1."""
    lo = min(-(-before // stride), out)
    last = before + size - eff_kernel  # the last window start inside the image
    hi = min(last // stride + 1, out) if last >= 0 else 0
    return lo, max(lo, hi)


def outputs_reading_within(first: int, stop: int, size: int, eff_kernel: int, stride: int,
                           before: int, out: int) -> IntPair:
    """Outputs [lo, hi) along one axis whose windows read no input position outside
    ``first .. stop - 1`` but the padding past the image's ends (lo >= hi when none).
    Output o reads input positions o * stride - before .. o * stride - before + eff_kernel - 1
    of an image of ``size`` positions."""
    lo = 0 if first == 0 else min(-(-(first + before) // stride), out)
    hi = out if stop == size else max(min((stop + before - eff_kernel) // stride + 1, out), 0)
    return lo, hi


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


# ---------------------------------------------------------------------------
# Chunked arrays (fastconv.dask): output chunks on the stride grid, and the input
# span, halo and border padding each output chunk reads
# ---------------------------------------------------------------------------
def chunk_edges(chunks: Sequence[int]) -> list[int]:
    """[0, c0, c0 + c1, ..., total]: where each chunk of an axis starts, and the end."""
    edges = [0]
    for size in chunks:
        edges.append(edges[-1] + size)
    return edges


def output_chunks(in_chunks: Sequence[int], stride: int, out_size: int) -> tuple[int, ...]:
    """The chunks of an output axis, on the stride grid of the input's chunks.

    Output ``o`` is anchored at input position ``o * stride`` (the centre of its window for
    TensorFlow's "same" at stride 1, its first pixel for "valid"), and belongs to the chunk
    of the input chunk holding its anchor; anchors past the input go to the last chunk.
    So output chunks follow the input chunks (equal to them for "same" at stride 1), and
    chunks that would be empty (input chunks narrower than the stride) are merged away.
    """
    inner = [min(-(-edge // stride), out_size) for edge in chunk_edges(in_chunks)[1:-1]]
    edges = sorted({0, out_size, *inner})
    return tuple(b - a for a, b in zip(edges, edges[1:]))


@dataclass(frozen=True)
class Span:
    """What outputs ``out_start .. out_stop - 1`` of one axis read: input positions
    ``start .. stop - 1`` with ``pad_before`` / ``pad_after`` padded positions around
    them. The padding is the whole array's, only where the span crosses its border."""

    start: int
    stop: int
    pad_before: int
    pad_after: int

    @property
    def real(self) -> bool:
        """False when the windows lie wholly in the padding (no input position read)."""
        return self.stop > self.start


def input_span(out_start: int, out_stop: int, in_size: int, eff_kernel: int, stride: int,
               pad_before: int) -> Span:
    """The input span (and border padding) outputs ``out_start .. out_stop - 1`` read.

    Output ``o`` reads padded positions ``o * stride .. o * stride + eff_kernel - 1``, that
    is input positions from ``o * stride - pad_before``. The halo is whatever the first
    and last windows reach beyond the chunk: asymmetric in general, and never more than
    the windows need (a strided conv reads no position its outputs skip at the ends).
    A span lying wholly in the padding has ``start == stop`` and counts its windows'
    whole extent as padding.
    """
    first = out_start * stride - pad_before
    last = (out_stop - 1) * stride - pad_before + eff_kernel  # one past the last read
    start = min(max(first, 0), in_size)
    stop = max(min(last, in_size), start)
    if stop == start:
        return Span(start, start, last - first, 0)
    return Span(start, stop, start - first, last - stop)


def chunks_overlapping(in_chunks: Sequence[int], start: int, stop: int) -> range:
    """Indices of the chunks of an axis holding any of positions ``start .. stop - 1``."""
    if stop <= start:
        return range(0)
    edges = chunk_edges(in_chunks)
    return range(bisect.bisect_right(edges, start) - 1, bisect.bisect_right(edges, stop - 1))


# ---------------------------------------------------------------------------
# Gradients and transposed convolution: the forward window seen from dy
# ---------------------------------------------------------------------------
def consistent_input_sizes(out: int, eff_kernel: int, stride: int, padding: Any,
                           axis: int) -> IntPair:
    """(lo, hi): the input sizes along ``axis`` (0 rows, 1 columns) from which the forward
    window gives ``out`` outputs. Stride > 1 leaves ``stride`` of them; the gradient
    functions take the forward call's shape to settle which."""
    spec = padding_spec(padding)
    if spec == "same":
        return ((out - 1) * stride + 1, out * stride)
    before, after = (0, 0) if isinstance(spec, str) else spec[axis]
    lo = (out - 1) * stride + eff_kernel - before - after
    return (max(lo, 1), lo + stride - 1)


def gradient_window(in_hw: Sequence[int], kernel_hw: Sequence[int], dy_hw: Sequence[int],
                    stride: Any, dilation: Any, padding: Any, *, pool: bool = False,
                    shape_name: str = "input_shape") -> Window:
    """The forward window (conv, or pooling with ``pool``) from ``in_hw``, which must
    produce ``dy_hw``; otherwise a ValueError stating the input sizes that would, as
    TensorFlow and PyTorch do."""
    if pool:
        window = pool_window(in_hw, kernel_hw, stride, padding)
    else:
        window = conv_window(in_hw, kernel_hw, stride, dilation, padding)
    if tuple(window.out_hw) != tuple(dy_hw):
        eff = effective_kernel(window.size, window.dilation)
        ranges = [consistent_input_sizes(o, k, s, padding, axis)
                  for axis, (o, k, s) in enumerate(zip(dy_hw, eff, window.stride))]
        what = "pool_size" if pool else "kernel"
        raise ValueError(
            f"{shape_name} has height and width {tuple(in_hw)}, but a forward call with "
            f"{what} {tuple(window.size)}, stride {window.stride}, dilation "
            f"{window.dilation} and padding {padding!r} gives dy's {tuple(dy_hw)} only from "
            f"heights in [{ranges[0][0]}, {ranges[0][1]}] and widths in "
            f"[{ranges[1][0]}, {ranges[1][1]}] (it would give {window.out_hw})"
        )
    return window


def transpose_output_size(size: int, eff_kernel: int, stride: int, padding: Any, axis: int,
                          output_padding: Optional[int]) -> int:
    """Keras' ``deconv_output_length`` for one axis of a transposed convolution.

    ``output_padding`` None infers the size: ``size * stride`` for "same" and
    ``size * stride + max(eff_kernel - stride, 0)`` for "valid"; explicit padding
    (before, after) gives ``(size - 1) * stride + eff_kernel - before - after``.
    Otherwise ``(size - 1) * stride + eff_kernel - 2 * (eff_kernel // 2)`` ("same") or
    ``- before - after`` (explicit, "valid" being zeros), plus ``output_padding``.
    """
    spec = padding_spec(padding)
    if output_padding is None:
        if spec == "same":
            return size * stride
        if spec == "valid":
            return size * stride + max(eff_kernel - stride, 0)
    if spec == "same":
        trim = 2 * (eff_kernel // 2)
    elif isinstance(spec, str):  # "valid"
        trim = 0
    else:
        trim = sum(spec[axis])
    return (size - 1) * stride + eff_kernel - trim + (output_padding or 0)


def transpose_output_hw(in_hw: Sequence[int], kernel_hw: Sequence[int], stride: Any,
                        dilation: Any, padding: Any, output_padding: Any) -> IntPair:
    """(OH, OW) of conv2d_transpose. ``output_padding`` (None, an int or a pair) must be
    lower than the stride, as in Keras."""
    stride_hw = positive_pair(stride, "stride")
    dilation_hw = positive_pair(dilation, "dilation")
    eff = effective_kernel(kernel_hw, dilation_hw)
    extra: tuple[Optional[int], Optional[int]] = (None, None)
    if output_padding is not None:
        extra = nonnegative_pair(output_padding, "output_padding")
        for e, s in zip(extra, stride_hw):
            if e is not None and e >= s:
                raise ValueError(
                    f"output_padding {output_padding!r} must be lower than the stride "
                    f"{stride_hw} along each axis"
                )
    sizes = [transpose_output_size(n, k, s, padding, axis, e)
             for axis, (n, k, s, e) in enumerate(zip(in_hw, eff, stride_hw, extra))]
    if min(sizes) < 1:
        raise ValueError(
            f"conv2d_transpose of an input of height and width {tuple(in_hw)} with padding "
            f"{padding!r} gives an empty output {tuple(sizes)}"
        )
    return sizes[0], sizes[1]


@dataclass(frozen=True)
class AdjointPhase:
    """One stride phase of conv2d_grad_input along one axis.

    The input positions ``start, start + stride, ...`` (``count`` of them) collect dy
    through the kernel taps ``taps`` (listed in correlation order: the kernel reversed)
    at spacing ``dilation`` in dy: a unit-stride correlation of dy, cropped by ``crop``
    and then padded by ``pad`` (each (before, after)). No taps, or no dy left after
    the crop, means the phase's gradient is zero.
    """

    start: int
    count: int
    taps: tuple[int, ...]
    dilation: int
    pad: IntPair
    crop: IntPair

    @property
    def empty(self) -> bool:
        return not self.taps or self.crop[0] + self.crop[1] >= self.dy_size

    dy_size: int = 0


def adjoint_phases(in_size: int, out_size: int, kernel: int, stride: int, dilation: int,
                   pad_before: int) -> list[AdjointPhase]:
    """conv2d_grad_input along one axis, split by stride phase (no zeros inserted).

    conv2d reads input i = o * stride - pad_before + k * dilation for output o and tap
    k, so input i collects dy[(i + pad_before - k * dilation) / stride] over the taps k
    for which that is a whole number: for i = start + stride * j, the taps with
    (start + pad_before - k * dilation) divisible by the stride, each reading dy at
    j + c(k). c falls by the same step from tap to tap, so the phase is a unit-stride
    correlation of dy with those taps reversed, dilated by that step.
    """
    phases = []
    for start in range(min(stride, in_size)):
        count = -(-(in_size - start) // stride)
        taps = [k for k in range(kernel) if (start + pad_before - k * dilation) % stride == 0]
        offsets = [(start + pad_before - k * dilation) // stride for k in taps]
        if not taps:
            phases.append(AdjointPhase(start, count, (), 1, (0, 0), (0, 0), out_size))
            continue
        first, last = offsets[-1], offsets[0]          # the smallest and largest offsets
        step = (last - first) // (len(taps) - 1) if len(taps) > 1 else 1
        end = count - 1 + last                          # the last dy row read
        pad = (max(0, -first), max(0, end - (out_size - 1)))
        crop = (max(0, first), max(0, out_size - 1 - end))
        phases.append(AdjointPhase(start, count, tuple(reversed(taps)), step, pad, crop,
                                   out_size))
    return phases

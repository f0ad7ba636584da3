"""The machinery under ``fastconv.dask``: block plans, halo pieces and the tasks that
call the in-memory kernels (see ``fastconv.dask`` for how a call is cut into tasks)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as _error:  # pragma: no cover - fastconv.dask says what to install
    raise ImportError(
        "fastconv.dask needs Dask, which is not installed: pip install 'fastconv[dask]' "
        f"(original error: {_error})"
    ) from None

from . import _geometry
from ._geometry import Span
from ._signal import border
from ._threads import get_num_threads
from .conv import conv2d as _conv2d_numpy

# ---------------------------------------------------------------------------
# The block plan: per axis, which outputs each task computes and what it reads
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _AxisBlock:
    """One output chunk along H or W: outputs [out_start, out_stop), the input span it
    reads, the input chunks holding it, and the part of each of them in the span."""

    out_start: int
    out_stop: int
    span: Span
    chunks: range
    parts: tuple[tuple[int, int], ...]  # (first, stop) within each chunk, local indices


def _axis_blocks(in_chunks: Sequence[int], out_size: int, eff_kernel: int, stride: int,
                 pad_before: int) -> tuple[tuple[int, ...], list[_AxisBlock]]:
    """Output chunks of one axis and what each reads (see ``_geometry.input_span``)."""
    out_chunks = _geometry.output_chunks(in_chunks, stride, out_size)
    edges = _geometry.chunk_edges(in_chunks)
    out_edges = _geometry.chunk_edges(out_chunks)
    blocks = []
    for out_start, out_stop in zip(out_edges, out_edges[1:]):
        span = _geometry.input_span(out_start, out_stop, edges[-1], eff_kernel, stride,
                                    pad_before)
        chunks = _geometry.chunks_overlapping(in_chunks, span.start, span.stop)
        parts = tuple((max(span.start, edges[c]) - edges[c],
                       min(span.stop, edges[c + 1]) - edges[c]) for c in chunks)
        blocks.append(_AxisBlock(out_start, out_stop, span, chunks, parts))
    return out_chunks, blocks


def _task_threads(requested: Optional[int], n_tasks: int) -> int:
    """Threads per task: ``requested``, else the cores shared among the tasks (module docs)."""
    if requested is not None:
        return requested
    return max(1, get_num_threads() // max(n_tasks, 1))


def _in_distributed_worker() -> bool:
    try:
        from distributed import get_worker
        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def _threads_here(planned: int, requested: Optional[int]) -> int:
    """The thread count a task runs with, decided where it runs (module docs, Threads)."""
    if requested is None and _in_distributed_worker():
        return 1
    return planned


def _piece_edges(pieces: list[list[np.ndarray]], lead: int) -> tuple[list[int], list[int]]:
    """Where each row and each column of pieces starts, laid side by side (and the end)."""
    rows, cols = [0], [0]
    for band in pieces:
        rows.append(rows[-1] + band[0].shape[lead])
    for piece in pieces[0]:
        cols.append(cols[-1] + piece.shape[lead + 1])
    return rows, cols


def _region(pieces: list[list[np.ndarray]], lead: int, rows: tuple[int, int],
            cols: tuple[int, int]) -> np.ndarray:
    """Positions ``rows`` x ``cols`` (axes ``lead`` and ``lead + 1``) of the pieces laid
    side by side: a view when one piece holds them all, else a copy."""
    row_edges, col_edges = _piece_edges(pieces, lead)
    parts = []
    for r, band in enumerate(pieces):
        r0, r1 = max(rows[0], row_edges[r]), min(rows[1], row_edges[r + 1])
        for c, piece in enumerate(band):
            c0, c1 = max(cols[0], col_edges[c]), min(cols[1], col_edges[c + 1])
            if r0 < r1 and c0 < c1:
                index = (slice(None),) * lead + (slice(r0 - row_edges[r], r1 - row_edges[r]),
                                                 slice(c0 - col_edges[c], c1 - col_edges[c]))
                parts.append((r0 - rows[0], c0 - cols[0], piece[index]))
    if len(parts) == 1:
        return parts[0][2]
    first = pieces[0][0]
    whole = np.empty(first.shape[:lead] + (rows[1] - rows[0], cols[1] - cols[0])
                     + first.shape[lead + 2:], dtype=first.dtype)
    for row, col, part in parts:
        h, w = part.shape[lead:lead + 2]
        whole[(slice(None),) * lead + (slice(row, row + h), slice(col, col + w))] = part
    return whole


def _assemble(pieces: list[list[np.ndarray]], lead: int) -> np.ndarray:
    """The pieces (rows of pieces side by side, over axes ``lead`` and ``lead + 1``) as
    one array: copied once, or returned as it is when there is one piece."""
    row_edges, col_edges = _piece_edges(pieces, lead)
    return _region(pieces, lead, (0, row_edges[-1]), (0, col_edges[-1]))


def _cut(block: np.ndarray, index: tuple[slice, ...]) -> np.ndarray:
    """``block[index]``, copied when it is less than half the chunk: a view of a thin
    halo would keep the whole chunk alive (and in a worker's memory) for as long as the
    part waits for its task; a large part is worth the chunk it keeps."""
    part: np.ndarray = block[index]
    return part.copy() if 2 * part.size < block.size else part


def _cut_parts(block: np.ndarray, indices: list[tuple[slice, ...]]) -> tuple[np.ndarray, ...]:
    """Every part of one chunk that other tasks read, in one task."""
    return tuple(_cut(block, index) for index in indices)


class _PartReader:
    """Builds the tasks that cut, from each input chunk, the parts other tasks read.

    A task then depends on small parts of its neighbours (the halo) rather than whole
    chunks, so a ``distributed`` cluster moves only those between workers, as
    ``map_overlap`` does. All the parts cut from one chunk come from one task (a tuple),
    which keeps the graph at about two tasks per chunk. A reference to a part is
    ``[key, i]``: item i of that tuple, or the whole chunk when i is -1.
    """

    def __init__(self, graph: dict[Any, Any], name: str, lead: int) -> None:
        self.graph, self.name, self.lead = graph, name, lead
        self.indices: dict[Any, list[tuple[slice, ...]]] = {}
        self.positions: dict[Any, int] = {}

    def __call__(self, source: Any, rows: tuple[int, int], cols: tuple[int, int],
                 chunk_hw: tuple[int, int]) -> list[Any]:
        if rows == (0, chunk_hw[0]) and cols == (0, chunk_hw[1]):
            return [source, -1]
        wanted = (source, rows, cols)
        if wanted not in self.positions:
            indices = self.indices.setdefault(source, [])
            self.positions[wanted] = len(indices)
            indices.append((slice(None),) * self.lead + (slice(*rows), slice(*cols)))
        return [self._key(source), self.positions[wanted]]

    def _key(self, source: Any) -> Any:
        return (self.name, *source[1:])

    def finish(self) -> None:
        """Add the cutting tasks to the graph, once every part is known."""
        for source, indices in self.indices.items():
            self.graph[self._key(source)] = (_cut_parts, source, indices)


def _resolve(references: list[list[Any]]) -> list[list[np.ndarray]]:
    """The arrays behind ``[chunk or tuple of parts, i]`` references (``_PartReader``)."""
    return [[value if i < 0 else value[i] for value, i in band] for band in references]


def _window_task(op: Callable[..., np.ndarray], pieces: list[list[Any]], pads: Any,
                 zeros_shape: Optional[tuple[int, ...]], dtype: np.dtype,
                 planned: int, requested: Optional[int], reach: Any, *args: Any,
                 **kwargs: Any) -> np.ndarray:
    """One output chunk: the in-memory ``op`` on the span it reads, with its border padding.

    ``zeros_shape`` is set for a chunk whose windows lie wholly in the padding along an
    axis: it reads no input, and its padded input is materialised as zeros. A large
    chunk runs as a frame (``_frame``), without copying its own chunk.
    """
    threads = _threads_here(planned, requested)

    def run(piece: np.ndarray, piece_pads: Any) -> np.ndarray:
        return op(piece, *args, padding=piece_pads, workers=threads, **kwargs)

    if zeros_shape is not None:
        return run(np.zeros(zeros_shape, dtype=dtype), pads)
    grid = _resolve(pieces)
    frame = _frame(grid, pads, reach)
    if frame is None:
        return run(_assemble(grid, 1), pads)
    center, center_pads, edges = frame
    out = run(center, center_pads)
    for where, rows, cols, edge_pads in edges:
        out[where] = run(_region(grid, 1, rows, cols), edge_pads)
    return out


# The frame pays off once the copy it saves (the whole span, about the largest piece)
# costs more than the op's extra calls on the edges: measured on a worker, copying a
# 2048^2 float32 chunk took 3.5 ms of a 13 ms task.
MIN_FRAME_BYTES = 1 << 20


def _frame(grid: list[list[np.ndarray]], pads: Any, reach: Any) -> Optional[tuple[Any, ...]]:
    """A task's output as its largest piece's interior, and the edges around it.

    The op runs on the largest piece in place, with the rest of the span counted as
    padding: that gives every output whose windows read only that piece (or the array's
    own border padding). The outputs whose windows reach into the other pieces, a frame
    at most a halo wide, are then recomputed from small copies of what they read, with
    the span's real border padding. Each output thus comes from a call of the op on its
    window's values and the whole array's padding, as in memory.

    Returns (center, its padding, [(output index, rows, cols, padding) of each edge]),
    or None where one copy of the span is the better deal: small pieces, an interior
    under half the output, or an edge whose windows lie wholly in the padding.
    """
    row_edges, col_edges = _piece_edges(grid, 1)
    largest = max(((r, c) for r in range(len(grid)) for c in range(len(grid[0]))),
                  key=lambda rc: grid[rc[0]][rc[1]].size)
    center = grid[largest[0]][largest[1]]
    one_piece = len(row_edges) == 2 and len(col_edges) == 2
    if one_piece or center.nbytes < MIN_FRAME_BYTES:
        return None
    axes = []
    for edges, index, (pad_before, pad_after), (eff, stride) in (
            (row_edges, largest[0], pads[0], reach[0]),
            (col_edges, largest[1], pads[1], reach[1])):
        length, first, stop = edges[-1], edges[index], edges[index + 1]
        n_out = _geometry.output_size(length, eff, stride, (pad_before, pad_after))
        lo, hi = _geometry.outputs_reading_within(first, stop, length, eff, stride,
                                                  pad_before, n_out)
        if 2 * (hi - lo) < n_out:
            return None
        axes.append((n_out, lo, hi, (first + pad_before, length - stop + pad_after),
                     (length, eff, stride, pad_before)))
    (n_h, lo_h, hi_h, center_rows, along_h), (n_w, lo_w, hi_w, center_cols, along_w) = axes
    edges_out = []
    for (r0, r1), (c0, c1) in (((0, lo_h), (0, n_w)), ((hi_h, n_h), (0, n_w)),
                               ((lo_h, hi_h), (0, lo_w)), ((lo_h, hi_h), (hi_w, n_w))):
        if r0 == r1 or c0 == c1:
            continue
        rows = _geometry.input_span(r0, r1, *along_h)
        cols = _geometry.input_span(c0, c1, *along_w)
        if not (rows.real and cols.real):
            return None
        edges_out.append(((slice(None), slice(r0, r1), slice(c0, c1)),
                          (rows.start, rows.stop), (cols.start, cols.stop),
                          ((rows.pad_before, rows.pad_after), (cols.pad_before, cols.pad_after))))
    return center, (center_rows, center_cols), edges_out


def _as_nhwc(x: Any, name: str = "x") -> tuple[Any, bool]:
    """x as a 4-D Dask array with one chunk of channels, and whether it was 3-D."""
    if not isinstance(x, da.Array):
        raise TypeError(
            f"{name} must be a dask.array.Array, got {type(x).__name__}; use fastconv's "
            f"in-memory functions for NumPy arrays, or wrap it with dask.array.from_array"
        )
    if x.ndim not in (3, 4):
        raise ValueError(
            f"{name} must have 3 (H, W, C) or 4 (N, H, W, C) dimensions, got {x.ndim} "
            f"with shape {x.shape}"
        )
    if any(math.isnan(size) for size in x.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {x.shape}); call "
            f"{name}.compute_chunk_sizes() first"
        )
    unbatched = x.ndim == 3
    x4 = x[np.newaxis] if unbatched else x
    if len(x4.chunks[3]) > 1:
        # A convolution sums over every channel, and a task must see all of them.
        x4 = x4.rechunk({3: -1})
    return x4, unbatched


def _stand_in(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A zero-byte NumPy array of ``shape`` and ``dtype``, for the in-memory validators."""
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def _windowed(name: str, x4: Any, unbatched: bool, window: _geometry.Window,
              c_out: int, dtype: np.dtype, op: Callable[..., np.ndarray],
              threads_per_task: Callable[[int], int], requested: Optional[int],
              operands: list[Any], options: dict[str, Any], token_args: tuple[Any, ...]
              ) -> Any:
    """The graph of a sliding-window op: one task per output chunk (module docs).

    Each task calls ``op(piece, *operands, padding=..., workers=..., **options)``. The
    operands (the weights and bias) are put in the graph once, under their own keys, so
    that a cluster ships them once per worker rather than once per task.
    """
    eff = _geometry.effective_kernel(window.size, window.dilation)
    (top, _), (left, _) = window.pads
    out_h_chunks, h_blocks = _axis_blocks(x4.chunks[1], window.out_hw[0], eff[0],
                                          window.stride[0], top)
    out_w_chunks, w_blocks = _axis_blocks(x4.chunks[2], window.out_hw[1], eff[1],
                                          window.stride[1], left)
    n_tasks = len(x4.chunks[0]) * len(h_blocks) * len(w_blocks)
    planned = threads_per_task(n_tasks)
    reach = ((eff[0], window.stride[0]), (eff[1], window.stride[1]))
    out_name = f"{name}-{tokenize(x4, window, dtype, requested, *token_args)}"
    graph: dict[Any, Any] = {}
    operand_keys = []
    for i, operand in enumerate(operands):
        key = (f"{name}-operand-{tokenize(out_name)}", i)
        graph[key] = operand
        operand_keys.append(key)
    read = _PartReader(graph, f"{name}-halo-{tokenize(out_name)}", 1)
    channels = x4.shape[3]
    for ni, n_size in enumerate(x4.chunks[0]):
        for hi, hb in enumerate(h_blocks):
            for wi, wb in enumerate(w_blocks):
                pads = ((hb.span.pad_before, hb.span.pad_after),
                        (wb.span.pad_before, wb.span.pad_after))
                if hb.span.real and wb.span.real:
                    blocks = [[read((x4.name, ni, r, c, 0), rows, cols,
                                    (x4.chunks[1][r], x4.chunks[2][c]))
                               for c, cols in zip(wb.chunks, wb.parts)]
                              for r, rows in zip(hb.chunks, hb.parts)]
                    zeros_shape = None
                else:
                    blocks = []
                    zeros_shape = (n_size, sum(pads[0]) + hb.span.stop - hb.span.start,
                                   sum(pads[1]) + wb.span.stop - wb.span.start, channels)
                    pads = ((0, 0), (0, 0))
                graph[(out_name, ni, hi, wi, 0)] = (
                    _apply_kwargs, _window_task,
                    [op, blocks, pads, zeros_shape, dtype, planned, requested, reach,
                     *operand_keys],
                    options)
    read.finish()
    hlg = HighLevelGraph.from_collections(out_name, graph, dependencies=[x4])
    chunks = (x4.chunks[0], out_h_chunks, out_w_chunks, (c_out,))
    meta = np.empty((0, 0, 0, 0), dtype=dtype)
    result = da.Array(hlg, out_name, chunks, meta=meta)
    return result[0] if unbatched else result


def _apply_kwargs(func: Callable[..., np.ndarray], args: list[Any],
                  kwargs: dict[str, Any]) -> np.ndarray:
    """``func(*args, **kwargs)`` as one task (Dask resolves keys inside both)."""
    return func(*args, **kwargs)



@dataclass(frozen=True)
class _ExtendedAxis:
    """One output chunk of correlate2d along an axis: the extended positions it reads
    (``first .. first + length - 1`` of SciPy's extended image), as image indices."""

    out_start: int
    out_stop: int
    chunks: list[int]          # input chunks holding the positions read
    parts: list[tuple[int, int]]  # the part of each (local first, stop) that is read
    positions: np.ndarray      # index into those parts laid side by side; -1: fill


def _extended_axes(in_chunks: Sequence[int], pads: tuple[int, int], k: int, out_size: int,
                   bval: int) -> tuple[tuple[int, ...], list[_ExtendedAxis]]:
    """Output chunks of one axis of correlate2d and the image positions each reads."""
    size = sum(in_chunks)
    out_chunks = _geometry.output_chunks(in_chunks, 1, out_size)
    edges = _geometry.chunk_edges(in_chunks)
    if bval == border.FILL:
        index = np.arange(-pads[0], size + pads[1])
        index[(index < 0) | (index >= size)] = -1
    else:
        index = border.extension_index(size, pads[0], pads[1], bval)
    chunk_of = np.searchsorted(edges, np.arange(size), side="right") - 1
    axes = []
    out_edges = _geometry.chunk_edges(out_chunks)
    for out_start, out_stop in zip(out_edges, out_edges[1:]):
        read = index[out_start:out_stop + k - 1]
        inside = read[read >= 0]
        used = sorted(set(chunk_of[inside].tolist()))
        # The part of each used chunk that is read (first to last index read in it), and
        # where it starts once the parts are laid side by side.
        parts, start_of, at = [], {}, 0
        for c in used:
            local = inside[chunk_of[inside] == c] - edges[c]
            parts.append((int(local.min()), int(local.max()) + 1))
            start_of[c] = at - parts[-1][0]
            at += parts[-1][1] - parts[-1][0]
        positions = np.full(read.shape, -1, dtype=np.intp)
        for j, i in enumerate(read.tolist()):
            if i >= 0:
                positions[j] = start_of[chunk_of[i]] + i - edges[chunk_of[i]]
        axes.append(_ExtendedAxis(out_start, out_stop, used, parts, positions))
    return out_chunks, axes


def _correlate_task(pieces: list[list[Any]], rows: np.ndarray, cols: np.ndarray,
                    kernel: np.ndarray, bval: int, fill: np.generic, dtype: np.dtype,
                    planned: int, requested: Optional[int]) -> np.ndarray:
    """One output chunk of correlate2d: its extended span, then the direct kernel.

    As the in-memory direct engine does, a zero fill with a finite kernel is padding the
    kernel skips; any other extension (a fill, wrapped or mirrored pixels) is made real.
    """
    threads = _threads_here(planned, requested)
    real_rows, real_cols = rows[rows >= 0], cols[cols >= 0]
    if len(real_rows) and len(real_cols):
        image = _assemble(_resolve(pieces), 0).astype(dtype, copy=False)
    else:
        image = np.zeros((0, 0), dtype=dtype)
    skip_padding = bval == border.FILL and fill == 0 and bool(np.isfinite(kernel).all())
    if skip_padding and len(real_rows) and len(real_cols):
        top = int(np.argmax(rows >= 0))
        left = int(np.argmax(cols >= 0))
        r0, c0 = int(real_rows[0]), int(real_cols[0])
        piece = image[r0:r0 + len(real_rows), c0:c0 + len(real_cols)]
        pads = ((top, len(rows) - top - len(real_rows)),
                (left, len(cols) - left - len(real_cols)))
    else:
        piece = np.full((len(rows), len(cols)), fill, dtype=dtype)
        inside = np.ix_(rows >= 0, cols >= 0)
        if len(real_rows) and len(real_cols):
            piece[inside] = image[np.ix_(real_rows, real_cols)]
        pads = ((0, 0), (0, 0))
    out = _conv2d_numpy(piece[np.newaxis, :, :, np.newaxis],
                        kernel[:, :, np.newaxis, np.newaxis], padding=pads, method="direct",
                        workers=threads)
    result: np.ndarray = out[0, :, :, 0]
    return result


def _correlate_graph(in1: Any, kernel: np.ndarray, code: int, bval: int, fill: np.generic,
                     dtype: np.dtype, requested: Optional[int]) -> Any:
    """The graph of correlate2d: one task per output chunk, reading only what it needs."""
    pads = _geometry.scipy_pads(in1.shape, kernel.shape, code, False)
    out_shape = [_geometry.mode_output_size(n, k, code) for n, k in zip(in1.shape,
                                                                         kernel.shape)]
    if min(out_shape) < 1:
        raise ValueError(f"correlate2d in mode 'valid' of a {in1.shape} image with a "
                         f"{kernel.shape} kernel has no output")
    out_h_chunks, row_axes = _extended_axes(in1.chunks[0], pads[0], kernel.shape[0],
                                            out_shape[0], bval)
    out_w_chunks, col_axes = _extended_axes(in1.chunks[1], pads[1], kernel.shape[1],
                                            out_shape[1], bval)
    planned = _task_threads(requested, len(row_axes) * len(col_axes))
    out_name = f"fastconv-correlate2d-{tokenize(in1, kernel, code, bval, fill, requested)}"
    kernel_key = (f"fastconv-correlate2d-kernel-{tokenize(out_name)}", 0)
    graph: dict[Any, Any] = {kernel_key: kernel}  # once, not once per task
    read = _PartReader(graph, f"fastconv-correlate2d-halo-{tokenize(out_name)}", 0)
    for hi, ra in enumerate(row_axes):
        for wi, ca in enumerate(col_axes):
            blocks = [[read((in1.name, r, c), rows, cols, (in1.chunks[0][r], in1.chunks[1][c]))
                       for c, cols in zip(ca.chunks, ca.parts)]
                      for r, rows in zip(ra.chunks, ra.parts)]
            graph[(out_name, hi, wi)] = (_correlate_task, blocks, ra.positions, ca.positions,
                                         kernel_key, bval, fill, dtype, planned, requested)
    read.finish()
    hlg = HighLevelGraph.from_collections(out_name, graph, dependencies=[in1])
    return da.Array(hlg, out_name, (out_h_chunks, out_w_chunks),
                    meta=np.empty((0, 0), dtype=dtype))

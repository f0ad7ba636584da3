"""fastconv on Dask arrays: convolution and pooling of images and batches larger than memory.

``import fastconv.dask as fcd`` gives ``conv2d``, ``max_pool2d``, ``avg_pool2d`` and
``correlate2d`` for ``dask.array.Array`` inputs. Each returns a lazy Dask array with
known chunks; nothing is computed until the caller asks (``.compute()``, ``.persist()``,
``.to_zarr()`` ...), on whatever scheduler is active: Dask's threads or processes, or
a ``distributed`` cluster. fastconv brings no scheduler of its own.

How a call is cut into tasks
----------------------------
``x`` is NHWC (or HWC), chunked along N, H and W. The channels must be one chunk: a
convolution sums over them, so ``x`` is rechunked to one channel chunk when it is not
(a cheap no-op for the usual image with one to a few channels; for wide feature maps,
chunk them that way yourself to control the memory it takes).

Each output chunk is one task, and one call of the in-memory function on exactly the
input it needs. Output chunks follow the input's chunks on the stride grid
(``fastconv._geometry.output_chunks``: output ``o`` belongs to the chunk holding input
``o * stride``), so a "same" convolution at stride 1 keeps the input's chunks. The
input span of an output chunk, its halo (asymmetric in general: TensorFlow's "same" puts
the extra pixel bottom/right, and a strided window reaches further after its anchor than
before) and the padding it sees at the array's border come from
``fastconv._geometry.input_span``, the same arithmetic as the in-memory call's. A task
reads only the input chunks its span overlaps, whatever their size: chunks smaller than
the halo, one-pixel chunks, uneven last chunks and a halo larger than the array all work.
From a neighbouring chunk it reads only the part in its span, cut by a small task of its
own, so a ``distributed`` cluster moves halos between workers, not whole chunks. Strided
outputs are computed at their stride, never at stride 1 and subsampled.

Exactness
---------
``fcd.conv2d(x, ...).compute()`` is bit-identical to ``fastconv.conv2d(x.compute(), ...)``
with the same ``method``, for every chunking, stride, dilation, padding and groups (but
see im2col below); the same holds for the pools. The kernels sum each output value in
an order fixed by its taps, not by where the array it was called on starts, and zero
padding is given to a task only on the sides where its span crosses the array's border,
as explicit padding, so the kernel treats it exactly as the whole-array call does.
``method="auto"`` is resolved once for the whole array (``fastconv._plan.conv2d_plan``)
and the concrete kernel passed to every task, so that no task could pick another one
for its own shape.

The one exception is ``method="im2col"`` (chosen by "auto" only on CPUs without AVX-512,
for layers with many channels): its GEMM goes through BLAS, which rounds a row
differently with the tile of rows it belongs to (OpenBLAS's small-matrix and edge
kernels), and a chunk's tiles are not the whole array's; there the results agree to
float rounding, not bit for bit. Bit-identity holds between runs on the same kind of
CPU: a worker on another machine may pick another SIMD build of the kernels
(``fastconv.show_config()``), whose rounding differs; pin it with ``FASTCONV_SIMD`` on
mixed clusters.

``fcd.correlate2d`` runs every output value on the direct kernel (an FFT rounds each
output at the size of its whole transform, so cut into chunks it cannot give the
whole-array FFT's bits; SciPy's own loop, used in memory for tiny problems, sums in
another order). It is bit-identical to the in-memory drop-in run on the same engine,
``fastconv.signal.with_policy(fcd.CORRELATE_POLICY).correlate2d(x.compute(), in2, ...)``,
and therefore to plain ``fastconv.correlate2d(x.compute(), in2, ...)`` whenever that
call runs the direct engine itself without its border strips: for
``boundary="fill", fillvalue=0`` and a finite kernel, whenever the problem is neither
tiny (SciPy's loop) nor has a long kernel (the FFT).

Threads
-------
Dask runs one task per core (its threaded scheduler has a thread per core; a
``distributed`` worker runs ``nthreads`` tasks at once, and worker processes are
started with ``OMP_NUM_THREADS=1``). A kernel that opened its own OpenMP team on every
core inside each of those would oversubscribe the machine. So each task runs with
``workers=1`` when the graph has at least as many tasks as fastconv's thread count,
and with ``fastconv.get_num_threads() // tasks`` when it has fewer (a single chunk uses
every core, as the in-memory call does); inside a ``distributed`` worker a task always
runs one thread, the worker's threads being the parallelism. Pass ``workers=`` to
choose the per-task count yourself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as _error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fastconv.dask needs Dask, which is not installed: pip install 'fastconv[dask]' "
        f"(original error: {_error})"
    ) from None

from . import _geometry, _plan, _validate
from ._geometry import Span
from ._signal import border
from ._signal.policy import Policy
from ._threads import get_num_threads
from ._typing import IntOrPair, Method, Padding
from .conv import conv2d as _conv2d_numpy
from .pool import avg_pool2d as _avg_pool2d_numpy, max_pool2d as _max_pool2d_numpy

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "correlate2d", "CORRELATE_POLICY"]

# The in-memory drop-in's choices that fcd.correlate2d reproduces blockwise: always
# fastconv's direct kernel, the boundary extension made real around the whole image
# (never SciPy's loop, an FFT, or border strips computed on transposed pieces).
CORRELATE_POLICY = Policy(delegate_small=False, engine_2d="direct", strips_min_pixels=1 << 62)


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


def _assemble(pieces: list[list[np.ndarray]], lead: int) -> np.ndarray:
    """The pieces (rows of pieces side by side, over axes ``lead`` and ``lead + 1``) as
    one array: copied once, or returned as they are when there is one."""
    if len(pieces) == 1 and len(pieces[0]) == 1:
        return pieces[0][0]
    first = pieces[0][0]
    height = sum(band[0].shape[lead] for band in pieces)
    width = sum(piece.shape[lead + 1] for piece in pieces[0])
    whole = np.empty(first.shape[:lead] + (height, width) + first.shape[lead + 2:],
                     dtype=first.dtype)
    row = 0
    for band in pieces:
        col = 0
        for piece in band:
            h, w = piece.shape[lead:lead + 2]
            whole[(slice(None),) * lead + (slice(row, row + h), slice(col, col + w))] = piece
            col += w
        row += h
    return whole


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
                 planned: int, requested: Optional[int], *args: Any,
                 **kwargs: Any) -> np.ndarray:
    """One output chunk: the in-memory ``op`` on the span it reads, with its border padding.

    ``zeros_shape`` is set for a chunk whose windows lie wholly in the padding along an
    axis: it reads no input, and its padded input is materialised as zeros.
    """
    if zeros_shape is not None:
        piece = np.zeros(zeros_shape, dtype=dtype)
    else:
        piece = _assemble(_resolve(pieces), 1)
    return op(piece, *args, padding=pads, workers=_threads_here(planned, requested), **kwargs)


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
                    [op, blocks, pads, zeros_shape, dtype, planned, requested,
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


# ---------------------------------------------------------------------------
# conv2d and the pools
# ---------------------------------------------------------------------------
def conv2d(x: Any, w: Any, bias: Any = None, *, stride: IntOrPair = 1,
           padding: Padding = "valid", dilation: IntOrPair = 1, groups: int = 1,
           method: Method = "auto", workers: Optional[int] = None) -> Any:
    """:func:`fastconv.conv2d` on a Dask array, chunk by chunk, bit for bit.

    Parameters
    ----------
    x : dask.array.Array, shape (N, H, W, C_in) or (H, W, C_in)
        Chunked along any of N, H and W; the channels are rechunked to one chunk if
        they are not.
    w, bias : array_like (NumPy), as for :func:`fastconv.conv2d`
    stride, padding, dilation, groups, method
        As for :func:`fastconv.conv2d`. ``method="auto"`` is resolved once for the
        whole array, so that every chunk runs the same kernel.
    workers : int, optional
        Threads per task. None: one per task when there are at least as many tasks as
        cores (and always in a ``distributed`` worker), else the cores shared among them.

    Returns
    -------
    dask.array.Array
        Lazy, with known chunks: N as ``x``'s, H and W following ``x``'s on the stride
        grid, C_out one chunk. ``.compute()`` equals
        ``fastconv.conv2d(x.compute(), w, bias, ...)`` bit for bit (for the im2col
        kernel, to float rounding: see the module docs).

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastconv, fastconv.dask as fcd
    >>> image = da.random.default_rng(0).random((1, 1000, 1000, 1), chunks=(1, 256, 256, 1))
    >>> kernel = np.ones((5, 5, 1, 8)) / 25
    >>> y = fcd.conv2d(image, kernel, stride=2, padding="same")
    >>> y.shape, y.chunksize
    ((1, 500, 500, 8), (1, 128, 128, 8))
    >>> bool((y.compute() == fastconv.conv2d(image.compute(), kernel, stride=2,
    ...                                      padding="same")).all())
    True
    """
    x4, unbatched = _as_nhwc(x)
    w_arr = _validate.as_array(w, "w")
    bias_arr = None if bias is None else _validate.as_array(bias, "bias")
    stand_in = _stand_in(x4.shape, x4.dtype)
    n_groups = _validate.conv_operands(stand_in, w_arr, bias_arr, groups)
    dtype = _validate.result_dtype(stand_in, w_arr, bias_arr)
    chosen = _validate.choice(method, _plan.METHODS, "method")
    requested = _validate.workers(workers)
    _validate.nonempty_image(stand_in)
    k_h, k_w, _, c_out = w_arr.shape
    window = _geometry.conv_window(x4.shape[1:3], (k_h, k_w), stride, dilation, padding)
    concrete = _plan.conv2d_plan(x4.shape, w_arr.shape, window.out_hw, dtype, n_groups,
                                 chosen).method
    options = dict(stride=window.stride, dilation=window.dilation, groups=n_groups,
                   method=concrete)
    return _windowed("fastconv-conv2d", x4, unbatched, window, c_out, dtype, _conv2d_numpy,
                     lambda n: _task_threads(requested, n), requested, [w_arr, bias_arr],
                     options, (tokenize(w_arr), tokenize(bias_arr), n_groups, concrete))


def _pool(name: str, op: Callable[..., np.ndarray], x: Any, pool_size: Any, stride: Any,
          padding: Any, workers: Any) -> Any:
    x4, unbatched = _as_nhwc(x)
    stand_in = _stand_in(x4.shape, x4.dtype)
    dtype = _validate.result_dtype(stand_in)
    requested = _validate.workers(workers)
    _validate.nonempty_image(stand_in)
    window = _geometry.pool_window(x4.shape[1:3], pool_size, stride, padding)
    return _windowed(name, x4, unbatched, window, x4.shape[3], dtype, op,
                     lambda n: _task_threads(requested, n), requested, [],
                     dict(pool_size=window.size, stride=window.stride), ())


def max_pool2d(x: Any, pool_size: IntOrPair = 2, *, stride: Optional[IntOrPair] = None,
               padding: Padding = "valid", workers: Optional[int] = None) -> Any:
    """:func:`fastconv.max_pool2d` on a Dask array, chunk by chunk, bit for bit.

    Arguments as for :func:`fastconv.max_pool2d`; ``x`` and ``workers`` as for
    :func:`conv2d`. Padding never wins, as in memory.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastconv, fastconv.dask as fcd
    >>> batch = da.random.default_rng(1).random((64, 26, 26, 32), chunks=(16, 13, 26, 32))
    >>> pooled = fcd.max_pool2d(batch, 3, stride=2, padding="same")
    >>> pooled.shape, pooled.chunks[1]
    ((64, 13, 13, 32), (7, 6))
    >>> bool((pooled.compute() == fastconv.max_pool2d(batch.compute(), 3, stride=2,
    ...                                               padding="same")).all())
    True
    """
    return _pool("fastconv-max_pool2d", _max_pool2d_numpy, x, pool_size, stride, padding,
                 workers)


def avg_pool2d(x: Any, pool_size: IntOrPair = 2, *, stride: Optional[IntOrPair] = None,
               padding: Padding = "valid", workers: Optional[int] = None) -> Any:
    """:func:`fastconv.avg_pool2d` on a Dask array, chunk by chunk, bit for bit.

    Arguments as for :func:`fastconv.avg_pool2d` (the mean is over the real pixels of
    each window); ``x`` and ``workers`` as for :func:`conv2d`.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastconv.dask as fcd
    >>> x = da.ones((1, 5, 5, 1), chunks=(1, 2, 3, 1))
    >>> fcd.avg_pool2d(x, 2, padding="same").compute()[0, ..., 0]
    array([[1., 1., 1.],
           [1., 1., 1.],
           [1., 1., 1.]])
    """
    return _pool("fastconv-avg_pool2d", _avg_pool2d_numpy, x, pool_size, stride, padding,
                 workers)


# ---------------------------------------------------------------------------
# correlate2d: scipy.signal semantics on a 2-D Dask array
# ---------------------------------------------------------------------------
def correlate2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill",
                fillvalue: Any = 0, *, workers: Optional[int] = None) -> Any:
    """:func:`fastconv.correlate2d` (``scipy.signal.correlate2d``) on a 2-D Dask array.

    ``mode`` 'full' | 'same' | 'valid' and ``boundary`` 'fill' (with ``fillvalue``),
    'wrap' or 'symm' (and SciPy's aliases) as in SciPy, including wrap-around and
    mirrored borders that reach across the whole image. Each output chunk is computed
    by fastconv's direct kernel on the (extended) span it reads, so the result is
    bit-identical to ``fastconv.signal.with_policy(fcd.CORRELATE_POLICY).correlate2d``
    on the computed array (see the module docs for when that is also plain
    ``fastconv.correlate2d``'s result). ``in2`` is a NumPy array; the inputs must
    promote to float32 or float64.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> import fastconv, fastconv.dask as fcd
    >>> photo = da.random.default_rng(2).random((600, 800), chunks=(256, 256))
    >>> sobel = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
    >>> edges = fcd.correlate2d(photo, sobel, mode="same")
    >>> edges.chunks == photo.chunks
    True
    >>> bool((edges.compute() == fastconv.correlate2d(photo.compute(), sobel,
    ...                                               mode="same")).all())
    True
    """
    from . import signal as _signal

    if not isinstance(in1, da.Array):
        raise TypeError(f"in1 must be a dask.array.Array, got {type(in1).__name__}")
    kernel = np.asarray(in2)
    if in1.ndim != 2 or kernel.ndim != 2:
        raise ValueError("correlate2d inputs must both be 2-D arrays")
    if any(math.isnan(size) for size in in1.shape):
        raise ValueError(f"in1 has unknown chunk sizes (shape {in1.shape}); call "
                         f"in1.compute_chunk_sizes() first")
    requested = _validate.workers(workers)
    swapped = _signal._inputs_swap_needed(mode, in1.shape, kernel.shape)
    code = _signal._valfrommode(mode)
    bval = _signal._bvalfromboundary(boundary)
    if bval == border.REFLECT:
        raise ValueError("Incorrect boundary value.")
    stand_in = _stand_in(in1.shape, in1.dtype)
    dtype = _signal._compute_dtype(stand_in, kernel)
    if dtype is None:
        raise TypeError(
            f"fastconv.dask.correlate2d computes in float32 or float64: inputs of dtypes "
            f"{in1.dtype} and {kernel.dtype} promote to {np.result_type(in1.dtype, kernel)}")
    if in1.size == 0 or kernel.size == 0:
        raise ValueError(f"correlate2d inputs must not be empty: shapes {in1.shape} and "
                         f"{kernel.shape}")
    fill = dtype.type(0)
    if bval == border.FILL:
        fill_value = _signal._fill_scalar(fillvalue, dtype)
        if fill_value is None:
            raise TypeError(f"fillvalue must be a real scalar, got {fillvalue!r}")
        fill = fill_value
    kernel = kernel.astype(dtype, copy=False)
    if swapped:
        # 'valid' with a kernel larger than the image: the (small) image is the kernel.
        # One task, on the in-memory drop-in itself.
        whole = in1.rechunk(-1)
        drop_in = _signal.with_policy(CORRELATE_POLICY).correlate2d
        return whole.map_blocks(lambda block: drop_in(block, kernel, mode, boundary, fill),
                                chunks=tuple((n - k + 1,) for n, k in
                                             zip(kernel.shape, in1.shape)),
                                dtype=dtype, meta=np.empty((0, 0), dtype=dtype))
    return _correlate_graph(in1, kernel, code, bval, fill, dtype, requested)


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


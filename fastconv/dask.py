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
outputs are computed at their stride, never at stride 1 and subsampled. A task with a
large chunk (1 MiB or more) does not copy it with its halo into one array: it runs the
in-memory function on the chunk itself, the halo counted as padding, and then again on
small copies for the frame of outputs that read the halo, which it writes over. (A chunk
that is not C-contiguous, such as one ``da.from_array`` cuts from a wider NumPy array,
is still copied once, by the kernel; so is a chunk convolved with non-finite weights,
whose padding the kernel makes real.)

Exactness
---------
``fcd.conv2d(x, ...).compute()`` is bit-identical to ``fastconv.conv2d(x.compute(), ...)``
with the same ``method``, for every chunking, stride, dilation, padding and groups (but
see im2col below); the same holds for the pools. The kernels sum each output value in
an order fixed by its taps, not by where the array it was called on starts, and every
output a task keeps comes from a call whose zero padding lies only where its windows
cross the array's border, as explicit padding, so the kernel treats it exactly as the
whole-array call does (a frame's first call also pads over the halo, and the outputs
whose windows reach it are the frame it computes again).
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
from typing import Any, Callable, Optional

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
except ImportError as _error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "fastconv.dask needs Dask, which is not installed: pip install 'fastconv[dask]' "
        f"(original error: {_error})"
    ) from None

from . import _geometry, _plan, _validate
from ._signal import border
from ._signal.policy import Policy
from ._typing import IntOrPair, Method, Padding
from .conv import conv2d as _conv2d_numpy
from .pool import avg_pool2d as _avg_pool2d_numpy, max_pool2d as _max_pool2d_numpy
from ._dask_graph import _as_nhwc, _correlate_graph, _stand_in, _task_threads, _windowed

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "correlate2d", "CORRELATE_POLICY"]

# The in-memory drop-in's choices that fcd.correlate2d reproduces blockwise: always
# fastconv's direct kernel, the boundary extension made real around the whole image
# (never SciPy's loop, an FFT, or border strips computed on transposed pieces).
CORRELATE_POLICY = Policy(delegate_small=False, engine_2d="direct", strips_min_pixels=1 << 62)


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

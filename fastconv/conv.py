"""conv2d: the public function. It validates, sizes and plans a call, then runs a kernel."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _blas_threads, _border, _plan, _validate
from ._geometry import Window, border_strips, conv_window, effective_kernel, interior, \
    pad_index, positions_read, source_maps, source_maps_fit
from ._plan import METHODS, border_tiles, conv2d_plan, separable_plan
from ._typing import ArrayLike, IntOrPair, Method, PadMode, Padding

__all__ = ["conv2d", "sep_conv2d"]


def conv2d(x: ArrayLike, w: ArrayLike, bias: Optional[ArrayLike] = None, *,
           stride: IntOrPair = 1, padding: Padding = "valid", dilation: IntOrPair = 1,
           groups: int = 1, method: Method = "auto", pad_mode: PadMode = "constant",
           cval: float = 0.0, out: Optional[np.ndarray] = None,
           workers: Optional[int] = None) -> np.ndarray:
    """2-D cross-correlation of NHWC images with an HWIO kernel, as Keras' Conv2D computes it.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C_in) or (H, W, C_in)
        Input images (NHWC). An unbatched 3-D input gives a 3-D result.
    w : array_like, shape (KH, KW, C_in // groups, C_out)
        The kernel in HWIO layout. Not flipped: this is cross-correlation, as in
        Keras, TensorFlow, PyTorch and JAX.
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or (int, int), each >= 1
    padding : "valid", "same", int, (ph, pw) or ((top, bottom), (left, right))
        "same" follows TensorFlow: output = ceil(input / stride), the extra
        padded pixel on the bottom/right. What the padding holds is ``pad_mode``'s.
    groups : int
        C_in and C_out must be divisible by it; groups == C_in is depthwise.
    method : {"auto", "direct", "im2col"}
        The kernel to use. All give the same result up to float rounding.
    pad_mode : {"constant", "reflect", "symmetric", "edge", "wrap"}
        What the padding holds, with exactly ``np.pad``'s meaning: the result equals
        ``np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), pad_mode)``
        followed by a "valid" convolution, padding wider than the image included
        (np.pad reflects or wraps again). "reflect" is OpenCV's BORDER_REFLECT_101,
        "symmetric" scipy.ndimage's "reflect" and OpenCV's BORDER_REFLECT, "edge"
        PyTorch's "replicate", "wrap" its "circular". No padded copy of ``x`` is
        made: one-channel kernels and the flat depthwise rows (stride 1, channels that
        do not fill the register blocks, kernels up to 3 wide or fewer than 8
        channels) read each padded position's source pixel in place; for other
        layers, only the outputs whose windows reach the padding are computed again
        from small padded pieces.
    cval : float
        The value of the padding for pad_mode="constant" (0 by default), in the
        result's dtype: x is converted to that dtype, then padded.
    out : ndarray, optional
        C-contiguous, of exactly the result's shape and dtype. Returned.
    workers : int, optional
        Threads for this call: None uses ``fastconv.get_num_threads()``, -1 all cores.

    Returns
    -------
    ndarray of shape (N, OH, OW, C_out) (or (OH, OW, C_out)), dtype
    ``np.result_type(x, w, bias, np.float32)``: float32 stays float32.

    Examples
    --------
    The course's 512x512 grayscale image through a 3x3 Conv2D:

    >>> import numpy as np
    >>> import fastconv
    >>> image = np.random.rand(1, 512, 512, 1).astype(np.float32)
    >>> blur = np.full((3, 3, 1, 1), 1 / 9, dtype=np.float32)
    >>> fastconv.conv2d(image, blur, stride=(2, 1)).shape
    (1, 255, 510, 1)
    >>> y = fastconv.conv2d(image, blur, padding="same")
    >>> y.shape, y.dtype
    ((1, 512, 512, 1), dtype('float32'))

    An edge kernel on a step: it responds only where the step is.

    >>> step = np.zeros((1, 4, 6, 1)); step[..., 3:, :] = 1
    >>> edge = np.array([-1.0, 0.0, 1.0]).reshape(1, 3, 1, 1)
    >>> fastconv.conv2d(step, edge)[0, 0, :, 0]
    array([0., 1., 1., 0.])

    The MNIST ConvNet's second layer, 32 -> 64 channels:

    >>> maps = np.random.rand(64, 13, 13, 32).astype(np.float32)
    >>> kernel = np.random.rand(3, 3, 32, 64).astype(np.float32)
    >>> fastconv.conv2d(maps, kernel, np.zeros(64, np.float32)).shape
    (64, 11, 11, 64)

    A box blur that does not darken the edges: the border reflects the image, as
    OpenCV's default border does.

    >>> flat = np.full((1, 4, 5, 1), 8.0)
    >>> box = np.full((3, 3, 1, 1), 1 / 9)
    >>> fastconv.conv2d(flat, box, padding="same")[0, :2, :3, 0]
    array([[3.55555556, 5.33333333, 5.33333333],
           [5.33333333, 8.        , 8.        ]])
    >>> fastconv.conv2d(flat, box, padding="same", pad_mode="reflect")[0, :2, :3, 0]
    array([[8., 8., 8.],
           [8., 8., 8.]])
    """
    return _conv2d(x, w, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, method=method, pad_mode=pad_mode, cval=cval, out=out,
                   workers=workers)


def _conv2d(x: Any, w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = "valid",
            dilation: Any = 1, groups: Any = 1, method: Any = "auto", pad_mode: Any = "constant",
            cval: Any = 0.0, out: Any = None, workers: Any = None,
            simd: Optional[str] = None) -> np.ndarray:
    """conv2d with the plan's free choices made explicit: ``simd`` runs a given build."""
    x = _validate.as_array(x, "x")
    w = _validate.as_array(w, "w")
    bias = None if bias is None else _validate.as_array(bias, "bias")
    x4, unbatched = _validate.batched(x)
    groups = _validate.conv_operands(x4, w, bias, groups)
    dtype = _validate.result_dtype(x, w, bias)
    method = _validate.choice(method, METHODS, "method")
    pad_mode = _validate.pad_mode(pad_mode)
    fill = _validate.cval(cval, dtype)
    n_workers = _validate.workers(workers)
    _validate.nonempty_image(x4)
    k_h, k_w, _, c_out = w.shape
    window = conv_window(x4.shape[1:3], (k_h, k_w), stride, dilation, padding)
    out_shape = (x4.shape[0], *window.out_hw, c_out)
    target, result = _validate.prepare_out(
        out, out_shape[1:] if unbatched else out_shape, dtype, (x, w, bias)
    )
    target4 = target[np.newaxis] if unbatched else target

    bias_vec = (np.zeros(c_out, dtype=dtype) if bias is None
                else np.ascontiguousarray(bias, dtype=dtype))
    if target4.size == 0 or x4.shape[3] == 0:
        # Nothing to slide over, or an empty sum: the result is the bias alone.
        target4[...] = bias_vec
        return _validate.finish(target, result)

    plan = conv2d_plan(x4.shape, w.shape, window.out_hw, dtype, groups, method, n_workers,
                       simd)
    x4 = np.ascontiguousarray(x4, dtype=dtype)
    w = np.ascontiguousarray(w, dtype=dtype)
    padded = any(window.pads[0] + window.pads[1])
    if padded and pad_mode != "constant" and plan.method == "direct" and \
            plan.kernels.pads_from_source_maps(x4.shape, w.shape, window.stride[1],
                                               window.dilation[1], x4.itemsize) and \
            source_maps_fit(x4.shape[1:3], window):
        # The kernel takes the border itself: each padded position reads the input row
        # or column that np.pad would copy there.
        rows, cols = source_maps(x4.shape[1:3], window, pad_mode)
        plan.kernels.conv2d_direct(x4, w, bias_vec, target4, window.stride, window.dilation,
                                   window.pad_top_left, groups, plan.threads, rows, cols)
        return _validate.finish(target, result)
    if padded and (pad_mode != "constant" or fill != 0):
        # The kernels pad with zeros. Run them so (the interior never reads the
        # padding), then compute the outputs that do read it again, from small pieces
        # padded as np.pad would pad them.
        strips = border_strips(x4.shape[1:3], effective_kernel(window.size, window.dilation),
                               window.stride, window.pads, window.out_hw)
        if strips != [(0, window.out_hw[0], 0, window.out_hw[1])]:  # else no interior
            _run_kernel(plan, x4, w, bias_vec, target4, window, window.pad_top_left, groups)
        _border_strips(x4, w, bias_vec, target4, window, groups, pad_mode, fill, strips,
                       method, n_workers, simd)
        return _validate.finish(target, result)
    if plan.method != "direct" or not padded:
        _run_kernel(plan, x4, w, bias_vec, target4, window, window.pad_top_left, groups)
        return _validate.finish(target, result)
    # The direct kernel skips taps in the padding, which equals multiplying them by zero
    # only for finite weights: plain arithmetic gives 0 * inf = nan. So for non-finite
    # weights (rare) the zeros are made real, at the cost of a copy. Scanning the weights
    # first costs as much as a deep layer on small maps (0.6 ms for 3x3x512x512, a third
    # of ResNet's 7x7 layer at batch 1), so when the output is the smaller array it is
    # scanned afterwards instead: see _finite_output_proves_finite_weights.
    scan_output = (target4.size < w.size
                   and _finite_output_proves_finite_weights(x4.shape[1:3], window))
    if not scan_output and not np.isfinite(w).all():
        _run_kernel_on_padded_copy(plan, x4, w, bias_vec, target4, window, groups)
        return _validate.finish(target, result)
    _run_kernel(plan, x4, w, bias_vec, target4, window, window.pad_top_left, groups)
    if scan_output and not np.isfinite(target4).all() and not np.isfinite(w).all():
        _run_kernel_on_padded_copy(plan, x4, w, bias_vec, target4, window, groups)
    return _validate.finish(target, result)


def _finite_output_proves_finite_weights(in_hw: tuple[int, ...], window: Window) -> bool:
    """Whether a finite output of the direct kernel (which skips the padding) proves the
    weights finite. An inf or nan weight times any input value is inf or nan, and so is
    a sum holding it, so each non-finite weight shows in the output wherever its tap
    reads the image. Every tap does for an output whose window lies wholly inside the
    image: one such output row and column suffice."""
    eff = effective_kernel(window.size, window.dilation)
    return all(lo < hi for lo, hi in interior(in_hw, eff, window.stride, window.pads,
                                              window.out_hw))


def _run_kernel_on_padded_copy(plan: Any, x4: np.ndarray, w: np.ndarray,
                               bias_vec: np.ndarray, target4: np.ndarray, window: Window,
                               groups: int) -> None:
    """The planned kernel on x4 padded with real zeros (see conv2d: non-finite weights)."""
    padded_x = np.pad(x4, ((0, 0), window.pads[0], window.pads[1], (0, 0)))
    _run_kernel(plan, padded_x, w, bias_vec, target4, window, (0, 0), groups)


def _run_kernel(plan: Any, x4: np.ndarray, w: np.ndarray, bias_vec: np.ndarray,
                target4: np.ndarray, window: Window, pad_top_left: tuple[int, int],
                groups: int) -> None:
    """The planned kernel over the whole output, padding with zeros."""
    geometry = (window.stride, window.dilation, pad_top_left, groups)
    if plan.method == "im2col":
        with _blas_threads.single_threaded_blas():
            plan.kernels.conv2d_im2col(x4, w, bias_vec, target4, *geometry, plan.tile_rows,
                                       plan.threads)
    else:
        plan.kernels.conv2d_direct(x4, w, bias_vec, target4, *geometry, plan.threads)


def _border_strips(x4: np.ndarray, w: np.ndarray, bias_vec: np.ndarray, target4: np.ndarray,
                   window: Window, groups: int, pad_mode: str, fill: Any,
                   strips: list[tuple[int, int, int, int]], method: str,
                   workers: Optional[int], simd: Optional[str]) -> None:
    """Write the outputs of ``strips`` (rectangles of output rows and columns) as a
    valid convolution of pieces of the input padded by ``pad_mode``, a few MiB at a time."""
    (h, wd), (top, left) = x4.shape[1:3], window.pad_top_left
    (eff_h, eff_w), (s_h, s_w) = effective_kernel(window.size, window.dilation), window.stride
    # The left and right strips are a few columns wide and the image's height tall.
    # The kernels work along rows, so those strips run transposed: a piece laid along
    # its long side, with the kernel, stride and dilation transposed to match, runs
    # 5-10x faster than the same piece a few pixels wide.
    w_across = np.ascontiguousarray(w.transpose(1, 0, 2, 3))
    # Pieces of one shape (the top and bottom strips, the left and right ones) are
    # stacked along the batch axis and run as one call, up to BORDER_PIECE_BYTES: the
    # strips are small, and a call's fixed cost is a large part of theirs.
    pending: dict[tuple[Any, ...], list[tuple[np.ndarray, tuple[slice, ...]]]] = {}

    def run(across: bool, group: list[tuple[np.ndarray, tuple[slice, ...]]]) -> None:
        pieces = np.ascontiguousarray(np.concatenate([piece for piece, _ in group]))
        if across:
            results = _valid_pieces(pieces, w_across, bias_vec, window.stride[::-1],
                                    window.dilation[::-1], groups, method, workers,
                                    simd).transpose(0, 2, 1, 3)
        else:
            results = _valid_pieces(pieces, w, bias_vec, window.stride, window.dilation,
                                    groups, method, workers, simd)
        start = 0
        for piece, where in group:
            target4[where] = results[start:start + piece.shape[0]]
            start += piece.shape[0]

    index_maps: dict[tuple[int, int, int, int], np.ndarray] = {}

    def index(size: int, before: int, start: int, stop: int) -> np.ndarray:
        """pad_index, once per axis span (the top and bottom strips share columns)."""
        key = (size, before, start, stop)
        if key not in index_maps:
            index_maps[key] = pad_index(size, before, start, stop, pad_mode)
        return index_maps[key]

    for r0, r1, c0, c1 in strips:
        cols = index(wd, left, *positions_read(c0, c1, s_w, eff_w))
        row_bytes = cols.size * x4.shape[3] * x4.itemsize
        for n0, n1, a, b in border_tiles(x4.shape[0], r0, r1, s_h, eff_h, row_bytes):
            rows = index(h, top, *positions_read(a, b, s_h, eff_h))
            across = b - a > c1 - c0
            piece = (_border.padded_block_across if across else _border.padded_block)(
                x4[n0:n1], rows, cols, fill)
            key = (across, piece.shape[1:])
            if key in pending and (sum(p.nbytes for p, _ in pending[key]) + piece.nbytes
                                   > _plan.BORDER_PIECE_BYTES):
                run(across, pending.pop(key))
            pending.setdefault(key, []).append((piece, np.s_[n0:n1, a:b, c0:c1]))
    for (across, _), group in pending.items():
        run(across, group)


def _valid_pieces(pieces: np.ndarray, w: np.ndarray, bias_vec: np.ndarray,
                  stride: tuple[int, int], dilation: tuple[int, int], groups: int,
                  method: str, workers: Optional[int], simd: Optional[str]) -> np.ndarray:
    """The valid convolution of padded pieces (C-contiguous, in the result's dtype, cut
    from an input whose call was checked): _conv2d's kernel call without its checks,
    which cost as much as the kernel on pieces this small."""
    window = conv_window(pieces.shape[1:3], w.shape[:2], stride, dilation, "valid")
    result = np.empty((pieces.shape[0], *window.out_hw, w.shape[3]), dtype=pieces.dtype)
    plan = conv2d_plan(pieces.shape, w.shape, window.out_hw, pieces.dtype, groups, method,
                       workers, simd)
    _run_kernel(plan, pieces, w, bias_vec, result, window, (0, 0), groups)
    return result


def sep_conv2d(x: ArrayLike, kernel_y: ArrayLike, kernel_x: ArrayLike, *,
               stride: IntOrPair = 1, padding: Padding = "valid", dilation: IntOrPair = 1,
               pad_mode: PadMode = "constant", cval: float = 0.0,
               out: Optional[np.ndarray] = None, workers: Optional[int] = None) -> np.ndarray:
    """A separable filter: every channel cross-correlated with ``kernel_y`` down the
    columns and ``kernel_x`` along the rows, as two 1-D passes.

    The same two 1-D kernels filter every channel (depthwise), as OpenCV's
    ``sepFilter2D`` and ``scipy.ndimage.correlate1d`` apply them. The result equals
    ``conv2d(x, w, groups=C)`` with ``w[i, j, 0, c] = kernel_y[i] * kernel_x[j]`` up
    to rounding, at k_h + k_w multiply-adds per value instead of k_h * k_w. Each
    output row is made from one row buffer per thread: no intermediate image.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C) or (H, W, C)
    kernel_y, kernel_x : array_like, 1-D
        The taps down the columns (height) and along the rows (width); not flipped.
    stride, dilation, padding, pad_mode, cval, out, workers
        As in :func:`conv2d`.

    Returns
    -------
    ndarray of shape (N, OH, OW, C) (or (OH, OW, C)), dtype
    ``np.result_type(x, kernel_y, kernel_x, np.float32)``.

    Examples
    --------
    A 5-tap binomial (Gaussian) blur of an RGB photo, reflecting at the borders as
    OpenCV does by default:

    >>> import numpy as np
    >>> import fastconv
    >>> photo = np.random.rand(1080, 1920, 3).astype(np.float32)
    >>> gauss = np.array([1, 4, 6, 4, 1], np.float32) / 16
    >>> blurred = fastconv.sep_conv2d(photo, gauss, gauss, padding="same", pad_mode="reflect")
    >>> blurred.shape, blurred.dtype
    ((1080, 1920, 3), dtype('float32'))
    >>> w = np.multiply.outer(gauss, gauss)[:, :, None, None] * np.ones((1, 1, 1, 3), np.float32)
    >>> full = fastconv.conv2d(photo, w, padding="same", pad_mode="reflect", groups=3)
    >>> bool(np.allclose(blurred, full, atol=1e-5))
    True

    A Sobel filter (horizontal derivative) on a ramp:

    >>> ramp = np.tile(np.arange(6.0), (4, 1))[:, :, None]
    >>> fastconv.sep_conv2d(ramp, [1, 2, 1], [-1, 0, 1])[..., 0]
    array([[8., 8., 8., 8.],
           [8., 8., 8., 8.]])
    """
    return _sep_conv2d(x, kernel_y, kernel_x, stride=stride, padding=padding,
                       dilation=dilation, pad_mode=pad_mode, cval=cval, out=out,
                       workers=workers)


def _sep_conv2d(x: Any, kernel_y: Any, kernel_x: Any, *, stride: Any = 1,
                padding: Any = "valid", dilation: Any = 1, pad_mode: Any = "constant",
                cval: Any = 0.0, out: Any = None, workers: Any = None,
                simd: Optional[str] = None) -> np.ndarray:
    """sep_conv2d with ``simd`` choosing a given build, for the tests of every build."""
    x = _validate.as_array(x, "x")
    kernel_y = _validate.as_array(kernel_y, "kernel_y")
    kernel_x = _validate.as_array(kernel_x, "kernel_x")
    x4, unbatched = _validate.batched(x)
    _validate.taps(kernel_y, "kernel_y")
    _validate.taps(kernel_x, "kernel_x")
    dtype = _validate.result_dtype(x, kernel_y, kernel_x)
    pad_mode = _validate.pad_mode(pad_mode)
    fill = _validate.cval(cval, dtype)
    n_workers = _validate.workers(workers)
    _validate.nonempty_image(x4)
    window = conv_window(x4.shape[1:3], (kernel_y.size, kernel_x.size), stride, dilation,
                         padding)
    out_shape = (x4.shape[0], *window.out_hw, x4.shape[3])
    target, result = _validate.prepare_out(
        out, out_shape[1:] if unbatched else out_shape, dtype, (x, kernel_y, kernel_x)
    )
    target4 = target[np.newaxis] if unbatched else target
    if target4.size == 0:
        return _validate.finish(target, result)
    (h, wd), (top, left) = x4.shape[1:3], window.pad_top_left
    (eff_h, eff_w) = effective_kernel(window.size, window.dilation)
    rows = pad_index(h, top, *positions_read(0, window.out_hw[0], window.stride[0], eff_h),
                     pad_mode)
    cols = pad_index(wd, left, *positions_read(0, window.out_hw[1], window.stride[1], eff_w),
                     pad_mode)
    plan = separable_plan(x4.shape, window.out_hw, kernel_y.size + kernel_x.size, n_workers,
                          simd)
    plan.kernels.sep_conv2d(
        np.ascontiguousarray(x4, dtype=dtype), np.ascontiguousarray(kernel_y, dtype=dtype),
        np.ascontiguousarray(kernel_x, dtype=dtype), rows, cols, fill, target4,
        window.stride, window.dilation, left, plan.threads)
    return _validate.finish(target, result)

"""conv2d: the public function. It validates, sizes and plans a call, then runs a kernel."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _blas_threads, _validate
from ._geometry import conv_window
from ._plan import METHODS, conv2d_plan
from ._typing import ArrayLike, IntOrPair, Method, Padding

__all__ = ["conv2d"]


def conv2d(x: ArrayLike, w: ArrayLike, bias: Optional[ArrayLike] = None, *,
           stride: IntOrPair = 1, padding: Padding = "valid", dilation: IntOrPair = 1,
           groups: int = 1, method: Method = "auto", out: Optional[np.ndarray] = None,
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
        padded pixel on the bottom/right. The padding is zeros.
    groups : int
        C_in and C_out must be divisible by it; groups == C_in is depthwise.
    method : {"auto", "direct", "im2col"}
        The kernel to use. All give the same result up to float rounding.
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
    """
    return _conv2d(x, w, bias, stride=stride, padding=padding, dilation=dilation,
                   groups=groups, method=method, out=out, workers=workers)


def _conv2d(x: Any, w: Any, bias: Any = None, *, stride: Any = 1, padding: Any = "valid",
            dilation: Any = 1, groups: Any = 1, method: Any = "auto", out: Any = None,
            workers: Any = None, simd: Optional[str] = None) -> np.ndarray:
    """conv2d with the plan's free choices made explicit: ``simd`` runs a given build."""
    x = _validate.as_array(x, "x")
    w = _validate.as_array(w, "w")
    bias = None if bias is None else _validate.as_array(bias, "bias")
    x4, unbatched = _validate.batched(x)
    groups = _validate.conv_operands(x4, w, bias, groups)
    dtype = _validate.result_dtype(x, w, bias)
    method = _validate.choice(method, METHODS, "method")
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
    pad_top_left = window.pad_top_left
    if plan.method == "direct" and any(window.pads[0] + window.pads[1]) and not np.isfinite(w).all():
        # The direct kernel skips taps in the padding, which equals multiplying them by
        # zero only for finite weights: plain arithmetic gives 0 * inf = nan. So for
        # non-finite weights (rare) the zeros are made real, at the cost of a copy.
        x4 = np.pad(x4, ((0, 0), window.pads[0], window.pads[1], (0, 0)))
        pad_top_left = (0, 0)
    geometry = (window.stride, window.dilation, pad_top_left, groups)
    if plan.method == "im2col":
        with _blas_threads.single_threaded_blas():
            plan.kernels.conv2d_im2col(x4, w, bias_vec, target4, *geometry, plan.tile_rows,
                                       plan.threads)
    else:
        plan.kernels.conv2d_direct(x4, w, bias_vec, target4, *geometry, plan.threads)
    return _validate.finish(target, result)

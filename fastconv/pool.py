"""max_pool2d and avg_pool2d: the public functions over the shared pooling driver."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _validate
from ._geometry import pool_window
from ._plan import pool2d_plan
from ._typing import ArrayLike, IntOrPair, Padding

__all__ = ["max_pool2d", "avg_pool2d"]


def _pool2d(op: str, x: Any, pool_size: Any = 2, stride: Any = None, padding: Any = "valid",
            out: Any = None, workers: Any = None, simd: Optional[str] = None) -> np.ndarray:
    """Validate, size and plan one pooling call, then run kernel ``op`` ("max_pool2d" or
    "avg_pool2d"); ``simd`` runs a given build instead of the one chosen at import."""
    x = _validate.as_array(x, "x")
    x4, unbatched = _validate.batched(x)
    read_dtype, dtype = _validate.pool_dtypes(x, op)
    n_workers = _validate.workers(workers)
    _validate.nonempty_image(x4)
    window = pool_window(x4.shape[1:3], pool_size, stride, padding)
    out_shape = (x4.shape[0], *window.out_hw, x4.shape[3])
    target, result = _validate.prepare_out(out, out_shape[1:] if unbatched else out_shape,
                                           dtype, (x,))
    target4 = target[np.newaxis] if unbatched else target
    if target4.size == 0:
        return _validate.finish(target, result)
    if x4.dtype.kind == "b":
        # bool is read as uint8 (the same bytes; max is the logical or) and written so.
        x4 = np.ascontiguousarray(x4).view(np.uint8)
    x4 = np.ascontiguousarray(x4, dtype=read_dtype)
    plan = pool2d_plan(x4.shape, window.out_hw, window.size, n_workers, simd)
    if op == "avg_pool2d" and read_dtype.kind in "iu":
        op = "avg_pool2d_integer"
    kernel = getattr(plan.kernels, op)
    written = target4.view(np.uint8) if target4.dtype.kind == "b" else target4
    kernel(x4, written, window.size, window.stride, window.pad_top_left, plan.threads)
    return _validate.finish(target, result)


def max_pool2d(x: ArrayLike, pool_size: IntOrPair = 2, *, stride: Optional[IntOrPair] = None,
               padding: Padding = "valid", out: Optional[np.ndarray] = None,
               workers: Optional[int] = None) -> np.ndarray:
    """Max pooling over NHWC images (Keras' MaxPooling2D).

    Parameters
    ----------
    x : array_like, shape (N, H, W, C) or (H, W, C)
    pool_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to pool_size, as in Keras.
    padding : "valid", "same", int, (ph, pw) or ((top, bottom), (left, right))
        Padding never wins: the max is over real pixels only (TensorFlow's rule).
        Explicit padding must be smaller than the pool on each side.
    out : ndarray, optional
        C-contiguous, of exactly the result's shape and dtype. Returned.
    workers : int, optional
        Threads for this call: None uses ``fastconv.get_num_threads()``, -1 all cores.

    Returns
    -------
    ndarray of shape (N, OH, OW, C) (or (OH, OW, C)). Integer and bool images keep
    their dtype exactly (a uint8 image pools to uint8; int64 is compared as int64,
    never rounded through a float); floats give ``np.result_type(x, np.float32)``.

    NaN propagates as in ``np.max``: a window holding a NaN gives NaN. Pooling has no
    ``pad_mode``: padding never takes part in a pooled value, whatever it would hold.

    Examples
    --------
    The MNIST ConvNet's 2x2 max pooling:

    >>> import numpy as np
    >>> import fastconv
    >>> maps = np.random.rand(64, 26, 26, 32).astype(np.float32)
    >>> fastconv.max_pool2d(maps).shape
    (64, 13, 13, 32)
    >>> x = np.arange(16.0).reshape(4, 4, 1)         # one unbatched image
    >>> fastconv.max_pool2d(x)[..., 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> fastconv.max_pool2d(x, 3, stride=2, padding="same")[..., 0]
    array([[10., 11.],
           [14., 15.]])

    An 8-bit image stays 8-bit:

    >>> fastconv.max_pool2d(np.array([[[0], [255]], [[7], [9]]], np.uint8))[..., 0]
    array([[255]], dtype=uint8)
    """
    return _pool2d("max_pool2d", x, pool_size, stride, padding, out, workers)


def avg_pool2d(x: ArrayLike, pool_size: IntOrPair = 2, *, stride: Optional[IntOrPair] = None,
               padding: Padding = "valid", out: Optional[np.ndarray] = None,
               workers: Optional[int] = None) -> np.ndarray:
    """Average pooling over NHWC images (Keras' AveragePooling2D).

    Same arguments as :func:`max_pool2d`. The mean is over the real pixels in
    each window (TensorFlow's SAME rule): padding is never counted.

    Integer and bool images give float64, as ``np.mean`` does: each value is
    converted to float64 and summed so (no integer sum that could overflow), and
    the sum is divided by the count. Float images keep their precision, as above.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.arange(16.0).reshape(4, 4, 1)
    >>> fastconv.avg_pool2d(x)[..., 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])

    With "same" padding the border windows average only their real pixels:

    >>> fastconv.avg_pool2d(np.ones((1, 3, 3, 1)), padding="same")[0, ..., 0]
    array([[1., 1.],
           [1., 1.]])
    >>> fastconv.avg_pool2d(np.array([[[0], [255]], [[7], [9]]], np.uint8))[..., 0]
    array([[67.75]])
    """
    return _pool2d("avg_pool2d", x, pool_size, stride, padding, out, workers)

"""Plain-loop definitions of fastconv's operations: the oracle and the naive baseline.

Each function loops over output pixels and states, for that one pixel, what
the operation computes: a cross-correlation of the receptive field with the
HWIO kernel, or the max or mean of the real (unpadded) pixels in the window.
Vectorisation is only over the batch and channel axes, where it cannot hide
an indexing mistake. Everything is computed, and returned, in float64.

Shapes and padding come from ``fastconv._geometry`` (the one place for those
rules); the tests pin that module's arithmetic separately against
TensorFlow's documented formulas.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from ._geometry import conv_window, pool_window
from ._typing import ArrayLike, IntOrPair, PadMode, Padding

__all__ = ["conv2d", "sep_conv2d", "max_pool2d", "avg_pool2d"]


def _batched(x: ArrayLike) -> tuple[np.ndarray, bool]:
    x = np.asarray(x, dtype=np.float64)
    return (x[None], True) if x.ndim == 3 else (x, False)


def _blas_field_dot(field: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum over (kh, kw, c) of field[n, kh, kw, c] * w[kh, kw, c, o], through BLAS."""
    return np.tensordot(field, w, axes=3)


def _ieee_field_dot(field: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The same sum in NumPy's own loop. BLAS may skip zero multipliers, losing IEEE's
    nan * 0 = nan and inf * 0 = nan, so non-finite inputs (rare) come here."""
    return np.asarray(np.einsum("nhwc,hwco->no", field, w, optimize=False))


def conv2d(x: ArrayLike, w: ArrayLike, bias: Optional[ArrayLike] = None, *,
           stride: IntOrPair = 1, padding: Padding = "valid", dilation: IntOrPair = 1,
           groups: int = 1, pad_mode: PadMode = "constant", cval: float = 0.0) -> np.ndarray:
    """out[n, i, j, o] = bias[o] + sum over (kh, kw, c) in o's group of
    x_padded[n, i*sh + kh*dh, j*sw + kw*dw, c] * w[kh, kw, c - group_start, o],
    where x_padded is ``np.pad(x, ..., pad_mode)`` (``constant_values=cval``).

    Same arguments as :func:`fastconv.conv2d` (no ``method``, ``out`` or ``workers``);
    computed and returned in float64.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.random.rand(2, 8, 8, 3).astype(np.float32)
    >>> w = np.random.rand(3, 3, 3, 4).astype(np.float32)
    >>> expected = fastconv.reference.conv2d(x, w, padding="same")
    >>> expected.dtype, expected.shape
    (dtype('float64'), (2, 8, 8, 4))
    >>> np.allclose(fastconv.conv2d(x, w, padding="same"), expected, rtol=1e-5, atol=1e-5)
    True
    """
    x, unbatched = _batched(x)
    w = np.asarray(w, dtype=np.float64)
    n, h, wd, c_in = x.shape
    kh, kw, c_in_per_group, c_out = w.shape
    assert c_in == c_in_per_group * groups and c_out % groups == 0
    window = conv_window((h, wd), (kh, kw), stride, dilation, padding)
    (sh, sw), (dh, dw), pads, (oh, ow) = window.stride, window.dilation, window.pads, window.out_hw
    widths = ((0, 0), pads[0], pads[1], (0, 0))
    xp = (np.pad(x, widths, constant_values=cval) if pad_mode == "constant"
          else np.pad(x, widths, mode=pad_mode))
    c_out_per_group = c_out // groups
    finite = np.isfinite(x).all() and np.isfinite(w).all()
    dot = _blas_field_dot if finite else _ieee_field_dot
    out = np.zeros((n, oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            field = xp[:, i * sh : i * sh + (kh - 1) * dh + 1 : dh, j * sw : j * sw + (kw - 1) * dw + 1 : dw, :]
            for g in range(groups):
                cin = slice(g * c_in_per_group, (g + 1) * c_in_per_group)
                cout = slice(g * c_out_per_group, (g + 1) * c_out_per_group)
                out[:, i, j, cout] = dot(field[..., cin], w[..., cout])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)
    return out[0] if unbatched else out


def sep_conv2d(x: ArrayLike, kernel_y: ArrayLike, kernel_x: ArrayLike, *,
               stride: IntOrPair = 1, padding: Padding = "valid", dilation: IntOrPair = 1,
               pad_mode: PadMode = "constant", cval: float = 0.0) -> np.ndarray:
    """The depthwise :func:`conv2d` of every channel with the outer product
    ``kernel_y[i] * kernel_x[j]``: what :func:`fastconv.sep_conv2d` computes in two passes.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.reference.sep_conv2d(np.ones((3, 4, 2)), [1, 1], [1, 2, 3]).shape
    (2, 2, 2)
    """
    x, unbatched = _batched(x)
    channels = x.shape[3]
    outer = np.multiply.outer(np.asarray(kernel_y, np.float64), np.asarray(kernel_x, np.float64))
    w = np.repeat(outer[:, :, None, None], channels, axis=3)
    out = conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=channels,
                 pad_mode=pad_mode, cval=cval)
    return out[0] if unbatched else out


def _pool(x: ArrayLike, pool_size: Any, stride: Any, padding: Any,
          reduce: Callable[..., Any]) -> np.ndarray:
    x, unbatched = _batched(x)
    n, h, wd, c = x.shape
    window = pool_window((h, wd), pool_size, stride, padding)
    (ph, pw), (sh, sw), (oh, ow) = window.size, window.stride, window.out_hw
    top, left = window.pad_top_left
    out = np.empty((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            # Only real pixels take part: the window is clipped to the image.
            r0, c0 = i * sh - top, j * sw - left
            field = x[:, max(r0, 0) : min(r0 + ph, h), max(c0, 0) : min(c0 + pw, wd), :]
            out[:, i, j, :] = reduce(field, axis=(1, 2))
    return out[0] if unbatched else out


def max_pool2d(x: ArrayLike, pool_size: IntOrPair = 2, *, stride: Optional[IntOrPair] = None,
               padding: Padding = "valid") -> np.ndarray:
    """out[n, i, j, c] = max of x[n, r, s, c] over the real pixels (r, s) of window (i, j); NaN wins.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.reference.max_pool2d(np.arange(16.0).reshape(1, 4, 4, 1))[0, ..., 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return _pool(x, pool_size, stride, padding, np.max)


def avg_pool2d(x: ArrayLike, pool_size: IntOrPair = 2, *, stride: Optional[IntOrPair] = None,
               padding: Padding = "valid") -> np.ndarray:
    """out[n, i, j, c] = mean of x[n, r, s, c] over the real pixels (r, s) of window (i, j).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.reference.avg_pool2d(np.arange(9.0).reshape(3, 3, 1), padding="same")[..., 0]
    array([[2. , 3.5],
           [6.5, 8. ]])
    """
    return _pool(x, pool_size, stride, padding, np.mean)

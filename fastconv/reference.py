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

from ._geometry import conv_window, gradient_window, pool_window, transpose_output_hw
from ._typing import ArrayLike, IntOrPair, PadMode, Padding

__all__ = ["conv2d", "sep_conv2d", "max_pool2d", "avg_pool2d", "conv2d_grad_input",
           "conv2d_grad_weight", "conv2d_transpose", "max_pool2d_grad", "avg_pool2d_grad"]


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


# ---------------------------------------------------------------------------
# Gradients: each output pixel's contribution, scattered back through its window
# ---------------------------------------------------------------------------
def _taps(window_size: tuple[int, int], i: int, j: int, stride: tuple[int, int],
          dilation: tuple[int, int]) -> tuple[slice, slice]:
    """The padded input rows and columns that output pixel (i, j)'s window reads."""
    (kh, kw), (sh, sw), (dh, dw) = window_size, stride, dilation
    return (slice(i * sh, i * sh + (kh - 1) * dh + 1, dh),
            slice(j * sw, j * sw + (kw - 1) * dw + 1, dw))


def conv2d_grad_input(dy: ArrayLike, w: ArrayLike, input_shape: tuple[int, ...], *,
                      stride: IntOrPair = 1, padding: Padding = "valid",
                      dilation: IntOrPair = 1, groups: int = 1) -> np.ndarray:
    """dx = sum over output pixels (i, j) of dy[n, i, j, o] * w[kh, kw, c, o], added at the
    input pixel x_padded[n, i*sh + kh*dh, j*sw + kw*dw, c] that conv2d read, then the
    padding cut off: the adjoint of :func:`conv2d` in x.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> dy = np.ones((1, 2, 2, 1)); w = np.ones((2, 2, 1, 1))
    >>> fastconv.reference.conv2d_grad_input(dy, w, (1, 3, 3, 1))[0, ..., 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    dy, unbatched = _batched(dy)
    w = np.asarray(w, dtype=np.float64)
    shape = (1, *input_shape) if unbatched else tuple(input_shape)
    n, h, wd, c_in = shape
    kh, kw, c_in_per_group, c_out = w.shape
    window = gradient_window((h, wd), (kh, kw), dy.shape[1:3], stride, dilation, padding)
    pads = window.pads
    dxp = np.zeros((n, h + sum(pads[0]), wd + sum(pads[1]), c_in))
    c_out_per_group = c_out // groups
    for i in range(window.out_hw[0]):
        for j in range(window.out_hw[1]):
            rows, cols = _taps((kh, kw), i, j, window.stride, window.dilation)
            for g in range(groups):
                cin = slice(g * c_in_per_group, (g + 1) * c_in_per_group)
                cout = slice(g * c_out_per_group, (g + 1) * c_out_per_group)
                dxp[:, rows, cols, cin] += np.einsum("no,hwco->nhwc", dy[:, i, j, cout],
                                                     w[..., cout], optimize=False)
    dx = dxp[:, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + wd, :]
    return dx[0] if unbatched else dx


def conv2d_grad_weight(x: ArrayLike, dy: ArrayLike, kernel_shape: tuple[int, ...], *,
                       stride: IntOrPair = 1, padding: Padding = "valid",
                       dilation: IntOrPair = 1, groups: int = 1) -> np.ndarray:
    """dw[kh, kw, c, o] = sum over (n, i, j) of x_padded[n, i*sh + kh*dh, j*sw + kw*dw, c]
    * dy[n, i, j, o], for c and o in one group: the adjoint of :func:`conv2d` in w.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1); dy = np.ones((1, 2, 2, 1))
    >>> fastconv.reference.conv2d_grad_weight(x, dy, (2, 2, 1, 1))[..., 0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    x, _ = _batched(x)
    dy, _ = _batched(dy)
    kh, kw, c_in_per_group, c_out = kernel_shape
    window = gradient_window(x.shape[1:3], (kh, kw), dy.shape[1:3], stride, dilation, padding,
                             shape_name="x.shape")
    xp = np.pad(x, ((0, 0), window.pads[0], window.pads[1], (0, 0)))
    c_out_per_group = c_out // groups
    dw = np.zeros(tuple(kernel_shape))
    for i in range(window.out_hw[0]):
        for j in range(window.out_hw[1]):
            rows, cols = _taps((kh, kw), i, j, window.stride, window.dilation)
            for g in range(groups):
                cin = slice(g * c_in_per_group, (g + 1) * c_in_per_group)
                cout = slice(g * c_out_per_group, (g + 1) * c_out_per_group)
                dw[..., cout] += np.einsum("nhwc,no->hwco", xp[:, rows, cols, cin],
                                           dy[:, i, j, cout], optimize=False)
    return dw


def conv2d_transpose(x: ArrayLike, w: ArrayLike, bias: Optional[ArrayLike] = None, *,
                     stride: IntOrPair = 1, padding: Padding = "valid",
                     output_padding: Optional[IntOrPair] = None, dilation: IntOrPair = 1,
                     groups: int = 1) -> np.ndarray:
    """:func:`conv2d_grad_input` of x through the kernel w (Keras' (KH, KW, filters, C_in)),
    at the output size Keras infers, plus the bias.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.reference.conv2d_transpose(np.ones((2, 2, 1)), np.ones((2, 2, 1, 1)))[..., 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    x, unbatched = _batched(x)
    w = np.asarray(w, dtype=np.float64)
    out_hw = transpose_output_hw(x.shape[1:3], w.shape[:2], stride, dilation, padding,
                                 output_padding)
    y = conv2d_grad_input(x, w, (x.shape[0], *out_hw, w.shape[2] * groups), stride=stride,
                          padding=padding, dilation=dilation, groups=groups)
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)
    return y[0] if unbatched else y


def _pool_grad(dy: ArrayLike, input_shape: tuple[int, ...], pool_size: Any, stride: Any,
               padding: Any,
               share: Callable[[np.ndarray, tuple[slice, slice]], np.ndarray]) -> np.ndarray:
    dy, unbatched = _batched(dy)
    shape = (1, *input_shape) if unbatched else tuple(input_shape)
    n, h, wd, c = shape
    window = gradient_window((h, wd), pool_size, dy.shape[1:3], stride, (1, 1), padding,
                             pool=True)
    (ph, pw), (sh, sw), (oh, ow) = window.size, window.stride, window.out_hw
    top, left = window.pad_top_left
    dx = np.zeros(shape)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - top, j * sw - left
            rows = slice(max(r0, 0), min(r0 + ph, h))
            cols = slice(max(c0, 0), min(c0 + pw, wd))
            dx[:, rows, cols, :] += share(dy[:, i, j, :], (rows, cols))
    return dx[0] if unbatched else dx


def max_pool2d_grad(x: ArrayLike, dy: ArrayLike, pool_size: IntOrPair = 2, *,
                    stride: Optional[IntOrPair] = None, padding: Padding = "valid") -> np.ndarray:
    """Each window's dy goes to its first maximum in row-major order over its real
    pixels; a NaN is the maximum (np.argmax's rule: the first NaN). Windows add.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.array([[3.0, 3.0], [1.0, 2.0]]).reshape(2, 2, 1)
    >>> fastconv.reference.max_pool2d_grad(x, np.ones((1, 1, 1)))[..., 0]
    array([[1., 0.],
           [0., 0.]])
    """
    x, unbatched = _batched(x)

    def to_first_max(grad: np.ndarray, where: tuple[slice, slice]) -> np.ndarray:
        field = x[:, where[0], where[1], :]
        n, kh, kw, c = field.shape
        first = field.reshape(n, kh * kw, c).argmax(axis=1)   # the first max; NaN wins
        routed = np.zeros((n, kh * kw, c))
        np.put_along_axis(routed, first[:, None, :], grad[:, None, :], axis=1)
        return routed.reshape(n, kh, kw, c)

    dy = np.asarray(dy, dtype=np.float64)
    dx = _pool_grad(dy[None] if unbatched else dy, x.shape, pool_size, stride, padding,
                    to_first_max)
    return dx[0] if unbatched else dx


def avg_pool2d_grad(dy: ArrayLike, input_shape: tuple[int, ...], pool_size: IntOrPair = 2, *,
                    stride: Optional[IntOrPair] = None, padding: Padding = "valid") -> np.ndarray:
    """Each window's dy is shared equally by its real pixels (padding never counts).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.reference.avg_pool2d_grad(np.ones((1, 1, 1)), (2, 2, 1))[..., 0]
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    def spread(grad: np.ndarray, where: tuple[slice, slice]) -> np.ndarray:
        rows, cols = where
        count = (rows.stop - rows.start) * (cols.stop - cols.start)
        return np.asarray(grad / count)[:, None, None, :]

    return _pool_grad(dy, tuple(input_shape), pool_size, stride, padding, spread)

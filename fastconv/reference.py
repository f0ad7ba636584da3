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
import numpy as np

from ._geometry import conv_window, pool_window

__all__ = ["conv2d", "max_pool2d", "avg_pool2d"]


def _batched(x):
    x = np.asarray(x, dtype=np.float64)
    return (x[None], True) if x.ndim == 3 else (x, False)


def _blas_field_dot(field, w):
    """sum over (kh, kw, c) of field[n, kh, kw, c] * w[kh, kw, c, o], through BLAS."""
    return np.tensordot(field, w, axes=3)


def _ieee_field_dot(field, w):
    """The same sum in NumPy's own loop. BLAS may skip zero multipliers, losing IEEE's
    nan * 0 = nan and inf * 0 = nan, so non-finite inputs (rare) come here."""
    return np.einsum("nhwc,hwco->no", field, w, optimize=False)


def conv2d(x, w, bias=None, *, stride=1, padding="valid", dilation=1, groups=1):
    """out[n, i, j, o] = bias[o] + sum over (kh, kw, c) in o's group of
    x_padded[n, i*sh + kh*dh, j*sw + kw*dw, c] * w[kh, kw, c - group_start, o]."""
    x, unbatched = _batched(x)
    w = np.asarray(w, dtype=np.float64)
    n, h, wd, c_in = x.shape
    kh, kw, c_in_per_group, c_out = w.shape
    assert c_in == c_in_per_group * groups and c_out % groups == 0
    window = conv_window((h, wd), (kh, kw), stride, dilation, padding)
    (sh, sw), (dh, dw), pads, (oh, ow) = window.stride, window.dilation, window.pads, window.out_hw
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
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


def _pool(x, pool_size, stride, padding, reduce):
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


def max_pool2d(x, pool_size=2, *, stride=None, padding="valid"):
    """out[n, i, j, c] = max of x[n, r, s, c] over the real pixels (r, s) of window (i, j); NaN wins."""
    return _pool(x, pool_size, stride, padding, np.max)


def avg_pool2d(x, pool_size=2, *, stride=None, padding="valid"):
    """out[n, i, j, c] = mean of x[n, r, s, c] over the real pixels (r, s) of window (i, j)."""
    return _pool(x, pool_size, stride, padding, np.mean)

"""conv2d: argument checks, the dtype rule, and the choice of kernel."""
import numpy as np

from . import _blas_threads, _checks, _im2col
from . import _dispatch
from ._dispatch import direct as _direct
from ._shapes import as_int, positive_pair, window_geometry
from ._threads import threads_for

__all__ = ["conv2d"]

METHODS = ("auto", "direct", "im2col")
_BLAS_INT_MAX = 2**31 - 1
# Below this many multiply-adds per output value, im2col's GEMM is too short to pay for
# packing its patches (see _choose_method).
_SHORT_REDUCTION = 64


def conv2d(x, w, bias=None, *, stride=1, padding="valid", dilation=1, groups=1,
           method="auto", out=None, workers=None):
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
    """
    x = _checks.as_array(x, "x")
    w = _checks.as_array(w, "w")
    bias = None if bias is None else _checks.as_array(bias, "bias")
    x4, unbatched = _checks.check_batched(x)
    if w.ndim != 4:
        raise ValueError(
            f"w must have 4 dimensions (KH, KW, C_in // groups, C_out), got shape {w.shape}"
        )
    groups = as_int(groups, "groups")
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    k_h, k_w, cin_per_group, c_out = w.shape
    c_in = x4.shape[3]
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide both x's channels ({c_in}) and w's "
            f"output channels ({c_out})"
        )
    if cin_per_group * groups != c_in:
        raise ValueError(
            f"x has {c_in} channels but w of shape {w.shape} with groups={groups} "
            f"expects {cin_per_group * groups} (w.shape[2] * groups)"
        )
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) to match w, got {bias.shape}")
    if k_h == 0 or k_w == 0:
        raise ValueError(f"w has an empty kernel window: shape {w.shape}")
    dtype = _checks.result_dtype(x, w, bias)
    stride = positive_pair(stride, "stride")
    dilation = positive_pair(dilation, "dilation")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    _checks.check_workers(workers)
    _checks.check_image_size(x4)
    pads, (out_h, out_w) = window_geometry(x4.shape[1:3], (k_h, k_w), stride, dilation, padding)
    out_shape = (x4.shape[0], out_h, out_w, c_out)
    target, result = _checks.prepare_out(
        out, out_shape[1:] if unbatched else out_shape, dtype, (x, w, bias)
    )
    target4 = target[np.newaxis] if unbatched else target

    bias_vec = (np.zeros(c_out, dtype=dtype) if bias is None
                else np.ascontiguousarray(bias, dtype=dtype))
    if target4.size == 0 or c_in == 0:
        # Nothing to slide over, or an empty sum: the result is the bias alone.
        target4[...] = bias_vec
        return _checks.finish(target, result)

    k_len = k_h * k_w * cin_per_group
    chosen = _choose_method(method, k_len, c_in, c_out, groups)
    macs = target4.size * k_len
    x4 = np.ascontiguousarray(x4, dtype=dtype)
    w = np.ascontiguousarray(w, dtype=dtype)
    if chosen == "direct" and any(pads[0] + pads[1]) and not np.isfinite(w).all():
        # The direct kernel skips taps in the padding, which equals multiplying them by
        # zero only for finite weights: plain arithmetic gives 0 * inf = nan. So for
        # non-finite weights (rare) the zeros are made real, at the cost of a copy.
        x4 = np.pad(x4, ((0, 0), pads[0], pads[1], (0, 0)))
        pads = ((0, 0), (0, 0))
    geometry = (stride, dilation, (pads[0][0], pads[1][0]), groups)
    if chosen == "im2col":
        rows = _im2col_tile_rows(k_len, dtype.itemsize)
        n_threads = threads_for(workers, macs, -(-(target4.size // c_out) // rows))
        with _blas_threads.single_threaded_blas():
            _im2col.conv2d_im2col(x4, w, bias_vec, target4, *geometry, rows, n_threads)
    else:
        n_threads = threads_for(workers, macs, out_shape[0] * out_h)
        _direct.conv2d_direct(x4, w, bias_vec, target4, *geometry, n_threads)
    return _checks.finish(target, result)


# Per-thread patch tile: big enough for an efficient GEMM, small enough to stay in L2.
# Measured (one thread, float32, OpenBLAS SkylakeX): 1 MiB / 512 rows beat 256 KiB by
# 10-20% on the 3x3x64x64 and 3x3x32x64 layers; larger budgets gained nothing.
IM2COL_TILE_BYTES = 1 << 20
IM2COL_MAX_TILE_ROWS = 512


def _im2col_tile_rows(k_len, itemsize):
    """Output pixels per im2col tile: as many as fit the byte budget, at least one."""
    return max(1, min(IM2COL_MAX_TILE_ROWS, IM2COL_TILE_BYTES // (k_len * itemsize)))


def _choose_method(method, k_len, c_in, c_out, groups):
    """The kernel for this call.

    Measured (2 threads, float32 and float64): the register-blocked direct kernel beats
    im2col through OpenBLAS on every benchmark layer when built for AVX-512, by up to
    1.7x on first layers (7x7x3x64, 3x3x1x32), where its kernel rows are one long
    contiguous run; they tie on 1x1. On the AVX2 and SSE2 builds im2col wins by 1.3-3x
    on multi-channel layers, except where the GEMM's reduction (KH*KW*C_in/groups) is
    too short to pay for packing: 3x3x1x32 ran 1.6x faster direct on AVX2. One-channel
    images and depthwise layers have no matrix product worth the packing; nor has a
    layer with a handful of output channels.
    """
    cout_per_group = c_out // groups
    # BLAS takes 32-bit sizes and leading dimensions (K, C_out, and C_in for 1x1).
    fits_blas = max(k_len, c_in, c_out) <= _BLAS_INT_MAX
    if method == "im2col":
        if not fits_blas:
            raise ValueError(
                f"method='im2col' needs KH*KW*C_in/groups ({k_len}), C_in ({c_in}) and "
                f"C_out ({c_out}) below 2**31 (a BLAS int); use method='direct'"
            )
        return "im2col"
    if method == "direct" or not fits_blas or cout_per_group < 8:
        return "direct"
    if _dispatch.SIMD_LEVEL == "avx512" or k_len < _SHORT_REDUCTION:
        return "direct"
    return "im2col"

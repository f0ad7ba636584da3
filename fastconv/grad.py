"""Gradients of conv2d and the pools, and conv2d_transpose: the backward pass of a ConvNet.

Each function takes the forward call's keywords unchanged, plus the forward call's
shapes, and runs the same pipeline as the forward functions: validate -> geometry ->
plan -> kernel (``fastconv._grad``).
"""
from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any, Optional, Sequence

import numpy as np

from . import _blas_threads, _dispatch, _validate
from .conv import _conv2d
from ._geometry import (Window, adjoint_phases, border_strips, effective_kernel,
                        gradient_window, transpose_output_hw)
from ._plan import (grad_input_method, grad_input_plan, grad_weight_plan, input_group_merge,
                    pool_grad_plan, threads_for)
from ._typing import ArrayLike, IntOrPair, Padding

__all__ = ["conv2d_grad_input", "conv2d_grad_weight", "conv2d_transpose", "max_pool2d_grad",
           "avg_pool2d_grad"]


def _kernels() -> ModuleType:
    """The build of fastconv._grad chosen at import for this CPU (see _dispatch)."""
    return _dispatch.build("_grad")[1]


def _as_batched_shape(shape: tuple[int, ...], unbatched: bool) -> tuple[int, ...]:
    return (1, *shape) if unbatched else shape


def conv2d_grad_input(dy: ArrayLike, w: ArrayLike, input_shape: Sequence[int], *,
                      stride: IntOrPair = 1, padding: Padding = "valid",
                      dilation: IntOrPair = 1, groups: int = 1,
                      out: Optional[np.ndarray] = None,
                      workers: Optional[int] = None) -> np.ndarray:
    """Gradient of ``conv2d(x, w, ...)`` with respect to ``x``, given the output's gradient ``dy``.

    This is the adjoint of conv2d in x: for any x of shape ``input_shape``,
    ``<conv2d(x, w), dy> == <x, conv2d_grad_input(dy, w, x.shape)>`` up to rounding.
    It is also a transposed convolution (see :func:`conv2d_transpose`).

    Parameters
    ----------
    dy : array_like, shape (N, OH, OW, C_out) or (OH, OW, C_out)
        The gradient of the loss with respect to conv2d's result.
    w : array_like, shape (KH, KW, C_in // groups, C_out)
        The forward call's kernel (HWIO).
    input_shape : tuple of ints
        The forward call's ``x.shape``, (N, H, W, C_in) or (H, W, C_in) as dy is
        batched or not. With stride > 1 several input sizes give the same dy; this
        says which. A size no forward call could have produced dy from is a ValueError
        that states the sizes that would.
    stride, padding, dilation, groups
        The forward call's, as in :func:`fastconv.conv2d`.
    out : ndarray, optional
        C-contiguous, of shape ``input_shape`` and the result's dtype. Returned.
    workers : int, optional
        Threads for this call: None uses ``fastconv.get_num_threads()``, -1 all cores.

    Returns
    -------
    ndarray of shape ``input_shape``, dtype ``np.result_type(dy, w, np.float32)``.

    Notes
    -----
    The bias gradient needs no function: it is ``dy.sum((0, 1, 2))`` (``dy.sum((0, 1))``
    for an unbatched dy).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.random.rand(8, 28, 28, 1).astype(np.float32)
    >>> w = np.random.rand(3, 3, 1, 32).astype(np.float32)
    >>> y = fastconv.conv2d(x, w, stride=2)
    >>> dy = np.ones_like(y)                        # the gradient of y.sum()
    >>> dx = fastconv.conv2d_grad_input(dy, w, x.shape, stride=2)
    >>> dx.shape, dx.dtype
    ((8, 28, 28, 1), dtype('float32'))

    The adjoint identity:

    >>> bool(np.isclose(np.vdot(y, dy), np.vdot(x, dx), rtol=1e-4))
    True

    An input shape the forward call could not have had:

    >>> fastconv.conv2d_grad_input(dy, w, (8, 31, 28, 1), stride=2)
    Traceback (most recent call last):
    ...
    ValueError: input_shape has height and width (31, 28), but a forward call with kernel (3, 3), stride (2, 2), dilation (1, 1) and padding 'valid' gives dy's (13, 13) only from heights in [27, 28] and widths in [27, 28] (it would give (15, 13))
    """
    dy = _validate.as_array(dy, "dy")
    w = _validate.as_array(w, "w")
    dy4, unbatched = _validate.batched(dy, "dy")
    shape = _validate.shape_argument(input_shape, "input_shape", (dy.ndim,))
    return _grad_input(dy4, unbatched, w, _as_batched_shape(shape, unbatched), stride, padding,
                       dilation, groups, out, workers, dtype=_validate.result_dtype(dy, w),
                       shape_name="input_shape")


def _grad_input(dy4: np.ndarray, unbatched: bool, w: np.ndarray, dx_shape: tuple[int, ...],
                stride: Any, padding: Any, dilation: Any, groups: Any, out: Any, workers: Any,
                *, dtype: np.dtype, shape_name: str, bias: Optional[np.ndarray] = None,
                method: Optional[str] = None) -> np.ndarray:
    """conv2d_grad_input on validated arrays; ``bias`` is added (conv2d_transpose).

    ``method`` "phases" runs conv2d's own kernels on each stride phase; "kernel" runs
    fastconv._grad's GEMM + col2im (a direct loop for depthwise); None lets the plan
    choose (``_plan.grad_input_method``).
    """
    if w.ndim != 4:
        raise ValueError(f"w must have 4 dimensions (KH, KW, C_in // groups, C_out), got "
                         f"shape {w.shape}")
    n_groups = _validate.gradient_channels(dx_shape[3], w.shape, dy4.shape[3], groups)
    n_workers = _validate.workers(workers)
    _validate.same_batch(dx_shape, shape_name, dy4.shape, "dy")
    if dx_shape[1] == 0 or dx_shape[2] == 0:
        raise ValueError(f"{shape_name} has zero height or width: {dx_shape}")
    _validate.nonempty_image(dy4, "dy")
    window = gradient_window(dx_shape[1:3], w.shape[:2], dy4.shape[1:3], stride, dilation,
                             padding, shape_name=shape_name)
    target, result = _validate.prepare_out(out, dx_shape[1:] if unbatched else dx_shape,
                                           dtype, (dy4, w, bias))
    target4 = target[np.newaxis] if unbatched else target
    if target4.size == 0:
        return _validate.finish(target, result)
    merged = input_group_merge(w.shape, n_groups)
    if merged > 1 and dy4.size and np.isfinite(dy4).all():
        # Narrow groups run as wider ones (the plan's input_group_merge). The zeros off
        # the diagonal add exact zeros, as long as dy is finite (0 * inf is nan).
        w = _block_diagonal(np.asarray(w, dtype=dtype), n_groups, merged)
        n_groups //= merged
    if method is None:
        method = grad_input_method(window.stride, w.shape, n_groups, dx_shape[2],
                                   _phase_channels(dtype))
        if method == "direct" and not _is_finite(w):
            # The phase kernel reads zeros around a copy of dy for taps outside it, and
            # 0 * inf is nan; the GEMM + col2im multiplies real dy values only.
            method = "kernel"
    if dy4.size == 0:  # no output channels (or no images): nothing flows back
        target4[...] = 0
    elif method == "phases":
        _grad_input_by_phases(dy4, w, target4, window, n_groups, n_workers, dtype)
    elif method == "direct":
        macs = dy4.shape[0] * dy4.shape[1] * dy4.shape[2] * w.size
        _kernels().conv2d_grad_input_phases(
            np.ascontiguousarray(dy4, dtype=dtype), np.ascontiguousarray(w, dtype=dtype),
            target4, window.stride, window.dilation, window.pad_top_left,
            np.empty(0, dtype) if bias is None else np.ascontiguousarray(bias, dtype=dtype),
            threads_for(n_workers, macs, dx_shape[0] * dx_shape[1]))
        return _validate.finish(target, result)
    else:
        plan = grad_input_plan(dx_shape, w.shape, window.out_hw, window.stride[0],
                               window.dilation[0], dtype, n_groups, n_workers)
        dy_c = np.ascontiguousarray(dy4, dtype=dtype)
        w_c = np.ascontiguousarray(w, dtype=dtype)
        # BLAS runs inside the kernel's threads only for the GEMM + col2im path.
        with (_blas_threads.single_threaded_blas() if plan.use_blas
              else contextlib.nullcontext()):
            _kernels().conv2d_grad_input(dy_c, w_c, target4, window.stride, window.dilation,
                                         window.pad_top_left, n_groups, plan.use_blas,
                                         plan.tile_rows, plan.threads, plan.images_per_band)
    if bias is not None:
        target4 += bias.astype(dtype, copy=False)
    return _validate.finish(target, result)


def _is_finite(a: np.ndarray) -> bool:
    """Whether every value of ``a`` is finite: its least and greatest values are (NaN
    propagates through both), with no boolean array as large as ``a``."""
    return a.size == 0 or bool(np.isfinite(a.min()) and np.isfinite(a.max()))


def _phase_channels(dtype: np.dtype) -> int:
    """The channel step of the phase kernel of this build and dtype (half its register
    block), which dx's channels must be a multiple of; 0 where the plan does not take the
    phase kernel. With AVX2 and SSE2 a wide block runs in passes that each read all of
    its taps, and on the layers where it wins with AVX-512 (float32 and float64) it ran
    0.4-0.7x the GEMM + col2im (2 threads, one process)."""
    level, kernels = _dispatch.build("_grad")
    if level != "avx512":
        return 0
    return int(kernels.PHASE_CHANNELS_F32 if dtype == np.float32 else kernels.PHASE_CHANNELS_F64)


def _block_diagonal(w: np.ndarray, groups: int, merged: int) -> np.ndarray:
    """The kernel of the same layer with ``merged`` neighbouring groups taken as one:
    each merged group's kernel holds its groups' kernels on the diagonal, zeros off it."""
    k_h, k_w, cin_g, c_out = w.shape
    cout_g = c_out // groups
    wide = np.zeros((k_h, k_w, merged, cin_g, groups // merged, merged, cout_g), w.dtype)
    own = w.reshape(k_h, k_w, cin_g, groups // merged, merged, cout_g)
    for k in range(merged):
        wide[:, :, k, :, :, k, :] = own[:, :, :, :, k, :]
    return wide.reshape(k_h, k_w, merged * cin_g, c_out)


def _grad_input_by_phases(dy4: np.ndarray, w: np.ndarray, target4: np.ndarray, window: Window,
                          groups: int, workers: Optional[int], dtype: np.dtype) -> None:
    """conv2d_grad_input as one unit-stride correlation per stride phase of dx.

    Each phase's taps, reversed, with the kernel's channel axes swapped, are a conv2d
    kernel over dy (see ``_geometry.adjoint_phases``): conv2d's register-blocked kernels
    compute it, depthwise included, and no zeros are inserted. With stride 1 there is one
    phase, written in place; otherwise each phase lands in every stride-th pixel of dx.
    """
    k_h, k_w, cin_per_group, c_out = w.shape
    in_h, in_w = target4.shape[1:3]
    out_h, out_w = window.out_hw
    rows = adjoint_phases(in_h, out_h, k_h, window.stride[0], window.dilation[0],
                          window.pads[0][0])
    cols = adjoint_phases(in_w, out_w, k_w, window.stride[1], window.dilation[1],
                          window.pads[1][0])
    # The kernel with its taps reversed and each group's channel axes swapped:
    # reversed_w[k_h - 1 - kh, k_w - 1 - kw, o, g * C_in/groups + c] = w[kh, kw, c, g * ...].
    reversed_w = np.empty((k_h, k_w, c_out // groups, groups * cin_per_group), dtype)
    _kernels().reversed_adjoint_kernel(
        np.ascontiguousarray(w, dtype=dtype), reversed_w, groups,
        threads_for(workers, reversed_w.size, k_h * k_w * groups * cin_per_group))
    dy4 = dy4.astype(dtype, copy=False)
    single = len(rows) == 1 and len(cols) == 1
    for r in rows:
        for c in cols:
            where = (slice(None), slice(r.start, None, window.stride[0]),
                     slice(c.start, None, window.stride[1]))
            if r.empty or c.empty:
                target4[where] = 0
                continue
            dy_part = dy4[:, r.crop[0]:out_h - r.crop[1], c.crop[0]:out_w - c.crop[1]]
            kernel = _phase_kernel(reversed_w, r.taps, c.taps)
            if single:
                _conv2d(dy_part, kernel, padding=(r.pad, c.pad), dilation=(r.dilation, c.dilation),
                        groups=groups, out=target4, workers=workers)
            else:
                target4[where] = _conv2d(dy_part, kernel, padding=(r.pad, c.pad),
                                         dilation=(r.dilation, c.dilation), groups=groups,
                                         workers=workers)


def _phase_kernel(reversed_w: np.ndarray, row_taps: Sequence[int],
                  col_taps: Sequence[int]) -> np.ndarray:
    """A phase's kernel (its taps of w, reversed: ``adjoint_phases``) out of the whole
    kernel reversed: at stride 1, all of it, with no copy."""
    k_h, k_w = reversed_w.shape[:2]
    rows = [k_h - 1 - t for t in row_taps]
    cols = [k_w - 1 - t for t in col_taps]
    if rows == list(range(k_h)) and cols == list(range(k_w)):
        return reversed_w
    return reversed_w[np.ix_(rows, cols)]


def conv2d_grad_weight(x: ArrayLike, dy: ArrayLike, kernel_shape: Sequence[int], *,
                       stride: IntOrPair = 1, padding: Padding = "valid",
                       dilation: IntOrPair = 1, groups: int = 1,
                       out: Optional[np.ndarray] = None,
                       workers: Optional[int] = None) -> np.ndarray:
    """Gradient of ``conv2d(x, w, ...)`` with respect to ``w``, given the output's gradient ``dy``.

    The adjoint of conv2d in w: ``<conv2d(x, w), dy> == <w, conv2d_grad_weight(x, dy,
    w.shape)>`` up to rounding. The sum over the batch is cut into chunks that depend
    on the shapes only and are added in a fixed order, so the result is the same bits
    whatever the number of threads.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C_in) or (H, W, C_in)
        The forward call's input.
    dy : array_like, shape (N, OH, OW, C_out) or (OH, OW, C_out), as x
        The gradient of the loss with respect to conv2d's result.
    kernel_shape : tuple of 4 ints
        The forward call's ``w.shape``, (KH, KW, C_in // groups, C_out).
    stride, padding, dilation, groups
        The forward call's, as in :func:`fastconv.conv2d`.
    out : ndarray, optional
        C-contiguous, of shape ``kernel_shape`` and the result's dtype. Returned.
    workers : int, optional
        Threads for this call: None uses ``fastconv.get_num_threads()``, -1 all cores.

    Returns
    -------
    ndarray of shape ``kernel_shape``, dtype ``np.result_type(x, dy, np.float32)``.

    Notes
    -----
    The bias gradient is ``dy.sum((0, 1, 2))`` (``dy.sum((0, 1))`` unbatched).

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.random.rand(8, 13, 13, 32).astype(np.float32)
    >>> w = np.random.rand(3, 3, 32, 64).astype(np.float32)
    >>> y = fastconv.conv2d(x, w, padding="same")
    >>> dy = np.random.rand(*y.shape).astype(np.float32)
    >>> dw = fastconv.conv2d_grad_weight(x, dy, w.shape, padding="same")
    >>> db = dy.sum((0, 1, 2))                     # the bias gradient
    >>> dw.shape, db.shape
    ((3, 3, 32, 64), (64,))
    >>> bool(np.isclose(np.vdot(y, dy), np.vdot(w, dw), rtol=1e-4))
    True
    """
    x = _validate.as_array(x, "x")
    dy = _validate.as_array(dy, "dy")
    x4, _ = _validate.batched(x)
    _validate.matching_ndim(dy, "dy", x.ndim, "x")
    dy4, _ = _validate.batched(dy, "dy")
    kshape = _validate.shape_argument(kernel_shape, "kernel_shape", (4,))
    n_groups = _validate.gradient_channels(x4.shape[3], kshape, dy4.shape[3], groups,
                                           kernel_name="kernel_shape")
    dtype = _validate.result_dtype(x, dy)
    n_workers = _validate.workers(workers)
    _validate.same_batch(x4.shape, "x", dy4.shape, "dy")
    _validate.nonempty_image(x4)
    _validate.nonempty_image(dy4, "dy")
    window = gradient_window(x4.shape[1:3], kshape[:2], dy4.shape[1:3], stride, dilation,
                             padding, shape_name="x.shape")
    target, result = _validate.prepare_out(out, kshape, dtype, (x, dy))
    if target.size == 0:
        return _validate.finish(target, result)
    if x4.size == 0 or dy4.size == 0:  # no images: an empty sum
        target[...] = 0
        return _validate.finish(target, result)
    plan = grad_weight_plan(x4.shape, kshape, window.out_hw, window.stride[0], dtype, n_groups,
                            n_workers, dilation_w=window.dilation[1])
    x4 = np.ascontiguousarray(x4, dtype=dtype)
    dy4 = np.ascontiguousarray(dy4, dtype=dtype)
    pad_top_left = window.pad_top_left
    if (any(window.pads[0] + window.pads[1])
            and not _finite_where_windows_reach_padding(dy4, x4.shape[1:3], window)):
        # The direct loop skips the padding's taps, which equals multiplying them by zero
        # only for a finite dy (0 * inf is nan): make the zeros real, as conv2d does.
        x4 = np.pad(x4, ((0, 0), window.pads[0], window.pads[1], (0, 0)))
        pad_top_left = (0, 0)
    k_h, k_w, cin_g, c_out = kshape
    merged = plan.merged
    # Merged groups (the plan's weight_group_merge): the kernel fills the wider groups'
    # weights, and each group's own block of them is its gradient.
    sums = target if merged == 1 else np.empty((k_h, k_w, cin_g * merged, c_out), dtype)
    # fastconv_outer.h's micro-kernels, no BLAS: no limit on the process's BLAS threads.
    kernels = _kernels()
    kernels.conv2d_grad_weight(x4, dy4, sums, window.stride, window.dilation, pad_top_left,
                               n_groups // merged, kernels.WEIGHT_LAYOUTS[plan.layout],
                               plan.band, plan.chunks, plan.part_width, plan.threads)
    if merged > 1:
        blocks = sums.reshape(k_h, k_w, merged, cin_g, n_groups // merged, merged,
                              c_out // n_groups)
        target[...] = np.einsum("hwkcgko->hwcgko", blocks).reshape(kshape)
    return _validate.finish(target, result)


def _finite_where_windows_reach_padding(dy4: np.ndarray, in_hw: tuple[int, ...],
                                        window: Window) -> bool:
    """Whether dy is finite at every output whose window reaches the padding: only
    there does skipping the padding's taps differ from multiplying them by zero. A scan
    of all of dy took 16% of a depthwise weight gradient (a memory-bound pass); the
    border strips are a few rows and columns of it."""
    eff = effective_kernel(window.size, window.dilation)
    return all(bool(np.isfinite(dy4[:, r0:r1, c0:c1]).all())
               for r0, r1, c0, c1 in border_strips(in_hw, eff, window.stride, window.pads,
                                                    window.out_hw))


def conv2d_transpose(x: ArrayLike, w: ArrayLike, bias: Optional[ArrayLike] = None, *,
                     stride: IntOrPair = 1, padding: Padding = "valid",
                     output_padding: Optional[IntOrPair] = None, dilation: IntOrPair = 1,
                     groups: int = 1, out: Optional[np.ndarray] = None,
                     workers: Optional[int] = None) -> np.ndarray:
    """Transposed convolution, as Keras' Conv2DTranspose and ``tf.nn.conv2d_transpose``.

    The upsampling layer of a U-Net decoder or a GAN generator. It is the gradient of
    ``conv2d(., w)`` in its input: ``conv2d_transpose(x, w, stride=s)`` equals
    ``conv2d_grad_input(x, w, (N, OH, OW, filters), stride=s)``, plus the bias.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C_in) or (H, W, C_in)
    w : array_like, shape (KH, KW, filters // groups, C_in)
        Keras' Conv2DTranspose kernel layout: the HWIO kernel of the forward conv
        whose adjoint this is (that conv maps ``filters`` channels to C_in).
    bias : array_like, shape (filters,), optional
    stride, dilation : int or (int, int)
    padding : "valid", "same", int, (ph, pw) or ((top, bottom), (left, right))
        The forward conv's padding. "same" gives ``H * stride`` rows (Keras).
    output_padding : int or (int, int), optional
        None infers the size as Keras does: ``H * stride + max(KH_eff - stride, 0)``
        for "valid", ``H * stride`` for "same", ``(H - 1) * stride + KH_eff - top -
        bottom`` for explicit padding. Otherwise it must be lower than the stride, and
        the size is ``(H - 1) * stride + KH_eff - 2 * (KH_eff // 2) + output_padding``
        for "same" and ``(H - 1) * stride + KH_eff - top - bottom + output_padding``
        otherwise; a size the forward conv could not map back to H is a ValueError.
    groups : int
    out : ndarray, optional
    workers : int, optional

    Returns
    -------
    ndarray of shape (N, OH, OW, filters) (or unbatched), dtype
    ``np.result_type(x, w, bias, np.float32)``.

    Examples
    --------
    A DCGAN generator's 4x4 stride-2 layer doubles the size:

    >>> import numpy as np
    >>> import fastconv
    >>> z = np.random.rand(16, 8, 8, 128).astype(np.float32)
    >>> w = np.random.rand(4, 4, 64, 128).astype(np.float32)
    >>> fastconv.conv2d_transpose(z, w, stride=2, padding="same").shape
    (16, 16, 16, 64)
    >>> fastconv.conv2d_transpose(z, w, stride=2).shape          # "valid"
    (16, 18, 18, 64)

    One pixel spreads into a copy of the kernel:

    >>> one = np.zeros((3, 3, 1)); one[1, 1] = 1
    >>> k = np.arange(4.0).reshape(2, 2, 1, 1)
    >>> fastconv.conv2d_transpose(one, k, stride=2)[..., 0]
    array([[0., 0., 0., 0., 0., 0.],
           [0., 0., 0., 0., 0., 0.],
           [0., 0., 0., 1., 0., 0.],
           [0., 0., 2., 3., 0., 0.],
           [0., 0., 0., 0., 0., 0.],
           [0., 0., 0., 0., 0., 0.]])
    """
    x = _validate.as_array(x, "x")
    w = _validate.as_array(w, "w")
    bias_arr = None if bias is None else _validate.as_array(bias, "bias")
    x4, unbatched = _validate.batched(x)
    if w.ndim != 4:
        raise ValueError(f"w must have 4 dimensions (KH, KW, filters // groups, C_in), got "
                         f"shape {w.shape}")
    n_groups = _validate.positive_int(groups, "groups")
    filters = w.shape[2] * n_groups
    if bias_arr is not None and bias_arr.shape != (filters,):
        raise ValueError(f"bias must have shape ({filters},) to match w, got {bias_arr.shape}")
    if x4.shape[3] != w.shape[3]:
        raise ValueError(f"x has {x4.shape[3]} channels but w of shape {w.shape} expects "
                         f"{w.shape[3]} (w.shape[3]; Keras' layout is (KH, KW, filters, C_in))")
    dtype = _validate.result_dtype(x, w, bias_arr)
    _validate.nonempty_image(x4)
    out_hw = transpose_output_hw(x4.shape[1:3], w.shape[:2], stride, dilation, padding,
                                 output_padding)
    return _grad_input(x4, unbatched, w, (x4.shape[0], *out_hw, filters), stride, padding,
                       dilation, n_groups, out, workers, dtype=dtype,
                       shape_name="the output size", bias=bias_arr)


def _pool_grad(op: str, x: Optional[np.ndarray], dy: Any, input_shape: tuple[int, ...],
               unbatched: bool, pool_size: Any, stride: Any, padding: Any, out: Any,
               workers: Any, dtype: np.dtype, shape_name: str) -> np.ndarray:
    dy4, _ = _validate.batched(dy, "dy")
    n_workers = _validate.workers(workers)
    dx_shape = _as_batched_shape(input_shape, unbatched)
    _validate.same_batch(dx_shape, shape_name, dy4.shape, "dy")
    if dx_shape[3] != dy4.shape[3]:
        raise ValueError(f"dy has {dy4.shape[3]} channels but {shape_name} has {dx_shape[3]}")
    if dx_shape[1] == 0 or dx_shape[2] == 0:
        raise ValueError(f"{shape_name} has zero height or width: {tuple(input_shape)}")
    _validate.nonempty_image(dy4, "dy")
    window = gradient_window(dx_shape[1:3], pool_size, dy4.shape[1:3], stride, (1, 1),
                             padding, pool=True, shape_name=shape_name)
    target, result = _validate.prepare_out(out, input_shape, dtype, (x, dy))
    target4 = target[np.newaxis] if unbatched else target
    if target4.size == 0:
        return _validate.finish(target, result)
    plan = pool_grad_plan(dx_shape, window.out_hw, window.size, n_workers)
    dy4 = np.ascontiguousarray(dy4, dtype=dtype)
    geometry = (window.size, window.stride, window.pad_top_left, plan.threads,
                plan.part_channels)
    if x is None:
        _kernels().avg_pool2d_grad(dy4, target4, *geometry)
    else:
        x4 = np.ascontiguousarray(x.reshape(dx_shape), dtype=dtype)
        _kernels().max_pool2d_grad(x4, dy4, target4, *geometry)
    return _validate.finish(target, result)


def max_pool2d_grad(x: ArrayLike, dy: ArrayLike, pool_size: IntOrPair = 2, *,
                    stride: Optional[IntOrPair] = None, padding: Padding = "valid",
                    out: Optional[np.ndarray] = None,
                    workers: Optional[int] = None) -> np.ndarray:
    """Gradient of ``max_pool2d(x, ...)`` with respect to ``x``, given the output's gradient ``dy``.

    Each window's gradient goes to its first maximum in row-major window order
    (TensorFlow's and PyTorch's rule); a NaN counts as the maximum, as in the forward
    pass (the first NaN then). Where windows overlap (3x3, stride 2) the gradients add.

    Parameters
    ----------
    x : array_like, shape (N, H, W, C) or (H, W, C)
        The forward call's input.
    dy : array_like, shape (N, OH, OW, C) or (OH, OW, C), as x
    pool_size, stride, padding
        The forward call's, as in :func:`fastconv.max_pool2d`.
    out : ndarray, optional
    workers : int, optional

    Returns
    -------
    ndarray of x's shape, dtype ``np.result_type(x, dy, np.float32)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> x = np.array([[1., 5., 2., 2.],
    ...               [5., 0., 2., 9.]]).reshape(2, 4, 1)
    >>> fastconv.max_pool2d(x)[..., 0]
    array([[5., 9.]])
    >>> fastconv.max_pool2d_grad(x, np.ones((1, 2, 1)))[..., 0]
    array([[0., 1., 0., 0.],
           [0., 0., 0., 1.]])
    """
    x = _validate.as_array(x, "x")
    dy = _validate.as_array(dy, "dy")
    x4, unbatched = _validate.batched(x)
    _validate.matching_ndim(dy, "dy", x.ndim, "x")
    dtype = _validate.result_dtype(x, dy)
    return _pool_grad("max", x, dy, x.shape, unbatched, pool_size, stride, padding, out,
                      workers, dtype, "x")


def avg_pool2d_grad(dy: ArrayLike, input_shape: Sequence[int], pool_size: IntOrPair = 2, *,
                    stride: Optional[IntOrPair] = None, padding: Padding = "valid",
                    out: Optional[np.ndarray] = None,
                    workers: Optional[int] = None) -> np.ndarray:
    """Gradient of ``avg_pool2d(x, ...)`` with respect to ``x``, given the output's gradient ``dy``.

    Each window's gradient is shared equally by its real pixels: divided by their
    count, the forward pass's rule (padding never counts). Overlapping windows add.

    Parameters
    ----------
    dy : array_like, shape (N, OH, OW, C) or (OH, OW, C)
    input_shape : tuple of ints
        The forward call's ``x.shape``, batched or not as dy is.
    pool_size, stride, padding
        The forward call's, as in :func:`fastconv.avg_pool2d`.
    out : ndarray, optional
    workers : int, optional

    Returns
    -------
    ndarray of shape ``input_shape``, dtype ``np.result_type(dy, np.float32)``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.avg_pool2d_grad(np.ones((2, 2, 1)), (3, 3, 1), padding="same")[..., 0]
    array([[0.25, 0.25, 0.5 ],
           [0.25, 0.25, 0.5 ],
           [0.5 , 0.5 , 1.  ]])
    """
    dy = _validate.as_array(dy, "dy")
    _validate.batched(dy, "dy")
    shape = _validate.shape_argument(input_shape, "input_shape", (dy.ndim,))
    dtype = _validate.result_dtype(dy)
    return _pool_grad("avg", None, dy, shape, dy.ndim == 3, pool_size, stride, padding, out,
                      workers, dtype, "input_shape")

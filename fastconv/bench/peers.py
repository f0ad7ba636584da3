"""The implementations the benchmark times: fastconv's kernels and its peers.

Conv/pool: :func:`implementations` lists, for one workload, fastconv (auto, direct,
im2col), NumPy, SciPy, the naive reference loop, PyTorch and OpenCV, each an
:class:`Impl` whose ``setup(problem)`` returns the zero-argument callable to time.
Each peer is set up the way it runs fastest (PyTorch under ``torch.inference_mode()``
on channels_last memory, with whichever weight layout is faster here).

Drop-ins: :func:`signal_implementation` gives fastconv.convolve / correlate2d and
the NumPy, SciPy and OpenCV functions they replace; :func:`signal_oracle` an
independent float64 answer.
"""
import dataclasses
import math

import numpy as np

from ._optional import cv2_module, torch_module
from .timing import fastest


@dataclasses.dataclass
class Impl:
    """One implementation of one workload.

    ``setup(problem)`` returns the zero-argument callable that is timed (any
    layout conversion a user would do once happens in setup, not in the call).
    ``slice_axes`` lists the axes that can be cut, in the order they are cut,
    when the whole problem is too slow: "rows", "n", "channels". ``always_slice``
    forces slicing (the naive loop). ``key`` names it in JSON and benches/;
    ``label`` in the table.
    """

    key: str
    label: str
    setup: callable
    kind: str = "peer"  # "fastconv" or "peer"
    slice_axes: tuple = ()
    always_slice: bool = False
    unavailable: str = ""  # reason it cannot run this workload, or ""


def _padded(x, pads, value=0.0):
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def _dilated_kernel(w2d, dilation):
    dh, dw = dilation
    if (dh, dw) == (1, 1):
        return w2d
    kh, kw = w2d.shape
    out = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=w2d.dtype)
    out[::dh, ::dw] = w2d
    return out


def _window_counts(in_size, k, stride, pad, out_size):
    """How many real (unpadded) pixels each pooling window holds along one axis."""
    starts = np.arange(out_size) * stride - pad[0]
    return np.minimum(starts + k, in_size) - np.maximum(starts, 0)


def _pool_divisor(p):
    """Real pixels per window, (OH, OW) in the problem's dtype; None where every window is full."""
    (kh, kw), (sh, sw) = p.kernel_hw, p.stride
    rc = _window_counts(p.x.shape[1], kh, sh, p.pads[0], p.out_hw[0])
    cc = _window_counts(p.x.shape[2], kw, sw, p.pads[1], p.out_hw[1])
    counts = np.outer(rc, cc)
    if np.all(counts == kh * kw):
        return None
    return counts.astype(p.x.dtype)[None, :, :, None]


# -- fastconv ---------------------------------------------------------------


def _fastconv_setup(method):
    def setup(p):
        import fastconv

        wl = p.workload
        if p.fraction != 1.0:  # fastconv runs the workload as a user spells it
            return _fastconv_explicit(p, method)
        if wl.is_conv:
            x, w, bias = p.x, p.w, p.bias
            kwargs = dict(stride=wl.stride_hw, padding=wl.padding, dilation=wl.dilation,
                          groups=wl.groups, method=method)
            return lambda: fastconv.conv2d(x, w, bias, **kwargs)
        fn = getattr(fastconv, wl.op)
        x, pool, stride, padding = p.x, wl.pool_size, wl.stride, wl.padding
        return lambda: fn(x, pool, stride=stride, padding=padding)
    return setup


def _fastconv_explicit(p, method):
    import fastconv

    if p.op == "conv2d":
        return lambda: fastconv.conv2d(p.x, p.w, p.bias, stride=p.stride, padding=p.pads,
                                       dilation=p.dilation, groups=p.groups, method=method)
    fn = getattr(fastconv, p.op)
    return lambda: fn(p.x, p.kernel_hw, stride=p.stride, padding=p.pads)


# -- NumPy ------------------------------------------------------------------


def _numpy_conv_setup(p):
    from numpy.lib.stride_tricks import sliding_window_view

    (sh, sw), (dh, dw), groups = p.stride, p.dilation, p.groups
    ekh, ekw = p.eff_kernel
    x, w, bias, pads = p.x, p.w, p.bias, p.pads
    kh, kw, cpg, c_out = w.shape
    opg = c_out // groups
    w_grouped = w.reshape(kh, kw, cpg, groups, opg)

    def run():
        win = sliding_window_view(_padded(x, pads), (ekh, ekw), axis=(1, 2))
        win = win[:, ::sh, ::sw, :, ::dh, ::dw]  # (N, OH, OW, C_in, KH, KW)
        if groups == 1:
            out = np.tensordot(win, w, axes=([3, 4, 5], [2, 0, 1]))
        else:
            n, oh, ow = win.shape[:3]
            win = win.reshape(n, oh, ow, groups, cpg, kh, kw)
            out = np.einsum("nhwgcij,ijcgo->nhwgo", win, w_grouped, optimize=True)
            out = out.reshape(n, oh, ow, c_out)
        if bias is not None:
            out += bias
        return out
    return run


def _numpy_pool_setup(p):
    from numpy.lib.stride_tricks import sliding_window_view

    (kh, kw), (sh, sw), pads, x = p.kernel_hw, p.stride, p.pads, p.x
    if p.op == "max_pool2d":
        def run():
            win = sliding_window_view(_padded(x, pads, -np.inf), (kh, kw), axis=(1, 2))
            return win[:, ::sh, ::sw].max(axis=(-2, -1))
        return run
    divisor = _pool_divisor(p)

    def run():
        win = sliding_window_view(_padded(x, pads), (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
        if divisor is None:
            return win.mean(axis=(-2, -1))
        return win.sum(axis=(-2, -1)) / divisor
    return run


# -- SciPy ------------------------------------------------------------------


def _crop_start(size, center, pad_before, stride, out_size):
    """Where a same-size filter output lines up with the strided, padded result, or None."""
    start = center - pad_before
    if start < 0 or start + (out_size - 1) * stride >= size:
        return None
    return start


def _ndimage_aligned(x, pads, eff_kernel, stride, out_hw, value):
    """Pad ``x`` explicitly only where ndimage's own constant border cannot line up.

    ndimage filters return an input-sized result whose pixel m sees the window
    starting at m - k // 2. Returns (input to filter, row start, column start).
    """
    (kh, kw), (sh, sw) = eff_kernel, stride
    r0 = _crop_start(x.shape[1], kh // 2, pads[0][0], sh, out_hw[0])
    c0 = _crop_start(x.shape[2], kw // 2, pads[1][0], sw, out_hw[1])
    if r0 is None or c0 is None:
        return _padded(x, pads, value), kh // 2, kw // 2
    return x, r0, c0


def _scipy_conv_setup(p):
    from scipy import ndimage, signal

    (sh, sw), groups = p.stride, p.groups
    x, w, bias, pads, (oh, ow) = p.x, p.w, p.bias, p.pads, p.out_hw
    kh, kw, cpg, c_out = w.shape
    opg = c_out // groups
    kernels = np.stack([[_dilated_kernel(w[:, :, c, o], p.dilation) for c in range(cpg)]
                        for o in range(c_out)])  # (C_out, C_in/groups, EKH, EKW)

    if x.shape[3] == 1:
        # One-channel images: scipy.ndimage.correlate over the whole (N, H, W) batch
        # for each output channel.
        def run():
            x3, r0, c0 = _ndimage_aligned(x, pads, p.eff_kernel, (sh, sw), (oh, ow), 0.0)
            x3 = x3[..., 0]
            out = np.empty((x.shape[0], oh, ow, c_out), dtype=x.dtype)
            for o in range(c_out):
                full = ndimage.correlate(x3, kernels[o, 0][None], mode="constant", cval=0.0)
                out[..., o] = full[:, r0::sh, c0::sw][:, :oh, :ow]
            if bias is not None:
                out += bias
            return out
        return run

    def run():
        # Per-channel scipy.signal.correlate2d, summed over each group's input channels.
        xc = np.ascontiguousarray(_padded(x, pads).transpose(0, 3, 1, 2))  # NCHW
        out = np.empty((x.shape[0], oh, ow, c_out), dtype=x.dtype)
        for n in range(x.shape[0]):
            for o in range(c_out):
                c_first = (o // opg) * cpg
                acc = signal.correlate2d(xc[n, c_first], kernels[o, 0], mode="valid")
                for c in range(1, cpg):
                    acc += signal.correlate2d(xc[n, c_first + c], kernels[o, c], mode="valid")
                out[n, :, :, o] = acc[::sh, ::sw][:oh, :ow]
        if bias is not None:
            out += bias
        return out
    return run


def _scipy_pool_setup(p):
    from scipy import ndimage

    (kh, kw), (sh, sw), pads, (oh, ow), x = p.kernel_hw, p.stride, p.pads, p.out_hw, p.x
    size = (1, kh, kw, 1)
    if p.op == "max_pool2d":
        def run():
            xa, r0, c0 = _ndimage_aligned(x, pads, (kh, kw), (sh, sw), (oh, ow), -np.inf)
            full = ndimage.maximum_filter(xa, size=size, mode="constant", cval=-np.inf)
            return full[:, r0::sh, c0::sw][:, :oh, :ow]
        return run
    divisor = _pool_divisor(p)
    scale = None if divisor is None else (kh * kw) / divisor

    def run():
        xa, r0, c0 = _ndimage_aligned(x, pads, (kh, kw), (sh, sw), (oh, ow), 0.0)
        full = ndimage.uniform_filter(xa, size=size, mode="constant", cval=0.0)
        out = full[:, r0::sh, c0::sw][:, :oh, :ow]
        return out if scale is None else out * scale
    return run


# -- PyTorch ----------------------------------------------------------------


def _torch_nhwc(torch, call):
    """The timed callable for a PyTorch op: ``call()`` without autograd, as NHWC NumPy."""
    def run():
        with torch.inference_mode():
            y = call()
        return y.permute(0, 2, 3, 1).numpy()
    return run


def _torch_conv_setup(p):
    torch = torch_module()
    F = torch.nn.functional
    (t, b), (l, r) = p.pads
    # NHWC memory seen as NCHW: a channels_last tensor, no copy.
    xt = torch.from_numpy(p.x).permute(0, 3, 1, 2)
    oihw = torch.from_numpy(np.ascontiguousarray(p.w.transpose(3, 2, 0, 1)))
    # oneDNN's fastest path depends on the weights' layout, and which wins depends on the
    # layer and the build: both are tried and the faster timed.
    weight_layouts = {"channels_last": oihw.contiguous(memory_format=torch.channels_last),
                      "contiguous": oihw}
    bt = None if p.bias is None else torch.from_numpy(p.bias)
    symmetric = t == b and l == r
    kwargs = dict(stride=p.stride, dilation=p.dilation, groups=p.groups,
                  padding=(t, l) if symmetric else 0)

    def conv_with(wt):
        def call():
            xin = xt if symmetric else F.pad(xt, (l, r, t, b))
            return F.conv2d(xin, wt, bt, **kwargs)
        return _torch_nhwc(torch, call)

    _, run = fastest({layout: conv_with(wt) for layout, wt in weight_layouts.items()})
    return run


def _torch_pool_size(size, k, stride, pad, ceil_mode):
    """PyTorch's pooling output size along one axis (its documented formula)."""
    span = size + 2 * pad - k
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _torch_pool_setup(p):
    torch = torch_module()
    F = torch.nn.functional
    (t, b), (l, r) = p.pads
    (kh, kw), (sh, sw), (oh, ow) = p.kernel_hw, p.stride, p.out_hw
    h, w = p.x.shape[1:3]
    is_max = p.op == "max_pool2d"
    xt = torch.from_numpy(p.x).permute(0, 3, 1, 2)  # channels_last, no copy
    # PyTorch pads top and bottom alike and clips windows to the real pixels; with the
    # same top/left padding and the same output size its windows are TensorFlow's.
    native = None
    if t <= kh // 2 and l <= kw // 2:
        for ceil_mode in (False, True):
            if (_torch_pool_size(h, kh, sh, t, ceil_mode) == oh
                    and _torch_pool_size(w, kw, sw, l, ceil_mode) == ow):
                native = ceil_mode
                break
    if native is not None:
        if is_max:
            def call():
                return F.max_pool2d(xt, (kh, kw), (sh, sw), padding=(t, l), ceil_mode=native)
        else:
            def call():
                return F.avg_pool2d(xt, (kh, kw), (sh, sw), padding=(t, l), ceil_mode=native,
                                    count_include_pad=False)
    elif is_max:
        def call():  # other padding: pad with -inf by hand
            return F.max_pool2d(F.pad(xt, (l, r, t, b), value=-math.inf), (kh, kw), (sh, sw))
    else:
        divisor = _pool_divisor(p)
        scale = None if divisor is None else torch.from_numpy(
            np.ascontiguousarray(((kh * kw) / divisor).astype(p.x.dtype)[..., 0]))

        def call():  # other padding: zeros by hand, then rescale to real-pixel means
            y = F.avg_pool2d(F.pad(xt, (l, r, t, b)), (kh, kw), (sh, sw))
            return y if scale is None else y * scale

    return _torch_nhwc(torch, call)


# -- OpenCV -----------------------------------------------------------------


def _opencv_reason(wl):
    """Why cv2.filter2D cannot compute this workload, or ''."""
    if not wl.is_conv:
        return "no pooling in OpenCV's filter2D"
    if wl.x_shape[3] != 1 or wl.w_shape[3] != 1:
        return "filter2D is for one-channel rows only"
    if tuple(wl.dilation) != (1, 1):
        return "filter2D has no dilation"
    return ""


def _opencv_setup(p):
    cv2 = cv2_module()
    (t, _), (l, _) = p.pads
    (sh, sw), (oh, ow) = p.stride, p.out_hw
    kh, kw = p.kernel_hw
    if t >= kh or l >= kw or (oh - 1) * sh >= p.x.shape[1] or (ow - 1) * sw >= p.x.shape[2]:
        raise NotImplementedError(f"padding {p.pads} does not fit filter2D's anchor")
    kernel = np.ascontiguousarray(p.w[:, :, 0, 0])
    images = [np.ascontiguousarray(p.x[n, :, :, 0]) for n in range(p.x.shape[0])]
    bias = 0.0 if p.bias is None else float(p.bias[0])

    def run():
        out = np.empty((len(images), oh, ow, 1), dtype=p.x.dtype)
        for n, img in enumerate(images):
            # Anchor (left, top): output (i, j) sees padded rows from i - top, zeros outside.
            full = cv2.filter2D(img, -1, kernel, anchor=(l, t), delta=bias,
                                borderType=cv2.BORDER_CONSTANT)
            out[n, :, :, 0] = full[::sh, ::sw][:oh, :ow]
        return out
    return run


# -- the naive loop -------------------------------------------------------------


def _naive_setup(p):
    from fastconv import reference

    if p.op == "conv2d":
        return lambda: reference.conv2d(p.x, p.w, p.bias, stride=p.stride, padding=p.pads,
                                        dilation=p.dilation, groups=p.groups)
    fn = getattr(reference, p.op)
    return lambda: fn(p.x, p.kernel_hw, stride=p.stride, padding=p.pads)


def implementations(workload):
    """Every implementation the benchmark knows for this workload, in table order.

    Unavailable ones (a peer not installed, an operation it lacks) are included
    with ``unavailable`` set, so a table can say why.
    """
    impls = []
    if workload.is_conv:
        for method in ("auto", "direct", "im2col"):
            impls.append(Impl(f"fastconv-{method}", f"fastconv {method}",
                              _fastconv_setup(method), kind="fastconv"))
        one_channel = workload.x_shape[3] == 1
        impls.append(Impl("numpy", "numpy sliding_window_view+"
                          + ("tensordot" if workload.groups == 1 else "einsum"),
                          _numpy_conv_setup, slice_axes=("n", "rows")))
        impls.append(Impl("scipy", "scipy.ndimage.correlate" if one_channel
                          else "scipy.signal.correlate2d loop", _scipy_conv_setup,
                          slice_axes=("n", "channels") if workload.groups == 1 else ("n",)))
    else:
        impls.append(Impl("fastconv-auto", "fastconv", _fastconv_setup("auto"), kind="fastconv"))
        impls.append(Impl("numpy", "numpy sliding_window_view." +
                          ("max" if workload.op == "max_pool2d" else "mean"),
                          _numpy_pool_setup, slice_axes=("n", "rows")))
        impls.append(Impl("scipy", "scipy.ndimage." + ("maximum_filter" if workload.op ==
                          "max_pool2d" else "uniform_filter") + "+stride",
                          _scipy_pool_setup, slice_axes=("n", "rows")))
    impls.append(Impl("naive", "naive loop (fastconv.reference)", _naive_setup,
                      # Cut rows only: the loop runs over output pixels and vectorises
                      # over images and channels, so its time scales with rows alone.
                      slice_axes=("rows",), always_slice=True))
    torch = torch_module()
    impls.append(Impl("torch", "torch " + ("conv2d" if workload.is_conv else workload.op)
                      + " channels_last",
                      _torch_conv_setup if workload.is_conv else _torch_pool_setup,
                      unavailable="" if torch is not None else "torch not installed"))
    if workload.is_conv and workload.x_shape[3] == 1:
        reason = _opencv_reason(workload) or ("" if cv2_module() is not None
                                              else "cv2 not installed")
        impls.append(Impl("opencv", "cv2.filter2D", _opencv_setup,
                          unavailable=reason))
    return impls


def scipy_conv_seconds(workload):
    """A rough estimate of SciPy's time on a whole conv workload.

    Per-channel correlate2d calls cost ~10 us each plus ~1 GFLOP/s of stride-1 work
    (correlate2d cannot skip strided positions). benches/ skips SciPy on whole
    workloads where this says it would be slow.
    """
    n, h, w, c_in = workload.x_shape
    kh, kw, cin_per_group, c_out = workload.w_shape
    (top, bottom), (left, right) = workload.geometry()[0]
    rows, cols = h + top + bottom - kh + 1, w + left + right - kw + 1
    calls = 1 if c_in == 1 else n * c_out * cin_per_group
    return calls * 1e-5 + 2 * n * rows * cols * kh * kw * cin_per_group * c_out / 1e9


# -- the numpy/scipy drop-ins ---------------------------------------------------------

# Every implementation benches/ times; SIGNAL_BENCH_IMPLS_* are the ones
# ``python -m fastconv.bench`` times: the functions fastconv's drop-ins replace.
SIGNAL_IMPLS_1D = ("fastconv", "numpy", "scipy-convolve", "scipy-oaconvolve")
SIGNAL_IMPLS_2D = ("fastconv", "scipy-correlate2d", "scipy-ndimage", "opencv-filter2D",
                   "scipy-fftconvolve")
SIGNAL_BENCH_IMPLS_1D = SIGNAL_IMPLS_1D
SIGNAL_BENCH_IMPLS_2D = ("fastconv", "scipy-correlate2d", "opencv-filter2D")
_SIGNAL_LABELS = {
    "numpy": "np.convolve",
    "scipy-convolve": "scipy.signal.convolve",
    "scipy-oaconvolve": "scipy.signal.oaconvolve",
    "scipy-correlate2d": "scipy.signal.correlate2d",
    "scipy-ndimage": "scipy.ndimage.correlate",
    "opencv-filter2D": "cv2.filter2D",
    "scipy-fftconvolve": "scipy.signal.fftconvolve",
}
# scipy.signal.correlate2d runs at ~0.5 GMAC/s: skip it where that takes over 5 s.
SCIPY_2D_MAX_MACS = 2.5e9


def signal_label(workload, key):
    """The table's name for implementation ``key`` of a drop-in workload."""
    if key == "fastconv":
        return "fastconv.convolve" if workload.kind == "1d" else "fastconv.correlate2d"
    return _SIGNAL_LABELS.get(key, key)


def signal_implementation(workload, key, x, k):
    """A zero-argument callable computing the drop-in workload with ``key``, or a reason
    (a string) why that implementation cannot."""
    import scipy.ndimage as ndi
    import scipy.signal as ss

    import fastconv

    mode, boundary = workload.mode, workload.boundary
    if workload.kind == "1d":
        return {"fastconv": lambda: fastconv.convolve(x, k, mode),
                "numpy": lambda: np.convolve(x, k, mode),
                "scipy-convolve": lambda: ss.convolve(x, k, mode),
                "scipy-oaconvolve": lambda: ss.oaconvolve(x, k, mode)}[key]
    if key == "fastconv":
        return lambda: fastconv.correlate2d(x, k, mode, boundary)
    if key == "scipy-correlate2d":
        if x.size * k.size > SCIPY_2D_MAX_MACS:
            return "scipy.signal.correlate2d would take minutes here"
        return lambda: ss.correlate2d(x, k, mode, boundary)
    if key == "scipy-ndimage":
        nd_mode = {"fill": "constant", "symm": "reflect", "wrap": "wrap"}[boundary]
        return lambda: ndi.correlate(x, k, mode=nd_mode)
    if key == "opencv-filter2D":
        cv2 = cv2_module()
        if cv2 is None:
            return "OpenCV is not installed"
        if boundary == "wrap":
            return "filter2D has no wrap-around border"
        border = {"fill": cv2.BORDER_CONSTANT, "symm": cv2.BORDER_REFLECT}[boundary]
        return lambda: cv2.filter2D(x, -1, k, borderType=border)
    if key == "scipy-fftconvolve":
        if boundary != "fill":
            return "fftconvolve pads with zeros only"
        flipped = k[::-1, ::-1]
        return lambda: ss.fftconvolve(x, flipped, mode)
    raise KeyError(key)


def signal_oracle(workload, x, k):
    """The drop-in workload in float64 by FFT (an independent route to the same numbers)."""
    import scipy.signal as ss

    x64, k64 = x.astype(np.float64), k.astype(np.float64)
    if workload.kind == "1d":
        return ss.fftconvolve(x64, k64, workload.mode)
    pads = [((kk - 1) // 2, kk // 2) for kk in k.shape]  # correlate2d 'same'
    np_mode = {"fill": "constant", "symm": "symmetric", "wrap": "wrap"}[workload.boundary]
    return ss.fftconvolve(np.pad(x64, pads, mode=np_mode), k64[::-1, ::-1], "valid")

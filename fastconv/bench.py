"""Benchmark fastconv against NumPy, SciPy, a naive loop, and PyTorch/OpenCV when installed.

Run ``python -m fastconv.bench`` (``--help`` lists the options). For each
workload in :data:`WORKLOADS` every implementation is

1. run once (warm-up) and its result checked against fastconv's "auto" result
   with a float32 tolerance, so that the table never compares different
   computations (a disagreement is printed as a warning and flagged);
2. timed interleaved with all the others in this one process (round-robin
   A, B, C, A, B, C, ..., each round starting one place later), several
   rounds, each sample long enough to be measured (like ``timeit``'s
   autorange); the table reports medians.

Implementations too slow to run whole (the naive loop always; SciPy's
per-channel ``correlate2d`` loop on many channels) are timed on a slice of
the problem (fewer images, output rows or output channels) and scaled up by
the ratio of output elements; the table marks them "(scaled)".

Throughput is GFLOP/s for convolutions (2 * N * OH * OW * KH * KW *
C_in/groups * C_out / time) and GB/s of input plus output bytes for pooling.

Machines this runs on set ``OPENBLAS_CORETYPE`` (which halves NumPy's and
SciPy's sgemm speed); benchmark with it unset in that command alone::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m fastconv.bench

After the conv/pool tables comes a "numpy/scipy drop-ins" section (``--no-signal``
skips it): fastconv.convolve / correlate2d against np.convolve, scipy.signal and
cv2.filter2D on ``fastconv.signal._BENCH_WORKLOADS`` (see ``fastconv/_bench_signal.py``);
its results go into the JSON output under "signal".

The workload table and the peer implementations are importable: the
pytest-benchmark tests in ``benches/`` use them.
"""
import argparse
import contextlib
import dataclasses
import gc
import io
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

from . import _shapes, conv

__all__ = [
    "Workload",
    "WORKLOADS",
    "QUICK",
    "Problem",
    "Impl",
    "select_workloads",
    "make_problem",
    "implementations",
    "results_agree",
    "run_workload",
    "environment",
    "set_threads",
    "measure_peak_gflops",
    "main",
]


# ---------------------------------------------------------------------------
# The workloads: the one table (benches/ imports it).
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Workload:
    """One benchmarked operation: shapes and arguments, in fastconv's spelling.

    ``op`` is "conv2d", "max_pool2d" or "avg_pool2d". For conv2d, ``w_shape``
    is HWIO (KH, KW, C_in // groups, C_out); for pooling, ``pool_size`` is set
    and ``stride=None`` means stride = pool_size, as in fastconv.
    """

    name: str
    op: str
    x_shape: tuple
    w_shape: tuple = None
    pool_size: tuple = None
    stride: tuple = None
    padding: str = "valid"
    dilation: tuple = (1, 1)
    groups: int = 1
    bias: bool = False
    quick: bool = False  # part of the --quick subset
    note: str = ""

    @property
    def is_conv(self):
        return self.op == "conv2d"

    @property
    def kernel_hw(self):
        return tuple(self.w_shape[:2]) if self.is_conv else tuple(self.pool_size)

    @property
    def stride_hw(self):
        if self.stride is None:
            return (1, 1) if self.is_conv else tuple(self.pool_size)
        return _shapes.positive_pair(self.stride, "stride")

    def geometry(self):
        """((top, bottom), (left, right)) padding and (OH, OW), from fastconv._shapes."""
        return _shapes.window_geometry(
            self.x_shape[1:3], self.kernel_hw, self.stride_hw,
            _shapes.positive_pair(self.dilation, "dilation"), self.padding,
        )

    @property
    def out_shape(self):
        _, (oh, ow) = self.geometry()
        c = self.w_shape[3] if self.is_conv else self.x_shape[3]
        return (self.x_shape[0], oh, ow, c)

    @property
    def flops(self):
        """Multiply-adds times two for conv2d; None for pooling."""
        if not self.is_conv:
            return None
        n, oh, ow, c_out = self.out_shape
        kh, kw, cin_per_group, _ = self.w_shape
        return 2 * n * oh * ow * kh * kw * cin_per_group * c_out

    def nbytes(self, itemsize):
        """Bytes read and written by one call (input + output): the pooling throughput measure."""
        return (math.prod(self.x_shape) + math.prod(self.out_shape)) * itemsize

    def describe(self):
        n, h, w, c = self.x_shape
        s = self.stride_hw
        stride = "" if s == (1, 1) else f" stride {s[0]}" if s[0] == s[1] else f" stride {s}"
        if self.is_conv:
            kh, kw, ci, co = self.w_shape
            g = f" groups={self.groups}" if self.groups > 1 else ""
            d = "" if tuple(self.dilation) == (1, 1) else f" dilation {tuple(self.dilation)}"
            return f"conv2d ({n},{h},{w},{c}) * {kh}x{kw}x{ci}x{co}{stride}{d}{g} {self.padding}"
        ph, pw = self.pool_size
        return f"{self.op} {ph}x{pw}{stride} on ({n},{h},{w},{c}) {self.padding}"


def _conv(name, x_shape, w_shape, **kw):
    return Workload(name=name, op="conv2d", x_shape=x_shape, w_shape=w_shape, **kw)


def _pool(name, op, x_shape, pool_size, **kw):
    return Workload(name=name, op=op, x_shape=x_shape, pool_size=pool_size, **kw)


WORKLOADS = (
    # The course examples this library grew from.
    _conv("img512-3x3-s2x1-valid", (1, 512, 512, 1), (3, 3, 1, 1), stride=(2, 1),
          note="course: grayscale image, stride (2, 1)"),
    _conv("img512-3x3-same", (1, 512, 512, 1), (3, 3, 1, 1), padding="same", quick=True,
          note="course: grayscale image blur/edge filter"),
    _conv("mnist-3x3x1x32-valid", (64, 28, 28, 1), (3, 3, 1, 32),
          note="course: MNIST first layer"),
    _conv("mnist-3x3x32x64-valid", (64, 26, 26, 32), (3, 3, 32, 64), quick=True,
          note="course: MNIST second layer"),
    _pool("mnist-maxpool2", "max_pool2d", (64, 26, 26, 32), (2, 2),
          note="course: MNIST pooling"),
    _pool("mnist-avgpool2", "avg_pool2d", (64, 26, 26, 32), (2, 2)),
    # Multi-channel layers.
    _conv("conv56-3x3x64x64-same", (8, 56, 56, 64), (3, 3, 64, 64), padding="same",
          quick=True, note="ResNet-style 3x3"),
    _conv("conv28-1x1x256x128", (8, 28, 28, 256), (1, 1, 256, 128),
          note="1x1 projection (a plain GEMM)"),
    _conv("conv224-7x7x3x64-s2-same", (4, 224, 224, 3), (7, 7, 3, 64), stride=(2, 2),
          padding="same", note="ResNet stem"),
    _conv("dw56-3x3x128-same", (8, 56, 56, 128), (3, 3, 1, 128), padding="same",
          groups=128, quick=True, note="depthwise"),
    _conv("img1024-5x5-same", (1, 1024, 1024, 1), (5, 5, 1, 1), padding="same",
          note="large one-channel image"),
    # Pooling on a large activation.
    _pool("maxpool112-2x2s2-same", "max_pool2d", (8, 112, 112, 64), (2, 2), stride=(2, 2),
          padding="same", quick=True),
    _pool("maxpool112-3x3s2-same", "max_pool2d", (8, 112, 112, 64), (3, 3), stride=(2, 2),
          padding="same"),
    _pool("avgpool112-2x2s2-same", "avg_pool2d", (8, 112, 112, 64), (2, 2), stride=(2, 2),
          padding="same"),
    _pool("avgpool112-3x3s2-same", "avg_pool2d", (8, 112, 112, 64), (3, 3), stride=(2, 2),
          padding="same"),
)

QUICK = tuple(wl for wl in WORKLOADS if wl.quick)


def select_workloads(only=None, quick=False):
    """The workloads to run: the --quick subset or all, filtered by comma-separated substrings."""
    chosen = QUICK if quick else WORKLOADS
    keys = [k.strip() for k in (only or "").split(",") if k.strip()]
    if keys:
        chosen = tuple(wl for wl in chosen if any(k in wl.name for k in keys))
    return chosen


# ---------------------------------------------------------------------------
# Problems: the concrete arrays, in an explicit-padding form every peer can use.
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Problem:
    """A workload with data. ``pads`` is explicit ((top, bottom), (left, right)).

    :meth:`sliced` gives the sub-problem computing ``out[:n, :rows, :, :channels]``
    of this one, for implementations too slow to time whole.
    """

    workload: Workload
    x: np.ndarray
    w: np.ndarray = None
    bias: np.ndarray = None
    pads: tuple = ((0, 0), (0, 0))
    out_hw: tuple = None
    fraction: float = 1.0  # output elements of this problem / of the whole workload
    slice_desc: str = ""

    @property
    def op(self):
        return self.workload.op

    @property
    def stride(self):
        return self.workload.stride_hw

    @property
    def dilation(self):
        return _shapes.positive_pair(self.workload.dilation, "dilation")

    @property
    def groups(self):
        return self.workload.groups

    @property
    def kernel_hw(self):
        return self.workload.kernel_hw

    @property
    def eff_kernel(self):
        return _shapes.effective_kernel(self.kernel_hw, self.dilation)

    @property
    def out_shape(self):
        c = self.w.shape[3] if self.w is not None else self.x.shape[3]
        return (self.x.shape[0],) + tuple(self.out_hw) + (c,)

    def can_slice_channels(self):
        return self.op != "conv2d" or self.groups == 1

    def sliced(self, n=None, rows=None, channels=None):
        """The sub-problem for output ``[:n, :rows, :, :channels]``; None keeps an axis whole."""
        full_n, full_oh, full_ow, full_c = self.out_shape
        n = full_n if n is None else min(n, full_n)
        rows = full_oh if rows is None else min(rows, full_oh)
        channels = full_c if channels is None else min(channels, full_c)
        if channels != full_c and not self.can_slice_channels():
            raise ValueError("output channels of a grouped convolution are not sliced")
        (top, bottom), lr = self.pads
        x, w, bias = self.x[:n], self.w, self.bias
        if rows != full_oh:
            # Padded rows [0, need) produce output rows [0, rows).
            need = (rows - 1) * self.stride[0] + self.eff_kernel[0]
            real = min(self.x.shape[1], need - top)
            x = x[:, :real]
            bottom = need - top - real
        if channels != full_c:
            if self.op == "conv2d":
                w = w[..., :channels]
                bias = None if bias is None else bias[:channels]
            else:
                x = x[..., :channels]
        sub = dataclasses.replace(
            self, x=np.ascontiguousarray(x), w=None if w is None else np.ascontiguousarray(w),
            bias=bias, pads=((top, bottom), lr), out_hw=(rows, full_ow),
        )
        sub.fraction = self.fraction * (n * rows * channels) / (full_n * full_oh * full_c)
        parts = [f"n={n}" if n != full_n else "", f"rows={rows}" if rows != full_oh else "",
                 (f"c_out={channels}" if self.op == "conv2d" else f"c={channels}")
                 if channels != full_c else ""]
        sub.slice_desc = " ".join(p for p in parts if p)
        return sub

    def expected_part(self, full_result):
        """The part of the whole workload's result that this (sliced) problem computes."""
        n, oh, ow, c = self.out_shape
        return full_result[:n, :oh, :ow, :c]


def make_problem(workload, dtype=np.float32, seed=0):
    """Random inputs in [-1, 1) for a workload (reproducible for a given seed)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    x = rng.uniform(-1.0, 1.0, size=workload.x_shape).astype(dtype)
    w = bias = None
    if workload.is_conv:
        w = rng.uniform(-1.0, 1.0, size=workload.w_shape).astype(dtype)
        if workload.bias:
            bias = rng.uniform(-1.0, 1.0, size=workload.w_shape[3]).astype(dtype)
    pads, out_hw = workload.geometry()
    return Problem(workload=workload, x=x, w=w, bias=bias, pads=pads, out_hw=out_hw)


# ---------------------------------------------------------------------------
# Implementations. Each takes a Problem and returns the NHWC result.
# ---------------------------------------------------------------------------


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


def _torch():
    try:
        import torch
    except Exception:  # not installed, or broken
        return None
    return torch


def _torch_conv_setup(p):
    torch = _torch()
    F = torch.nn.functional
    (t, b), (l, r) = p.pads
    # NHWC memory seen as NCHW: a channels_last tensor, no copy.
    xt = torch.from_numpy(p.x).permute(0, 3, 1, 2)
    wt = torch.from_numpy(np.ascontiguousarray(p.w.transpose(3, 2, 0, 1))).contiguous(
        memory_format=torch.channels_last)
    bt = None if p.bias is None else torch.from_numpy(p.bias)
    symmetric = t == b and l == r
    kwargs = dict(stride=p.stride, dilation=p.dilation, groups=p.groups,
                  padding=(t, l) if symmetric else 0)

    def run():
        with torch.inference_mode():
            xin = xt if symmetric else F.pad(xt, (l, r, t, b))
            y = F.conv2d(xin, wt, bt, **kwargs)
        return y.permute(0, 2, 3, 1).numpy()
    return run


def _torch_pool_size(size, k, stride, pad, ceil_mode):
    """PyTorch's pooling output size along one axis (its documented formula)."""
    span = size + 2 * pad - k
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _torch_pool_setup(p):
    torch = _torch()
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

    def run():
        with torch.inference_mode():
            y = call()
        return y.permute(0, 2, 3, 1).numpy()
    return run


# -- OpenCV -----------------------------------------------------------------


def _cv2():
    try:
        import cv2
    except Exception:
        return None
    return cv2


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
    cv2 = _cv2()
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
    from . import reference

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
    torch = _torch()
    impls.append(Impl("torch", "torch " + ("conv2d" if workload.is_conv else workload.op)
                      + " channels_last",
                      _torch_conv_setup if workload.is_conv else _torch_pool_setup,
                      unavailable="" if torch is not None else "torch not installed"))
    if workload.is_conv and workload.x_shape[3] == 1:
        reason = _opencv_reason(workload) or ("" if _cv2() is not None
                                              else "cv2 not installed")
        impls.append(Impl("opencv", "cv2.filter2D", _opencv_setup,
                          unavailable=reason))
    return impls


# ---------------------------------------------------------------------------
# Checking results
# ---------------------------------------------------------------------------


def reduction_length(workload):
    """Terms summed (or compared) per output element: KH * KW * C_in/groups, or the pool area."""
    if workload.is_conv:
        kh, kw, cin_per_group, _ = workload.w_shape
        return kh * kw * cin_per_group
    return workload.kernel_hw[0] * workload.kernel_hw[1]


def results_agree(got, expected, workload):
    """(ok, message): np.allclose with a float32 tolerance, whatever the dtype.

    Rounding in a float32 sum of K terms grows like sqrt(K) times the values'
    size; the tolerance is ample for that and far below what a wrong
    computation (another padding, a flipped kernel, a shifted window) gives.
    """
    got = np.asarray(got)
    if got.shape != expected.shape:
        return False, f"shape {got.shape}, expected {expected.shape}"
    expected = np.asarray(expected, dtype=np.float64)
    got = got.astype(np.float64)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    rtol = 1e-5
    atol = 64 * float(np.finfo(np.float32).eps) * math.sqrt(reduction_length(workload)) * scale
    ok = bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))
    err = float(np.max(np.abs(got - expected), initial=0.0))
    return ok, f"max abs diff {err:.3g} (max |value| {scale:.3g}, atol {atol:.2g})"


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


class _Progress:
    """One status line on stderr, rewritten in place on a terminal, plain lines otherwise."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self._width = 0

    def __call__(self, msg, final=False):
        if not self.enabled:
            return
        line = f"[{time.perf_counter() - self.t0:6.1f}s] {msg}"
        if self.tty:
            pad = max(0, self._width - len(line))
            sys.stderr.write("\r" + line + " " * pad + ("\n" if final else ""))
            self._width = 0 if final else len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def warn(self, msg):
        if self.tty and self._width:
            sys.stderr.write("\n")
            self._width = 0
        sys.stderr.write(f"WARNING: {msg}\n")
        sys.stderr.flush()


class _CpuMeter:
    """How much of the machine other processes used between two readings (Linux only).

    The machines this runs on are small and shared: a compiler running beside
    the benchmark makes every threaded timing noisy. The tables say so.
    """

    def __init__(self):
        self.ncpu = os.cpu_count() or 1
        try:
            self.tick = os.sysconf("SC_CLK_TCK")
        except (AttributeError, ValueError, OSError):
            self.tick = None
        self.start = self._read()

    def _read(self):
        own = os.times()
        busy = None
        if self.tick:
            try:
                with open("/proc/stat") as f:
                    vals = [int(v) for v in f.readline().split()[1:9]]
                # user nice system idle iowait irq softirq steal: all but idle and iowait
                busy = (sum(vals) - vals[3] - vals[4]) / self.tick
            except (OSError, ValueError, IndexError):
                busy = None
        return time.perf_counter(), busy, own.user + own.system

    def other_load(self):
        """Share of all CPUs (0..1) used by other processes (and the hypervisor) since start."""
        now = self._read()
        wall = now[0] - self.start[0]
        if now[1] is None or self.start[1] is None or wall <= 0:
            return None
        other = (now[1] - self.start[1]) - (now[2] - self.start[2])
        return max(0.0, min(1.0, other / (wall * self.ncpu)))


def _other_load_now(seconds=0.5):
    meter = _CpuMeter()
    time.sleep(seconds)
    return meter.other_load()


def _fit_to_budget(problem, impl, budget):
    """Run ``impl`` on ``problem``, or on the largest slice of it that fits ``budget`` seconds.

    Candidate slices halve one axis at a time, in the order of impl.slice_axes;
    the naive loop (``always_slice``) never runs whole. The smallest candidate
    is timed first (fastest of a few calls: the first may pay for imports and
    start-up); the cost per output element it shows picks the largest candidate
    predicted to fit, which is timed in turn, until the prediction settles.
    Returns (problem, fn, seconds of one call, result of that call).
    """
    n, oh, _, c = problem.out_shape
    current = {"n": n, "rows": oh, "channels": c}
    candidates = [dict(current)]
    for axis in impl.slice_axes:
        if axis == "channels" and not problem.can_slice_channels():
            continue
        while current[axis] > 1:
            current[axis] = max(1, current[axis] // 2)
            candidates.append(dict(current))
    if impl.always_slice and len(candidates) > 1:
        candidates = candidates[1:]

    def elements(i):
        s = candidates[i]
        return s["n"] * s["rows"] * s["channels"]

    def run(i):
        # The fastest of a few calls (while they fit the budget): a call that lost its
        # core to another process for a time slice must not set the slice size.
        s = candidates[i]
        sub = problem.sliced(s["n"], s["rows"], s["channels"]) if i or impl.always_slice \
            else problem
        fn = impl.setup(sub)
        times = []
        while len(times) < 5 and (not times or sum(times) + min(times) <= budget):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        return sub, fn, min(times), result

    last = len(candidates) - 1
    tried = {last: run(last)}
    index = last
    for _ in range(5):
        per_element = tried[index][2] / elements(index)
        fits = [i for i in range(len(candidates)) if per_element * elements(i) <= budget]
        nxt = min(fits) if fits else last
        if nxt in tried:
            break
        index = nxt
        tried[index] = run(index)
    # The largest slice that ran within the budget (with some slack), else the smallest.
    fitting = [i for i, v in tried.items() if v[2] <= 1.5 * budget]
    return tried[min(fitting) if fitting else max(tried)]


def _calls_per_sample(min_time, one_call):
    """Calls per sample so that a sample lasts at least ``min_time`` (timeit's autorange)."""
    return max(1, min(10000, math.ceil(min_time / max(one_call, 1e-7))))


@dataclasses.dataclass
class Entry:
    impl: Impl
    fn: callable = None
    problem: Problem = None
    number: int = 1
    samples: list = dataclasses.field(default_factory=list)
    ok: bool = None
    check: str = ""
    error: str = ""

    @property
    def scaled(self):
        return self.problem is not None and self.problem.fraction != 1.0


def _setup_entry(entry, problem, settings, progress, label):
    """Choose the problem (whole or a slice) and calls per sample; the result of one call."""
    impl = entry.impl
    try:
        sub, fn, first, result = _fit_to_budget(problem, impl, settings["slow_budget"])
        entry.fn, entry.problem = fn, sub
        entry.number = _calls_per_sample(settings["min_sample"], first)
        return result
    except Exception as e:  # a peer that cannot do this workload
        entry.error = f"{type(e).__name__}: {e}".splitlines()[0][:160]
        progress.warn(f"{label}: {impl.label} failed: {entry.error}")
        return None


def run_workload(workload, dtype, settings, progress=None, label=""):
    """Set up, check and time every implementation of one workload; a result dict."""
    progress = progress or _Progress(False)
    problem = make_problem(workload, dtype, seed=settings.get("seed", 0))
    entries = [Entry(impl) for impl in implementations(workload)]
    for e in entries:
        if e.impl.unavailable:
            e.error = e.impl.unavailable
    if settings.get("skip"):
        skip = settings["skip"]
        for e in entries:
            if e.impl.key in skip and not e.error:
                e.error = "skipped (--skip)"

    # Set up (this is also the warm-up call), fastconv auto first: it is the reference.
    expected = None
    for e in entries:
        if e.error:
            continue
        progress(f"{label} set-up: {e.impl.label}")
        result = _setup_entry(e, problem, settings, progress, label)
        if result is None:
            continue
        if e.impl.key == "fastconv-auto":
            expected = np.asarray(result)
            e.ok, e.check = True, "reference"
            continue
        if expected is None:
            e.ok, e.check = None, "fastconv auto failed: nothing to compare with"
            continue
        part = e.problem.expected_part(expected)
        e.ok, e.check = results_agree(result, part, workload)
        if not e.ok:
            who = ("fastconv auto disagrees with the reference loop (the oracle): "
                   "fastconv may be WRONG" if e.impl.key == "naive"
                   else f"{e.impl.label} disagrees with fastconv auto")
            progress.warn(f"{label}: {who} on {e.problem.slice_desc or 'the whole workload'}: "
                          f"{e.check}")
        del result

    timed = [e for e in entries if e.fn is not None]
    rounds = settings["rounds"]
    gc.collect()
    meter = _CpuMeter()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            progress(f"{label} timing: round {r + 1}/{rounds}")
            shift = r % max(1, len(timed))
            for e in timed[shift:] + timed[:shift]:
                fn, number = e.fn, e.number
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                e.samples.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    result = _summarize(workload, dtype, entries)
    result["other_cpu_load"] = meter.other_load()
    return result


def _auto_choice(workload):
    """The kernel conv2d's method="auto" runs for this workload, or None (pooling)."""
    if not workload.is_conv:
        return None
    k_h, k_w, cin_per_group, c_out = workload.w_shape
    return conv._choose_method("auto", k_h * k_w * cin_per_group, workload.x_shape[3],
                               c_out, workload.groups)


def _summarize(workload, dtype, entries):
    itemsize = np.dtype(dtype).itemsize
    rows = []
    auto_time = None
    for e in entries:
        row = {"key": e.impl.key, "label": e.impl.label, "kind": e.impl.kind}
        if e.samples:
            med = statistics.median(e.samples)
            scaled = med / e.problem.fraction
            q = statistics.quantiles(e.samples, n=4) if len(e.samples) > 1 else [med] * 3
            row.update(
                time_s=scaled, time_ms=scaled * 1e3,
                measured_ms=med * 1e3, min_ms=min(e.samples) * 1e3 / e.problem.fraction,
                iqr_ms=(q[2] - q[0]) * 1e3 / e.problem.fraction,
                samples_ms=[s * 1e3 for s in e.samples], calls_per_sample=e.number,
                scaled=e.scaled, fraction=e.problem.fraction,
                slice=e.problem.slice_desc, agrees=e.ok, check=e.check,
            )
            if workload.is_conv:
                row["gflops"] = workload.flops / scaled / 1e9
            else:
                row["gbps"] = workload.nbytes(itemsize) / scaled / 1e9
            if e.impl.key == "fastconv-auto":
                auto_time = scaled
        else:
            row.update(error=e.error or "not run", agrees=e.ok, check=e.check)
        rows.append(row)
    for row in rows:
        if auto_time is not None and "time_s" in row:
            row["speedup_of_auto"] = row["time_s"] / auto_time
    fc = [r for r in rows if r["kind"] == "fastconv" and "time_s" in r]
    best = min(fc, key=lambda r: r["time_s"]) if fc else None
    # "auto" runs one of the other kernels; judge its choice by that kernel's own time.
    # (auto against the fastest of three noisy medians, one of them the same code as
    # auto, would read 5-15% slow on a noisy machine while choosing right.)
    auto_runs = _auto_choice(workload)
    chosen = next((r for r in fc if r["key"] == f"fastconv-{auto_runs}"), None)
    if chosen is None:
        chosen = next((r for r in fc if r["key"] == "fastconv-auto"), None)
    return {
        "name": workload.name,
        "description": workload.describe(),
        "workload": dataclasses.asdict(workload),
        "dtype": np.dtype(dtype).name,
        "out_shape": list(workload.out_shape),
        "gflop": None if workload.flops is None else workload.flops / 1e9,
        "mbytes": workload.nbytes(itemsize) / 1e6,
        "best_fastconv": None if best is None else best["key"],
        "auto_runs": auto_runs,
        "auto_vs_best": (None if best is None or chosen is None
                         else chosen["time_s"] / best["time_s"]),
        "impls": rows,
    }


# ---------------------------------------------------------------------------
# The environment: versions, threads, BLAS
# ---------------------------------------------------------------------------


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threadpool_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    try:
        return threadpool_info()
    except Exception:
        return None


def environment(threads=None):
    """Versions, thread counts and BLAS kernels, as a JSON-friendly dict."""
    import scipy
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so threadpoolctl sees it)

    import fastconv

    env = {
        "fastconv": getattr(fastconv, "__version__", "?"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": fastconv.get_num_threads() if threads is None else threads,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }
    try:
        from fastconv import _info

        cfg = _info.config()
        env["fastconv_config"] = {k: v for k, v in cfg.items() if k != "blas"}
    except Exception:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            try:
                fastconv.show_config()
            except Exception:
                pass
        env["fastconv_config"] = buf.getvalue()
    torch = _torch()
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    cv2 = _cv2()
    if cv2 is not None:
        env["opencv"] = cv2.__version__
        env["opencv_threads"] = cv2.getNumThreads()
    info = _threadpool_info()
    env["threadpool_info"] = info
    env["blas"] = [
        {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                               "threading_layer", "filepath")}
        for i in (info or []) if i.get("user_api") == "blas"
    ]
    return env


def measure_peak_gflops(threads, dtype=np.float32, seconds=0.3):
    """This machine's multiply-add peak in GFLOP/s, from the FMA probe fastconv ships.

    ``fastconv._dispatch.probe.fma_gflops`` is a float32 probe. The peak is the
    larger of its best run on ``threads`` threads and ``threads`` times its best
    run on one thread: on a shared machine a thread team often loses a core for
    a while, a single thread much less. float64 is taken as half (half the lanes
    per vector). None when this fastconv has no probe.
    """
    try:
        from ._dispatch import probe
    except Exception:
        return None

    def best_of(n):
        best, runs, t0 = 0.0, 0, time.perf_counter()
        while runs < 5 or time.perf_counter() - t0 < seconds:
            best = max(best, probe.fma_gflops(n_threads=n))
            runs += 1
        return best

    try:
        usable = min(threads, os.cpu_count() or threads)
        peak = max(best_of(threads), usable * best_of(1))
    except Exception:
        return None
    return peak / 2 if np.dtype(dtype) == np.float64 else peak


def _owner(filepath):
    """The installed package a shared library came with (numpy, scipy, torch, ...), or ''."""
    parts = (filepath or "").replace(os.sep, "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            top = parts[parts.index(marker) + 1]
            return top[:-5] if top.endswith(".libs") else top
    return ""


def _blas_lines(env):
    lines = []
    for b in env["blas"]:
        lib = os.path.basename(b.get("filepath") or "")
        who = _owner(b.get("filepath"))
        lines.append(f"BLAS: {b['internal_api']} {b['version']}, kernel {b['architecture']}, "
                     f"{b['num_threads']} thread{'' if b['num_threads'] == 1 else 's'} "
                     f"({who + ': ' if who else ''}{lib})")
    if not lines:
        lines.append("BLAS: unknown (threadpoolctl not installed)"
                     if env["threadpool_info"] is None else "BLAS: none loaded")
    return lines


def _header(env, dtype, settings):
    cfg = env.get("fastconv_config")
    omp = cfg.get("openmp") if isinstance(cfg, dict) else None
    simd = "?"
    if isinstance(cfg, dict):
        simd = " ".join(cfg.get("simd_baseline") or []) or "none"
        if cfg.get("simd_kernels"):
            simd = f"{cfg['simd_kernels']} kernels (build baseline {simd})"
    lines = [
        f"fastconv {env['fastconv']}  numpy {env['numpy']}  scipy {env['scipy']}  "
        f"python {env['python']}"
        + (f"  torch {env['torch']}" if "torch" in env else "")
        + (f"  opencv {env['opencv']}" if "opencv" in env else ""),
        f"CPU: {env['cpu']} ({env['cpu_count']} logical cores)",
        f"threads: {env['threads']} (fastconv OpenMP: "
        f"{'yes' if omp else 'no' if omp is False else '?'}"
        f", SIMD: {simd}"
        + (f"; torch {env['torch_threads']}" if "torch_threads" in env else "")
        + (f"; opencv {env['opencv_threads']}" if "opencv_threads" in env else "") + ")",
    ]
    lines += _blas_lines(env)
    lines.append(f"dtype {np.dtype(dtype).name}; {settings['rounds']} interleaved rounds, "
                 f"medians; samples >= {settings['min_sample'] * 1e3:.0f} ms; slow peers "
                 f"timed on slices of <= {settings['slow_budget']:.2f} s and scaled")
    if env.get("peak_gflops"):
        lines.append(f"peak: {env['peak_gflops']:.0f} GFLOP/s {np.dtype(dtype).name} on "
                     f"{env['threads']} thread{'s' if env['threads'] != 1 else ''} (fastconv's FMA "
                     "probe" + (", float32 / 2" if np.dtype(dtype) == np.float64 else "")
                     + "); '% peak' is GFLOP/s as a share of it")
    core = env["env"].get("OPENBLAS_CORETYPE")
    if core:
        lines.append(f"NOTE: OPENBLAS_CORETYPE={core} is set: NumPy/SciPy BLAS runs {core} "
                     "kernels. Unset it for a benchmark run: env -u OPENBLAS_CORETYPE "
                     "-u OPENBLAS_L2_SIZE python -m fastconv.bench")
    return lines


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _fmt_time(ms):
    if ms >= 1e4:
        return f"{ms / 1e3:.1f} s"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}"


def _fmt_ratio(r):
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.2f}x"


def format_workload(res):
    """The table for one workload, as text."""
    conv = res["gflop"] is not None
    unit = "GFLOP/s" if conv else "GB/s"
    head = (f"{res['name']}: {res['description']}  [{res['dtype']}, "
            + (f"{res['gflop']:.3g} GFLOP" if conv else f"{res['mbytes']:.3g} MB in+out") + "]")
    peak = res.get("peak_gflops") if conv else None
    lines = [head, f"  {'implementation':<44} {'time ms':>10} {'min ms':>9} {unit:>8} "
                   f"{'auto is':>10}" + (f" {'% peak':>7}" if peak else "")]
    for r in res["impls"]:
        label = r["label"] + (" (scaled)" if r.get("scaled") else "")
        if "time_ms" not in r:
            lines.append(f"  {label:<44} {'n/a':>10}  {r.get('error', '')}")
            continue
        thr = r["gflops"] if conv else r["gbps"]
        if r["key"] == "fastconv-auto":
            ratio = "1.00x"
        elif r.get("agrees") is False:
            ratio = "MISMATCH"
        else:
            ratio = _fmt_ratio(r.get("speedup_of_auto"))
        note = f" {100 * thr / peak:>6.1f}%" if peak else ""
        if r.get("scaled"):
            note += f"  [{r['slice']}]"
        if r.get("agrees") is False:
            note += f"  ! {r['check']}"
        lines.append(f"  {label:<44} {_fmt_time(r['time_ms']):>10} {_fmt_time(r['min_ms']):>9} "
                     f"{thr:>8.3g} {ratio:>10}{note}")
    load = res.get("other_cpu_load")
    if load is not None and load > _BUSY:
        lines.append(f"  NOTE: other processes used {load:.0%} of the CPUs while this was timed: "
                     "expect noise")
    return "\n".join(lines)


_PEERS = ("numpy", "scipy", "naive", "torch", "opencv")
_BUSY = 0.10  # share of the machine used by others above which a timing is flagged


def format_summary(results):
    """One line per workload: fastconv auto's time and its speed-up over each peer."""
    peers = [p for p in _PEERS
             if any(any(r["key"] == p and "time_ms" in r for r in res["impls"])
                    for res in results)]
    head = (f"{'workload':<26} {'auto ms':>9} {'GF/s|GB/s':>9} {'% peak':>7} {'best':>7} "
            f"{'auto runs':>9} {'auto/best':>9} "
            + " ".join(f"{'x ' + p:>9}" for p in peers))
    lines = ["Speed-up of fastconv auto (peer time / auto time; >1: fastconv is faster; "
             "* scaled from a slice; ! other processes busy while timed)",
             "best: fastconv's fastest kernel here; auto/best: the time of the kernel auto "
             "runs over the best's", head]
    for res in results:
        by_key = {r["key"]: r for r in res["impls"]}
        auto = by_key.get("fastconv-auto", {})
        if "time_ms" not in auto:
            lines.append(f"{res['name']:<26} {'failed':>9}")
            continue
        thr = auto.get("gflops", auto.get("gbps"))
        best = (res["best_fastconv"] or "").replace("fastconv-", "")
        cells = []
        for p in peers:
            r = by_key.get(p)
            if r is None or "time_ms" not in r:
                cells.append(f"{'-':>9}")
            elif r.get("agrees") is False:
                cells.append(f"{'MISMATCH':>9}")
            else:
                mark = "*" if r.get("scaled") else ""
                cells.append(f"{_fmt_ratio(r['speedup_of_auto']) + mark:>9}")
        load = res.get("other_cpu_load")
        name = res["name"] + ("!" if load is not None and load > _BUSY else "")
        peak = res.get("peak_gflops") if "gflops" in auto else None
        pct = f"{100 * thr / peak:.1f}%" if peak else "-"
        lines.append(f"{name:<26} {_fmt_time(auto['time_ms']):>9} {thr:>9.3g} {pct:>7} "
                     f"{best:>7} {res.get('auto_runs') or 'auto':>9} "
                     f"{_fmt_ratio(res['auto_vs_best']):>9} " + " ".join(cells))
    return "\n".join(lines)


def plot(results, path):
    """A bar chart of fastconv auto's speed-up over each peer, per workload (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = [p for p in _PEERS
             if any(any(r["key"] == p and "speedup_of_auto" in r for r in res["impls"])
                    for res in results)]
    names = [res["name"] for res in results]
    fig, ax = plt.subplots(figsize=(min(18, max(8, 0.25 * len(names) * (len(peers) + 1))), 6))
    width = 0.8 / max(1, len(peers))
    for i, p in enumerate(peers):
        vals = []
        for res in results:
            r = next((r for r in res["impls"] if r["key"] == p), None)
            ok = r is not None and "speedup_of_auto" in r and r.get("agrees") is not False
            vals.append(r["speedup_of_auto"] if ok else np.nan)
        xs = np.arange(len(names)) + (i - (len(peers) - 1) / 2) * width
        ax.bar(xs, vals, width, label=f"over {p}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("peer time / fastconv auto time")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.legend(fontsize=8)
    ax.set_title(f"fastconv speed-up ({results[0]['dtype']}); >1 means fastconv is faster")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="python -m fastconv.bench",
        description="Benchmark fastconv against NumPy, SciPy, a naive loop, and PyTorch / "
                    "OpenCV when installed. Times are medians of interleaved rounds in one "
                    "process. Run with OPENBLAS_CORETYPE unset: env -u OPENBLAS_CORETYPE "
                    "-u OPENBLAS_L2_SIZE python -m fastconv.bench",
    )
    ap.add_argument("--quick", action="store_true",
                    help="a short subset with few rounds (well under a minute)")
    ap.add_argument("--threads", type=int, default=None, metavar="N",
                    help="threads for fastconv (set_num_threads), torch, OpenCV and the BLAS "
                         "(default: fastconv.get_num_threads())")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--only", metavar="SUBSTRING",
                    help="run only workloads whose name contains it (comma-separated: any)")
    ap.add_argument("--rounds", type=int, default=None, metavar="N",
                    help="interleaved timing rounds (default 9; 3 with --quick)")
    ap.add_argument("--json", default="bench_results.json", metavar="PATH",
                    help="write results here (default: bench_results.json; '' to skip)")
    ap.add_argument("--plot", default=None, metavar="PATH",
                    help="draw a PNG bar chart of the speed-ups (needs matplotlib)")
    ap.add_argument("--skip", default="", metavar="KEYS",
                    help="implementations not to run, comma-separated (e.g. naive,scipy)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--no-signal", action="store_true",
                    help="skip the numpy/scipy drop-ins section (fastconv.convolve / "
                         "correlate2d against np.convolve, scipy.signal, cv2.filter2D)")
    args = ap.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be >= 1")
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be >= 1")
    return args


def set_threads(n):
    """One thread count for everybody: fastconv, torch, OpenCV and the BLAS libraries."""
    import fastconv

    fastconv.set_num_threads(n)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(n)
    cv2 = _cv2()
    if cv2 is not None:
        cv2.setNumThreads(n)
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        return None


def _run_signal(workloads, dtype, settings, quick, progress):
    """The numpy/scipy drop-ins section: fastconv.convolve / correlate2d against the
    functions they replace (fastconv/_bench_signal.py), printed and returned."""
    from . import _bench_signal as bsig

    print()
    print("== numpy/scipy drop-ins: fastconv.convolve / fastconv.correlate2d against the "
          "functions they replace ==")
    print("peers checked against fastconv first; interleaved rounds, medians; "
          "speed-up = peer time / fastconv time")
    print(flush=True)
    results = []
    for i, wl in enumerate(workloads):
        label = f"[signal {i + 1}/{len(workloads)}] {wl[0]}"
        progress(f"{label}: {bsig.describe(wl)}")
        res = bsig.run_workload(
            wl, dtype, budget=0.3 if quick else 1.5, min_rounds=3,
            max_rounds=9 if quick else 15, slow=0.5, skip=settings["skip"],
            seed=settings["seed"], warn=progress.warn,
            progress=lambda msg, label=label: progress(f"{label}: {msg.split(': ', 1)[-1]}"))
        progress(f"{label}: done", final=True)
        results.append(res)
        print(bsig.format_workload(res))
        print(flush=True)
        gc.collect()
    print(bsig.format_summary(results))
    bad = [(r["name"], e["label"]) for r in results for e in r["impls"]
           if e.get("agrees") is False]
    if bad:
        print("\nWARNING: drop-in peers that disagree with fastconv: "
              + "; ".join(f"{n}: {lab}" for n, lab in bad))
    return results


def main(argv=None):
    args = _parse_args(argv)
    if args.list:
        for wl in WORKLOADS:
            print(f"{wl.name:<26} {'quick ' if wl.quick else '      '}{wl.describe()}")
        from . import _bench_signal as bsig

        for wl in bsig.SIGNAL_WORKLOADS:
            quick = "quick " if wl[0] in bsig.QUICK_NAMES else "      "
            print(f"{wl[0]:<28} {quick}{bsig.describe(wl)}")
        return 0
    workloads = select_workloads(args.only, args.quick)
    signal_workloads = []
    if not args.no_signal:
        from . import _bench_signal as bsig

        signal_workloads = bsig.select(args.only, args.quick)
    if not workloads and not signal_workloads:
        print(f"no workload matches --only {args.only!r}; --list shows them", file=sys.stderr)
        return 2

    import scipy.linalg  # noqa: F401  (load scipy's BLAS before threads are limited)

    import fastconv

    threads = args.threads if args.threads is not None else fastconv.get_num_threads()
    _limits = set_threads(threads)  # noqa: F841  (kept alive for the whole run)
    dtype = np.dtype(args.dtype)
    settings = {
        "rounds": args.rounds or (3 if args.quick else 9),
        "min_sample": 0.01 if args.quick else 0.05,
        "slow_budget": 0.05 if args.quick else 0.25,
        "seed": args.seed,
        "skip": {s.strip() for s in args.skip.split(",") if s.strip()},
    }
    env = environment(threads)
    env["other_cpu_load_at_start"] = load = _other_load_now()
    env["peak_gflops"] = peak = measure_peak_gflops(threads, dtype)
    for line in _header(env, dtype, settings):
        print(line)
    if load is not None and load > _BUSY:
        print(f"NOTE: other processes are using {load:.0%} of the CPUs: timings will be noisy")
    print(flush=True)

    progress = _Progress(not args.no_progress)
    results = []
    for i, wl in enumerate(workloads):
        label = f"[{i + 1}/{len(workloads)}] {wl.name}"
        progress(f"{label}: {wl.describe()}")
        res = run_workload(wl, dtype, settings, progress, label)
        res["peak_gflops"] = peak
        for r in res["impls"]:
            if peak and "gflops" in r:
                r["pct_of_peak"] = 100 * r["gflops"] / peak
        progress(f"{label}: done", final=True)
        results.append(res)
        print(format_workload(res))
        print(flush=True)
        gc.collect()
    if results:
        print(format_summary(results))
    mismatches = [(res["name"], r["label"]) for res in results for r in res["impls"]
                  if r.get("agrees") is False]
    if mismatches:
        print("\nWARNING: results that disagree with fastconv auto (not comparable): "
              + "; ".join(f"{n}: {lab}" for n, lab in mismatches))

    signal_results = []
    if signal_workloads:
        signal_results = _run_signal(signal_workloads, dtype, settings, args.quick, progress)

    if args.json:
        payload = {"environment": env, "settings": {k: (sorted(v) if isinstance(v, set) else v)
                                                    for k, v in settings.items()},
                   "dtype": dtype.name, "argv": sys.argv[1:] if argv is None else list(argv),
                   "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results}
        if not args.no_signal:
            payload["signal"] = signal_results
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1, default=str)
        print(f"\nresults written to {args.json}")
    if args.plot:
        try:
            plot(results, args.plot)
            print(f"chart written to {args.plot}")
        except ImportError:
            print("--plot needs matplotlib, which is not installed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The benchmark's workloads: the conv/pool table and the numpy/scipy drop-ins' table.

Both are plain data. ``python -m fastconv.bench``, ``benches/`` and the tests pick from
them with :func:`select_workloads` / :func:`select_signal_workloads`, and turn one into
arrays with :func:`make_problem` / :meth:`SignalWorkload.inputs`.
"""
import dataclasses
import math
from typing import NamedTuple, Optional

import numpy as np

from ._internals import geometry


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
        """True for conv2d, False for pooling."""
        return self.op == "conv2d"

    @property
    def kernel_hw(self):
        """(KH, KW): the kernel's or the pooling window's size."""
        return tuple(self.w_shape[:2]) if self.is_conv else tuple(self.pool_size)

    @property
    def stride_hw(self):
        """(SH, SW), with fastconv's defaults filled in."""
        if self.stride is None:
            return (1, 1) if self.is_conv else tuple(self.pool_size)
        positive_pair, _, _ = geometry()
        return positive_pair(self.stride, "stride")

    def geometry(self):
        """((top, bottom), (left, right)) padding and (OH, OW), by fastconv's own rules."""
        positive_pair, window_geometry, _ = geometry()
        return window_geometry(self.x_shape[1:3], self.kernel_hw, self.stride_hw,
                               positive_pair(self.dilation, "dilation"), self.padding)

    @property
    def out_shape(self):
        """(N, OH, OW, C) of the result."""
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
        """A one-line human description: operation, shapes, stride, padding."""
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


# Problems: the concrete arrays, in an explicit-padding form every peer can use.


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
        """The workload's operation."""
        return self.workload.op

    @property
    def stride(self):
        """(SH, SW)."""
        return self.workload.stride_hw

    @property
    def dilation(self):
        """(DH, DW)."""
        positive_pair, _, _ = geometry()
        return positive_pair(self.workload.dilation, "dilation")

    @property
    def groups(self):
        """Convolution groups (1 for pooling)."""
        return self.workload.groups

    @property
    def kernel_hw(self):
        """(KH, KW)."""
        return self.workload.kernel_hw

    @property
    def eff_kernel(self):
        """The dilated kernel's extent."""
        _, _, effective_kernel = geometry()
        return effective_kernel(self.kernel_hw, self.dilation)

    @property
    def out_shape(self):
        """(N, OH, OW, C) of this (maybe sliced) problem's result."""
        c = self.w.shape[3] if self.w is not None else self.x.shape[3]
        return (self.x.shape[0],) + tuple(self.out_hw) + (c,)

    def can_slice_channels(self):
        """Whether output channels can be cut (not for grouped convolutions)."""
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


# The numpy/scipy drop-ins: fastconv.convolve (1-D) and fastconv.correlate2d (2-D).


class SignalWorkload(NamedTuple):
    """One drop-in call: ``fastconv.convolve(x, k, mode)`` for kind "1d",
    ``fastconv.correlate2d(x, k, mode, boundary)`` for kind "2d"."""

    name: str
    kind: str  # "1d" or "2d"
    in_shape: tuple
    k_shape: tuple
    mode: str
    boundary: Optional[str] = None

    def describe(self) -> str:
        """Shapes, mode and boundary, as the tables print them."""
        shapes = "x".join(map(str, self.in_shape)) + " * " + "x".join(map(str, self.k_shape))
        boundary = f", boundary {self.boundary}" if self.boundary else ""
        return f"{shapes}, mode {self.mode}{boundary}"

    def inputs(self, dtype=np.float32, seed: int = 0):
        """(x, k): standard normal input and kernel (reproducible for a given seed)."""
        rng = np.random.default_rng(seed)
        return (rng.standard_normal(self.in_shape).astype(dtype),
                rng.standard_normal(self.k_shape).astype(dtype))


def _convolve(name, n, k, mode="full"):
    return SignalWorkload(name, "1d", (n,), (k,), mode)


def _correlate2d(name, size, k, boundary):
    return SignalWorkload(name, "2d", (size, size), (k, k), "same", boundary)


SIGNAL_WORKLOADS = (
    _convolve("convolve 1e3 x 31", 10**3, 31),
    _convolve("convolve 1e5 x 3", 10**5, 3),
    _convolve("convolve 1e6 x 3", 10**6, 3),
    _convolve("convolve 1e6 x 31", 10**6, 31),
    _convolve("convolve 1e6 x 101", 10**6, 101),
    _convolve("convolve 1e6 x 301", 10**6, 301),
    _convolve("convolve 1e5 x 1e4", 10**5, 10**4),
    _convolve("convolve 1e7 x 301 same", 10**7, 301, "same"),
    _correlate2d("correlate2d 512 3x3 fill", 512, 3, "fill"),
    _correlate2d("correlate2d 1024 3x3 fill", 1024, 3, "fill"),
    _correlate2d("correlate2d 1024 5x5 fill", 1024, 5, "fill"),
    _correlate2d("correlate2d 1024 7x7 fill", 1024, 7, "fill"),
    _correlate2d("correlate2d 1024 5x5 symm", 1024, 5, "symm"),
    _correlate2d("correlate2d 1024 5x5 wrap", 1024, 5, "wrap"),
    _correlate2d("correlate2d 2048 15x15 fill", 2048, 15, "fill"),
    _correlate2d("correlate2d 2048 15x15 symm", 2048, 15, "symm"),
    _correlate2d("correlate2d 512 31x31 symm", 512, 31, "symm"),
    _correlate2d("correlate2d 4096 5x5 wrap", 4096, 5, "wrap"),
    _correlate2d("correlate2d 4096 31x31 fill", 4096, 31, "fill"),
)

# The drop-ins' part of --quick.
SIGNAL_QUICK_NAMES = ("convolve 1e3 x 31", "convolve 1e6 x 31", "correlate2d 512 3x3 fill")


def _matching(workloads, only):
    keys = [k.strip() for k in (only or "").split(",") if k.strip()]
    if not keys:
        return tuple(workloads)
    return tuple(wl for wl in workloads if any(k in wl.name for k in keys))


def select_workloads(only=None, quick=False):
    """The conv/pool workloads to run: the --quick subset or all, filtered by
    comma-separated substrings of their names (any may match)."""
    return _matching(QUICK if quick else WORKLOADS, only)


def select_signal_workloads(only=None, quick=False):
    """The drop-in workloads to run, chosen as :func:`select_workloads` chooses."""
    return _matching([wl for wl in SIGNAL_WORKLOADS
                      if not quick or wl.name in SIGNAL_QUICK_NAMES], only)

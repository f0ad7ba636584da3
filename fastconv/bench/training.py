"""The training suite (``python -m fastconv.bench --suite training``): backward passes.

conv2d_grad_input and conv2d_grad_weight on real networks' layers, the pooling
gradients on the pooling benchmark's rows, and conv2d_transpose on U-Net / DCGAN
decoder layers, each against PyTorch (``torch.ops.aten.convolution_backward`` on
channels_last tensors, ``max_pool2d_with_indices_backward`` / ``avg_pool2d_backward``,
``conv_transpose2d``), under ``torch.inference_mode()`` with the faster weight layout.
Padding is spelled explicitly and symmetrically, as PyTorch has it, so that both
compute the same thing; the max-pooling indices come from PyTorch's forward call,
made once in setup (a training step has them), while fastconv finds the maxima again.
"""
import dataclasses
import math
from typing import Optional

import numpy as np

from ._optional import torch_module
from .timing import Timed, best_time, calls_per_sample, fastest, time_interleaved

# The targets: speed-up = PyTorch time / fastconv time.
TARGETS = {
    "grad_input": ("geometric mean >= 1.0x, worst layer >= 0.7x", 1.0, 0.7),
    "grad_weight": ("geometric mean >= 1.0x, worst layer >= 0.7x", 1.0, 0.7),
    "pool_grad": ("every row >= 1.0x", None, 1.0),
    "conv2d_transpose": ("every row >= 1.0x", None, 1.0),
}


@dataclasses.dataclass(frozen=True)
class TrainingWorkload:
    """One timed backward operation.

    op: "grad_input" / "grad_weight" (x_shape and HWIO w_shape of the forward conv),
    "max_pool2d_grad" / "avg_pool2d_grad" (the forward input and pool), or
    "conv2d_transpose" (its input and Keras-layout kernel (KH, KW, filters, C_in)).
    """

    name: str
    op: str
    x_shape: tuple
    w_shape: Optional[tuple] = None
    stride: int = 1
    padding: object = 0
    groups: int = 1
    pool_size: Optional[int] = None
    output_padding: int = 0
    quick: bool = False
    note: str = ""

    @property
    def group(self):
        """The target this row counts toward."""
        return "pool_grad" if self.op.endswith("pool2d_grad") else self.op

    def describe(self):
        n, h, w, c = self.x_shape
        s = f" stride {self.stride}" if self.stride != 1 else ""
        if self.pool_size:
            return f"{self.op} {self.pool_size}x{self.pool_size}{s} on ({n},{h},{w},{c}) {self.padding}"
        kh, kw, ci, co = self.w_shape
        g = f" groups={self.groups}" if self.groups > 1 else ""
        return f"{self.op} ({n},{h},{w},{c}) {kh}x{kw}x{ci}x{co}{s} pad {self.padding}{g}"


# Real networks' layers (forward x shape, HWIO kernel, stride, padding, groups).
CONV_LAYERS = [
    ("mnist-3x3x1x32", (64, 28, 28, 1), (3, 3, 1, 32), 1, 0, 1, "narrow input"),
    ("mnist-3x3x32x64", (64, 26, 26, 32), (3, 3, 32, 64), 1, 0, 1, ""),
    ("resnet-stem-7x7x3x64-s2", (4, 224, 224, 3), (7, 7, 3, 64), 2, 3, 1, "narrow input, stride 2"),
    ("resnet56-3x3x64x64", (8, 56, 56, 64), (3, 3, 64, 64), 1, 1, 1, ""),
    ("resnet56-3x3x64x128-s2", (8, 56, 56, 64), (3, 3, 64, 128), 2, 1, 1, "stride 2"),
    ("resnet28-3x3x128x128", (8, 28, 28, 128), (3, 3, 128, 128), 1, 1, 1, ""),
    ("resnet14-3x3x256x256", (8, 14, 14, 256), (3, 3, 256, 256), 1, 1, 1, ""),
    ("resnet7-3x3x512x512", (8, 7, 7, 512), (3, 3, 512, 512), 1, 1, 1, ""),
    ("resnet56-1x1x256x64", (8, 56, 56, 256), (1, 1, 256, 64), 1, 0, 1, "1x1"),
    ("resnet56-1x1x256x512-s2", (8, 56, 56, 256), (1, 1, 256, 512), 2, 0, 1, "1x1 stride 2"),
    ("mobilenet-dw56-3x3x128", (8, 56, 56, 128), (3, 3, 1, 128), 1, 1, 128, "depthwise"),
    ("mobilenet-dw112-3x3x64-s2", (8, 112, 112, 64), (3, 3, 1, 64), 2, 1, 64,
     "depthwise stride 2"),
    ("mobilenet-pw56-1x1x128x128", (8, 56, 56, 128), (1, 1, 128, 128), 1, 0, 1, "1x1"),
    ("decoder-3x3x64x3", (8, 64, 64, 64), (3, 3, 64, 3), 1, 1, 1, "narrow output"),
]
_QUICK_LAYERS = {"mnist-3x3x32x64", "resnet56-3x3x64x128-s2", "mobilenet-dw56-3x3x128"}

TRAINING_WORKLOADS = tuple(
    TrainingWorkload(f"{op.replace('_', '-')}:{name}", op, x, w, s, p, g,
                     quick=name in _QUICK_LAYERS, note=note)
    for name, x, w, s, p, g, note in CONV_LAYERS for op in ("grad_input", "grad_weight")
) + (
    # The pooling benchmark's rows (fastconv.bench.workloads), backward.
    TrainingWorkload("maxpool-grad:mnist-2x2", "max_pool2d_grad", (64, 26, 26, 32),
                     pool_size=2, stride=2, padding="valid", quick=True),
    TrainingWorkload("avgpool-grad:mnist-2x2", "avg_pool2d_grad", (64, 26, 26, 32),
                     pool_size=2, stride=2, padding="valid"),
    TrainingWorkload("maxpool-grad:112-2x2s2-same", "max_pool2d_grad", (8, 112, 112, 64),
                     pool_size=2, stride=2, padding="same"),
    TrainingWorkload("maxpool-grad:112-3x3s2-same", "max_pool2d_grad", (8, 112, 112, 64),
                     pool_size=3, stride=2, padding="same", note="windows overlap"),
    TrainingWorkload("avgpool-grad:112-2x2s2-same", "avg_pool2d_grad", (8, 112, 112, 64),
                     pool_size=2, stride=2, padding="same"),
    TrainingWorkload("avgpool-grad:112-3x3s2-same", "avg_pool2d_grad", (8, 112, 112, 64),
                     pool_size=3, stride=2, padding="same", note="windows overlap"),
    # Decoder layers: Keras kernel layout (KH, KW, filters, C_in).
    TrainingWorkload("transpose:unet-3x3s2-128to64", "conv2d_transpose", (8, 28, 28, 128),
                     (3, 3, 64, 128), 2, 1, output_padding=1, quick=True, note="U-Net"),
    TrainingWorkload("transpose:unet-3x3s2-64to32", "conv2d_transpose", (8, 56, 56, 64),
                     (3, 3, 32, 64), 2, 1, output_padding=1, note="U-Net"),
    TrainingWorkload("transpose:dcgan-4x4s2-256to128", "conv2d_transpose", (16, 8, 8, 256),
                     (4, 4, 128, 256), 2, 1, note="DCGAN"),
    TrainingWorkload("transpose:dcgan-4x4s2-128to64", "conv2d_transpose", (16, 16, 16, 128),
                     (4, 4, 64, 128), 2, 1, note="DCGAN"),
    TrainingWorkload("transpose:dcgan-4x4s2-64to3", "conv2d_transpose", (16, 32, 32, 64),
                     (4, 4, 3, 64), 2, 1, note="DCGAN RGB output"),
)


def select_training_workloads(only=None, quick=False):
    chosen = [wl for wl in TRAINING_WORKLOADS if not quick or wl.quick]
    if only:
        keys = [k.strip() for k in only.split(",") if k.strip()]
        chosen = [wl for wl in chosen if any(k in wl.name for k in keys)]
    return chosen


# -- the two implementations of one row -------------------------------------------------


def _pool_padding(wl):
    """(fastconv padding, PyTorch padding, ceil_mode) for a pooling row."""
    import fastconv._geometry as geometry

    window = geometry.pool_window(wl.x_shape[1:3], wl.pool_size, wl.stride, wl.padding)
    (t, b), (l, r) = window.pads
    # TensorFlow's "same" pads the far side only (or one more there): PyTorch's ceil_mode
    # clips the last window to the real pixels, which is the same windows when top = 0.
    if (t, l) != (0, 0) and (t != b or l != r):
        raise ValueError(f"{wl.name}: padding {window.pads} has no PyTorch spelling")
    ceil_mode = (b > t) or (r > l)
    return window, (t, l), ceil_mode


def setup_row(wl, dtype, seed=0):
    """(fastconv callable, PyTorch callable or None, PyTorch's result as NHWC/HWIO NumPy
    after one call, or None), with fastconv's result checked against it by the caller."""
    import fastconv

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(wl.x_shape).astype(dtype)
    torch = torch_module()
    if wl.op in ("grad_input", "grad_weight"):
        w = rng.standard_normal(wl.w_shape).astype(dtype)
        y_shape = fastconv.conv2d(x[:1], w, stride=wl.stride, padding=wl.padding,
                                  groups=wl.groups).shape
        dy = rng.standard_normal((wl.x_shape[0], *y_shape[1:])).astype(dtype)
        kw = dict(stride=wl.stride, padding=wl.padding, groups=wl.groups)
        if wl.op == "grad_input":
            ours = lambda: fastconv.conv2d_grad_input(dy, w, x.shape, **kw)  # noqa: E731
        else:
            ours = lambda: fastconv.conv2d_grad_weight(x, dy, w.shape, **kw)  # noqa: E731
        if torch is None:
            return ours, None, None
        xt = torch.from_numpy(x).permute(0, 3, 1, 2)
        dyt = torch.from_numpy(dy).permute(0, 3, 1, 2)
        oihw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
        mask = [wl.op == "grad_input", wl.op == "grad_weight", False]

        def with_weight(wt):
            def run():
                with torch.inference_mode():
                    grads = torch.ops.aten.convolution_backward(
                        dyt, xt, wt, None, [wl.stride] * 2, [wl.padding] * 2, [1, 1], False,
                        [0, 0], wl.groups, mask)
                return grads[0] if mask[0] else grads[1]
            return run

        _, theirs = fastest({"channels_last": with_weight(
            oihw.contiguous(memory_format=torch.channels_last)), "contiguous": with_weight(oihw)})
        expected = theirs()
        expected = (expected.permute(0, 2, 3, 1) if mask[0] else expected.permute(2, 3, 1, 0))
        return ours, theirs, expected.numpy()
    if wl.op == "conv2d_transpose":
        w = rng.standard_normal(wl.w_shape).astype(dtype)
        kw = dict(stride=wl.stride, padding=wl.padding, output_padding=wl.output_padding)
        ours = lambda: fastconv.conv2d_transpose(x, w, **kw)  # noqa: E731
        if torch is None:
            return ours, None, None
        xt = torch.from_numpy(x).permute(0, 3, 1, 2)
        iohw = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))
        F = torch.nn.functional

        def with_weight(wt):
            def run():
                with torch.inference_mode():
                    return F.conv_transpose2d(xt, wt, stride=wl.stride, padding=wl.padding,
                                              output_padding=wl.output_padding)
            return run

        _, theirs = fastest({"channels_last": with_weight(
            iohw.contiguous(memory_format=torch.channels_last)), "contiguous": with_weight(iohw)})
        return ours, theirs, theirs().permute(0, 2, 3, 1).numpy()
    # Pooling gradients.
    window, torch_pad, ceil_mode = _pool_padding(wl)
    dy = rng.standard_normal((wl.x_shape[0], *window.out_hw, wl.x_shape[3])).astype(dtype)
    kw = dict(stride=wl.stride, padding=wl.padding)
    if wl.op == "max_pool2d_grad":
        ours = lambda: fastconv.max_pool2d_grad(x, dy, wl.pool_size, **kw)  # noqa: E731
    else:
        ours = lambda: fastconv.avg_pool2d_grad(dy, x.shape, wl.pool_size, **kw)  # noqa: E731
    if torch is None:
        return ours, None, None
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2)
    k, s = [wl.pool_size] * 2, [wl.stride] * 2
    pad = list(torch_pad)
    if wl.op == "max_pool2d_grad":
        with torch.inference_mode():
            _, indices = torch.nn.functional.max_pool2d(xt, k, s, pad, ceil_mode=ceil_mode,
                                                        return_indices=True)

        def theirs():
            with torch.inference_mode():
                return torch.ops.aten.max_pool2d_with_indices_backward(
                    dyt, xt, k, s, pad, [1, 1], ceil_mode, indices)
    else:
        def theirs():
            with torch.inference_mode():
                return torch.ops.aten.avg_pool2d_backward(dyt, xt, k, s, pad, ceil_mode,
                                                          False, None)
    return ours, theirs, theirs().permute(0, 2, 3, 1).numpy()


def run_training_row(wl, dtype, rounds, min_sample, seed=0):
    """Time one row, fastconv and PyTorch interleaved; a dict for the table."""
    ours, theirs, expected = setup_row(wl, dtype, seed)
    result = {"name": wl.name, "describe": wl.describe(), "group": wl.group, "note": wl.note}
    got = ours()
    if expected is not None:
        scale = float(np.abs(expected).max()) or 1.0
        err = float(np.abs(got - expected).max()) / scale
        result["max_rel_error"] = err
        result["agrees"] = err < (1e-3 if np.dtype(dtype) == np.float32 else 1e-9)
    entries = [Timed(ours, calls_per_sample(min_sample, best_time(ours, 1)))]
    if theirs is not None:
        entries.append(Timed(theirs, calls_per_sample(min_sample, best_time(theirs, 1))))
    result["other_load"] = time_interleaved(entries, rounds)
    result["fastconv_ms"] = 1e3 * float(np.median(entries[0].samples))
    if theirs is not None:
        result["torch_ms"] = 1e3 * float(np.median(entries[1].samples))
        result["speedup"] = result["torch_ms"] / result["fastconv_ms"]
    return result


def format_row(res):
    torch_part = (f"torch {res['torch_ms']:9.3f} ms  {res['speedup']:5.2f}x"
                  if "torch_ms" in res else "torch: not installed")
    agree = "" if res.get("agrees", True) else f"  DISAGREES (rel. error {res['max_rel_error']:.1e})"
    load = res.get("other_load")
    busy = f"  (others used {load:.0%} of the CPUs)" if load is not None and load > 0.1 else ""
    return (f"{res['name']:<40} fastconv {res['fastconv_ms']:9.3f} ms  {torch_part}"
            f"{agree}{busy}\n    {res['describe']}{'  [' + res['note'] + ']' if res['note'] else ''}")


def summarize(results):
    """Lines judging each group against the issue's targets."""
    lines = ["", "== training suite: speed-up = PyTorch time / fastconv time =="]
    for group, (text, mean_target, worst_target) in TARGETS.items():
        ups = [r["speedup"] for r in results if r["group"] == group and "speedup" in r]
        if not ups:
            continue
        geo = math.exp(sum(math.log(u) for u in ups) / len(ups))
        worst = min(ups)
        worst_name = min((r for r in results if r["group"] == group and "speedup" in r),
                         key=lambda r: r["speedup"])["name"]
        met = ((mean_target is None or geo >= mean_target) and worst >= worst_target)
        lines.append(f"{group:<17} {len(ups):2d} rows  geometric mean {geo:5.2f}x  worst "
                     f"{worst:5.2f}x ({worst_name})  target: {text}  -> "
                     f"{'MET' if met else 'MISSED'}")
    return lines

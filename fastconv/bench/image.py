"""The image-filtering group (``python -m fastconv.bench --suite image``): a photo blurred
with a border that reflects, against OpenCV and scipy.ndimage.

Every workload filters one 1920x1080 RGB float32 photo, each channel alike, with
np.pad's "reflect" border (OpenCV's BORDER_REFLECT_101, scipy.ndimage's "mirror"):

- ``blur KxK``: the full 2-D kernel, ``fastconv.conv2d(..., groups=3, pad_mode="reflect")``
  against ``cv2.filter2D`` and ``scipy.ndimage.correlate``;
- ``sep gauss K``: a K-tap Gaussian as two 1-D passes, ``fastconv.sep_conv2d`` against
  ``cv2.sepFilter2D``, ``scipy.ndimage.correlate1d`` twice, and fastconv.conv2d with the
  outer-product kernel (what sep_conv2d saves).

Each peer's result is checked against fastconv's before timing. Times are medians of
interleaved rounds (``timing.time_interleaved``); speed-up = peer time / fastconv time.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional

import numpy as np

from ._optional import cv2_module
from .timing import Timed, best_time, calls_per_sample, time_interleaved

PHOTO_SHAPE = (1080, 1920, 3)


def gaussian_taps(k: int) -> np.ndarray:
    """A normalised k-tap Gaussian (sigma as OpenCV's getGaussianKernel picks it)."""
    sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-t * t / (2 * sigma * sigma))
    return (g / g.sum()).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class ImageWorkload:
    name: str
    kind: str   # "blur" (full 2-D kernel) or "sep" (separable)
    k: int

    def describe(self) -> str:
        what = "full 2-D kernel" if self.kind == "blur" else "separable, two 1-D passes"
        return f"{self.k}x{self.k} Gaussian, {what}, reflect border, {PHOTO_SHAPE} float32"


IMAGE_WORKLOADS = [
    ImageWorkload("blur 3x3", "blur", 3),
    ImageWorkload("blur 7x7", "blur", 7),
    ImageWorkload("sep gauss 7", "sep", 7),
    ImageWorkload("sep gauss 11", "sep", 11),
]


def image_implementations(wl: ImageWorkload, photo: np.ndarray) -> Dict[str, Callable]:
    """{label: call} for one workload; fastconv's first, peers that are missing left out."""
    import scipy.ndimage

    import fastconv

    g = gaussian_taps(wl.k)
    k2d = np.multiply.outer(g, g)
    depthwise = np.ascontiguousarray(np.repeat(k2d[:, :, None, None], 3, axis=3))
    cv2 = cv2_module()
    impls: Dict[str, Callable] = {}
    if wl.kind == "blur":
        impls["fastconv.conv2d"] = lambda: fastconv.conv2d(
            photo, depthwise, padding="same", pad_mode="reflect", groups=3)
        if cv2 is not None:
            impls["cv2.filter2D"] = lambda: cv2.filter2D(
                photo, -1, k2d, borderType=cv2.BORDER_REFLECT_101)
        impls["scipy.ndimage.correlate"] = lambda: scipy.ndimage.correlate(
            photo, k2d[:, :, None], mode="mirror")
    else:
        impls["fastconv.sep_conv2d"] = lambda: fastconv.sep_conv2d(
            photo, g, g, padding="same", pad_mode="reflect")
        if cv2 is not None:
            impls["cv2.sepFilter2D"] = lambda: cv2.sepFilter2D(
                photo, -1, g, g, borderType=cv2.BORDER_REFLECT_101)
        impls["fastconv.conv2d outer product"] = lambda: fastconv.conv2d(
            photo, depthwise, padding="same", pad_mode="reflect", groups=3)
        impls["scipy.ndimage.correlate1d x2"] = lambda: scipy.ndimage.correlate1d(
            scipy.ndimage.correlate1d(photo, g, axis=0, mode="mirror"), g, axis=1,
            mode="mirror")
    return impls


def run_image_workload(wl: ImageWorkload, rounds: int = 5, min_sample: float = 0.05,
                       seed: int = 0) -> dict:
    """Check every implementation against fastconv's result, then time them interleaved."""
    photo = np.random.default_rng(seed).random(PHOTO_SHAPE, dtype=np.float32)
    impls = image_implementations(wl, photo)
    expected = np.asarray(next(iter(impls.values()))())
    entries: List[Timed] = []
    rows = []
    for label, fn in impls.items():
        got = np.asarray(fn())
        agrees = bool(got.shape == expected.shape and np.allclose(got, expected, atol=1e-5))
        one = best_time(fn, 2)
        entries.append(Timed(fn, calls_per_sample(min_sample, one)))
        rows.append({"label": label, "agrees": agrees})
    load = time_interleaved(entries, rounds)
    ours = float(np.median(entries[0].samples))
    for row, entry in zip(rows, entries):
        row["ms"] = 1e3 * float(np.median(entry.samples))
        row["speedup_vs_this"] = float(np.median(entry.samples)) / ours
    return {"name": wl.name, "describe": wl.describe(), "impls": rows, "other_load": load}


def format_image_workload(res: dict) -> str:
    lines = [f"{res['name']}: {res['describe']}"]
    for i, r in enumerate(res["impls"]):
        ratio = "" if i == 0 else f"  speed-up of fastconv {r['speedup_vs_this']:.2f}x"
        agree = "" if r["agrees"] else "  RESULT DISAGREES"
        lines.append(f"  {r['label']:<32} {r['ms']:9.2f} ms{ratio}{agree}")
    if res.get("other_load") is not None:
        lines.append(f"  (other processes used {res['other_load']:.0%} of the CPUs meanwhile)")
    return "\n".join(lines)


def select_image_workloads(only: Optional[str] = None) -> List[ImageWorkload]:
    if not only:
        return list(IMAGE_WORKLOADS)
    keys = [s.strip() for s in only.split(",") if s.strip()]
    return [wl for wl in IMAGE_WORKLOADS if any(k in wl.name for k in keys)]

"""What a user of fastconv writes, type-checked as a user would check it.

``.ci/typecheck`` runs ``mypy --strict`` on this file against the *installed* fastconv
(from outside the checkout, ignoring the project's mypy config), then runs it with
Python: every statement outside ``_rejected`` is working usage.

``_rejected`` holds misuse the annotations must refuse. Each line carries the
``# type: ignore[code]`` it needs; --strict includes --warn-unused-ignores, so if an
annotation ever stops refusing one (say it decays to Any) mypy fails the run.
"""
from __future__ import annotations

import contextlib
import io
import sys
from typing import Any, Callable

import numpy as np
import numpy.typing as npt

import fastconv

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

rng = np.random.default_rng(0)

# The course's 512x512 grayscale image through a 3x3 Conv2D: NHWC float32, stride (2, 1),
# TensorFlow's "same" padding.
image: npt.NDArray[np.float32] = rng.random((1, 512, 512, 1), dtype=np.float32)
blur = np.full((3, 3, 1, 1), 1 / 9, dtype=np.float32)
bias = np.zeros(1, dtype=np.float32)

y = fastconv.conv2d(image, blur, bias, stride=(2, 1), padding="same")
assert_type(y, npt.NDArray[Any])
assert y.shape == (1, 256, 512, 1) and y.dtype == np.float32
y32: npt.NDArray[np.float32] = y  # the result assigns to a precise array type

# Checked against the plain-loop reference (on a corner: it loops in Python).
corner = image[:, :16, :16, :]
expected = fastconv.reference.conv2d(corner, blur, bias, stride=(2, 1), padding="same")
assert_type(expected, npt.NDArray[Any])
np.testing.assert_allclose(fastconv.conv2d(corner, blur, bias, stride=(2, 1), padding="same"),
                           expected, rtol=1e-5, atol=1e-6)
np.testing.assert_allclose(fastconv.max_pool2d(corner, 2),
                           fastconv.reference.max_pool2d(corner, 2))

# Each padding spelling, dilation, groups and method.
fastconv.conv2d(image, blur, stride=1, padding="valid", dilation=(2, 2), groups=1,
                method="im2col")
fastconv.conv2d(image, blur, padding=1, method="direct")
fastconv.conv2d(image, blur, padding=(1, 0))
fastconv.conv2d(image, blur, padding=((1, 1), (0, 2)))
fastconv.conv2d(image[0], blur)  # unbatched (H, W, C) input
fastconv.conv2d(image.tolist(), blur.tolist())  # any array_like

# out= (returned) and workers=.
out = np.empty((1, 510, 510, 1), dtype=np.float32)
assert fastconv.conv2d(image, blur, out=out, workers=2) is out
fastconv.conv2d(image, blur, workers=-1)
fastconv.conv2d(image, blur, workers=None)

# Pooling.
pooled = fastconv.max_pool2d(y, 2)
assert_type(pooled, npt.NDArray[Any])
assert pooled.shape == (1, 128, 256, 1)
fastconv.max_pool2d(y, (3, 3), stride=2, padding="same", workers=1)
pool_out = np.empty((1, 128, 256, 1), dtype=np.float32)
assert fastconv.avg_pool2d(y, pool_size=2, stride=(2, 2), out=pool_out) is pool_out

# The numpy / scipy drop-ins.
signal_1d = rng.random(10_000)
taps = np.hanning(31)
smooth = fastconv.convolve(signal_1d, taps, mode="same")
assert_type(smooth, npt.NDArray[Any])
fastconv.correlate([1.0, 2.0, 3.0], [0.0, 1.0, 0.5])
fastconv.correlate(signal_1d, taps, "full")
photo = image[0, :, :, 0]
sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
edges = fastconv.correlate2d(photo, sobel, mode="same", boundary="symm")
assert_type(edges, npt.NDArray[Any])
fastconv.convolve2d(photo, np.ones((2, 2)), "valid", "fill", 0.5)

# Threads and configuration.
previous = fastconv.get_num_threads()
assert_type(previous, int)
fastconv.set_num_threads(2)
fastconv.set_num_threads(None)
fastconv.set_num_threads(previous)
assert_type(fastconv.__version__, str)
with contextlib.redirect_stdout(io.StringIO()):
    fastconv.show_config()


def _rejected() -> None:
    """Misuse mypy must refuse (never run)."""
    fastconv.conv2d(image, blur, stride="2")  # type: ignore[arg-type]
    fastconv.conv2d(image, blur, stride=(2, 1, 1))  # type: ignore[arg-type]
    fastconv.conv2d(image, blur, padding=1.5)  # type: ignore[arg-type]
    fastconv.conv2d(image, blur, workers="4")  # type: ignore[arg-type]
    fastconv.conv2d(image, blur, out=[0.0])  # type: ignore[arg-type]
    fastconv.max_pool2d(image, pool_size=(2, 2, 2))  # type: ignore[arg-type]
    fastconv.set_num_threads("4")  # type: ignore[arg-type]
    threads: str = fastconv.get_num_threads()  # type: ignore[assignment]
    text: str = fastconv.conv2d(image, blur)  # type: ignore[assignment]
    # stride and the rest are keyword-only. (Checked through assignment: a call with
    # too many positional arguments is [misc] before mypy 2.2 and [call-arg] after.)
    conv_4_positional: Callable[[Any, Any, Any, Any], Any]
    conv_4_positional = fastconv.conv2d  # type: ignore[assignment]
    pool_3_positional: Callable[[Any, Any, Any], Any]
    pool_3_positional = fastconv.avg_pool2d  # type: ignore[assignment]
    del threads, text, conv_4_positional, pool_3_positional


print("user_script: ok")

"""``python -m fastconv.bench --calibrate``: measure the drop-ins' cost-model constants.

fastconv.convolve / correlate2d choose between NumPy, a direct kernel and an FFT by a
cost model whose constants (seconds per multiply-add, per n log2 n, ...) were measured
on one machine. This re-measures them here, one thread at a time, and prints them as
Python to paste into the module that holds them. It changes nothing itself.

The constants and engines are private (``fastconv._signal.cost`` and ``.engines``, once
``fastconv.signal``): :mod:`fastconv.bench._internals` finds them when calibrating.
"""
import math
import os
import sys

import numpy as np

from ._internals import cost_constant, signal_engines
from .timing import best_time, set_threads

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# How the model's dicts name the dtypes (after the module's prefix, like the constants).
_DTYPE_NAMES = {"float32": "F32", "float64": "F64"}
# Constants the model spells as 1 / (multiply-adds per second).
_RECIPROCAL = ("DIRECT_SEC_PER_MAC", "DIRECT2D_SEC_PER_MAC")


def _direct_1d_rate(dtype, rng):
    correlate1d, _ = signal_engines()
    rates = []
    for n, k in [(10**6, 16), (10**6, 31), (5 * 10**5, 64), (2 * 10**5, 301)]:
        x, w = rng.standard_normal(n).astype(dtype), rng.standard_normal(k).astype(dtype)
        t = best_time(lambda: correlate1d(x, w, 0, n - k + 1, "direct"), 7)
        rates.append((n - k + 1) * k / t)
    return float(np.median(rates))


def _direct_2d_rate(dtype, rng):
    _, direct_correlate2d = signal_engines()
    rates = []
    # Kernels around the crossover with the FFT, where the rate decides.
    for n, k in [(512, 7), (512, 11), (1024, 15), (1024, 21)]:
        x = rng.standard_normal((n, n)).astype(dtype)
        w = rng.standard_normal((k, k)).astype(dtype)
        t = best_time(lambda: direct_correlate2d(x, w), 7)
        rates.append(n * n * k * k / t)
    return float(np.median(rates))


def _fft_cost(dtype, rng):
    correlate1d, _ = signal_engines()
    overhead = cost_constant("FFT_OVERHEAD")[0]
    costs = []
    for n, k, nfft in [(10**6, 31, 1024), (10**6, 301, 2048), (10**6, 3001, 16384)]:
        x, w = rng.standard_normal(n).astype(dtype), rng.standard_normal(k).astype(dtype)
        t = best_time(lambda: correlate1d(x, w, 0, n - k + 1, "fft", (nfft,)), 5)
        frames = -(-(n - k + 1) // (nfft - k + 1))
        costs.append((t - overhead) / (frames * nfft * math.log2(nfft)))
    return float(np.median(costs))


def _numpy_costs(dtype, rng):
    """NumPy's seconds per multiply-add for short and for long kernels."""
    overhead = cost_constant("NUMPY_OVERHEAD")[0]
    result = []
    for shapes, calls in (([(10**4, 3), (10**5, 3), (10**5, 16)], 20),
                          ([(10**5, 100), (10**5, 1000)], 10)):
        costs = []
        for n, k in shapes:
            x, w = rng.standard_normal(n).astype(dtype), rng.standard_normal(k).astype(dtype)
            t = best_time(lambda: np.correlate(x, w), calls)
            costs.append((t - overhead) / ((n - k + 1) * k))
        result.append(float(np.median(costs)))
    return tuple(result)


def measure(seed: int = 0) -> dict:
    """The cost-model constants measured on this machine, one thread:
    {constant name: {dtype name: value}}. Sets every thread count to 1."""
    limits = set_threads(1)  # noqa: F841  (BLAS stays at one thread while measuring)
    rng = np.random.default_rng(seed)
    fitted = {"DIRECT_SEC_PER_MAC": {}, "DIRECT2D_SEC_PER_MAC": {},
              "FFT_SEC_PER_NLOGN": {}, "NUMPY_SEC_PER_MAC": {}}
    for dtype in _DTYPES:
        fitted["DIRECT_SEC_PER_MAC"][dtype.name] = 1 / _direct_1d_rate(dtype, rng)
        fitted["DIRECT2D_SEC_PER_MAC"][dtype.name] = 1 / _direct_2d_rate(dtype, rng)
        fitted["FFT_SEC_PER_NLOGN"][dtype.name] = _fft_cost(dtype, rng)
        fitted["NUMPY_SEC_PER_MAC"][dtype.name] = _numpy_costs(dtype, rng)
    return fitted


def _python_value(name, value):
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.3g}" for v in value) + ")"
    return f"1 / {1 / value:.3g}" if name in _RECIPROCAL else f"{value:.3g}"


def _python_dict(name, by_dtype, prefix):
    cells = ", ".join(f"{prefix}{_DTYPE_NAMES[np.dtype(d).name]}: {_python_value(name, v)}"
                      for d, v in by_dtype.items())
    return "{" + cells + "}"


def _source_path(module_name):
    """fastconv/_signal/cost.py for fastconv._signal.cost: where to paste."""
    path = getattr(sys.modules.get(module_name), "__file__", None)
    if not path:
        return module_name
    path = os.path.abspath(path)
    root = os.path.dirname(path)
    for _ in range(module_name.count(".") + path.endswith("__init__.py")):
        root = os.path.dirname(root)
    return os.path.relpath(path, root)


def format_constants(fitted: dict) -> str:
    """The fitted constants as Python lines, each with the file that holds it today and
    its value there, for pasting over it."""
    lines = []
    for name, by_dtype in fitted.items():
        try:
            current, module, prefix = cost_constant(name)
            where = f"{_source_path(module)} ({module})"
        except LookupError:
            current, where, prefix = None, "not found in fastconv", ""
        now = (f"; now {_python_dict(name, current, prefix)}" if isinstance(current, dict)
               else "")
        lines.append(f"# {where}{now}")
        lines.append(f"{prefix}{name} = {_python_dict(name, by_dtype, prefix)}")
    return "\n".join(lines)


def main(out=sys.stdout) -> int:
    """Measure the constants and print them; returns 0."""
    print("Calibrating fastconv.convolve / correlate2d's cost model (one thread; "
          "seconds; fitted on this machine). Paste the lines into the module named:",
          file=out, flush=True)
    print(format_constants(measure()), file=out)
    return 0

"""Every private fastconv name the benchmark uses, imported here and nowhere else.

fastconv's internals were reorganised: ``fastconv._shapes`` became ``fastconv._geometry``
(+ ``fastconv._validate.positive_pair``), ``conv._choose_method`` gave way to
``fastconv._plan.conv2d_plan``, and the drop-ins' engines and cost model moved from
``fastconv.signal`` (``_correlate1d``, ``_DIRECT_SEC_PER_MAC``, ...) to
``fastconv._signal.engines`` and ``fastconv._signal.cost`` (``DIRECT_SEC_PER_MAC``, ...).
Each helper tries the new home first and falls back to the old one, so the benchmark
runs on either side of that change. Imports happen inside the functions: importing the
bench never imports private modules.
"""
import dataclasses
import importlib

import numpy as np


def geometry():
    """(positive_pair, window_geometry, effective_kernel) from fastconv's shape arithmetic."""
    try:
        from fastconv._geometry import effective_kernel, window_geometry
        from fastconv._validate import positive_pair
    except ImportError:
        from fastconv._shapes import effective_kernel, positive_pair, window_geometry
    return positive_pair, window_geometry, effective_kernel


def auto_method(workload, dtype):
    """The kernel ("direct" or "im2col") conv2d's method="auto" runs for a conv workload."""
    try:
        from fastconv._plan import conv2d_plan
    except ImportError:
        from fastconv.conv import _choose_method

        kh, kw, cin_per_group, c_out = workload.w_shape
        return _choose_method("auto", kh * kw * cin_per_group, workload.x_shape[3], c_out,
                              workload.groups)
    return conv2d_plan(workload.x_shape, workload.w_shape, workload.out_shape[1:3],
                       np.dtype(dtype), groups=workload.groups).method


def fma_probe():
    """fastconv's FMA throughput probe (``probe.fma_gflops(n_threads=)``), or None."""
    try:
        from fastconv._dispatch import probe
    except Exception:  # a build without the probe
        return None
    return probe


def build_config():
    """fastconv's build facts as a dict (``_info.config()``), or show_config()'s text."""
    try:
        from fastconv import _info

        return _info.config()
    except Exception:
        import contextlib
        import io

        import fastconv

        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            try:
                fastconv.show_config()
            except Exception:
                pass
        return text.getvalue()


# Where the drop-ins' cost-model constants live, and how they are spelled there: the
# module, and the prefix of every name in it (the dtype keys F32/F64 included).
COST_MODEL_PLACES = (("fastconv._signal.cost", ""), ("fastconv.signal", "_"))


def cost_constant(name):
    """(value, module name, prefix) of the cost-model constant ``name`` (spelled without
    prefix, e.g. "DIRECT_SEC_PER_MAC"), from the first place that has it."""
    for module_name, prefix in COST_MODEL_PLACES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, prefix + name):
            return getattr(module, prefix + name), module_name, prefix
    raise LookupError(f"{name} is in none of {', '.join(m for m, _ in COST_MODEL_PLACES)}")


def signal_engines():
    """Two calls into the drop-ins' engines, forcing an engine, for the calibration:
    ``correlate1d(x, w, n_left, length, engine, nfft=None)`` (engine "direct" or "fft",
    nfft a 1-tuple) and ``direct_correlate2d(image, kernel)`` (SciPy's correlate2d,
    "same" mode, zero fill, on the direct engine)."""
    try:
        from fastconv._geometry import SAME
        from fastconv._signal import engines
        from fastconv._signal.border import FILL
        from fastconv._signal.policy import DEFAULT
    except ImportError:
        from fastconv import signal

        def correlate1d(x, w, n_left, length, engine, nfft=None):
            return signal._correlate1d(x, w, n_left, length, engine, nfft)

        def direct_correlate2d(image, kernel):
            return signal._scipy_correlate2d(image, kernel, signal._SAME, signal._FILL,
                                             image.dtype.type(0), False, "direct")
        return correlate1d, direct_correlate2d

    direct_2d = dataclasses.replace(DEFAULT, engine_2d="direct")

    def correlate1d(x, w, n_left, length, engine, nfft=None):
        return engines.correlate1d(x, w, n_left, length, DEFAULT, (engine, nfft))

    def direct_correlate2d(image, kernel):
        return engines.scipy_correlate2d(image, kernel, SAME, FILL, image.dtype.type(0),
                                         False, direct_2d)
    return correlate1d, direct_correlate2d

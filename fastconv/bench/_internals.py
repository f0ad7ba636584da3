"""Every private fastconv name the benchmark uses, imported here and nowhere else.

Imports happen inside the functions: importing the bench never imports private modules.
"""
import contextlib
import dataclasses
import io

import numpy as np


def geometry():
    """(positive_pair, window_geometry, effective_kernel) from fastconv's shape arithmetic."""
    from fastconv._geometry import effective_kernel, window_geometry
    from fastconv._validate import positive_pair

    return positive_pair, window_geometry, effective_kernel


def auto_method(workload, dtype):
    """The kernel ("direct" or "im2col") conv2d's method="auto" runs for a conv workload."""
    from fastconv._plan import conv2d_plan

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
        import fastconv

        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            with contextlib.suppress(Exception):
                fastconv.show_config()
        return text.getvalue()


def library_owner(filepath):
    """The installed package a shared library came with (numpy, scipy, torch, ...), or ''."""
    from fastconv._info import library_owner as owner

    return owner(filepath)


def cost_constant(name):
    """(value, module name, prefix) of the cost-model constant ``name`` (e.g.
    "DIRECT_SEC_PER_MAC")."""
    from fastconv._signal import cost

    return getattr(cost, name), cost.__name__, ""


def signal_engines():
    """Two calls into the drop-ins' engines, forcing an engine, for the calibration:
    ``correlate1d(x, w, n_left, length, engine, nfft=None)`` (engine "direct" or "fft",
    nfft a 1-tuple) and ``direct_correlate2d(image, kernel)`` (SciPy's correlate2d,
    "same" mode, zero fill, on the direct engine)."""
    from fastconv._geometry import SAME
    from fastconv._signal import engines
    from fastconv._signal.border import FILL
    from fastconv._signal.policy import DEFAULT

    direct_2d = dataclasses.replace(DEFAULT, engine_2d="direct")

    def correlate1d(x, w, n_left, length, engine, nfft=None):
        return engines.correlate1d(x, w, n_left, length, DEFAULT, (engine, nfft))

    def direct_correlate2d(image, kernel):
        return engines.scipy_correlate2d(image, kernel, SAME, FILL, image.dtype.type(0),
                                         False, direct_2d)
    return correlate1d, direct_correlate2d

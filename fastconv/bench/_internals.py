"""Every private fastconv name the benchmark uses, imported here and nowhere else.

fastconv's internals are being reorganised: ``fastconv._shapes`` becomes
``fastconv._geometry`` (+ ``fastconv._validate.positive_pair``), ``conv._choose_method``
gives way to ``fastconv._plan.conv2d_plan``, and the drop-ins' cost model moves from
``fastconv.signal`` to ``fastconv._signal.cost``. Each helper tries the new home first
and falls back to the old one, so the benchmark runs on either side of that change.
Imports happen inside the functions: importing the bench never imports private modules.
"""
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
    plan = conv2d_plan(workload.x_shape, workload.w_shape, np.dtype(dtype),
                       stride=workload.stride_hw, padding=workload.padding,
                       dilation=workload.dilation, groups=workload.groups)
    return plan.method


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


# Where the drop-ins' cost model and kernels entry points live, newest layout first.
SIGNAL_COST_MODULES = ("fastconv._signal.cost", "fastconv._signal", "fastconv.signal")


def signal_internal(name):
    """(value, module name) of a private name of the drop-ins, from the first module that has it."""
    for module_name in SIGNAL_COST_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name), module_name
    raise LookupError(f"{name} is in none of {', '.join(SIGNAL_COST_MODULES)}")

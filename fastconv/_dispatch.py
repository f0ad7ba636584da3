"""Pick, once at import, the SIMD build of each loop-nest kernel module.

setup.py compiles ``_direct``, ``_grad``, ``_pool`` and ``_probe`` for the baseline target and again
as ``_direct_avx2``/``_direct_avx512`` (and so on). The widest build this CPU
runs is used. ``FASTCONV_SIMD=baseline|avx2|avx512`` caps the choice, for
testing each path or working around a CPU quirk.
"""
from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Optional

from . import _config

LEVELS = ("avx512", "avx2", "baseline")  # widest first


def _cap() -> str:
    if _config.debug_build():
        # The debug build compiles only the baseline modules, with bounds checks; a SIMD
        # module left over from an earlier release install must never stand in for them.
        return "baseline"
    wanted = os.environ.get("FASTCONV_SIMD", "").strip().lower()
    if wanted and wanted not in LEVELS:
        warnings.warn(f"FASTCONV_SIMD={wanted!r} is not one of {LEVELS}; ignoring it")
        return LEVELS[0]
    return wanted or LEVELS[0]


def variants(name: str) -> dict[str, ModuleType]:
    """{level: module} for every build of kernel module ``name`` this CPU can run."""
    found = {}
    for level in LEVELS:
        if not _config.cpu_supports(level):
            continue
        module_name = f"fastconv.{name}" if level == "baseline" else f"fastconv.{name}_{level}"
        try:
            found[level] = importlib.import_module(module_name)
        except ImportError:
            continue  # not built (non-x86 machine, old compiler or debug build)
    return found


def _select(name: str) -> tuple[str, ModuleType]:
    available = variants(name)
    for level in LEVELS[LEVELS.index(_cap()):]:
        if level in available:
            return level, available[level]
    raise ImportError(f"no build of fastconv.{name} is importable")


def build(name: str, level: Optional[str] = None) -> tuple[str, ModuleType]:
    """(level, module): the build of kernel module ``name`` chosen at import, or the one
    for ``level`` when given (the tests run every build through the public functions)."""
    if level is None:
        return _CHOSEN[name]
    available = variants(name)
    if level not in available:
        raise ValueError(f"no {level!r} build of fastconv.{name} runs here; "
                         f"available: {sorted(available)}")
    return level, available[level]


_CHOSEN = {name: _select(name) for name in ("_direct", "_grad", "_pool", "_probe", "_separable")}
SIMD_LEVEL = _CHOSEN["_direct"][0]
probe = _CHOSEN["_probe"][1]

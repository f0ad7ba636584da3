"""show_config(): how this fastconv was built and what it will run on."""
from __future__ import annotations

import os
import platform
from typing import Any

from . import _config, _dispatch
from ._threads import get_num_threads
from ._version import __version__


def _runtime_cpu_features() -> list[str]:
    import importlib

    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:  # NumPy's own CPU dispatch probe; private, so optional.
            __cpu_features__: dict[str, bool] = importlib.import_module(name).__cpu_features__
            break
        except ImportError:
            continue
    else:
        return []
    wanted = ("SSE2", "AVX", "AVX2", "FMA3", "AVX512F", "AVX512_SKX", "ASIMD")
    return [name for name in wanted if __cpu_features__.get(name)]


def library_owner(filepath: str) -> str:
    """The installed package a shared library came with (numpy, scipy, torch, ...), or ''."""
    parts = (filepath or "").replace(os.sep, "/").split("/")
    for marker in ("site-packages", "dist-packages"):
        if marker in parts and parts.index(marker) + 1 < len(parts):
            top = parts[parts.index(marker) + 1]
            return top[:-5] if top.endswith(".libs") else top
    return ""


def config() -> dict[str, Any]:
    """The facts show_config() prints, as a dict."""
    from ._blas_threads import blas_info

    return {
        "version": __version__,
        "compiler": _config.compiler(),
        "simd_baseline": _config.simd_baseline(),
        "simd_kernels": _dispatch.SIMD_LEVEL,
        "cpu_features": _runtime_cpu_features(),
        "openmp": _config.openmp_enabled(),
        "num_threads": get_num_threads(),
        "debug_build": _config.debug_build(),
        "machine": platform.machine(),
        "blas": [
            {**{k: info.get(k) for k in ("internal_api", "version", "architecture",
                                         "num_threads", "filepath")},
             "owner": library_owner(info.get("filepath") or "")}
            for info in blas_info()
        ],
    }


def show_config() -> None:
    """Print fastconv's version, compiler, SIMD levels, OpenMP, threads and BLAS libraries.

    Each BLAS line names the package that shipped the library: fastconv's im2col
    kernels call scipy's (through ``scipy.linalg.cython_blas``); NumPy may load its own.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.show_config()  # doctest: +ELLIPSIS
    fastconv ...
      compiler: ...
    """
    c = config()
    print(f"fastconv {c['version']}")
    print(f"  compiler:          {c['compiler']}")
    print(f"  SIMD (build):      {' '.join(c['simd_baseline']) or 'none'}")
    print(f"  SIMD (this CPU):   {' '.join(c['cpu_features']) or 'unknown'}")
    print(f"  SIMD (kernels):    {c['simd_kernels']} (chosen at import; FASTCONV_SIMD caps it)")
    print(f"  OpenMP:            {'yes' if c['openmp'] else 'no'}")
    print(f"  threads:           {c['num_threads']}")
    print(f"  debug build:       {'yes' if c['debug_build'] else 'no'}")
    for b in c["blas"]:
        owner = b["owner"] or "unknown package"
        role = ", used by fastconv's im2col" if b["owner"] == "scipy" else ""
        print(f"  BLAS ({owner}{role}): {b['internal_api']} {b['version']} "
              f"kernel={b['architecture']} threads={b['num_threads']} "
              f"[{os.path.basename(b['filepath'] or '')}]")

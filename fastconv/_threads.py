"""The default thread count: the one piece of state fastconv keeps.

Semantics follow scikit-learn's ``_openmp_effective_n_threads`` and scipy.fft's
``workers``: None means the global setting (``set_num_threads``, else OpenMP's
default, which honours OMP_NUM_THREADS); a positive n means n; -1 means all cores.
How many of them one call uses is the plan's business (``_plan.threads_for``).
"""
from __future__ import annotations

import threading
from typing import Optional

from . import _config
from ._validate import thread_count

_lock = threading.Lock()
_global_threads: Optional[int] = None  # None: OpenMP's default


def get_num_threads() -> int:
    """The number of threads fastconv's kernels use when a call does not say.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.get_num_threads() >= 1
    True
    """
    return _global_threads if _global_threads is not None else _config.omp_max_threads()


def set_num_threads(n: Optional[int]) -> None:
    """Set the default thread count for all later calls.

    Parameters
    ----------
    n : int or None
        A positive count, -1 for every core this process may use, or None to go
        back to OpenMP's default (which honours ``OMP_NUM_THREADS``).

    Examples
    --------
    >>> import fastconv
    >>> fastconv.set_num_threads(1)
    >>> fastconv.get_num_threads()
    1
    >>> fastconv.set_num_threads(None)   # back to OpenMP's default
    """
    global _global_threads
    with _lock:
        _global_threads = None if n is None else thread_count(n, "n")


def global_setting() -> Optional[int]:
    """The value set by ``set_num_threads`` (None: OpenMP's default), for save/restore."""
    return _global_threads

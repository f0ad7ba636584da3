"""Keep BLAS single-threaded while fastconv's own OpenMP threads call it.

BLAS threads inside OpenMP threads oversubscribe the cores; scikit-learn wraps
such drivers in ``threadpool_limits(limits=1, user_api="blas")``. The limit is
process-wide, so calls from several Python threads share one limit, counted:
the first call in sets it, the last call out restores the user's setting.
(Nested ``threadpool_limits`` blocks from two threads would otherwise restore
in the wrong order and leave BLAS stuck at one thread.)
"""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional

_lock = threading.Lock()
_controller: Any = None
_active_calls = 0
_limiter: Optional[Any] = None


def _get_controller() -> Any:
    global _controller
    with _lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        return _controller


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    global _active_calls, _limiter
    controller = _get_controller()
    with _lock:
        if _active_calls == 0:
            _limiter = controller.limit(limits=1, user_api="blas")
        _active_calls += 1
    try:
        yield
    finally:
        with _lock:
            _active_calls -= 1
            if _active_calls == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None


def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's description of each BLAS loaded in this process."""
    return [info for info in _get_controller().info() if info.get("user_api") == "blas"]

"""The free choices of one drop-in call, made explicit.

The public functions use ``DEFAULT``. Tests and the benchmark pass another policy to
the internal entry points (``fastconv.signal.with_policy``) to force an engine or a
threshold, instead of patching module globals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from .._threads import get_num_threads


@dataclass(frozen=True)
class Policy:
    # Tiny problems go to NumPy's/SciPy's own C loop, whose call overhead (1-3 us) is
    # below that of any kernel call from Python (~15 us). False: always fastconv.
    delegate_small: bool = True
    # Force an engine: 1-D "numpy" | "direct" | "fft" | "fft1"; 2-D "direct" | "fft".
    # None lets the cost model choose. The FFT still yields to direct on non-finite data.
    engine_1d: Optional[str] = None
    engine_2d: Optional[str] = None
    nfft: Optional[Tuple[int, ...]] = None     # force the FFT's frame shape
    threads: Optional[int] = None              # None: fastconv.get_num_threads()
    # Multiply-adds per thread below which a thread team costs more than it saves; and
    # the shortest 1-D kernel for which cutting the signal into one row per thread (a
    # copy) pays. conv2d splits work by output rows only, so a 1-D signal is one row.
    split_min_macs: int = 1 << 18
    split_min_taps: int = 16
    # Spectra transformed per batch of frames: small enough to stay in cache.
    fft_batch_bytes: int = 4 << 20
    # Images from this size on get a non-zero fill computed in border strips (5 conv2d
    # calls) instead of as a whole extended copy. (symm and wrap need neither: conv2d's
    # kernel reads them in place.)
    strips_min_pixels: int = 1 << 21

    def thread_count(self) -> int:
        return get_num_threads() if self.threads is None else self.threads


DEFAULT = Policy()

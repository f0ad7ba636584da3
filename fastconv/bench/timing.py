"""How the benchmark times: one thread setting, one CPU-load meter, one interleaved timer.

The timer (:func:`time_interleaved`) runs every implementation of a workload in the same
process, round-robin: A B C, then B C A, then C A B, ... Each round starts one place
later, so that over the rounds every implementation takes every position equally often
and none always runs first after the pause between rounds, or always last; a change in
the machine's load hits all of them alike. The tables report medians over the rounds.

Each sample is one batch of calls long enough to measure (timeit's autorange,
:func:`calls_per_sample`). Before each batch the timer sleeps ~20 ms and makes one
untimed call: OpenMP and OpenBLAS threads keep spinning for a while after a parallel
region, and on a two-core machine the previous implementation's spinning threads would
steal cores from the next one's first calls; the untimed call also takes the page faults
of memory the previous implementation freed.

Implementations too slow to time whole are timed on a slice of the problem and scaled
(:func:`fit_to_budget`).
"""
import dataclasses
import gc
import math
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from ._internals import fma_probe
from ._optional import cv2_module, torch_module

# The pause before each timed batch: long enough for OpenMP's and OpenBLAS's idle
# threads to stop spinning and go to sleep.
SETTLE_SECONDS = 0.02


def set_threads(n: int):
    """One thread count for everybody: fastconv, the BLAS libraries, PyTorch and OpenCV.

    Returns threadpoolctl's limiter (call ``restore_original_limits()`` to undo the BLAS
    part), or None without threadpoolctl. Keep it alive while timing.
    """
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, so threadpoolctl can limit it)

    import fastconv

    fastconv.set_num_threads(n)
    torch = torch_module()
    if torch is not None:
        torch.set_num_threads(n)
    cv2 = cv2_module()
    if cv2 is not None:
        cv2.setNumThreads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n, user_api="blas")


class CpuMeter:
    """How much of the machine other processes used between two readings (Linux only).

    The machines this runs on are small and shared: a compiler running beside the
    benchmark makes every threaded timing noisy. The tables say so.
    """

    def __init__(self):
        self.ncpu = os.cpu_count() or 1
        try:
            self.tick = os.sysconf("SC_CLK_TCK")
        except (AttributeError, ValueError, OSError):
            self.tick = None
        self.start = self._read()

    def _read(self):
        own = os.times()
        busy = None
        if self.tick:
            try:
                with open("/proc/stat") as f:
                    vals = [int(v) for v in f.readline().split()[1:9]]
                # user nice system idle iowait irq softirq steal: all but idle and iowait
                busy = (sum(vals) - vals[3] - vals[4]) / self.tick
            except (OSError, ValueError, IndexError):
                busy = None
        return time.perf_counter(), busy, own.user + own.system

    def other_load(self) -> Optional[float]:
        """Share of all CPUs (0..1) used by other processes (and the hypervisor) since start."""
        now = self._read()
        wall = now[0] - self.start[0]
        if now[1] is None or self.start[1] is None or wall <= 0:
            return None
        other = (now[1] - self.start[1]) - (now[2] - self.start[2])
        return max(0.0, min(1.0, other / (wall * self.ncpu)))


def other_load_now(seconds: float = 0.5) -> Optional[float]:
    """Share of the CPUs other processes use, measured over ``seconds`` of sleep."""
    meter = CpuMeter()
    time.sleep(seconds)
    return meter.other_load()


@dataclasses.dataclass
class Timed:
    """What the timer needs of one implementation: the call, calls per sample, and the
    samples (seconds per call) it appends. ``max_samples`` caps them (1: a slow peer
    timed once, in the first round)."""

    fn: Optional[Callable] = None
    number: int = 1
    max_samples: Optional[int] = None
    samples: List[float] = dataclasses.field(default_factory=list)


def time_batch(fn: Callable, number: int) -> float:
    """Seconds per call of ``number`` calls, after a settling pause and one untimed call."""
    time.sleep(SETTLE_SECONDS)
    fn()
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def time_interleaved(entries: List[Timed], rounds: int,
                     on_round: Optional[Callable[[int], None]] = None) -> Optional[float]:
    """Time the entries round-robin for ``rounds`` rounds, each round starting one place
    later; appends one sample per entry per round. Returns the share of the CPUs other
    processes used meanwhile (None where unknown). GC is off while timing."""
    gc.collect()
    meter = CpuMeter()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            if on_round is not None:
                on_round(r)
            active = [e for e in entries if e.fn is not None
                      and (e.max_samples is None or len(e.samples) < e.max_samples)]
            shift = r % max(1, len(active))
            for e in active[shift:] + active[:shift]:
                e.samples.append(time_batch(e.fn, e.number))
    finally:
        if gc_was_enabled:
            gc.enable()
    return meter.other_load()


def calls_per_sample(min_time: float, one_call: float) -> int:
    """Calls per sample so that a sample lasts at least ``min_time`` (timeit's autorange)."""
    return max(1, min(10000, math.ceil(min_time / max(one_call, 1e-7))))


def best_time(fn: Callable, calls: int = 3) -> float:
    """The shortest of ``calls`` timed calls, each prepared as :func:`time_batch` does:
    a rate, not a typical time (a call that lost its core to another process is dropped)."""
    return min(time_batch(fn, 1) for _ in range(calls))


def fastest(fns: Dict[str, Callable], calls: int = 3) -> Tuple[str, Callable]:
    """(key, callable) of the fastest of some equivalent callables (best of a few calls),
    for peers whose best way to call depends on the machine."""
    best = min(fns, key=lambda key: best_time(fns[key], calls))
    return best, fns[best]


def fit_to_budget(problem, impl, budget: float):
    """Run ``impl`` on ``problem``, or on the largest slice of it that fits ``budget`` seconds.

    Candidate slices halve one axis at a time, in the order of impl.slice_axes;
    the naive loop (``always_slice``) never runs whole. The smallest candidate
    is timed first (fastest of a few calls: the first may pay for imports and
    start-up); the cost per output element it shows picks the largest candidate
    predicted to fit, which is timed in turn, until the prediction settles.
    Returns (problem, fn, seconds of one call, result of that call).
    """
    n, oh, _, c = problem.out_shape
    current = {"n": n, "rows": oh, "channels": c}
    candidates = [dict(current)]
    for axis in impl.slice_axes:
        if axis == "channels" and not problem.can_slice_channels():
            continue
        while current[axis] > 1:
            current[axis] = max(1, current[axis] // 2)
            candidates.append(dict(current))
    if impl.always_slice and len(candidates) > 1:
        candidates = candidates[1:]

    def elements(i):
        s = candidates[i]
        return s["n"] * s["rows"] * s["channels"]

    def run(i):
        # The fastest of a few calls (while they fit the budget): a call that lost its
        # core to another process for a time slice must not set the slice size.
        s = candidates[i]
        sub = problem.sliced(s["n"], s["rows"], s["channels"]) if i or impl.always_slice \
            else problem
        fn = impl.setup(sub)
        times = []
        while len(times) < 5 and (not times or sum(times) + min(times) <= budget):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        return sub, fn, min(times), result

    last = len(candidates) - 1
    tried = {last: run(last)}
    index = last
    for _ in range(5):
        per_element = tried[index][2] / elements(index)
        fits = [i for i in range(len(candidates)) if per_element * elements(i) <= budget]
        nxt = min(fits) if fits else last
        if nxt in tried:
            break
        index = nxt
        tried[index] = run(index)
    # The largest slice that ran within the budget (with some slack), else the smallest.
    fitting = [i for i, v in tried.items() if v[2] <= 1.5 * budget]
    return tried[min(fitting) if fitting else max(tried)]


def measure_peak_gflops(threads: int, dtype=np.float32, seconds: float = 0.3):
    """This machine's multiply-add peak in GFLOP/s, from the FMA probe fastconv ships.

    The probe is float32. The peak is the larger of its best run on ``threads``
    threads and ``threads`` times its best run on one thread: on a shared machine a
    thread team often loses a core for a while, a single thread much less. float64 is
    taken as half (half the lanes per vector). None when this fastconv has no probe.
    """
    probe = fma_probe()
    if probe is None:
        return None

    def best_of(n):
        best, runs, t0 = 0.0, 0, time.perf_counter()
        while runs < 5 or time.perf_counter() - t0 < seconds:
            best = max(best, probe.fma_gflops(n_threads=n))
            runs += 1
        return best

    try:
        usable = min(threads, os.cpu_count() or threads)
        peak = max(best_of(threads), usable * best_of(1))
    except Exception:
        return None
    return peak / 2 if np.dtype(dtype) == np.float64 else peak

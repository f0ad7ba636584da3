"""One workload, start to end: set up every implementation, check it, time them all.

Each implementation is first run once (its warm-up) and its result checked against
fastconv's, so that a table never compares different computations (a disagreement is
flagged, not hidden); then all are timed together by :func:`timing.time_interleaved`.

``settings`` (a dict, as ``python -m fastconv.bench`` builds it):
rounds (interleaved rounds), min_sample (seconds a sample lasts at least),
slow_budget (seconds a conv/pool peer may take before it is timed on a slice),
slow_call (seconds a drop-in peer may take before it is timed once only),
seed, skip (substrings of implementation keys not to run).
"""
import dataclasses
import statistics
import time
from typing import Optional

import numpy as np

from ._internals import auto_method
from .checks import results_agree, signal_max_error
from .peers import (SIGNAL_BENCH_IMPLS_1D, SIGNAL_BENCH_IMPLS_2D, Impl, implementations,
                    signal_implementation, signal_label)
from .report import Progress
from .timing import Timed, calls_per_sample, fit_to_budget, time_interleaved
from .workloads import Problem, make_problem

# The drop-ins' agreement tolerance (relative to the largest value), by dtype.
_SIGNAL_TOLERANCE = {"float32": 1e-4, "float64": 1e-8}


def is_skipped(key, skip):
    """Whether ``--skip`` names this implementation (fastconv's reference never is)."""
    return key not in ("fastconv-auto", "fastconv") and any(s in key for s in skip)


def _failure(exc):
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:160]


@dataclasses.dataclass
class Entry(Timed):
    """One conv/pool implementation of one workload: what is timed and how it went."""

    impl: Optional[Impl] = None
    problem: Optional[Problem] = None
    ok: Optional[bool] = None
    check: str = ""
    error: str = ""

    @property
    def scaled(self):
        """Whether this was timed on a slice and scaled up."""
        return self.problem is not None and self.problem.fraction != 1.0


def _setup_entry(entry, problem, settings, progress, label):
    """Choose the problem (whole or a slice) and calls per sample; the result of one call."""
    impl = entry.impl
    try:
        sub, fn, first, result = fit_to_budget(problem, impl, settings["slow_budget"])
    except Exception as e:  # a peer that cannot do this workload
        entry.error = _failure(e)
        progress.warn(f"{label}: {impl.label} failed: {entry.error}")
        return None
    entry.fn, entry.problem = fn, sub
    entry.number = calls_per_sample(settings["min_sample"], first)
    return result


def run_workload(workload, dtype, settings, progress=None, label=""):
    """Set up, check and time every implementation of one conv/pool workload; a result dict."""
    progress = progress or Progress(False)
    problem = make_problem(workload, dtype, seed=settings.get("seed", 0))
    entries = [Entry(impl=impl) for impl in implementations(workload)]
    for e in entries:
        if e.impl.unavailable:
            e.error = e.impl.unavailable
        elif is_skipped(e.impl.key, settings.get("skip", ())):
            e.error = "skipped (--skip)"

    # Set up (this is also the warm-up call), fastconv auto first: it is the reference.
    expected = None
    for e in entries:
        if e.error:
            continue
        progress(f"{label} set-up: {e.impl.label}")
        result = _setup_entry(e, problem, settings, progress, label)
        if result is None:
            continue
        if e.impl.key == "fastconv-auto":
            expected = np.asarray(result)
            e.ok, e.check = True, "reference"
            continue
        if expected is None:
            e.ok, e.check = None, "fastconv auto failed: nothing to compare with"
            continue
        e.ok, e.check = results_agree(result, e.problem.expected_part(expected), workload)
        if not e.ok:
            who = ("fastconv auto disagrees with the reference loop (the oracle): "
                   "fastconv may be WRONG" if e.impl.key == "naive"
                   else f"{e.impl.label} disagrees with fastconv auto")
            progress.warn(f"{label}: {who} on {e.problem.slice_desc or 'the whole workload'}: "
                          f"{e.check}")
        del result

    rounds = settings["rounds"]
    load = time_interleaved(
        entries, rounds, lambda r: progress(f"{label} timing: round {r + 1}/{rounds}"))
    result = _summarize(workload, dtype, entries)
    result["other_cpu_load"] = load
    return result


def _summarize(workload, dtype, entries):
    itemsize = np.dtype(dtype).itemsize
    rows = []
    auto_time = None
    for e in entries:
        row = {"key": e.impl.key, "label": e.impl.label, "kind": e.impl.kind}
        if e.samples:
            med = statistics.median(e.samples)
            scaled = med / e.problem.fraction
            q = statistics.quantiles(e.samples, n=4) if len(e.samples) > 1 else [med] * 3
            row.update(
                time_s=scaled, time_ms=scaled * 1e3,
                measured_ms=med * 1e3, min_ms=min(e.samples) * 1e3 / e.problem.fraction,
                iqr_ms=(q[2] - q[0]) * 1e3 / e.problem.fraction,
                samples_ms=[s * 1e3 for s in e.samples], calls_per_sample=e.number,
                scaled=e.scaled, fraction=e.problem.fraction,
                slice=e.problem.slice_desc, agrees=e.ok, check=e.check,
            )
            if workload.is_conv:
                row["gflops"] = workload.flops / scaled / 1e9
            else:
                row["gbps"] = workload.nbytes(itemsize) / scaled / 1e9
            if e.impl.key == "fastconv-auto":
                auto_time = scaled
        else:
            row.update(error=e.error or "not run", agrees=e.ok, check=e.check)
        rows.append(row)
    for row in rows:
        if auto_time is not None and "time_s" in row:
            row["speedup_of_auto"] = row["time_s"] / auto_time
    fc = [r for r in rows if r["kind"] == "fastconv" and "time_s" in r]
    best = min(fc, key=lambda r: r["time_s"]) if fc else None
    # "auto" runs one of the other kernels; judge its choice by that kernel's own time.
    # (auto against the fastest of three noisy medians, one of them the same code as
    # auto, would read 5-15% slow on a noisy machine while choosing right.)
    auto_runs = auto_method(workload, dtype) if workload.is_conv else None
    chosen = next((r for r in fc if r["key"] == f"fastconv-{auto_runs}"), None)
    if chosen is None:
        chosen = next((r for r in fc if r["key"] == "fastconv-auto"), None)
    return {
        "name": workload.name,
        "description": workload.describe(),
        "workload": dataclasses.asdict(workload),
        "dtype": np.dtype(dtype).name,
        "out_shape": list(workload.out_shape),
        "gflop": None if workload.flops is None else workload.flops / 1e9,
        "mbytes": workload.nbytes(itemsize) / 1e6,
        "best_fastconv": None if best is None else best["key"],
        "auto_runs": auto_runs,
        "auto_vs_best": (None if best is None or chosen is None
                         else chosen["time_s"] / best["time_s"]),
        "impls": rows,
    }


def run_signal_workload(workload, dtype, settings, progress=None, label=""):
    """Check every drop-in peer against fastconv, then time them all interleaved; a result
    dict. A peer whose first call takes over ``settings["slow_call"]`` seconds is timed
    once (in the first round) and marked so."""
    progress = progress or Progress(False)
    dtype = np.dtype(dtype)
    x, k = workload.inputs(dtype, settings.get("seed", 0))
    keys = SIGNAL_BENCH_IMPLS_1D if workload.kind == "1d" else SIGNAL_BENCH_IMPLS_2D
    entries, timed = [], {}
    reference = None
    for key in keys:
        entry = {"key": key, "label": signal_label(workload, key)}
        entries.append(entry)
        fn = ("--skip" if is_skipped(key, settings.get("skip", ()))
              else signal_implementation(workload, key, x, k))
        if isinstance(fn, str):
            entry["skipped"] = fn
            continue
        progress(f"{label}: checking {entry['label']}")
        try:
            first, result = _one_call(fn)
        except Exception as exc:  # a peer that fails is reported, not fatal
            if key == "fastconv":
                raise
            entry["skipped"] = f"failed: {_failure(exc)}"
            progress.warn(f"{workload.name}: {entry['label']} failed: {exc}")
            continue
        if key == "fastconv":
            reference = np.asarray(result)
        else:
            entry["max_error"] = err = signal_max_error(result, reference)
            entry["agrees"] = bool(err < _SIGNAL_TOLERANCE[dtype.name])
            if not entry["agrees"]:
                progress.warn(f"{workload.name}: {entry['label']} disagrees with fastconv "
                              f"(max error {err:.2e} relative to the largest |value|)")
        del result
        slow = key != "fastconv" and first > settings["slow_call"]
        timed[key] = Timed(fn=fn, number=calls_per_sample(settings["min_sample"], first),
                           max_samples=1 if slow else None)

    rounds = settings["rounds"]
    time_interleaved(list(timed.values()), rounds,
                     lambda r: progress(f"{label}: timing round {r + 1}/{rounds}"))
    medians = {key: statistics.median(t.samples) for key, t in timed.items()}
    base = medians["fastconv"]
    for entry in entries:
        key = entry["key"]
        if key in medians:
            entry["ms"] = medians[key] * 1e3
            entry["rounds"] = len(timed[key].samples)
            entry["timed_once"] = timed[key].max_samples == 1
            entry["speedup"] = None if key == "fastconv" else medians[key] / base
    peers = [e for e in entries if e["key"] != "fastconv" and "ms" in e
             and e.get("agrees", True)]
    fastest = min(peers, key=lambda e: e["ms"]) if peers else None
    return {"name": workload.name, "kind": workload.kind,
            "input_shape": list(workload.in_shape), "kernel_shape": list(workload.k_shape),
            "mode": workload.mode, "boundary": workload.boundary, "dtype": dtype.name,
            "description": workload.describe(), "impls": entries,
            "fastest_peer": fastest["label"] if fastest else None,
            "speedup_vs_fastest_peer": fastest["ms"] / (base * 1e3) if fastest else None}


def _one_call(fn):
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result

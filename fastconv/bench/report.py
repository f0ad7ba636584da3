"""What the benchmark prints and writes: the header, the tables, the JSON file, the chart."""
import json
import math
import os
import platform
import sys
import time

import numpy as np

from ._internals import build_config, library_owner
from ._optional import cv2_module, torch_module

# Share of the machine used by other processes above which a timing is flagged as noisy.
BUSY = 0.10
# Environment variables that change thread counts or BLAS kernels: recorded with each run.
_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                    "OPENBLAS_L2_SIZE")


class Progress:
    """One status line on stderr, rewritten in place on a terminal, plain lines otherwise."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self._width = 0

    def __call__(self, msg, final=False):
        """Show ``msg`` as the status line; ``final`` ends the line."""
        if not self.enabled:
            return
        line = f"[{time.perf_counter() - self.t0:6.1f}s] {msg}"
        if self.tty:
            pad = max(0, self._width - len(line))
            sys.stderr.write("\r" + line + " " * pad + ("\n" if final else ""))
            self._width = 0 if final else len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def warn(self, msg):
        """Print a warning on its own line, below the status line."""
        if self.tty and self._width:
            sys.stderr.write("\n")
            self._width = 0
        sys.stderr.write(f"WARNING: {msg}\n")
        sys.stderr.flush()


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threadpool_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    try:
        return threadpool_info()
    except Exception:
        return None


def environment(threads=None):
    """Versions, thread counts and BLAS kernels, as a JSON-friendly dict."""
    import scipy
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so threadpoolctl sees it)

    import fastconv

    env = {
        "fastconv": getattr(fastconv, "__version__", "?"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": fastconv.get_num_threads() if threads is None else threads,
        "env": {k: os.environ.get(k) for k in _THREAD_ENV_VARS},
    }
    cfg = build_config()
    env["fastconv_config"] = ({k: v for k, v in cfg.items() if k != "blas"}
                              if isinstance(cfg, dict) else cfg)
    torch = torch_module()
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    cv2 = cv2_module()
    if cv2 is not None:
        env["opencv"] = cv2.__version__
        env["opencv_threads"] = cv2.getNumThreads()
    info = _threadpool_info()
    env["threadpool_info"] = info
    env["blas"] = [
        {k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                               "threading_layer", "filepath")}
        for i in (info or []) if i.get("user_api") == "blas"
    ]
    return env


def _threadpool_lines(env):
    """One line per threadpoolctl entry: the BLAS (and its kernel) or OpenMP runtime, its
    threads, and the package whose copy of the library it is (numpy, scipy, torch, ...)."""
    lines = []
    for entry in env["threadpool_info"] or []:
        path = entry.get("filepath")
        who = library_owner(path)
        where = f"({who + ': ' if who else ''}{os.path.basename(path or '')})"
        threads = f"{entry['num_threads']} thread{'' if entry['num_threads'] == 1 else 's'}"
        if entry.get("user_api") == "blas":
            lines.append(f"BLAS: {entry['internal_api']} {entry['version']}, kernel "
                         f"{entry['architecture']}, {threads} {where}")
        else:  # an OpenMP runtime: whose it is tells which library's threads these are
            api = {"openmp": "OpenMP"}.get(entry.get("user_api"), entry.get("user_api"))
            name = " ".join(str(v) for v in (entry.get("prefix") or entry.get("internal_api"),
                                             entry.get("version")) if v)
            lines.append(f"{api}: {name}, {threads} {where}")
    if not any(line.startswith("BLAS") for line in lines):
        lines.append("BLAS: unknown (threadpoolctl not installed)"
                     if env["threadpool_info"] is None else "BLAS: none loaded")
    return lines


def header_lines(env, dtype, settings):
    """The run's header: versions, CPU, threads, every BLAS/OpenMP library, the timing
    rules and the FMA peak."""
    cfg = env.get("fastconv_config")
    omp = cfg.get("openmp") if isinstance(cfg, dict) else None
    simd = "?"
    if isinstance(cfg, dict):
        simd = " ".join(cfg.get("simd_baseline") or []) or "none"
        if cfg.get("simd_kernels"):
            simd = f"{cfg['simd_kernels']} kernels (build baseline {simd})"
    lines = [
        f"fastconv {env['fastconv']}  numpy {env['numpy']}  scipy {env['scipy']}  "
        f"python {env['python']}"
        + (f"  torch {env['torch']}" if "torch" in env else "")
        + (f"  opencv {env['opencv']}" if "opencv" in env else ""),
        f"CPU: {env['cpu']} ({env['cpu_count']} logical cores)",
        f"threads: {env['threads']} (fastconv OpenMP: "
        f"{'yes' if omp else 'no' if omp is False else '?'}"
        f", SIMD: {simd}"
        + (f"; torch {env['torch_threads']}" if "torch_threads" in env else "")
        + (f"; opencv {env['opencv_threads']}" if "opencv_threads" in env else "") + ")",
    ]
    lines += _threadpool_lines(env)
    lines.append(f"dtype {np.dtype(dtype).name}; {settings['rounds']} interleaved rounds, "
                 f"medians; samples >= {settings['min_sample'] * 1e3:.0f} ms; slow peers "
                 f"timed on slices of <= {settings['slow_budget']:.2f} s and scaled")
    if env.get("peak_gflops"):
        lines.append(f"peak: {env['peak_gflops']:.0f} GFLOP/s {np.dtype(dtype).name} on "
                     f"{env['threads']} thread{'s' if env['threads'] != 1 else ''} (fastconv's FMA "
                     "probe" + (", float32 / 2" if np.dtype(dtype) == np.float64 else "")
                     + "); '% peak' is GFLOP/s as a share of it")
    core = env["env"].get("OPENBLAS_CORETYPE")
    if core:
        lines.append(f"NOTE: OPENBLAS_CORETYPE={core} is set: NumPy/SciPy BLAS runs {core} "
                     "kernels. Unset it for a benchmark run: env -u OPENBLAS_CORETYPE "
                     "-u OPENBLAS_L2_SIZE python -m fastconv.bench")
    return lines


def fmt_time(ms):
    """Milliseconds with 3-4 significant digits (seconds from 10 s up)."""
    if ms >= 1e4:
        return f"{ms / 1e3:.1f} s"
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}"


def fmt_ratio(r):
    """A speed-up as "1.23x" ("-" for None)."""
    if r is None:
        return "-"
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.2f}x"


def format_workload(res):
    """The table for one conv/pool workload, as text."""
    conv = res["gflop"] is not None
    unit = "GFLOP/s" if conv else "GB/s"
    head = (f"{res['name']}: {res['description']}  [{res['dtype']}, "
            + (f"{res['gflop']:.3g} GFLOP" if conv else f"{res['mbytes']:.3g} MB in+out") + "]")
    peak = res.get("peak_gflops") if conv else None
    lines = [head, f"  {'implementation':<44} {'time ms':>10} {'min ms':>9} {unit:>8} "
                   f"{'auto is':>10}" + (f" {'% peak':>7}" if peak else "")]
    for r in res["impls"]:
        label = r["label"] + (" (scaled)" if r.get("scaled") else "")
        if "time_ms" not in r:
            lines.append(f"  {label:<44} {'n/a':>10}  {r.get('error', '')}")
            continue
        thr = r["gflops"] if conv else r["gbps"]
        if r["key"] == "fastconv-auto":
            ratio = "1.00x"
        elif r.get("agrees") is False:
            ratio = "MISMATCH"
        else:
            ratio = fmt_ratio(r.get("speedup_of_auto"))
        note = f" {100 * thr / peak:>6.1f}%" if peak else ""
        if r.get("scaled"):
            note += f"  [{r['slice']}]"
        if r.get("agrees") is False:
            note += f"  ! {r['check']}"
        lines.append(f"  {label:<44} {fmt_time(r['time_ms']):>10} {fmt_time(r['min_ms']):>9} "
                     f"{thr:>8.3g} {ratio:>10}{note}")
    load = res.get("other_cpu_load")
    if load is not None and load > BUSY:
        lines.append(f"  NOTE: other processes used {load:.0%} of the CPUs while this was timed: "
                     "expect noise")
    return "\n".join(lines)


_PEERS = ("numpy", "scipy", "naive", "torch", "opencv")


def format_summary(results):
    """One line per workload: fastconv auto's time and its speed-up over each peer."""
    peers = [p for p in _PEERS
             if any(any(r["key"] == p and "time_ms" in r for r in res["impls"])
                    for res in results)]
    head = (f"{'workload':<26} {'auto ms':>9} {'GF/s|GB/s':>9} {'% peak':>7} {'best':>7} "
            f"{'auto runs':>9} {'auto/best':>9} "
            + " ".join(f"{'x ' + p:>9}" for p in peers))
    lines = ["Speed-up of fastconv auto (peer time / auto time; >1: fastconv is faster; "
             "* scaled from a slice; ! other processes busy while timed)",
             "best: fastconv's fastest kernel here; auto/best: the time of the kernel auto "
             "runs over the best's", head]
    for res in results:
        by_key = {r["key"]: r for r in res["impls"]}
        auto = by_key.get("fastconv-auto", {})
        if "time_ms" not in auto:
            lines.append(f"{res['name']:<26} {'failed':>9}")
            continue
        thr = auto.get("gflops", auto.get("gbps"))
        best = (res["best_fastconv"] or "").replace("fastconv-", "")
        cells = []
        for p in peers:
            r = by_key.get(p)
            if r is None or "time_ms" not in r:
                cells.append(f"{'-':>9}")
            elif r.get("agrees") is False:
                cells.append(f"{'MISMATCH':>9}")
            else:
                mark = "*" if r.get("scaled") else ""
                cells.append(f"{fmt_ratio(r['speedup_of_auto']) + mark:>9}")
        load = res.get("other_cpu_load")
        name = res["name"] + ("!" if load is not None and load > BUSY else "")
        peak = res.get("peak_gflops") if "gflops" in auto else None
        pct = f"{100 * thr / peak:.1f}%" if peak else "-"
        lines.append(f"{name:<26} {fmt_time(auto['time_ms']):>9} {thr:>9.3g} {pct:>7} "
                     f"{best:>7} {res.get('auto_runs') or 'auto':>9} "
                     f"{fmt_ratio(res['auto_vs_best']):>9} " + " ".join(cells))
    lines.extend(_aggregate_lines(results, peers))
    return "\n".join(lines)


def _aggregate_lines(results, peers):
    """Geometric mean and worst row of auto's speed-up over each peer, and auto's worst
    time over fastconv's best kernel: the figures a suite is judged by."""
    lines = []
    for p in peers:
        rows = [(r["speedup_of_auto"], res["name"]) for res in results for r in res["impls"]
                if r["key"] == p and "time_ms" in r and r.get("agrees") is not False
                and r.get("speedup_of_auto")]
        if len(rows) > 1:
            geo = math.exp(sum(math.log(x) for x, _ in rows) / len(rows))
            worst = min(rows)
            lines.append(f"x {p}: geometric mean {fmt_ratio(geo)} over {len(rows)} rows; "
                         f"worst {fmt_ratio(worst[0])} ({worst[1]})")
    ratios = [(res["auto_vs_best"], res["name"]) for res in results if res.get("auto_vs_best")]
    if len(ratios) > 1:
        worst = max(ratios)
        lines.append(f"auto/best: worst {fmt_ratio(worst[0])} ({worst[1]})")
    return lines


def plot(results, path):
    """A bar chart of fastconv auto's speed-up over each peer, per workload (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = [p for p in _PEERS
             if any(any(r["key"] == p and "speedup_of_auto" in r for r in res["impls"])
                    for res in results)]
    names = [res["name"] for res in results]
    fig, ax = plt.subplots(figsize=(min(18, max(8, 0.25 * len(names) * (len(peers) + 1))), 6))
    width = 0.8 / max(1, len(peers))
    for i, p in enumerate(peers):
        vals = []
        for res in results:
            r = next((r for r in res["impls"] if r["key"] == p), None)
            ok = r is not None and "speedup_of_auto" in r and r.get("agrees") is not False
            vals.append(r["speedup_of_auto"] if ok else np.nan)
        xs = np.arange(len(names)) + (i - (len(peers) - 1) / 2) * width
        ax.bar(xs, vals, width, label=f"over {p}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("peer time / fastconv auto time")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
    ax.legend(fontsize=8)
    ax.set_title(f"fastconv speed-up ({results[0]['dtype']}); >1 means fastconv is faster")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_signal_workload(res):
    """The table for one drop-in workload, as text."""
    lines = [f"{res['name']}: {res['description']}  [{res['dtype']}]",
             f"  {'implementation':<26} {'time ms':>9}  {'fastconv speed-up':>17}  note"]
    for e in res["impls"]:
        if "ms" not in e:
            lines.append(f"  {e['label']:<26} {'-':>9}  {'-':>17}  skipped: {e['skipped']}")
            continue
        notes = ["slow: timed once" if e.get("timed_once") else f"median of {e['rounds']}"]
        if e.get("agrees") is False:
            notes.append(f"DISAGREES (max error {e['max_error']:.1e})")
        lines.append(f"  {e['label']:<26} {fmt_time(e['ms']):>9}  "
                     f"{fmt_ratio(e.get('speedup')):>17}  {', '.join(notes)}")
    if res["fastest_peer"]:
        lines.append(f"  fastconv vs the fastest peer ({res['fastest_peer']}): "
                     f"{fmt_ratio(res['speedup_vs_fastest_peer'])}")
    return "\n".join(lines)


def format_signal_summary(results):
    """One line per drop-in workload: fastconv's time and its speed-up over the fastest peer."""
    lines = ["numpy/scipy drop-ins summary (speed-up = peer time / fastconv time)",
             f"  {'workload':<28} {'fastconv ms':>11}  {'vs fastest peer':>15}  "
             "fastest peer"]
    for res in results:
        base = next((e for e in res["impls"] if e["key"] == "fastconv"), {}).get("ms")
        lines.append(f"  {res['name']:<28} {fmt_time(base) if base else '-':>11}  "
                     f"{fmt_ratio(res['speedup_vs_fastest_peer']):>15}  "
                     f"{res['fastest_peer'] or '-'}")
    ratios = [r["speedup_vs_fastest_peer"] for r in results if r["speedup_vs_fastest_peer"]]
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        lines.append(f"  geometric mean speed-up over the fastest peer: {fmt_ratio(geo)} "
                     f"({len(ratios)} workloads)")
    return "\n".join(lines)


def write_json(path, env, settings, dtype, argv, results, signal_results=None):
    """Write the run (environment, settings, every result) to ``path`` as JSON.

    ``signal_results`` is None when the drop-ins section did not run; the "signal" key
    is then left out.
    """
    payload = {"environment": env,
               "settings": {k: (sorted(v) if isinstance(v, set) else v)
                            for k, v in settings.items()},
               "dtype": np.dtype(dtype).name, "argv": list(argv),
               "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results}
    if signal_results is not None:
        payload["signal"] = signal_results
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=str)

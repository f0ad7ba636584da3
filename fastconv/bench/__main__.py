"""``python -m fastconv.bench``: the command line (``--help`` lists the options).

Prints a header (versions, CPU, threads, BLAS), one table per conv/pool workload, a
summary, then the numpy/scipy drop-ins section (``--no-signal`` skips it). Files are
written only when asked: ``--json PATH``, ``--plot PATH``. ``--calibrate`` measures the
drop-ins' cost-model constants instead and prints them.

Machines this runs on may set ``OPENBLAS_CORETYPE`` (which halves NumPy's and SciPy's
sgemm speed); benchmark with it unset in that command alone::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m fastconv.bench
"""
import argparse
import gc
import sys

import numpy as np

from . import calibrate, report
from .networks import NETWORK_WORKLOADS, select_network_workloads
from .runner import run_signal_workload, run_workload
from .timing import CpuMeter, measure_peak_gflops, other_load_now, set_threads
from .workloads import (SIGNAL_QUICK_NAMES, SIGNAL_WORKLOADS, WORKLOADS, select_signal_workloads,
                        select_workloads)


def parse_args(argv=None):
    """The parsed command line (argparse exits on a bad one)."""
    ap = argparse.ArgumentParser(
        prog="python -m fastconv.bench",
        description="Benchmark fastconv against NumPy, SciPy, a naive loop, and PyTorch / "
                    "OpenCV when installed. Times are medians of interleaved rounds in one "
                    "process. Prints only, unless --json or --plot names a file. Run with "
                    "OPENBLAS_CORETYPE unset: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
                    "python -m fastconv.bench",
    )
    ap.add_argument("--quick", action="store_true",
                    help="a short subset with few rounds (well under a minute)")
    ap.add_argument("--threads", type=int, default=None, metavar="N",
                    help="threads for fastconv (set_num_threads), torch, OpenCV and the BLAS "
                         "(default: fastconv.get_num_threads())")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--only", metavar="SUBSTRING",
                    help="run only workloads whose name contains it (comma-separated: any)")
    ap.add_argument("--rounds", type=int, default=None, metavar="N",
                    help="interleaved timing rounds (default 9; 3 with --quick)")
    ap.add_argument("--json", default=None, metavar="PATH",
                    help="write the results to PATH as JSON (default: no file)")
    ap.add_argument("--plot", default=None, metavar="PATH",
                    help="draw a PNG bar chart of the speed-ups (needs matplotlib)")
    ap.add_argument("--skip", default="", metavar="KEYS",
                    help="implementations not to run: comma-separated substrings of their "
                         "keys (e.g. naive,scipy); fastconv's reference always runs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--no-signal", action="store_true",
                    help="skip the numpy/scipy drop-ins section (fastconv.convolve / "
                         "correlate2d against np.convolve, scipy.signal, cv2.filter2D)")
    ap.add_argument("--dask", action="store_true",
                    help="run the dask section only: fastconv.dask against dask-image on a "
                         "distributed.LocalCluster, and a batch against the in-memory call "
                         "(needs fastconv[bench]; heavy: a 1 GiB image by default)")
    ap.add_argument("--dask-size", type=int, default=None, metavar="S",
                    help="the dask section's image side (default 16384: 1 GiB float32; "
                         "2048 with --quick)")
    ap.add_argument("--dask-chunk", type=int, default=None, metavar="C",
                    help="the dask section's image chunk side (default 2048)")
    ap.add_argument("--dask-batch", type=int, default=None, metavar="B",
                    help="the dask section's batch of 224x224x3 images (default 256; 64 "
                         "with --quick), in chunks of 32")
    ap.add_argument("--suite", choices=("default", "networks", "training", "image", "dask"),
                    default="default",
                    help="default: conv/pool and the drop-ins; networks: convolution layers "
                         "from well-known networks against fastconv's methods and PyTorch "
                         "(numpy, scipy, the naive loop, OpenCV and the drop-ins skipped); "
                         "training: the gradients and conv2d_transpose against PyTorch's "
                         "backward ops; image: photo filtering with a reflect border against "
                         "OpenCV and scipy.ndimage; dask: the same as --dask")
    ap.add_argument("--calibrate", action="store_true",
                    help="measure the drop-ins' cost-model constants on this machine (one "
                         "thread) and print them, with the file they go in; times nothing else")
    args = ap.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be >= 1")
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be >= 1")
    for name in ("dask_size", "dask_chunk", "dask_batch"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def _list_workloads():
    for wl in WORKLOADS + NETWORK_WORKLOADS:
        print(f"{wl.name:<28} {'quick ' if wl.quick else '      '}{wl.describe()}")
    for wl in SIGNAL_WORKLOADS:
        quick = "quick " if wl.name in SIGNAL_QUICK_NAMES else "      "
        print(f"{wl.name:<28} {quick}{wl.describe()}")


def _run_calibration():
    meter = CpuMeter()
    calibrate.main()
    load = meter.other_load()
    if load is not None:  # rates measured on a machine busy elsewhere mean little
        print(f"other processes used {load:.0%} of the CPUs during the calibration")
    return 0


def _run_section(workloads, run_one, format_one, format_summary, prefix, progress, mismatch):
    """Run, print and return the results of one section's workloads, then its summary and
    a warning naming every implementation whose result disagreed (``mismatch``)."""
    results = []
    for i, wl in enumerate(workloads):
        label = f"[{prefix}{i + 1}/{len(workloads)}] {wl.name}"
        progress(f"{label}: {wl.describe()}")
        res = run_one(wl, label)
        progress(f"{label}: done", final=True)
        results.append(res)
        print(format_one(res))
        print(flush=True)
        gc.collect()
    if results:
        print(format_summary(results))
    disagree = [(res["name"], r["label"]) for res in results for r in res["impls"]
                if r.get("agrees") is False]
    if disagree:
        print(f"\nWARNING: {mismatch}: " + "; ".join(f"{n}: {lab}" for n, lab in disagree))
    return results


def _run_conv_section(workloads, dtype, settings, peak, progress):
    def run_one(wl, label):
        res = run_workload(wl, dtype, settings, progress, label)
        res["peak_gflops"] = peak
        for r in res["impls"]:
            if peak and "gflops" in r:
                r["pct_of_peak"] = 100 * r["gflops"] / peak
        return res

    return _run_section(workloads, run_one, report.format_workload, report.format_summary,
                        "", progress,
                        "results that disagree with fastconv auto (not comparable)")


def _run_signal_section(workloads, dtype, settings, progress):
    print()
    print("== numpy/scipy drop-ins: fastconv.convolve / fastconv.correlate2d against the "
          "functions they replace ==")
    print("peers checked against fastconv first; interleaved rounds, medians; "
          "speed-up = peer time / fastconv time")
    print(flush=True)
    return _run_section(
        workloads, lambda wl, label: run_signal_workload(wl, dtype, settings, progress, label),
        report.format_signal_workload, report.format_signal_summary, "signal ", progress,
        "drop-in peers that disagree with fastconv")


def _run_dask(args):
    """The dask section alone (``scaleout``), after the usual header."""
    import json

    import fastconv

    from . import scaleout

    threads = args.threads if args.threads is not None else fastconv.get_num_threads()
    limits = set_threads(threads)
    try:
        env = report.environment(threads)
        env["other_cpu_load_at_start"] = load = other_load_now()
        for line in report.header_lines(env, np.dtype(np.float32), {
                "rounds": args.rounds or (3 if args.quick else 5), "min_sample": 0,
                "slow_budget": 0, "slow_call": 0, "seed": 0, "skip": set()}):
            if not line.startswith("dtype"):  # the conv section's timing rules
                print(line)
        if load is not None and load > report.BUSY:
            print(f"NOTE: other processes are using {load:.0%} of the CPUs: timings will be "
                  f"noisy")
        print(flush=True)
        results = scaleout.main(args, threads, report.Progress(not args.no_progress))
        if args.json and results is not None:
            with open(args.json, "w") as f:
                json.dump({"environment": env, "dask": results}, f, indent=1, default=str)
            print(f"\nresults written to {args.json}")
        return 0
    finally:
        if limits is not None:
            limits.restore_original_limits()


def _run_image_suite(args) -> int:
    """The image-filtering group: its own header line, then one block per workload."""
    from .image import format_image_workload, run_image_workload, select_image_workloads

    import fastconv

    chosen = select_image_workloads(args.only)
    if not chosen:
        print(f"no image workload matches --only {args.only!r}", file=sys.stderr)
        return 2
    threads = args.threads if args.threads is not None else fastconv.get_num_threads()
    limits = set_threads(threads)
    try:
        env = report.environment(threads)
        rounds = args.rounds or (3 if args.quick else 5)
        header = report.header_lines(env, np.dtype(np.float32),
                                     {"rounds": rounds, "min_sample": 0.05, "slow_budget": 0})
        for line in header:
            if not line.startswith("dtype "):  # the main suite's timing rules
                print(line)
        print(f"float32; {rounds} interleaved rounds, medians; samples >= 50 ms")
        print("== image filtering: reflect border (np.pad 'reflect' = BORDER_REFLECT_101 = "
              "ndimage 'mirror') ==")
        print(flush=True)
        for wl in chosen:
            res = run_image_workload(wl, rounds=rounds, seed=args.seed)
            print(format_image_workload(res))
            print(flush=True)
            gc.collect()
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return 0


def main(argv=None) -> int:
    """Run the benchmark as the command line says; returns the exit status."""
    args = parse_args(argv)
    if args.list:
        _list_workloads()
        return 0
    if args.calibrate:
        return _run_calibration()
    if args.dask or args.suite == "dask":
        return _run_dask(args)
    if args.suite == "training":
        return _run_training(args)
    if args.suite == "image":
        return _run_image_suite(args)
    if args.suite == "networks":
        workloads = select_network_workloads(args.only, args.quick)
        signal_workloads = ()
        args.skip = ",".join(filter(None, [args.skip, "numpy", "scipy", "naive", "opencv"]))
        args.no_signal = True
    else:
        workloads = select_workloads(args.only, args.quick)
        signal_workloads = () if args.no_signal else select_signal_workloads(args.only,
                                                                            args.quick)
    if not workloads and not signal_workloads:
        print(f"no workload matches --only {args.only!r}; --list shows them", file=sys.stderr)
        return 2

    import fastconv

    threads = args.threads if args.threads is not None else fastconv.get_num_threads()
    limits = set_threads(threads)
    try:
        return _run(args, argv, threads, workloads, signal_workloads)
    finally:
        if limits is not None:  # main() may be called in-process: leave BLAS as found
            limits.restore_original_limits()


def _run_training(args):
    """The training suite: gradients and conv2d_transpose against PyTorch."""
    import json

    import fastconv

    from . import training

    workloads = training.select_training_workloads(args.only, args.quick)
    if not workloads:
        print(f"no training workload matches --only {args.only!r}", file=sys.stderr)
        return 2
    threads = args.threads if args.threads is not None else fastconv.get_num_threads()
    limits = set_threads(threads)
    try:
        dtype = np.dtype(args.dtype)
        rounds = args.rounds or (3 if args.quick else 7)
        min_sample = 0.01 if args.quick else 0.05
        env = report.environment(threads)
        env["other_cpu_load_at_start"] = load = other_load_now()
        env["peak_gflops"] = measure_peak_gflops(threads, dtype)
        settings = {"rounds": rounds, "min_sample": min_sample, "slow_budget": 0.0}
        for line in report.header_lines(env, dtype, settings):
            print(line.split("; slow peers")[0] if "slow peers" in line else line)
        if load is not None and load > report.BUSY:
            print(f"NOTE: other processes are using {load:.0%} of the CPUs: timings will be "
                  f"noisy")
        print(flush=True)
        progress = report.Progress(not args.no_progress)
        results = []
        for i, wl in enumerate(workloads):
            progress(f"[{i + 1}/{len(workloads)}] {wl.name}")
            res = training.run_training_row(wl, dtype, rounds, min_sample, args.seed)
            results.append(res)
            print(training.format_row(res), flush=True)
            gc.collect()
        progress("done", final=True)
        for line in training.summarize(results):
            print(line)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"environment": env, "dtype": str(dtype), "rounds": rounds,
                           "results": results}, f, indent=1, default=str)
            print(f"\nresults written to {args.json}")
        return 0
    finally:
        if limits is not None:
            limits.restore_original_limits()


def _run(args, argv, threads, workloads, signal_workloads):
    """Time the chosen workloads and print (and, if asked, write) the results."""
    dtype = np.dtype(args.dtype)
    settings = {
        "rounds": args.rounds or (3 if args.quick else 9),
        "min_sample": 0.01 if args.quick else 0.05,
        "slow_budget": 0.05 if args.quick else 0.25,
        "slow_call": 0.5,
        "seed": args.seed,
        "skip": {s.strip() for s in args.skip.split(",") if s.strip()},
    }
    env = report.environment(threads)
    env["other_cpu_load_at_start"] = load = other_load_now()
    env["peak_gflops"] = peak = measure_peak_gflops(threads, dtype)
    for line in report.header_lines(env, dtype, settings):
        print(line)
    if load is not None and load > report.BUSY:
        print(f"NOTE: other processes are using {load:.0%} of the CPUs: timings will be noisy")
    print(flush=True)

    progress = report.Progress(not args.no_progress)
    results = _run_conv_section(workloads, dtype, settings, peak, progress)
    signal_results = (_run_signal_section(signal_workloads, dtype, settings, progress)
                      if signal_workloads else [])

    if not args.quick:
        print("\n(dask section: python -m fastconv.bench --dask, with fastconv[bench] installed)")
    if args.json:
        report.write_json(args.json, env, settings, dtype,
                          sys.argv[1:] if argv is None else argv, results,
                          None if args.no_signal else signal_results)
        print(f"\nresults written to {args.json}")
    if args.plot:
        if not results:
            print("--plot draws the conv/pool results: none ran", file=sys.stderr)
        else:
            try:
                report.plot(results, args.plot)
                print(f"chart written to {args.plot}")
            except ImportError:
                print("--plot needs matplotlib, which is not installed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark fastconv against NumPy, SciPy, a naive loop, and PyTorch/OpenCV when installed.

Run ``python -m fastconv.bench`` (``--help`` lists the options). For each workload every
implementation is

1. run once (warm-up) and its result checked against fastconv's "auto" result, so that
   the table never compares different computations (a disagreement is flagged);
2. timed interleaved with all the others in this one process (round-robin, each round
   starting one place later; see :mod:`fastconv.bench.timing`); the tables report medians.

Implementations too slow to run whole (the naive loop always; SciPy's per-channel loop on
many channels) are timed on a slice of the problem and scaled up by the ratio of output
elements; the table marks them "(scaled)". Throughput is GFLOP/s for convolutions
(2 * N * OH * OW * KH * KW * C_in/groups * C_out / time) and GB/s of input plus output
bytes for pooling. A second section times the numpy/scipy drop-ins (fastconv.convolve /
correlate2d) against the functions they replace.

The modules, one concern each:

- :mod:`~fastconv.bench.workloads`: the workload tables (conv/pool and drop-ins);
- :mod:`~fastconv.bench.peers`: the implementations; :mod:`~fastconv.bench.checks`:
  whether two results agree;
- :mod:`~fastconv.bench.timing`: thread setting, CPU-load meter, the interleaved timer;
- :mod:`~fastconv.bench.runner`: one workload from set-up to result;
- :mod:`~fastconv.bench.report`: header, tables, JSON, chart;
- :mod:`~fastconv.bench.calibrate`: the drop-ins' cost-model constants;
- :mod:`~fastconv.bench.image`: the image-filtering group (``--suite image``);
- ``__main__``: the command line.

What ``benches/`` (pytest-benchmark) and users need is re-exported here.
"""
from .checks import check_signal, results_agree, signal_max_error
from .image import IMAGE_WORKLOADS, ImageWorkload, image_implementations, run_image_workload
from .peers import (SIGNAL_IMPLS_1D, SIGNAL_IMPLS_2D, Impl, implementations,
                    scipy_conv_seconds, signal_implementation, signal_oracle)
from .report import environment
from .runner import run_signal_workload, run_workload
from .timing import measure_peak_gflops, set_threads
from .workloads import (QUICK, SIGNAL_WORKLOADS, WORKLOADS, Problem, SignalWorkload, Workload,
                        make_problem, select_signal_workloads, select_workloads)

__all__ = [
    "Workload", "WORKLOADS", "QUICK", "Problem", "select_workloads", "make_problem",
    "SignalWorkload", "SIGNAL_WORKLOADS", "select_signal_workloads",
    "Impl", "implementations", "scipy_conv_seconds",
    "SIGNAL_IMPLS_1D", "SIGNAL_IMPLS_2D", "signal_implementation", "signal_oracle",
    "results_agree", "signal_max_error", "check_signal",
    "run_workload", "run_signal_workload",
    "environment", "set_threads", "measure_peak_gflops", "main",
    "ImageWorkload", "IMAGE_WORKLOADS", "image_implementations", "run_image_workload",
]


def main(argv=None) -> int:
    """``python -m fastconv.bench`` in-process: run with ``argv``, return the exit status."""
    # Imported on call: importing __main__ here would make ``python -m fastconv.bench``
    # find it already imported (runpy warns, and runs a second copy).
    from .__main__ import main as run

    return run(argv)

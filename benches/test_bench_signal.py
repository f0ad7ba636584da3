"""fastconv.convolve / correlate2d against NumPy, SciPy and OpenCV (issue 4's targets).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        pytest benches/test_bench_signal.py --benchmark-only

One operation per test, parametrized by implementation and grouped by workload; every
result is checked after timing against a float64 FFT oracle (relative to the result's
size). The workloads, peers and oracle are ``fastconv.bench``'s. For a table of
interleaved medians run ``python -m fastconv.bench --only correlate2d`` (say); for the
cost model's constants, ``python -m fastconv.bench --calibrate``.
"""
import numpy as np
import pytest

from fastconv.bench import (SIGNAL_IMPLS_1D, SIGNAL_IMPLS_2D, SIGNAL_WORKLOADS, check_signal,
                            signal_implementation, signal_oracle)

_CACHE = {}


def _data(workload, dtype):
    """(x, k, oracle's answer) per workload and dtype, computed once per session."""
    key = (workload.name, np.dtype(dtype).name)
    if key not in _CACHE:
        x, k = workload.inputs(dtype)
        _CACHE[key] = (x, k, signal_oracle(workload, x, k))
    return _CACHE[key]


def _cases(kind, impls):
    return [pytest.param(wl, impl, id=f"{wl.name}-{impl}")
            for wl in SIGNAL_WORKLOADS if wl.kind == kind for impl in impls]


def _run(benchmark, run_info, dtype, workload, impl):
    x, k, expected = _data(workload, dtype)
    fn = signal_implementation(workload, impl, x, k)
    if isinstance(fn, str):
        pytest.skip(fn)
    benchmark.group = workload.name
    benchmark.extra_info.update(run_info, workload=workload.name, implementation=impl,
                                dtype=np.dtype(dtype).name, mode=workload.mode,
                                boundary=workload.boundary, input_shape=workload.in_shape,
                                kernel_shape=workload.k_shape)
    result = benchmark(fn)
    check_signal(result, expected)
    if impl == "fastconv":
        assert result.dtype == np.dtype(dtype)


@pytest.mark.parametrize("workload, impl", _cases("1d", SIGNAL_IMPLS_1D))
def test_signal_1d(benchmark, run_info, dtype, workload, impl):
    _run(benchmark, run_info, dtype, workload, impl)


@pytest.mark.parametrize("workload, impl", _cases("2d", SIGNAL_IMPLS_2D))
def test_signal_2d(benchmark, run_info, dtype, workload, impl):
    _run(benchmark, run_info, dtype, workload, impl)

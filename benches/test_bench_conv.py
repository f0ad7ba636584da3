"""conv2d benchmarks: one operation per test, grouped by workload (see conftest.py).

    pytest benches --benchmark-only
"""
import pytest

from fastconv import bench

CONV = [wl for wl in bench.WORKLOADS if wl.is_conv]

# Implementations timed on whole workloads; "scipy" only where that is quick.
WHOLE = ["fastconv-auto", "fastconv-direct", "fastconv-im2col", "numpy", "scipy", "torch",
         "opencv"]
# Implementations timed on a small slice of each workload, next to fastconv on it.
SLICED = ["fastconv-auto", "scipy", "naive"]


@pytest.mark.parametrize("impl", WHOLE)
@pytest.mark.parametrize("workload", CONV, ids=lambda wl: wl.name)
def test_conv(run_impl, workload, impl):
    if impl == "scipy" and bench.scipy_conv_seconds(workload) > 0.5:
        pytest.skip("SciPy's per-channel loop is too slow whole: see the [slice] group")
    run_impl(workload, impl)


@pytest.mark.parametrize("impl", SLICED)
@pytest.mark.parametrize("workload", CONV, ids=lambda wl: wl.name)
def test_conv_slice(run_impl, workload, impl):
    run_impl(workload, impl, sliced=True)

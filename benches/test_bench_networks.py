"""The networks suite under pytest-benchmark: layers from well-known networks, fastconv's
methods against PyTorch, one operation per test, grouped by layer (see conftest.py).

    pytest benches/test_bench_networks.py --benchmark-only
"""
import pytest

from fastconv.bench.networks import NETWORK_WORKLOADS

IMPLS = ["fastconv-auto", "fastconv-direct", "fastconv-im2col", "torch"]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("workload", NETWORK_WORKLOADS, ids=lambda wl: wl.name)
def test_network_layer(run_impl, workload, impl):
    run_impl(workload, impl)

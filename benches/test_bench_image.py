"""The image-filtering group (issue 13): a 1920x1080x3 float32 photo blurred with a reflect
border, fastconv against OpenCV (when installed) and scipy.ndimage.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
        pytest benches/test_bench_image.py --benchmark-only

One operation per test, parametrized by implementation and grouped by workload; each
result is checked after timing against fastconv's. For interleaved medians run
``python -m fastconv.bench --suite image``.
"""
import numpy as np
import pytest

from fastconv.bench import IMAGE_WORKLOADS, image_implementations
from fastconv.bench.image import PHOTO_SHAPE

PHOTO = np.random.default_rng(0).random(PHOTO_SHAPE, dtype=np.float32)
LABELS = {wl.name: list(image_implementations(wl, PHOTO)) for wl in IMAGE_WORKLOADS}


@pytest.mark.parametrize("workload, label", [
    pytest.param(wl, label, id=f"{wl.name}-{label}")
    for wl in IMAGE_WORKLOADS for label in LABELS[wl.name]])
def test_image(benchmark, run_info, workload, label):
    impls = image_implementations(workload, PHOTO)
    expected = next(iter(impls.values()))()
    benchmark.group = workload.name
    benchmark.extra_info.update(run_info, workload=workload.name, implementation=label)
    result = benchmark(impls[label])
    np.testing.assert_allclose(result, expected, atol=1e-5)

"""Every SIMD build of the loop-nest kernels (baseline, AVX2, AVX-512) against the reference.

The dispatcher picks one build per process; these tests swap each build this CPU
can run into the public functions, so every compiled path is checked, not only
the one chosen here.
"""
import numpy as np
import pytest

import fastconv
from fastconv import _dispatch, conv, pool, reference

from conftest import assert_close, randn

DIRECT = _dispatch.variants("_direct")
POOL = _dispatch.variants("_pool")

CONV_CASES = [
    # (x shape, w shape, kwargs): one-channel rows, depthwise, grouped, multi-channel
    ((2, 13, 37, 1), (3, 3, 1, 1), dict(padding="same")),
    ((1, 11, 41, 1), (5, 2, 1, 1), dict(stride=(2, 3), dilation=(1, 2), padding=((1, 3), (4, 0)))),
    ((2, 9, 10, 19), (3, 3, 1, 19), dict(padding="same", groups=19)),
    ((1, 8, 9, 6), (3, 2, 2, 9), dict(groups=3, stride=2, padding=1)),
    ((2, 7, 8, 5), (3, 3, 5, 37), dict(dilation=2, padding="same")),
    # Register blocks: wide, narrow and leftover channels; rows of 7, 11 and 28 pixels
    # (blocks overlap at the row's end); contiguous kernel rows and dilated ones.
    ((2, 9, 21, 3), (7, 7, 3, 112), dict(stride=2, padding="same")),
    ((3, 10, 30, 1), (3, 3, 1, 48), dict()),
    ((1, 6, 17, 8), (3, 3, 4, 80), dict(groups=2, padding="same")),
    ((1, 8, 20, 4), (3, 3, 4, 64), dict(dilation=(1, 2), padding="same")),
    ((1, 5, 9, 2), (3, 3, 2, 100), dict()),
    ((1, 5, 16, 2), (3, 3, 2, 48), dict()),
    # One-channel rows wide enough for register chunks of every build (the last chunk
    # overlapping), with borders, horizontal dilation and vertical stride.
    ((1, 6, 300, 1), (3, 5, 1, 1), dict(padding="same")),
    ((2, 7, 150, 1), (2, 3, 1, 1), dict(dilation=(1, 2), stride=(2, 1), padding=((1, 0), (3, 2)))),
    ((1, 4, 129, 1), (1, 2, 1, 1), dict()),
]


@pytest.fixture(params=sorted(DIRECT), ids=lambda level: f"simd-{level}")
def direct_build(request, monkeypatch):
    monkeypatch.setattr(conv, "_direct", DIRECT[request.param])
    return request.param


@pytest.fixture(params=sorted(POOL), ids=lambda level: f"simd-{level}")
def pool_build(request, monkeypatch):
    monkeypatch.setattr(pool, "_pool", POOL[request.param])
    return request.param


def test_dispatcher_picks_the_widest_build_the_cpu_runs():
    assert _dispatch.SIMD_LEVEL in DIRECT
    if fastconv._config.debug_build():
        # Debug builds compile only the bounds-checked baseline kernels, and use them.
        assert _dispatch.SIMD_LEVEL == "baseline" and list(DIRECT) == ["baseline"]
        return
    for level in _dispatch.LEVELS[: _dispatch.LEVELS.index(_dispatch.SIMD_LEVEL)]:
        # Any wider build is either not built here or not runnable on this CPU.
        assert level not in DIRECT or not fastconv._config.cpu_supports(level)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs, ws, kwargs", CONV_CASES)
def test_direct_builds_match_reference(direct_build, xs, ws, kwargs, dtype, rng):
    x, w, b = randn(rng, xs), randn(rng, ws), randn(rng, ws[3])
    expected = reference.conv2d(x, w, b, **kwargs)
    got = fastconv.conv2d(x.astype(dtype), w.astype(dtype), b.astype(dtype), method="direct",
                          **kwargs)
    assert_close(got, expected, dtype, n_terms=ws[0] * ws[1] * ws[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("pool_size, stride, padding", [(2, None, "valid"), (3, 2, "same"),
                                                        ((2, 3), 1, "same")])
def test_pool_builds_match_reference(pool_build, op, pool_size, stride, padding, dtype, rng):
    x = randn(rng, (2, 9, 11, 37))
    x[0, 1, 1, :5] = np.nan
    x[1, 4, 2, 7] = -np.inf
    expected = getattr(reference, op)(x, pool_size, stride=stride, padding=padding)
    got = getattr(fastconv, op)(x.astype(dtype), pool_size, stride=stride, padding=padding)
    assert_close(got, expected, dtype, n_terms=9)

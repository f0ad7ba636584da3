"""The debug build (FASTCONV_DEBUG=1): Cython's boundscheck is live in the kernels.

CI builds it once and runs the whole suite on it, so an out-of-bounds index is an
IndexError there, not a silent read. These tests prove the switch took effect: they
hand each private kernel an input with an empty channel axis, which the public
functions never do (they answer such calls in Python). The kernels take the
address of element [0, 0, 0, 0] of every array, harmless in the release build
(nothing is read through it when C = 0) but out of bounds: the debug build must
raise IndexError. Skipped in release builds.
"""
import inspect

import numpy as np
import pytest

import fastconv
from fastconv import _config, _dispatch, _im2col

pytestmark = pytest.mark.skipif(not _config.debug_build(),
                                reason="release build (FASTCONV_DEBUG=1 builds the debug one)")


def _call_kernel(fn, **values):
    """Call a private kernel by its parameter names, so that a reordered signature still
    works; a parameter this test does not know about means the test needs updating."""
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        pytest.fail(f"cannot read the signature of {fn.__name__}")
    unknown = [n for n in names if n not in values]
    assert not unknown, f"{fn.__name__} has new parameters {unknown}: update this test"
    return fn(*[values[n] for n in names])


CONV_GEOMETRY = dict(stride=(1, 1), dilation=(1, 1), pad_top_left=(0, 0), groups=1,
                     rows_per_tile=1, n_threads=1, row_source=None, col_source=None)


def test_show_config_reports_the_debug_build(capsys):
    fastconv.show_config()
    assert "debug build:       yes" in capsys.readouterr().out


@pytest.mark.parametrize("kernel", ["direct", "im2col"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_kernels_check_bounds(kernel, dtype):
    fn = (_dispatch.build("_direct")[1].conv2d_direct if kernel == "direct"
          else _im2col.conv2d_im2col)
    x = np.ones((1, 3, 3, 0), dtype)       # C_in = 0: the [0, 0, 0, 0] element does not exist
    w = np.ones((3, 3, 0, 2), dtype)
    bias = np.zeros(2, dtype)
    out = np.zeros((1, 1, 1, 2), dtype)
    with pytest.raises(IndexError, match="Out of bounds on buffer access"):
        _call_kernel(fn, x=x, w=w, bias=bias, out=out, **CONV_GEOMETRY)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_kernels_check_bounds(op, dtype):
    fn = getattr(_dispatch.build("_pool")[1], op)
    x = np.ones((1, 4, 4, 0), dtype)
    out = np.zeros((1, 2, 2, 0), dtype)
    with pytest.raises(IndexError, match="Out of bounds on buffer access"):
        _call_kernel(fn, x=x, out=out, pool_size=(2, 2), stride=(2, 2), pad_top_left=(0, 0),
                     n_threads=1)


def test_the_public_api_never_reaches_those_kernels_with_empty_channels():
    """The same shapes through the public functions: answered in Python, no IndexError."""
    np.testing.assert_array_equal(
        fastconv.conv2d(np.ones((1, 3, 3, 0)), np.ones((3, 3, 0, 2)), np.array([1.0, 2.0])),
        np.array([1.0, 2.0]).reshape(1, 1, 1, 2))
    assert fastconv.max_pool2d(np.ones((1, 4, 4, 0))).shape == (1, 2, 2, 0)
    assert fastconv.avg_pool2d(np.ones((1, 4, 4, 0))).shape == (1, 2, 2, 0)

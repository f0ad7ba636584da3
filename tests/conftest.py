"""Shared helpers for the fastconv tests: data, tolerances and thread-count isolation."""
import contextlib

import numpy as np
import pytest

import fastconv

METHODS = ("direct", "im2col", "auto")
DTYPES = (np.float32, np.float64)

# Relative tolerance per compute dtype for one rounding step; assert_close scales it by
# sqrt(number of terms summed per output), the typical growth of rounding error in a sum
# (scikit-learn's test_cython_blas uses the same per-dtype split).
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_close(actual, expected, dtype, n_terms=1):
    """Check dtype, shape and values of ``actual`` against a float64 ``expected``.

    ``n_terms`` is the reduction length per output value (KH * KW * C_in // groups for a
    convolution, the window size for average pooling). The absolute tolerance is scaled
    by the largest finite |expected|, so that a sum near zero with large terms is judged
    against the size of its terms, not against itself. NaN and +-Inf must sit at the same
    positions (assert_allclose compares them exactly).
    """
    dtype = np.dtype(dtype)
    assert isinstance(actual, np.ndarray), type(actual)
    assert actual.dtype == dtype, (actual.dtype, dtype)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    finite = np.isfinite(expected)
    scale = float(np.max(np.abs(expected[finite]))) if finite.any() else 1.0
    rtol = RTOL[dtype] * np.sqrt(max(n_terms, 1))
    np.testing.assert_allclose(
        actual.astype(np.float64), expected, rtol=rtol, atol=rtol * (scale or 1.0)
    )


def f32_exact(array):
    """Round float64 data to values that float32 holds exactly.

    Inputs built this way are the same numbers in both dtypes, so one float64 reference
    result serves the float32 and the float64 runs, and the float32 tolerance only has
    to cover the arithmetic, not the rounding of the inputs.
    """
    return np.asarray(array, dtype=np.float64).astype(np.float32).astype(np.float64)


def randn(rng, shape):
    """Standard-normal float64 data, exactly representable in float32."""
    return f32_exact(rng.standard_normal(shape))


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@contextlib.contextmanager
def thread_setting_restored():
    """Put back fastconv's thread setting on exit: the setting itself (None means
    OpenMP's default), not the count it resolves to, which would pin the default for
    every later test."""
    before = fastconv._threads.global_setting()
    try:
        yield
    finally:
        fastconv.set_num_threads(before)


@pytest.fixture
def restore_threads():
    """Give the test a free hand with set_num_threads and put the setting back afterwards."""
    with thread_setting_restored():
        yield

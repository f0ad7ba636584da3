"""Whether two implementations computed the same thing, before their times are compared."""
import math

import numpy as np


def reduction_length(workload):
    """Terms summed (or compared) per output element: KH * KW * C_in/groups, or the pool area."""
    if workload.is_conv:
        kh, kw, cin_per_group, _ = workload.w_shape
        return kh * kw * cin_per_group
    return workload.kernel_hw[0] * workload.kernel_hw[1]


def results_agree(got, expected, workload):
    """(ok, message): np.allclose with a float32 tolerance, whatever the dtype.

    Rounding in a float32 sum of K terms grows like sqrt(K) times the values'
    size; the tolerance is ample for that and far below what a wrong
    computation (another padding, a flipped kernel, a shifted window) gives.
    """
    got = np.asarray(got)
    if got.shape != expected.shape:
        return False, f"shape {got.shape}, expected {expected.shape}"
    expected = np.asarray(expected, dtype=np.float64)
    got = got.astype(np.float64)
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1.0)
    rtol = 1e-5
    atol = 64 * float(np.finfo(np.float32).eps) * math.sqrt(reduction_length(workload)) * scale
    ok = bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True))
    err = float(np.max(np.abs(got - expected), initial=0.0))
    return ok, f"max abs diff {err:.3g} (max |value| {scale:.3g}, atol {atol:.2g})"


def signal_max_error(result, expected):
    """Largest |result - expected| relative to the largest |expected| (inf on shape mismatch)."""
    result = np.asarray(result, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if result.shape != expected.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(expected))), 1e-30) if expected.size else 1.0
    return float(np.max(np.abs(result - expected))) / scale if result.size else 0.0


def check_signal(result, expected, tolerance=1e-4):
    """Assert that a drop-in result matches the oracle's (relative to its largest value)."""
    result = np.asarray(result, dtype=np.float64)
    assert result.shape == expected.shape, (result.shape, expected.shape)
    error = signal_max_error(result, expected)
    assert error < tolerance, f"max error {error:.2e} relative to the largest |value|"

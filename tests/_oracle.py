"""Helpers for the hardening, thread, property and fuzz tests.

Comparison with fastconv.reference under a rigorous floating-point error bound:
a computed sum of K products differs from the exact value by at most about
K * eps * sum(|x| * |w|) (the standard bound for any summation order, FMA or
not), so the tests compare against a bound built from the reference run on
absolute values rather than a guessed tolerance: tight enough that any
indexing or race bug fails, loose enough never to fail by rounding.

Also: ``with_layout`` (the same values in another memory layout) and the
AddressSanitizer probes used by the CI's debug build.
"""
import os

import numpy as np

from fastconv import reference


def _eps(dtype):
    return float(np.finfo(dtype).eps)


def conv_expected(x, w, bias=None, **kwargs):
    """(expected float64 result, per-element error bound per unit eps, terms per output)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    b = None if bias is None else np.asarray(bias, dtype=np.float64)
    with np.errstate(all="ignore"):  # inf * 0 in the reference is meant
        expected = reference.conv2d(x, w, b, **kwargs)
        scale = reference.conv2d(np.abs(x), np.abs(w), None if b is None else np.abs(b),
                                 **kwargs)
    n_terms = w.shape[0] * w.shape[1] * w.shape[2] + 2
    return expected, scale * n_terms


def pool_expected(op, x, pool_size=2, **kwargs):
    """Same for pooling; the max is exact, the mean rounds once per term plus the scaling."""
    x = np.asarray(x, dtype=np.float64)
    ref = getattr(reference, op)
    with np.errstate(all="ignore"):
        expected = ref(x, pool_size, **kwargs)
    if op == "max_pool2d":
        return expected, np.zeros_like(expected)
    ph, pw = (pool_size, pool_size) if np.ndim(pool_size) == 0 else tuple(pool_size)
    with np.errstate(all="ignore"):
        scale = reference.avg_pool2d(np.where(np.isnan(x), 0.0, np.abs(x)), pool_size, **kwargs)
    return expected, scale * (ph * pw + 4)


def pool_result_dtype(op, x_dtype):
    """Pooling's dtype rule (issue 13): integers and bool keep their dtype in max pooling
    and average to float64 (np.mean's); floats follow np.result_type(x, float32)."""
    x_dtype = np.dtype(x_dtype)
    if x_dtype.kind in "biu":
        return x_dtype if op == "max_pool2d" else np.dtype(np.float64)
    return np.result_type(x_dtype, np.float32)


def assert_matches(actual, expected, bound, dtype):
    """``actual`` has the dtype and shape, NaN/Inf where ``expected`` has them, and
    every finite value within ``2 * bound * eps(dtype)`` (plus a subnormal-sized slack).
    An integer or bool result (max pooling selects a value) must equal ``expected``
    exactly (in float64, whose rounding keeps the order: max commutes with it)."""
    dtype = np.dtype(dtype)
    assert type(actual) is np.ndarray, type(actual)
    assert actual.dtype == dtype, (actual.dtype, dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if dtype.kind in "biu":
        np.testing.assert_array_equal(actual.astype(np.float64), expected)
        return
    got = actual.astype(np.float64)
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(got), nan, err_msg="NaN positions differ")
    inf = np.isinf(expected)
    np.testing.assert_array_equal(got[inf], expected[inf], err_msg="Inf values differ")
    finite = ~(nan | inf)
    tol = 2.0 * _eps(dtype) * bound[finite] + 1e-300 + float(np.finfo(dtype).tiny) * 8
    err = np.abs(got[finite] - expected[finite])
    bad = ~(err <= tol)
    if bad.any():
        i = int(np.argmax(np.where(bad, err / tol, 0)))
        raise AssertionError(
            f"{int(bad.sum())} of {bad.size} values outside the rounding bound; worst: "
            f"got {got[finite][i]!r}, expected {expected[finite][i]!r}, "
            f"error {err[i]:.3g} > bound {tol[i]:.3g}"
        )


def with_layout(a, kind):
    """An array with the values of ``a`` in the memory layout ``kind``, and a 'guard' array
    whose bytes must not change (the whole buffer behind the view)."""
    a = np.asarray(a)
    if kind == "C":
        v = a.copy()
        return v, v
    if kind == "fortran":
        v = np.asfortranarray(a)
        return v, v
    if kind == "negative":
        base = a[tuple(slice(None, None, -1) for _ in a.shape)].copy()
        return base[tuple(slice(None, None, -1) for _ in a.shape)], base
    if kind == "strided":
        base = np.full(tuple(2 * s + 1 for s in a.shape), 7.0, a.dtype)
        view = base[tuple(slice(1, 2 * s + 1, 2) for s in a.shape)]
        view[...] = a
        return view, base
    if kind == "read-only":
        v = a.copy()
        v.flags.writeable = False
        return v, v
    if kind == "view of a bigger buffer":
        base = np.full(a.size + 10, -5.0, a.dtype)
        view = base[3:3 + a.size].reshape(a.shape)
        view[...] = a
        return view, base
    if kind == "transposed":
        perm = tuple(range(a.ndim))[::-1]
        base = np.ascontiguousarray(a.transpose(perm))
        return base.transpose(perm), base
    if kind == "big-endian":
        v = a.astype(a.dtype.newbyteorder(">"))
        return v, v
    if kind == "unaligned":
        raw = np.zeros(a.nbytes + 1, np.uint8)
        view = np.frombuffer(raw.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
        view[...] = a
        return view, raw
    if kind == "broadcast":  # a zero-stride read-only view; the values become a[0] repeated
        base = a.reshape(-1)[:1].copy() if a.size else np.zeros(1, a.dtype)
        return np.broadcast_to(base.reshape((1,) * a.ndim), a.shape), base
    raise AssertionError(kind)


LAYOUTS = ["C", "fortran", "negative", "strided", "read-only", "view of a bigger buffer",
           "transposed", "big-endian", "unaligned", "broadcast"]


def asan_loaded():
    """Whether AddressSanitizer's runtime is in this process (CI's debug build runs so)."""
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return False
    return "libasan" in maps or "libclang_rt.asan" in maps


def huge_malloc_aborts():
    """Under AddressSanitizer a malloc that cannot be served aborts the process instead of
    returning NULL (so no MemoryError), unless ASAN_OPTIONS has allocator_may_return_null=1."""
    return asan_loaded() and "allocator_may_return_null=1" not in os.environ.get(
        "ASAN_OPTIONS", "")

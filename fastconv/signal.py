"""Drop-ins for numpy.convolve, numpy.correlate and scipy.signal.convolve2d/correlate2d.

Replacing ``np.convolve`` with ``fastconv.convolve`` (or ``scipy.signal.correlate2d``
with ``fastconv.correlate2d``) keeps the signatures, defaults, accepted spellings,
output shapes and dtypes, the argument swapping and the errors (exception type and
message) of the function replaced, whose own argument handling is replicated here
step by step. The values agree to float rounding, not bit for bit: fastconv sums in
another order (and long kernels go through an FFT), so about half the elements of a
float32 result differ from NumPy's or SciPy's in the last bits. The tests hold every
element to ``|fastconv - numpy| <= tol * sqrt(K) * T``, with K the taps summed per
output, ``tol`` 8e-6 for float32 and 4e-14 for float64, and T the size of the terms
that output sums: the Cauchy-Schwarz bound ``||a over the window|| * ||v||`` (for the
FFT engines ``||a|| * ||v||``, since an FFT rounds every output at the size of the
whole transform). An output that cancels large terms is exact only to their size,
not to its own. NaN and Inf land where
NumPy and SciPy put them.

Which inputs run on fastconv
----------------------------
When both inputs are real numbers (bool, integer or floating) and NumPy's promotion of
the two gives float32 or float64 -- the dtype NumPy and SciPy would compute and return
-- the result is computed by fastconv, in that dtype. float32 stays float32; float32
with float64 gives float64, as in NumPy; an int64 or Python-int input with a float32
one gives float64, again as NumPy does. Every other input (integers with integers,
bools, float16 alone, longdouble, complex, object, strings, empty inputs, ndarray
subclasses, other array libraries) and every unusual ``fillvalue`` is handed to
NumPy/SciPy itself, so the result, or the error, is theirs exactly. Very small problems
(a few thousand multiply-adds) also go to NumPy's or SciPy's own C loop, whose call
overhead (1-3 us) is below that of any kernel call from Python (~15 us).

The one deliberate difference: SciPy divides by zero (SIGFPE, the interpreter dies) when
asked to wrap or reflect an empty image into a non-empty output; fastconv raises
ValueError there.

How it is computed
------------------
This module holds the public functions and NumPy's and SciPy's argument rules; the
engines live in ``fastconv._signal``. 2-D: ``fastconv.conv2d`` on the image as
(1, H, W, 1) and the kernel as (KH, KW, 1, 1), with the padding SciPy's modes imply,
the boundary extension materialised only where it is not zero, or an overlap-save FFT
for large kernels. 1-D: conv2d on the signal as one image row (cut into one row per
thread for long kernels), an overlap-save FFT, or one circular FFT. A cost model
chooses, as ``scipy.signal.choose_conv_method`` chooses between its paths.
"""
from __future__ import annotations

import operator
from types import SimpleNamespace
from typing import Any, Callable, Optional, cast

import numpy as np

from ._geometry import FULL as _FULL, SAME as _SAME, VALID as _VALID
from ._geometry import mode_output_size, numpy_window
from ._signal import cost as _cost
from ._signal import engines as _engines
from ._signal.border import FILL as _FILL, REFLECT as _REFLECT, SYMM as _SYMM, WRAP as _WRAP
from ._signal.policy import DEFAULT, Policy
from ._typing import ArrayLike

__all__ = ["convolve", "correlate", "convolve2d", "correlate2d"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def with_policy(policy: Policy) -> SimpleNamespace:
    """The four drop-ins with ``policy``'s choices (engine, threads, thresholds) instead
    of the defaults: the internal entry point for tests and the benchmark."""
    return SimpleNamespace(
        convolve=lambda a, v, mode="full": _convolve(a, v, mode, policy),
        correlate=lambda a, v, mode="valid": _correlate(a, v, mode, policy),
        convolve2d=lambda in1, in2, mode="full", boundary="fill", fillvalue=0: _scipy_2d(
            in1, in2, mode, boundary, fillvalue, True, policy),
        correlate2d=lambda in1, in2, mode="full", boundary="fill", fillvalue=0: _scipy_2d(
            in1, in2, mode, boundary, fillvalue, False, policy),
    )


# ---------------------------------------------------------------------------------------
# Which inputs the kernels take
# ---------------------------------------------------------------------------------------
def _plain(obj: Any) -> bool:
    """True for ndarrays, NumPy scalars and Python sequences/numbers; False for anything
    that NumPy/SciPy would dispatch elsewhere (ndarray subclasses, other array libraries)."""
    kind = type(obj)
    if kind is np.ndarray or isinstance(obj, np.generic):
        return True
    if isinstance(obj, np.ndarray):
        return False
    return not (hasattr(kind, "__array_function__") or hasattr(kind, "__array_namespace__"))


def _compute_dtype(x: np.ndarray, y: np.ndarray) -> Optional[np.dtype]:
    """float32/float64 when both inputs are real and promote to it, else None (delegate)."""
    if x.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        return None
    dtype = np.result_type(x, y)
    return dtype if dtype in _FLOATS else None


# ---------------------------------------------------------------------------------------
# NumPy's argument rules (numpy/_core/numeric.py and multiarray's correlate converter)
# ---------------------------------------------------------------------------------------
_NUMPY_MODES = {"valid": _VALID, "same": _SAME, "full": _FULL}


def _numpy_mode(mode: Any) -> int:
    """numpy's ``PyArray_CorrelatemodeConverter``: exact strings, or the ints 0, 1, 2."""
    if isinstance(mode, str):
        code = _NUMPY_MODES.get(mode) if type(mode) is str else _NUMPY_MODES.get(str(mode))
        if code is not None:
            return code
        if mode[:1] in ("v", "V", "s", "S", "f", "F"):
            raise ValueError(
                "Use one of 'valid', 'same', or 'full' for convolve/correlate mode")
        raise ValueError(f"mode must be one of 'valid', 'same', or 'full' (got {mode!r})")
    if isinstance(mode, (bool, np.bool_)):
        raise TypeError("convolve/correlate mode not understood")
    try:
        number = operator.index(mode)
    except TypeError:
        raise TypeError("convolve/correlate mode not understood") from None
    if not -2**31 <= number < 2**31:  # a C int
        raise TypeError("convolve/correlate mode not understood")
    if number not in (_VALID, _SAME, _FULL):
        raise ValueError("integer convolve/correlate mode must be 0, 1, or 2")
    return number


def _numpy_depth_error(arr: np.ndarray) -> None:
    if arr.ndim > 1:
        raise ValueError("object too deep for desired array")
    if arr.ndim < 1:
        raise ValueError("object of too small depth for desired array")


def convolve(a: ArrayLike, v: ArrayLike, mode: Any = "full") -> np.ndarray:
    """Discrete linear convolution of two 1-D sequences: ``numpy.convolve``, faster.

    Same signature, defaults, result and errors as ``numpy.convolve`` (see its docs):
    ``mode`` is 'full' (length N + M - 1), 'same' (length max(N, M)) or 'valid'
    (length max(N, M) - min(N, M) + 1), or 0/1/2; ``v`` and ``a`` are swapped when ``v``
    is longer. Values agree with NumPy's to float rounding (see the module docs for the
    bound), not bit for bit.

    Inputs promoting to float32 or float64 run on fastconv (the direct kernel, or an
    FFT for long kernels on finite data); float32 stays float32. All other inputs
    (integer, bool, complex, object, float16, longdouble ...) are passed to
    ``numpy.convolve`` itself, so results and errors are NumPy's exactly.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> fastconv.convolve([1.0, 2.0, 3.0], [0.0, 1.0, 0.5])
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> signal = np.random.rand(100_000).astype(np.float32)
    >>> taps = np.hanning(31).astype(np.float32)
    >>> smooth = fastconv.convolve(signal, taps, mode="same")   # was: np.convolve(...)
    >>> smooth.dtype, smooth.shape
    (dtype('float32'), (100000,))
    >>> np.allclose(smooth, np.convolve(signal, taps, mode="same"), rtol=1e-5, atol=1e-4)
    True
    """
    return _convolve(a, v, mode, DEFAULT)


def _convolve(a: Any, v: Any, mode: Any, policy: Policy) -> np.ndarray:
    if _numpy_small(a, v, policy):
        return np.convolve(a, v, mode)
    if not (_plain(a) and _plain(v)):
        return np.convolve(a, v, mode)
    a_arr = np.array(a, copy=None, ndmin=1)
    v_arr = np.array(v, copy=None, ndmin=1)
    if len(a_arr) == 0:
        raise ValueError("a cannot be empty")
    if len(v_arr) == 0:
        raise ValueError("v cannot be empty")
    code = _numpy_mode(mode)
    dtype = _compute_dtype(a_arr, v_arr)
    if dtype is None:
        return np.convolve(a, v, mode)
    if len(v_arr) > len(a_arr):
        a_arr, v_arr = v_arr, a_arr
    _numpy_depth_error(a_arr)
    _numpy_depth_error(v_arr)
    return _numpy_correlate(a_arr, v_arr[::-1], code, dtype, policy)


def correlate(a: ArrayLike, v: ArrayLike, mode: Any = "valid") -> np.ndarray:
    """Cross-correlation of two 1-D sequences: ``numpy.correlate``, faster.

    ``c[k] = sum_n a[n + k] * conj(v[n])``, with NumPy's output lengths for 'valid'
    (the default), 'same' and 'full'; when ``v`` is longer than ``a`` the result is
    NumPy's time-reversed correlation of the swapped pair, exactly as NumPy computes it.
    Values agree with NumPy's to float rounding (see the module docs for the bound).

    Inputs promoting to float32 or float64 run on fastconv; float32 stays float32.
    All other inputs (integer, bool, complex, object, float16, longdouble ...) are passed
    to ``numpy.correlate`` itself, so results and errors are NumPy's exactly.

    Examples
    --------
    >>> import fastconv
    >>> fastconv.correlate([1.0, 2.0, 3.0], [0.0, 1.0, 0.5])
    array([3.5])
    >>> fastconv.correlate([1.0, 2.0, 3.0], [0.0, 1.0, 0.5], "full")
    array([0.5, 2. , 3.5, 3. , 0. ])
    """
    return _correlate(a, v, mode, DEFAULT)


def _correlate(a: Any, v: Any, mode: Any, policy: Policy) -> np.ndarray:
    if _numpy_small(a, v, policy):
        return np.correlate(a, v, mode)
    if not (_plain(a) and _plain(v)):
        return np.correlate(a, v, mode)
    code = _numpy_mode(mode)
    a_arr = np.asarray(a)
    v_arr = np.asarray(v)
    dtype = _compute_dtype(a_arr, v_arr)
    if dtype is None:
        return np.correlate(a, v, mode)
    _numpy_depth_error(a_arr)
    _numpy_depth_error(v_arr)
    if len(a_arr) == 0:
        raise ValueError("first array argument cannot be empty")
    if len(v_arr) == 0:
        raise ValueError("second array argument cannot be empty")
    if len(a_arr) < len(v_arr):
        # NumPy correlates the swapped pair and reverses the result in place.
        return np.ascontiguousarray(_numpy_correlate(v_arr, a_arr, code, dtype, policy)[::-1])
    return _numpy_correlate(a_arr, v_arr, code, dtype, policy)


def _numpy_small(a: Any, v: Any, policy: Policy) -> bool:
    """Tiny ndarray problems: NumPy's C loop beats any call into a kernel."""
    return (type(a) is np.ndarray and type(v) is np.ndarray
            and _cost.numpy_is_faster(a.size * v.size, policy))


def _numpy_correlate(x: np.ndarray, w: np.ndarray, code: int, dtype: np.dtype,
                     policy: Policy) -> np.ndarray:
    """NumPy's ``_pyarray_correlate`` for len(x) >= len(w), real inputs, no conjugation:
    out[i] = sum_k x[i - n_left + k] * w[k], summing only over taps inside x."""
    n1, n2 = len(x), len(w)
    n_left, length = numpy_window(n1, n2, code)
    x = x.astype(dtype, copy=False)
    w = w.astype(dtype, copy=False)
    if n2 == 1:  # one tap: NumPy's one-term dot products are exactly these products
        product: np.ndarray = x * w[0]
        return product
    engine = _cost.choose_1d(n1, n2, length, dtype, policy)
    if engine[0] == "numpy":
        return np.correlate(x, w, ("valid", "same", "full")[code])
    return _engines.correlate1d(x, w, n_left, length, policy, engine)


# ---------------------------------------------------------------------------------------
# SciPy's argument rules (scipy/signal/_signaltools.py and _sigtools._convolve2d)
# ---------------------------------------------------------------------------------------
_SCIPY_MODES = {"valid": _VALID, "same": _SAME, "full": _FULL}
_SCIPY_BOUNDARIES = {"fill": _FILL, "pad": _FILL, "wrap": _WRAP, "circular": _WRAP,
                     "symm": _SYMM, "symmetric": _SYMM, "reflect": _REFLECT}


def _valfrommode(mode: Any) -> int:
    try:
        return _SCIPY_MODES[mode]
    except KeyError as e:
        raise ValueError("Acceptable mode flags are 'valid', 'same', or 'full'.") from e


def _bvalfromboundary(boundary: Any) -> int:
    try:
        return _SCIPY_BOUNDARIES[boundary]
    except KeyError as e:
        raise ValueError("Acceptable boundary flags are 'fill', 'circular' "
                         "(or 'wrap'), and 'symmetric' (or 'symm').") from e


def _inputs_swap_needed(mode: Any, shape1: tuple[int, ...], shape2: tuple[int, ...]) -> bool:
    """SciPy's rule: in 'valid' mode one input must be at least as large as the other in
    every dimension; swap when it is the second."""
    if mode != "valid":
        return False
    ok1 = all(a >= b for a, b in zip(shape1, shape2))
    ok2 = all(b >= a for a, b in zip(shape1, shape2))
    if not (ok1 or ok2):
        raise ValueError("For 'valid' mode, one must be at least "
                         "as large as the other in every dimension")
    return not ok1


def _fill_scalar(fillvalue: Any, dtype: np.dtype) -> Optional[np.generic]:
    """``fillvalue`` as a ``dtype`` scalar where SciPy converts it plainly, else None.

    SciPy converts Python and NumPy scalars by value, and arrays only by a safe cast;
    anything else (lists, strings, None, complex, unsafe arrays) is left to SciPy.
    """
    kind = type(fillvalue)
    if kind in (bool, int, float) or (isinstance(fillvalue, np.generic)
                                      and fillvalue.dtype.kind in "biuf"):
        if kind is int and not -2**63 <= fillvalue < 2**63:
            return None
        with np.errstate(all="ignore"):
            return cast(np.generic, np.asarray(fillvalue).astype(dtype)[()])
    if (kind is np.ndarray and fillvalue.dtype.kind in "biuf" and fillvalue.size == 1
            and np.can_cast(fillvalue.dtype, dtype)):
        return cast(np.generic, fillvalue.reshape(()).astype(dtype)[()])
    return None


def convolve2d(in1: ArrayLike, in2: ArrayLike, mode: str = "full", boundary: str = "fill",
               fillvalue: Any = 0) -> np.ndarray:
    """Convolve two 2-D arrays: ``scipy.signal.convolve2d``, faster.

    Same signature, defaults, result and errors as ``scipy.signal.convolve2d``:
    ``mode`` 'full' | 'valid' | 'same' (the shape of ``in1``, centred on the full
    output), ``boundary`` 'fill'/'pad' (pad with ``fillvalue``), 'wrap'/'circular' or
    'symm'/'symmetric'; in 'valid' mode one input must be at least as large as the other
    in every dimension, and they are swapped if needed. Values agree with SciPy's to
    float rounding (see the module docs for the bound), not bit for bit.

    Inputs promoting to float32 or float64 run on fastconv; float32 stays float32.
    All other inputs (integer, bool, complex, object, float16, longdouble, empty arrays,
    unusual fill values ...) are passed to ``scipy.signal.convolve2d`` itself, so results
    and errors are SciPy's exactly.

    Examples
    --------
    >>> import numpy as np
    >>> import fastconv
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> fastconv.convolve2d(image, np.ones((2, 2)), mode="valid")
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    return _scipy_2d(in1, in2, mode, boundary, fillvalue, True, DEFAULT)


def correlate2d(in1: ArrayLike, in2: ArrayLike, mode: str = "full", boundary: str = "fill",
                fillvalue: Any = 0) -> np.ndarray:
    """Cross-correlate two 2-D arrays: ``scipy.signal.correlate2d``, faster.

    Same signature, defaults, result and errors as ``scipy.signal.correlate2d``, including
    its 'same' centring (the kernel's centre at ``(k - 1) // 2``), its boundary aliases
    and the reversed output when 'valid' mode swaps the inputs. Values agree with
    SciPy's to float rounding (see the module docs for the bound), not bit for bit.

    Inputs promoting to float32 or float64 run on fastconv; float32 stays float32.
    All other inputs (integer, bool, complex, object, float16, longdouble, empty arrays,
    unusual fill values ...) are passed to ``scipy.signal.correlate2d`` itself, so results
    and errors are SciPy's exactly.

    Examples
    --------
    A Sobel edge filter, swapped in for ``scipy.signal.correlate2d``:

    >>> import numpy as np
    >>> import scipy.signal
    >>> import fastconv
    >>> photo = np.random.rand(512, 512).astype(np.float32)
    >>> sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
    >>> edges = fastconv.correlate2d(photo, sobel, mode="same", boundary="symm")
    >>> expected = scipy.signal.correlate2d(photo, sobel, mode="same", boundary="symm")
    >>> edges.dtype, edges.shape
    (dtype('float32'), (512, 512))
    >>> bool(np.abs(edges - expected).max() <= 8e-6 * 3 * np.abs(expected).max())
    True
    """
    return _scipy_2d(in1, in2, mode, boundary, fillvalue, False, DEFAULT)


def _scipy_2d(in1: Any, in2: Any, mode: Any, boundary: Any, fillvalue: Any, flip: bool,
              policy: Policy) -> np.ndarray:
    """SciPy's convolve2d/correlate2d argument handling, in SciPy's order."""
    from scipy import signal as sp_signal
    scipy_func: Callable[..., np.ndarray] = (sp_signal.convolve2d if flip
                                             else sp_signal.correlate2d)
    if not (_plain(in1) and _plain(in2)):
        return scipy_func(in1, in2, mode, boundary, fillvalue)
    image = np.asarray(in1)
    kernel = np.asarray(in2)
    if not image.ndim == kernel.ndim == 2:
        name = "convolve2d" if flip else "correlate2d"
        raise ValueError(f"{name} inputs must both be 2-D arrays")
    swapped = _inputs_swap_needed(mode, image.shape, kernel.shape)
    if swapped:
        image, kernel = kernel, image
    code = _valfrommode(mode)
    bval = _bvalfromboundary(boundary)
    if image.size == 0 or kernel.size == 0:
        _check_empty_extension(image.shape, kernel.shape, code, bval, boundary)
        return scipy_func(in1, in2, mode, boundary, fillvalue)
    dtype = _compute_dtype(image, kernel)
    if dtype is None:
        return scipy_func(in1, in2, mode, boundary, fillvalue)
    if bval == _REFLECT:  # in SciPy's table, refused by its C code
        raise ValueError("Incorrect boundary value.")
    if _cost.scipy_is_faster(_scipy_macs(image.shape, kernel.shape, code), policy):
        return scipy_func(in1, in2, mode, boundary, fillvalue)
    fill = dtype.type(0)
    if bval == _FILL:
        fill = _fill_scalar(fillvalue, dtype)
        if fill is None:
            return scipy_func(in1, in2, mode, boundary, fillvalue)
    out = _engines.scipy_correlate2d(image.astype(dtype, copy=False),
                                     kernel.astype(dtype, copy=False), code, bval, fill, flip,
                                     policy)
    if swapped and not flip:
        out = out[::-1, ::-1]
    return out


def _scipy_macs(in_shape: tuple[int, ...], k_shape: tuple[int, ...], code: int) -> int:
    """Multiply-adds of SciPy's loop: every output pixel times the whole kernel."""
    out = [mode_output_size(n, k, code) for n, k in zip(in_shape, k_shape)]
    return out[0] * out[1] * k_shape[0] * k_shape[1]


def _check_empty_extension(in_shape: tuple[int, ...], k_shape: tuple[int, ...], code: int,
                           bval: int, boundary: Any) -> None:
    """Refuse what would crash SciPy: wrapping or reflecting an empty image.

    SciPy's C loop computes ``index % size`` for every output pixel and kernel tap that
    falls outside the image; with a zero-sized image axis that is a division by zero
    (SIGFPE, the interpreter dies). Empty inputs are otherwise SciPy's business.
    """
    if bval not in (_WRAP, _SYMM) or min(in_shape) > 0:
        return
    out_shape = [mode_output_size(n, k, code) for n, k in zip(in_shape, k_shape)]
    if min(out_shape) <= 0:
        return  # an empty output, or SciPy's own "negative dimensions" error
    if k_shape[0] >= 1 and (in_shape[0] == 0 or k_shape[1] >= 1):
        raise ValueError(
            f"boundary={boundary!r} cannot extend an empty image of shape {tuple(in_shape)} "
            f"to an output of shape {tuple(out_shape)} (there is nothing to repeat); "
            f"use boundary='fill' or non-empty inputs")

"""Argument validation: the one home for what a caller may pass.

Every public function runs its arguments through these helpers, in SciPy's order
(asarray -> ndim -> agreement -> dtype rule -> normalised ints -> out), before any
native code runs. After that the kernels trust everything. Each failure is a
ValueError or TypeError that names the argument.
"""
from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from ._typing import ArrayLike, IntPair, PadPairs

# The kernels index with Py_ssize_t: every size, stride, dilation and padded extent
# they receive must fit, or their index arithmetic would overflow.
INDEX_MAX = int(np.iinfo(np.intp).max)

COMPUTE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
PADDING_STRINGS = ("valid", "same")
# np.pad's modes that conv2d's pad_mode accepts (np.pad's own spelling and meaning).
PAD_MODES = ("constant", "reflect", "symmetric", "edge", "wrap")


# ---------------------------------------------------------------------------
# Integers and pairs of integers
# ---------------------------------------------------------------------------
def as_int(value: Any, name: str) -> int:
    """An integer argument, refusing bools, floats and other look-alikes (like ``range``)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(
            f"{name} must be an integer, got {type(value).__name__} {value!r}"
        ) from None


def _in_index_range(n: int, value: Any, name: str) -> int:
    if n > INDEX_MAX:
        raise ValueError(f"{name} must be at most {INDEX_MAX} (2**63 - 1), got {value!r}")
    return n


def positive_int(value: Any, name: str) -> int:
    """An integer >= 1."""
    n = as_int(value, name)
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return _in_index_range(n, value, name)


def nonnegative_int(value: Any, name: str) -> int:
    """An integer >= 0."""
    n = as_int(value, name)
    if n < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return _in_index_range(n, value, name)


def _int_pair(value: Any, name: str, convert: Callable[[Any, str], int]) -> IntPair:
    """An int or a pair of ints, each through ``convert``, as a tuple ``(h, w)``."""
    if isinstance(value, (tuple, list)):
        items = list(value)
        if len(items) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return (convert(items[0], name), convert(items[1], name))
    n = convert(value, name)
    return (n, n)


def nonnegative_pair(value: Any, name: str) -> IntPair:
    """Normalise an int or a pair of ints, each >= 0, to a tuple ``(h, w)``."""
    return _int_pair(value, name, nonnegative_int)


def positive_pair(value: Any, name: str) -> IntPair:
    """Normalise an int or a pair of ints, each >= 1, to a tuple ``(h, w)``."""
    if isinstance(value, np.ndarray):
        if value.ndim > 1 or value.size > 2:  # never list a large (or huge zero-stride) array
            raise ValueError(
                f"{name} must be an int or a pair of ints, got an array of shape {value.shape}"
            )
        value = value.tolist()
    pair = _int_pair(value, name, as_int)
    if min(pair) < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    _in_index_range(max(pair), value, name)
    return pair


def padding_spec(padding: Any, name: str = "padding") -> Union[str, PadPairs]:
    """'valid' or 'same' (any case), or explicit padding as ((top, bottom), (left, right)).

    Accepts an int p, a pair (ph, pw) or a pair of pairs. Resolving 'same' needs the
    geometry, so it is returned as the string (see ``_geometry.resolve_padding``).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode in PADDING_STRINGS:
            return mode
        raise ValueError(
            f"{name} must be one of {PADDING_STRINGS}, an int, a pair or a pair of pairs; "
            f"got {padding!r}"
        )
    if padding is None:
        raise TypeError(f"{name} must be 'valid', 'same', an int or pairs of ints, got None")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(
                f"{name} must be 'valid', 'same', an int, a pair (ph, pw) or "
                f"((top, bottom), (left, right)); got {padding!r}"
            )
        axes = []
        for axis in padding:
            if isinstance(axis, (tuple, list)):
                if len(axis) != 2:
                    raise ValueError(
                        f"{name} per axis must be an int or a pair (before, after); got {padding!r}"
                    )
                axes.append((nonnegative_int(axis[0], name), nonnegative_int(axis[1], name)))
            else:
                p = nonnegative_int(axis, name)
                axes.append((p, p))
        return (axes[0], axes[1])
    p = nonnegative_int(padding, name)
    return ((p, p), (p, p))


def choice(value: Any, options: Sequence[str], name: str) -> str:
    """One of a fixed set of strings."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def pad_mode(value: Any) -> str:
    """One of np.pad's modes in ``PAD_MODES``."""
    if not isinstance(value, str) or value not in PAD_MODES:
        raise ValueError(
            f"pad_mode must be one of {PAD_MODES} (np.pad's modes), got {value!r}"
        )
    return value


def cval(value: Any, dtype: np.dtype) -> Any:
    """The constant of pad_mode="constant": a real scalar, in the compute dtype."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        raise TypeError(f"cval must be a real number, got {type(value).__name__} {value!r}")
    return dtype.type(value)


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------
def cpu_count() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_count(value: Any, name: str) -> int:
    """A thread count: a positive integer, or -1 for every core this process may use."""
    n = as_int(value, name)
    if n == -1:
        return cpu_count()
    if n < 1:
        raise ValueError(f"{name} must be a positive integer or -1 (all cores), got {n}")
    return n


def workers(value: Any) -> Optional[int]:
    """The ``workers=`` argument: None (the global setting) or a resolved thread count.

    Checked up front, so that a bad value fails even when a call has no work.
    """
    return None if value is None else thread_count(value, "workers")


# ---------------------------------------------------------------------------
# Arrays and the dtype rule
# ---------------------------------------------------------------------------
def as_array(value: ArrayLike, name: str) -> np.ndarray:
    """np.asarray with the argument's name on failure; rejects non-real dtypes early."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        # Not type(e): subclasses such as UnicodeDecodeError take other arguments.
        kind = TypeError if isinstance(e, TypeError) else ValueError
        raise kind(f"{name} could not be converted to an array: {e}") from None
    if arr.dtype.kind not in "biuf" or arr.dtype.fields is not None:
        raise TypeError(
            f"{name} has unsupported dtype {arr.dtype}; fastconv computes on real numbers "
            f"(float32 or float64; bool, integer and float16 inputs are converted)"
        )
    return arr


def result_dtype(*arrays: Optional[np.ndarray]) -> np.dtype:
    """np.result_type(*arrays, float32), which must be float32 or float64.

    This is NumPy's own promotion: float16, bool, int8, uint8, int16 and uint16 compute
    in float32; int32, int64 and the other wide integers in float64; float32 stays
    float32. Extended precision is refused rather than silently rounded.
    """
    dtype = np.result_type(*[a for a in arrays if a is not None], np.float32)
    if dtype not in COMPUTE_DTYPES:
        raise TypeError(
            f"inputs promote to {dtype}, but fastconv computes in float32 or float64 only"
        )
    return dtype


def pool_dtypes(x: np.ndarray, op: str) -> tuple[np.dtype, np.dtype]:
    """(dtype the kernel reads, dtype of the result) for pooling ``op``.

    Pooling only selects or averages, so integers need no float conversion:
    max_pool2d keeps every integer width and bool exactly (bool is read as uint8, whose
    max is the logical or); avg_pool2d of integers and bool gives float64, as np.mean
    does. Floats follow ``result_dtype`` (float16 computes in float32).
    """
    if x.dtype.kind in "biu":
        read = np.dtype(np.uint8) if x.dtype.kind == "b" else x.dtype
        return read, (x.dtype if op == "max_pool2d" else np.dtype(np.float64))
    dtype = result_dtype(x)
    return dtype, dtype


def batched(x: np.ndarray, name: str = "x") -> tuple[np.ndarray, bool]:
    """Accept (N, H, W, C) or one unbatched (H, W, C) image; return the 4-D view and a flag."""
    if x.ndim == 4:
        return x, False
    if x.ndim == 3:
        return x[np.newaxis], True
    raise ValueError(
        f"{name} must have 3 (H, W, C) or 4 (N, H, W, C) dimensions, got {x.ndim} "
        f"with shape {x.shape}"
    )


def nonempty_image(x4: np.ndarray, name: str = "x") -> None:
    if x4.shape[1] == 0 or x4.shape[2] == 0:
        raise ValueError(f"{name} has zero height or width: shape {x4.shape}")


def conv_operands(x4: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                  groups: Any) -> int:
    """Check that x, w, bias and groups agree for a convolution; return groups as an int."""
    if w.ndim != 4:
        raise ValueError(
            f"w must have 4 dimensions (KH, KW, C_in // groups, C_out), got shape {w.shape}"
        )
    n_groups = as_int(groups, "groups")
    if n_groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups!r}")
    k_h, k_w, cin_per_group, c_out = w.shape
    c_in = x4.shape[3]
    if c_in % n_groups or c_out % n_groups:
        raise ValueError(
            f"groups={n_groups} must divide both x's channels ({c_in}) and w's "
            f"output channels ({c_out})"
        )
    if cin_per_group * n_groups != c_in:
        raise ValueError(
            f"x has {c_in} channels but w of shape {w.shape} with groups={n_groups} "
            f"expects {cin_per_group * n_groups} (w.shape[2] * groups)"
        )
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) to match w, got {bias.shape}")
    if k_h == 0 or k_w == 0:
        raise ValueError(f"w has an empty kernel window: shape {w.shape}")
    return n_groups


def taps(kernel: np.ndarray, name: str) -> None:
    """A 1-D kernel of a separable filter: one axis, at least one tap."""
    if kernel.ndim != 1 or kernel.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {kernel.shape}")


# ---------------------------------------------------------------------------
# out=
# ---------------------------------------------------------------------------
def prepare_out(out: Optional[np.ndarray], shape: tuple[int, ...], dtype: np.dtype,
                inputs: Sequence[Optional[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``out`` and return (array the kernel writes, array returned to the caller).

    Without ``out`` both are a fresh array. When ``out`` overlaps an input the kernel
    writes a temporary that is copied into ``out`` afterwards, as NumPy ufuncs do.
    """
    if out is None:
        fresh = _empty(shape, dtype)
        return fresh, fresh
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray or None, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, but the result has shape {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, but the result has dtype {dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if any(a is not None and np.may_share_memory(out, a) for a in inputs):
        return _empty(shape, dtype), out
    return out, out


def _empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """np.empty, naming the result's shape when its byte size overflows (MemoryError passes)."""
    try:
        return np.empty(shape, dtype=dtype)
    except ValueError as e:  # NumPy: "array is too big" / "Maximum allowed dimension exceeded"
        raise ValueError(
            f"the result, of shape {tuple(shape)} and dtype {dtype}, is too large to allocate: {e}"
        ) from None


def finish(target: np.ndarray, result: np.ndarray) -> np.ndarray:
    """Copy a temporary into ``out`` when the kernel could not write there directly."""
    if target is not result:
        result[...] = target
    return result


# ---------------------------------------------------------------------------
# Gradients: the forward call's shapes
# ---------------------------------------------------------------------------
def shape_argument(value: Any, name: str, ndims: Sequence[int]) -> tuple[int, ...]:
    """A shape such as ``input_shape``: a sequence of non-negative ints of an allowed length."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.size > 8:
            raise ValueError(f"{name} must be a tuple of ints, got an array of shape {value.shape}")
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a tuple of ints, got {type(value).__name__} {value!r}")
    if len(value) not in ndims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, ndims))} entries, got {len(value)}: {value!r}"
        )
    return tuple(nonnegative_int(v, name) for v in value)


def matching_ndim(a: np.ndarray, a_name: str, b_ndim: int, b_name: str) -> None:
    """A gradient's arrays are all batched (4-D) or all one unbatched image (3-D)."""
    if a.ndim != b_ndim:
        raise ValueError(
            f"{a_name} has {a.ndim} dimensions but {b_name} has {b_ndim}: both must be "
            f"batched (N, H, W, C) or both unbatched (H, W, C)"
        )


def same_batch(a_shape: Sequence[int], a_name: str, b_shape: Sequence[int], b_name: str) -> None:
    if a_shape[0] != b_shape[0]:
        raise ValueError(
            f"{a_name} has batch size {a_shape[0]} but {b_name} has {b_shape[0]} "
            f"(shapes {tuple(a_shape)} and {tuple(b_shape)})"
        )


def gradient_channels(c_in: int, kernel_shape: Sequence[int], dy_channels: int, groups: Any,
                      kernel_name: str = "w") -> int:
    """Check that a gradient's channels agree with the forward call's; return groups.

    ``c_in`` is the forward input's channels, ``kernel_shape`` the forward kernel's
    (KH, KW, C_in // groups, C_out) and ``dy_channels`` the gradient's channels, C_out.
    """
    if len(kernel_shape) != 4:
        raise ValueError(f"{kernel_name} must have 4 dimensions (KH, KW, C_in // groups, "
                         f"C_out), got shape {tuple(kernel_shape)}")
    n_groups = positive_int(groups, "groups")
    k_h, k_w, cin_per_group, c_out = kernel_shape
    if c_out != dy_channels:
        raise ValueError(f"dy has {dy_channels} channels but {kernel_name} of shape "
                         f"{tuple(kernel_shape)} has {c_out} output channels")
    if c_in % n_groups or c_out % n_groups:
        raise ValueError(f"groups={n_groups} must divide both the input's channels ({c_in}) "
                         f"and the output channels ({c_out})")
    if cin_per_group * n_groups != c_in:
        raise ValueError(f"the input has {c_in} channels but {kernel_name} of shape "
                         f"{tuple(kernel_shape)} with groups={n_groups} expects "
                         f"{cin_per_group * n_groups} ({kernel_name}.shape[2] * groups)")
    if k_h == 0 or k_w == 0:
        raise ValueError(f"{kernel_name} has an empty kernel window: shape {tuple(kernel_shape)}")
    return n_groups

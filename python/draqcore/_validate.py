"""Argument conversion and validation shared by the public kernel wrappers.

Every public function converts its array arguments here: any real numeric dtype (float16/32/64,
integers, bool), any memory layout (Fortran order, strides) is accepted and converted to a new
C-contiguous float32 array when needed. Caller arrays are never written to.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

__all__ = ["as_sequence", "as_cost", "as_threads", "as_nonnegative_int", "as_seed", "as_band", "INT64_MAX"]


def _as_float32(x: Any, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        arr = x
        if arr.dtype == np.float32 and arr.flags.c_contiguous:
            return arr  # the common case: nothing to convert (and nothing will write to it)
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:  # ragged nested lists and the like
            raise TypeError(f"{name}: cannot be read as a numeric array ({exc})") from None
    kind = arr.dtype.kind
    if kind not in "fiub":
        raise TypeError(
            f"{name}: expected a real numeric array, got dtype {arr.dtype} "
            "(float16/32/64, integer and bool arrays are accepted)"
        )
    # np.asarray(order="C") keeps the rank (np.ascontiguousarray would turn a 0-d scalar into a
    # 1-D array of one element, which the shape checks would then accept as a sequence).
    if kind == "f" and arr.dtype.itemsize > 4:
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            out = np.asarray(arr, dtype=np.float32, order="C")
        if not np.isfinite(out).all() and np.isfinite(arr).all():
            raise ValueError(f"{name}: contains values too large for float32 (|x| > 3.4e38)")
        return out
    return np.asarray(arr, dtype=np.float32, order="C")


def as_sequence(x: Any, name: str) -> np.ndarray:
    """Frame features as a C-contiguous float32 array of shape (T, d).

    A 1-D input of length T is read as (T, 1). Raises ``ValueError`` for other ranks (a 0-d
    scalar is not a sequence) and for empty inputs, ``TypeError`` for non-numeric dtypes. NaN/Inf are detected by the kernels
    (for free, while they compute row norms) and reported with the argument's name.
    """
    arr = _as_float32(x, name)
    shape = arr.shape
    if len(shape) == 2 and shape[0] and shape[1]:
        return arr
    if len(shape) == 1:
        arr = arr.reshape(-1, 1)
        shape = arr.shape
    if len(shape) != 2:
        raise ValueError(f"{name}: expected shape (T, d) or (T,), got {arr.ndim}-D shape {shape}")
    if shape[0] == 0:
        raise ValueError(f"{name}: is empty (no frames)")
    if shape[1] == 0:
        raise ValueError(f"{name}: has no feature columns (shape {shape})")
    return arr


def as_cost(x: Any, name: str = "cost") -> np.ndarray:
    """A cost matrix as a C-contiguous float32 array of shape (n, m), n, m >= 1."""
    arr = _as_float32(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D cost matrix, got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: is empty (shape {arr.shape})")
    return arr


# Counts and sizes reach the kernels as signed 64-bit integers.
INT64_MAX = 2**63 - 1


def as_nonnegative_int(x: Any, name: str, minimum: int = 0, maximum: int | None = INT64_MAX) -> int:
    """An integer in ``[minimum, maximum]`` (bools are refused: ``k=True`` is almost surely a
    mistake). ``maximum=None`` means unbounded."""
    if type(x) is int and x >= minimum and (maximum is None or x <= maximum):
        return x  # the common case, checked first (hot in small calls)
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an integer, got a bool")
    try:
        value = operator.index(x)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(x).__name__}") from None
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be at most {_describe(maximum)}, got {value}")
    return value


def _describe(limit: int) -> str:
    """``2**63 - 1`` reads better as "2**63 - 1" than as 9223372036854775807."""
    if limit > 2**20 and (limit + 1) & limit == 0:
        return f"2**{limit.bit_length()} - 1"
    return str(limit)


def as_threads(threads: Any) -> int:
    """``None`` (all cores) → 0, otherwise an integer in ``[1, max(1024, cores)]``.

    The kernels cap any request at the number of cores (more threads only add overhead);
    requests above ``max(1024, cores)`` are refused as mistakes.
    """
    if threads is None:
        return 0
    if type(threads) is int and 1 <= threads <= 1024:
        return threads
    return as_nonnegative_int(threads, "threads", minimum=1, maximum=_max_thread_request())


def _max_thread_request() -> int:
    from . import _core

    return int(_core.max_thread_request())


def as_seed(x: Any, name: str) -> int:
    """A seed or stream number, ``0 <= x < 2**64``."""
    return as_nonnegative_int(x, name, maximum=2**64 - 1)


def as_band(band: Any) -> int:
    """``None`` (no band) → -1, otherwise a radius >= 0 (any size: radii beyond the sequence
    lengths mean no band)."""
    if band is None:
        return -1
    value = as_nonnegative_int(band, "band", maximum=None)
    return min(value, 2**62)

"""Argument conversion and validation shared by the public kernel wrappers.

Every public function converts its array arguments here: any real numeric dtype (float16/32/64,
integers, bool), any memory layout (Fortran order, strides) is accepted and converted to a new
C-contiguous float32 array when needed. Caller arrays are never written to.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

__all__ = ["as_sequence", "as_cost", "as_threads", "as_nonnegative_int", "as_band"]


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
    if kind == "f" and arr.dtype.itemsize > 4:
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            out = np.ascontiguousarray(arr, dtype=np.float32)
        if not np.isfinite(out).all() and np.isfinite(arr).all():
            raise ValueError(f"{name}: contains values too large for float32 (|x| > 3.4e38)")
        return out
    return np.ascontiguousarray(arr, dtype=np.float32)


def as_sequence(x: Any, name: str) -> np.ndarray:
    """Frame features as a C-contiguous float32 array of shape (T, d).

    A 1-D input of length T is read as (T, 1). Raises ``ValueError`` for other ranks and for
    empty inputs, ``TypeError`` for non-numeric dtypes. NaN/Inf are detected by the kernels
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


def as_nonnegative_int(x: Any, name: str, minimum: int = 0) -> int:
    """An integer >= ``minimum`` (bools are refused: ``k=True`` is almost surely a mistake)."""
    if type(x) is int and x >= minimum:  # the common case, checked first (hot in small calls)
        return x
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an integer, got a bool")
    try:
        value = operator.index(x)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(x).__name__}") from None
    if value < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {value}")
    return value


def as_threads(threads: Any) -> int:
    """``None`` (all cores) → 0, otherwise an integer >= 1."""
    if threads is None:
        return 0
    return as_nonnegative_int(threads, "threads", minimum=1)


def as_band(band: Any) -> int:
    """``None`` (no band) → -1, otherwise a radius >= 0."""
    if band is None:
        return -1
    value = as_nonnegative_int(band, "band")
    return min(value, 2**62)

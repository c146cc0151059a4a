"""Dynamic time warping with traceback (paper Eq. 5) and one-sided warps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._validate import as_band, as_cost

__all__ = ["DtwResult", "dtw", "warp"]


@dataclass(frozen=True)
class DtwResult:
    """Result of :func:`dtw`.

    Attributes
    ----------
    cost : float
        ``D(n, m)``: the sum of the cost matrix along the optimal path, both ends included.
    path : ndarray of shape (L, 2), int64
        0-based ``(i, j)`` cells from ``(0, 0)`` to ``(n-1, m-1)`` (start to end), each step one
        of (1, 0), (0, 1), (1, 1); ``max(n, m) <= L <= n + m - 1``.
    """

    cost: float
    path: np.ndarray


def dtw(cost: ArrayLike, band: Optional[int] = None) -> DtwResult:
    """Optimal monotone alignment through a cost matrix (paper Eq. 5).

    ``D(i, j) = C(i, j) + min(D(i-1, j-1), D(i-1, j), D(i, j-1))``, ``D(0, 0) = C(0, 0)``,
    accumulated in float64. The traceback runs from ``(n-1, m-1)``; on exact ties it prefers the
    diagonal, then ``(i-1, j)``, then ``(i, j-1)``.

    Parameters
    ----------
    cost : array_like of shape (n, m)
        Any real dtype; never modified. Negative costs are allowed.
    band : int, optional
        Sakoe-Chiba radius ``r >= 0``; ``None`` means unconstrained. With ``N = n-1``,
        ``M = m-1``, cell ``(i, j)`` is allowed when
        ``|2 (j N - i M)| <= max(2 r min(N, M), max(N, M))``: for ``n <= m`` this is
        ``|j - i M/N| <= max(r, M/(2N))``, a band of radius ``r`` frames of the longer sequence
        around the straight line from ``(0, 0)`` to ``(n-1, m-1)``, widened to half the slope
        where it would otherwise contain no monotone path. ``band=0`` with ``n == m`` allows only
        the diagonal. A sequence of length 1 is never constrained.

    Returns
    -------
    DtwResult

    Raises
    ------
    ValueError
        Not 2-D, empty, NaN/Inf, negative band.
    TypeError
        Non-numeric dtype.
    MemoryError
        If the traceback (1 byte per cell inside the band) would exceed the memory limit.
    """
    c = as_cost(cost)
    total, path = _core.dtw(c, as_band(band), True)
    return DtwResult(cost=float(total), path=path)


def warp(path: ArrayLike, keep: int = 0) -> np.ndarray:
    """Keep one sequence unwarped: one matched frame of the other sequence per kept frame.

    The paper's mode for re-timing (Sec. 3): along the path, tuples where the kept sequence
    stands still (its index repeats) are dropped, keeping the first tuple of each run.

    Parameters
    ----------
    path : array_like of shape (L, 2), integer
        A DTW path as returned by :func:`dtw` (from (0, 0), steps (1,0), (0,1), (1,1)).
    keep : {0, 1}
        Which sequence keeps its timeline: 0 for the rows (``i``), 1 for the columns (``j``).

    Returns
    -------
    ndarray of shape (n_keep,), int64
        ``out[t]`` is the index in the other sequence matched to frame ``t`` of the kept one,
        non-decreasing.

    Raises
    ------
    ValueError
        ``keep`` not 0/1, or ``path`` not a valid monotone path from (0, 0).
    """
    if isinstance(keep, (bool, np.bool_)) or keep not in (0, 1):
        raise ValueError(f"keep: must be 0 or 1, got {keep!r}")
    p = _as_path(path)
    kept = p[:, keep]
    first_of_run = np.empty(len(p), dtype=bool)
    first_of_run[0] = True
    np.not_equal(kept[1:], kept[:-1], out=first_of_run[1:])
    return np.ascontiguousarray(p[first_of_run, 1 - keep], dtype=np.int64)


def _as_path(path: Any) -> np.ndarray:
    p = np.asarray(path)
    if p.dtype.kind not in "iu":
        raise ValueError(f"path: expected an integer array, got dtype {p.dtype}")
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        raise ValueError(f"path: expected shape (L, 2) with L >= 1, got {p.shape}")
    p = p.astype(np.int64, copy=False)
    if p[0, 0] != 0 or p[0, 1] != 0:
        raise ValueError(f"path: must start at (0, 0), starts at ({p[0, 0]}, {p[0, 1]})")
    steps = np.diff(p, axis=0)
    ok = ((steps == 0) | (steps == 1)).all(axis=1) & (steps.sum(axis=1) > 0)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            f"path: step {bad} goes from {tuple(map(int, p[bad]))} to {tuple(map(int, p[bad + 1]))}; "
            "steps must be (1, 0), (0, 1) or (1, 1)"
        )
    return p

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
        The sum of the cost matrix along the optimal path, both ends included: ``D(n-1, m-1)``,
        or ``min_j D(n-1, j)`` with ``subsequence=True``.
    path : ndarray of shape (L, 2), int64
        0-based ``(i, j)`` cells in order from start to end, each step one of (1, 0), (0, 1),
        (1, 1): from ``(0, 0)`` to ``(n-1, m-1)``, or from ``(0, j0)`` to ``(n-1, j1)`` with
        ``subsequence=True``.
    span : tuple of (int, int)
        ``(j0, j1)``: the first and last column of ``path`` (inclusive). ``(0, m-1)`` unless
        ``subsequence=True``.
    """

    cost: float
    path: np.ndarray
    span: tuple[int, int]


def dtw(cost: ArrayLike, band: Optional[int] = None, subsequence: bool = False) -> DtwResult:
    """Optimal monotone alignment through a cost matrix (paper Eq. 5), whole or subsequence.

    ``D(i, j) = C(i, j) + min(D(i-1, j-1), D(i-1, j), D(i, j-1))``, accumulated in float64.
    The traceback runs from the end cell; on exact ties it prefers the diagonal, then
    ``(i-1, j)``, then ``(i, j-1)``.

    * ``subsequence=False``: ``D(0, 0) = C(0, 0)``; the answer is ``D(n-1, m-1)`` and the path
      runs from ``(0, 0)`` to ``(n-1, m-1)``.
    * ``subsequence=True``: all of sequence a (the rows) is matched to a contiguous part of
      sequence b (the columns), as in librosa's ``sequence.dtw(C=..., subseq=True)`` with its
      default unit-weight steps. Free start: ``D(0, j) = C(0, j) + min(0, D(0, j-1))``, which for
      non-negative costs is ``D(0, j) = C(0, j)`` (starting at column ``j`` wins a tie with
      arriving from the left); the answer is ``min_j D(n-1, j)`` and, on ties, the smallest such
      ``j``. It is the minimum of the summed cost over every monotone path from any ``(0, j0)``
      to any ``(n-1, j1)``; the path runs from ``(0, j0)`` to ``(n-1, j1)`` and
      ``span = (j0, j1)``.

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
        the diagonal. A sequence of length 1 is never constrained. Not defined for a
        subsequence match (it has no fixed start and end to draw the line between): passing
        both raises ``ValueError``.
    subsequence : bool
        Match all rows to the best contiguous run of columns (see above).

    Returns
    -------
    DtwResult

    Raises
    ------
    ValueError
        Not 2-D, empty, NaN/Inf, negative band, ``band`` together with ``subsequence=True``.
    TypeError
        Non-numeric dtype.
    MemoryError
        If the traceback (1 byte per cell inside the band) would exceed the memory limit.

    Examples
    --------
    >>> import numpy as np, draqcore
    >>> C = np.array([[5, 1, 5, 5], [5, 5, 1, 5]], dtype=np.float32)
    >>> r = draqcore.dtw(C, subsequence=True)
    >>> r.cost, r.span, r.path.tolist()
    (2.0, (1, 2), [[0, 1], [1, 2]])
    """
    c = as_cost(cost)
    radius = as_band(band)
    if subsequence and radius >= 0:
        raise ValueError(
            "band: cannot be combined with subsequence=True (the band is defined around the line "
            "from (0, 0) to (n-1, m-1); a subsequence match has no fixed start or end)"
        )
    total, path, j0, j1 = _core.dtw(c, radius, True, bool(subsequence))
    return DtwResult(cost=float(total), path=path, span=(int(j0), int(j1)))


def warp(path: ArrayLike, keep: int = 0) -> np.ndarray:
    """Keep one sequence unwarped: one matched frame of the other sequence per kept frame.

    The paper's mode for re-timing (Sec. 3): along the path, tuples where the kept sequence
    stands still (its index repeats) are dropped, keeping the first tuple of each run.

    Parameters
    ----------
    path : array_like of shape (L, 2), integer
        A DTW path as returned by :func:`dtw`: steps (1,0), (0,1), (1,1), starting at index 0
        of the kept sequence — from (0, 0), or from (0, j0) for a subsequence path with
        ``keep=0`` (the output then holds absolute column indices ``j0 .. j1``).
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
        ``keep`` not 0/1, or ``path`` not a valid monotone path starting at index 0 of the kept
        sequence.
    """
    if isinstance(keep, (bool, np.bool_)) or keep not in (0, 1):
        raise ValueError(f"keep: must be 0 or 1, got {keep!r}")
    p = _as_path(path, keep)
    kept = p[:, keep]
    first_of_run = np.empty(len(p), dtype=bool)
    first_of_run[0] = True
    np.not_equal(kept[1:], kept[:-1], out=first_of_run[1:])
    return np.ascontiguousarray(p[first_of_run, 1 - keep], dtype=np.int64)


def _as_path(path: Any, keep: int) -> np.ndarray:
    p = np.asarray(path)
    if p.dtype.kind not in "iu":
        raise ValueError(f"path: expected an integer array, got dtype {p.dtype}")
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        raise ValueError(f"path: expected shape (L, 2) with L >= 1, got {p.shape}")
    p = p.astype(np.int64, copy=False)
    if p[0, keep] != 0 or p[0, 1 - keep] < 0:
        raise ValueError(
            f"path: must start at index 0 of the kept sequence ({'row' if keep == 0 else 'column'} 0), "
            f"starts at ({p[0, 0]}, {p[0, 1]})"
        )
    steps = np.diff(p, axis=0)
    ok = ((steps == 0) | (steps == 1)).all(axis=1) & (steps.sum(axis=1) > 0)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            f"path: step {bad} goes from {tuple(map(int, p[bad]))} to {tuple(map(int, p[bad + 1]))}; "
            "steps must be (1, 0), (0, 1) or (1, 1)"
        )
    return p

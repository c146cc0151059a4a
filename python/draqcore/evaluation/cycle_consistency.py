"""Cycle consistency errors for aligned video retrieval: FPE and CPE (paper Sec. 4, Fig. 3, Table 1).

A query is aligned to its top match, per-frame labels travel to the match and back again; a good
alignment brings every label home. Frame positions as labels give the Frame Position Error (FPE,
no annotation needed), phase labels of the query give the Cycle Phase Error (CPE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from ..dtw import warp
from .phase_agreement import as_phase_labels

__all__ = ["CycleErrors", "cycle_consistency"]


@dataclass(frozen=True)
class CycleErrors:
    """Result of :func:`cycle_consistency` for one query.

    Attributes
    ----------
    fpe : float
        Frame Position Error: ``mean_t (cycled_positions[t] - t)^2``, in squared sampled-frame
        indices (frame units of the sequences that were aligned, not native frames or seconds).
        The paper's definition ("the MSE between the original and cycle-warped frame position
        vector").
    fpe_normalized : float
        The same with positions divided by ``n - 1`` (the query's last frame is 1.0), i.e.
        ``fpe / (n - 1)^2``: comparable between queries of different lengths and frame rates;
        0.0 for a one-frame query. Not the paper's number; report ``fpe`` to compare with it.
    cpe : float or None
        Cycle Phase Error: ``mean_t |query_phases[cycled_positions[t]] - query_phases[t]|``, the
        mean absolute phase-index error after the cycle; ``None`` without ``query_phases``.
    cycled_positions : ndarray of shape (n,), int64
        For every query frame ``t``, the query frame whose label came back to ``t``.
    cycled_phases : ndarray of shape (n,), int64, or None
        ``query_phases[cycled_positions]``; ``None`` without ``query_phases``.
    """

    fpe: float
    fpe_normalized: float
    cpe: Optional[float]
    cycled_positions: np.ndarray
    cycled_phases: Optional[np.ndarray]


def _path(path: Any, name: str) -> np.ndarray:
    arr = np.asarray(path)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected an integer array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected shape (L, 2) with L >= 1, got {arr.shape}")
    # warp() also takes subsequence paths (from (0, j0)); a cycle needs whole-sequence paths.
    if arr[0, 0] != 0 or arr[0, 1] != 0:
        raise ValueError(f"{name}: must start at (0, 0), starts at ({arr[0, 0]}, {arr[0, 1]})")
    return arr


def _warp(path: np.ndarray, keep: int, name: str) -> np.ndarray:
    """:func:`draqcore.warp`, its errors naming our argument instead of ``path``."""
    try:
        return warp(path, keep=keep)
    except ValueError as exc:
        message = str(exc)
        raise ValueError(f"{name}: {message[len('path: '):] if message.startswith('path: ') else message}") from None


def cycle_consistency(
    path: ArrayLike,
    query_phases: Optional[ArrayLike] = None,
    path_back: Optional[ArrayLike] = None,
) -> CycleErrors:
    """FPE and CPE of one query -> top match -> query cycle (paper Sec. 4, Fig. 3).

    Both warps keep their *target* unwarped (the paper: "we perform both warps in this cycle so
    that the second video is kept unwarped, thus ensuring that the cycle-warped video has the same
    length as the query"), with the one-sided warp of :func:`draqcore.warp` (still frames of the
    kept sequence dropped, the first tuple of each run kept):

    1. query -> match: ``to_query = warp(path, keep=1)``, shape (m,): every match frame ``j``
       receives the label of query frame ``to_query[j]``;
    2. match -> query: ``to_match = warp(path_back, keep=0)``, shape (n,): every query frame
       ``t`` receives the label of match frame ``to_match[t]``.

    So ``cycled_positions[t] = to_query[to_match[t]]`` and, with frame positions as labels,
    ``FPE = mean_t (cycled_positions[t] - t)^2``; with phase labels,
    ``CPE = mean_t |phase[cycled_positions[t]] - phase[t]|``. A perfect cycle gives 0 for both.

    Parameters
    ----------
    path : array_like of shape (L, 2), int
        DTW path (query frame, match frame) from (0, 0) to (n-1, m-1), 0-based, start to end, as
        :func:`draqcore.dtw` returns it for ``cost_matrix(query, match)``. Used for the outward
        warp.
    query_phases : array_like of shape (n,), int, optional
        Phase index of every query frame as aligned (sampled frames); enables CPE. Phases are
        taken as ordered indices (phase 3 is two phases from phase 1).
    path_back : array_like of shape (L', 2), int, optional
        The alignment used for the return, in the *same orientation* as ``path`` (rows = query
        frames, columns = match frames) and between the same two sequences; ``None`` (default)
        reuses ``path``. A path computed as ``dtw(cost_matrix(match, query))`` must be given as
        ``path[:, ::-1]``.

    Returns
    -------
    CycleErrors

    Raises
    ------
    ValueError
        A path that is not a valid monotone DTW path from (0, 0); ``path_back`` ending at a
        different cell than ``path``; ``query_phases`` not of length n or not integers.
    """
    p = _path(path, "path")
    n, m = int(p[-1, 0]) + 1, int(p[-1, 1]) + 1
    to_query = _warp(p, 1, "path")
    if path_back is None:
        back = p
    else:
        back = _path(path_back, "path_back")
        end = (int(back[-1, 0]), int(back[-1, 1]))
        if end != (n - 1, m - 1):
            raise ValueError(
                f"path_back: ends at {end} but path ends at ({n - 1}, {m - 1}); both must align the "
                "same query (rows) and match (columns)"
            )
    to_match = _warp(back, 0, "path_back")
    cycled = to_query[to_match]
    diff = (cycled - np.arange(n, dtype=np.int64)).astype(np.float64)
    fpe = float(np.mean(diff * diff))
    fpe_normalized = fpe / float(n - 1) ** 2 if n > 1 else 0.0
    cpe: Optional[float] = None
    cycled_phases: Optional[np.ndarray] = None
    if query_phases is not None:
        phases = as_phase_labels(query_phases, "query_phases")
        if len(phases) != n:
            raise ValueError(f"query_phases: has {len(phases)} labels but the path aligns {n} query frames")
        cycled_phases = phases[cycled]
        cpe = float(np.mean(np.abs(cycled_phases - phases)))
    return CycleErrors(
        fpe=fpe,
        fpe_normalized=fpe_normalized,
        cpe=cpe,
        cycled_positions=cycled,
        cycled_phases=cycled_phases,
    )

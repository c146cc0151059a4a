"""Aligned Phase Agreement (APA), paper Sec. 4 and Table 2.

APA measures an alignment directly through per-frame phase labels: align two videos, keep the
query's timeline, and count how often a query frame shows the same action phase as the candidate
frame it is matched to.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike

from ..dtw import warp

__all__ = ["aligned_phase_agreement"]


def as_phase_labels(values: Any, name: str) -> np.ndarray:
    """Phase labels as a new 1-D int64 array (shared by the phase-based metrics).

    Integer arrays are accepted as they are; float arrays only when every value is integral
    (e.g. labels saved by another tool as float). Labels are compared as ordered phase indices;
    negative values are allowed (e.g. -1 for "background"), they are just other labels.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of phase labels, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: is empty (no frames)")
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ValueError(f"{name}: expected integer phase labels, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError(f"{name}: expected integer phase labels, got non-integral floats")
    return np.array(arr, dtype=np.int64)  # always a copy: the caller's array is never touched


def path_or_match(alignment: Any, n: int, m: int, name: str = "alignment") -> np.ndarray:
    """Matched candidate frame of every query frame, from a DTW path or a match vector.

    ``alignment`` of shape (L, 2) is a DTW path (query frame, candidate frame) that must end at
    ``(n-1, m-1)``; it becomes ``warp(path, keep=0)``. Shape (n,) is taken as that result already.
    """
    arr = np.asarray(alignment)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integer frame indices, got dtype {arr.dtype}")
    if arr.ndim == 2:
        if arr.shape[1] != 2 or arr.shape[0] == 0:
            raise ValueError(f"{name}: a path must have shape (L, 2) with L >= 1, got {arr.shape}")
        end = (int(arr[-1, 0]), int(arr[-1, 1]))
        if end != (n - 1, m - 1):
            raise ValueError(
                f"{name}: the path ends at {end}, but the labels need it to end at "
                f"({n - 1}, {m - 1}) (query has {n} frames, candidate {m})"
            )
        try:
            return warp(arr, keep=0)
        except ValueError as exc:
            message = str(exc)
            raise ValueError(f"{name}: {message[len('path: '):] if message.startswith('path: ') else message}") from None
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(f"{name}: a match vector needs one entry per query frame ({n}), got {arr.shape[0]}")
        if arr.min() < 0 or arr.max() >= m:
            raise ValueError(f"{name}: matched frames must lie in [0, {m - 1}], got [{arr.min()}, {arr.max()}]")
        return np.array(arr, dtype=np.int64)
    raise ValueError(f"{name}: expected a path of shape (L, 2) or a match vector of shape (n,), got {arr.shape}")


def aligned_phase_agreement(
    query_phases: ArrayLike,
    candidate_phases: ArrayLike,
    alignment: ArrayLike,
    *,
    query_class: Optional[object] = None,
    candidate_class: Optional[object] = None,
) -> float:
    """Aligned Phase Agreement of one aligned pair (paper Sec. 4, "APA"; Table 2, Fig. 5).

    The candidate is warped onto the query's timeline with the query unwarped (the paper's
    one-sided warp, Sec. 3): ``match = warp(path, keep=0)`` gives, for every query frame ``t``,
    the candidate frame matched to it (the first path tuple of ``t``; tuples where the query
    stands still are dropped). Then

    ``APA = (1 / n) * sum_t [query_phases[t] == candidate_phases[match[t]]]``,

    the fraction of query frames whose phase label equals the matched frame's. Every query
    frame counts once, however many candidate frames the path pairs with it, so APA is not
    symmetric in (query, candidate).

    Phase labels of different actions never agree (paper Sec. 5.4: "videos of different actions
    exhibit an APA of zero"), but datasets number the phases of every action from 0. When both
    ``query_class`` and ``candidate_class`` are given and differ, APA is therefore 0.0 whatever
    the labels say.

    Parameters
    ----------
    query_phases : array_like of shape (n,), int
        Phase index of each query frame *as aligned* (the frames the features were computed on,
        i.e. the sampled frames, not the native ones).
    candidate_phases : array_like of shape (m,), int
        Phase index of each candidate frame as aligned.
    alignment : array_like of shape (L, 2) or (n,), int
        A DTW path (query frame, candidate frame) from (0, 0) to (n-1, m-1), 0-based, as
        :func:`draqcore.dtw` returns it; or the match vector ``warp(path, keep=0)`` itself.
    query_class, candidate_class : hashable, optional
        Action classes of the two videos; see above.

    Returns
    -------
    float
        In [0, 1]; 1 means every query frame is matched to a frame of the same phase.

    Raises
    ------
    ValueError
        Labels not 1-D integers or empty; a path that is not a valid monotone DTW path or does
        not end at (n-1, m-1); a match vector of the wrong length or out of range.
    """
    q = as_phase_labels(query_phases, "query_phases")
    c = as_phase_labels(candidate_phases, "candidate_phases")
    match = path_or_match(alignment, len(q), len(c))
    if query_class is not None and candidate_class is not None and query_class != candidate_class:
        return 0.0
    return float(np.count_nonzero(q == c[match])) / len(q)

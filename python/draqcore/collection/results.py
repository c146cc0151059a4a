"""What collection calls return: :class:`AddReport` (ingest) and :class:`SearchHit` (search)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

__all__ = ["AddReport", "SearchHit"]


def _json_float(x: float) -> Optional[float]:
    return float(x) if math.isfinite(x) else None


@dataclass
class AddReport:
    """What :meth:`Collection.add` did, one entry per input path (absolute, resolved).

    Attributes
    ----------
    added : list of str
        Videos decoded, embedded and indexed.
    skipped : list of str
        Videos already in the collection with the same content hash (nothing recomputed; a
        label passed for them is applied).
    failed : list of (str, str)
        ``(path, reason)`` for videos that could not be read, decoded or embedded; they are
        recorded in the catalog with status ``"failed"``.
    replaced : list of str
        Paths whose earlier catalog entry was replaced because the file's content changed (each
        is also in ``added`` or ``failed``).
    """

    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "added": list(self.added),
            "skipped": list(self.skipped),
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "replaced": list(self.replaced),
        }

    def __str__(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.skipped)} skipped (unchanged), "
            f"{len(self.failed)} failed, {len(self.replaced)} replaced"
        )


@dataclass(frozen=True, eq=False)
class SearchHit:
    """One result of :meth:`Collection.search`.

    Attributes
    ----------
    rank : int
        1-based position in the DRAQ order.
    path : str
        The hit's video file.
    class_name : str or None
        The hit's label, if any.
    similarity : float
        Cosine similarity of the standardised clip vectors (retrieval stage), in [-1, 1]; for a
        long video retrieved with windows, the best of its clip vector's and its windows'.
    dtw_cost : float
        ``D(n, m)``, optimal DTW cost on contextualized features (cosine frame cost, Eq. 4-5).
    random_cost : float
        Mean cost of a random path (Sec. 3), exact expectation or sampled.
    draq : float
        ``dtw_cost / random_cost`` (Eq. 6); lower = more alignable.
    alignment : ndarray of shape (T_query,), int64
        For each sampled query frame ``t``, the index of the matched sampled frame of the hit
        (the query is kept unwarped: ``draqcore.warp(path, keep=0)``); non-decreasing.
    query_times : ndarray of shape (T_query,), float64
        Seconds of the sampled query frames.
    hit_times : ndarray of shape (T_hit,), float64
        Seconds of the hit's sampled frames; ``hit_times[alignment]`` maps every query frame to
        a time in the hit.
    video_id : int
        Catalog id of the hit.
    start, end : float
        The matched part of the hit video, seconds: the times of its sampled frames matched to
        the query's first and last frame. For a whole-video match, the hit's first and last
        sampled frame; for a subsequence match (a long hit video, see
        :meth:`~draqcore.collection.Collection.search`), the segment found.
    subsequence : bool
        Whether the query was matched to a part of the hit (open begin/end) rather than to all of it.
    """

    rank: int
    path: str
    class_name: Optional[str]
    similarity: float
    dtw_cost: float
    random_cost: float
    draq: float
    alignment: np.ndarray
    query_times: np.ndarray
    hit_times: np.ndarray
    video_id: int
    start: float = 0.0
    end: float = 0.0
    subsequence: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (arrays as lists; non-finite floats as ``None``)."""
        return {
            "rank": self.rank,
            "path": self.path,
            "video_id": self.video_id,
            "class_name": self.class_name,
            "similarity": _json_float(self.similarity),
            "dtw_cost": _json_float(self.dtw_cost),
            "random_cost": _json_float(self.random_cost),
            "draq": _json_float(self.draq),
            "alignment": [int(x) for x in self.alignment],
            "query_times": [float(x) for x in self.query_times],
            "hit_times": [float(x) for x in self.hit_times],
            "start": float(self.start),
            "end": float(self.end),
            "subsequence": bool(self.subsequence),
        }


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a

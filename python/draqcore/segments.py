"""Finding and scoring the part of a long video that a query matches (subsequence alignment).

Two stages per long candidate ``b`` (sampled frames):

1. **Find the segment**: subsequence DTW (:func:`draqcore.draq_batch` with
   ``subsequence=True``, all candidates in one parallel call) of the query's plain frame
   features against all of ``b`` gives the columns ``j0..j1`` the whole query matches best
   (open begin and end in ``b``). Plain features,
   not contextualized ones: the cumulative half of Eq. 2-3 encodes progress through the *whole*
   clip, which a part of a longer video does not share with a query that is only that part.
2. **Score it as a clip**: the segment ``b[j0:j1+1]`` is treated as a clip of its own:
   contextualized (Eq. 2-3, when asked) together with the query and aligned end to end (Eq. 5);
   DRAQ (Eq. 6) of that pair. A segment's DRAQ is therefore the DRAQ the same clip would have had
   if it had been cut out and indexed alone, comparable with whole-video DRAQs in one ranking.

With ``more=True`` the parts of ``b`` before ``j0`` and after ``j1``, where each is still at least
as long as the query, are searched once more the same way (one level): a long recording may hold
several alignable moments. Segments of one video never overlap. With ``more=True`` a segment
narrower than a third of the query (or than 5 sampled frames) is dropped, the best one included:
subsequence DTW can squeeze a query that matches nowhere into a column or two (a more than 3x
slow-down), which is no moment of the video, and whose DRAQ over so few columns means nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .context import contextualize as contextualize_features
from .context import contextualize_batch
from .draq import draq_batch
from .dtw import dtw

__all__ = ["SegmentMatch", "match_segments", "open_end_path"]

MIN_EXTRA_FRAMES = 5
"""With ``more=True`` (search), segments narrower than this many sampled frames, or than a third
of the query, are dropped (see :func:`match_segments`)."""


def open_end_path(cost: np.ndarray) -> np.ndarray:
    """Subsequence DTW path: all rows of ``cost`` matched to the cheapest run of its columns.

    :func:`draqcore.dtw` with ``subsequence=True`` (open begin and end in the columns, the three
    unit steps of Eq. 5).

    Parameters
    ----------
    cost : ndarray of shape (n, m)

    Returns
    -------
    ndarray of shape (L, 2), int64
        From ``(0, j0)`` to ``(n-1, j1)``, steps (1, 0), (0, 1), (1, 1).
    """
    return dtw(cost, subsequence=True).path


@dataclass(frozen=True)
class SegmentMatch:
    """One matched segment of a candidate.

    Attributes
    ----------
    candidate : int
        Index of the candidate in the list given to :func:`match_segments`.
    span : tuple of (int, int)
        ``(j0, j1)``: first and last sampled frame of the candidate in the segment (inclusive).
    path : ndarray of shape (L, 2), int64
        DTW path from ``(0, j0)`` to ``(n-1, j1)``, columns in the candidate's frame indices.
    dtw_cost, random_cost, draq : float
        Of the query against the segment as a clip (stage 2).
    order : int
        0 for the best segment of a candidate, 1 and 2 for the ones found before/after it.
    """

    candidate: int
    span: Tuple[int, int]
    path: np.ndarray
    dtw_cost: float
    random_cost: float
    draq: float
    order: int


def match_segments(
    query: np.ndarray,
    candidates: Sequence[np.ndarray],
    *,
    contextualize: bool = True,
    method: str = "exact",
    k: int = 100,
    seed: int = 0,
    band: Optional[int] = None,
    more: bool = False,
    min_outside: int = 0,
) -> List[SegmentMatch]:
    """Best segment of every candidate for the whole query (module notes).

    Parameters
    ----------
    query : ndarray of shape (n, d)
        Plain (not contextualized) frame features of the query.
    candidates : sequence of ndarray of shape (m_c, d)
        Plain frame features of each candidate.
    contextualize : bool, default True
        Contextualize query and segment before scoring (stage 2).
    method, k, seed
        As :func:`draqcore.draq_batch`.
    band : int, optional
        Sakoe-Chiba radius of stage 2 (the segment aligned end to end as a clip). Stage 1 is
        never banded: a band is defined around the diagonal of a matrix whose ends are pinned,
        which open ends have not (:func:`draqcore.dtw` refuses the combination).
    more : bool, default False
        Also search the parts before and after each best segment (one level).
    min_outside : int, default 0
        Keep a candidate's best segment only when at least this many of the candidate's sampled
        frames lie outside it (before and after together), and when it is not narrower than a
        third of the query (or ``MIN_EXTRA_FRAMES``): a probe of whether a candidate holds more
        than the query (:func:`draqcore.collection.search` uses it for candidates it would
        otherwise match end to end). Dropped candidates are not scored (stage 2).

    Returns
    -------
    list of SegmentMatch
        The best segment of each candidate first (in candidate order), then the extra ones.
    """
    q = np.asarray(query, dtype=np.float32)
    n = q.shape[0]
    q_ctx = contextualize_features(q) if contextualize else q
    pieces = [(c, 0, int(np.asarray(f).shape[0]), 0) for c, f in enumerate(candidates)]
    out: List[SegmentMatch] = []
    for level in range(2 if more else 1):
        if not pieces:
            break
        found = draq_batch(
            q, [np.asarray(candidates[c])[lo:hi] for c, lo, hi, _ in pieces], method=method, k=k, seed=seed,
            subsequence=True,
        )
        spans = []
        kept = []
        for piece, (f0, f1) in zip(pieces, found.spans):
            c, lo, hi, _ = piece
            j0, j1 = int(f0) + lo, int(f1) + lo
            # A segment squeezed into few columns (the query slowed down more than 3x, or fewer
            # than MIN_EXTRA_FRAMES) is no moment of its own: drop it (with ``more``, i.e. in a
            # search; a single alignment always reports its best segment).
            if (level > 0 or more or min_outside > 0) and j1 - j0 + 1 < max(MIN_EXTRA_FRAMES, n / 3.0):
                continue
            if (hi - lo) - (j1 - j0 + 1) < min_outside:
                continue
            kept.append(piece)
            spans.append((j0, j1))
        pieces = kept
        if not pieces:
            break
        segs = [np.asarray(candidates[c])[j0 : j1 + 1] for (c, _, _, _), (j0, j1) in zip(pieces, spans)]
        scored = draq_batch(
            q_ctx, contextualize_batch(segs) if contextualize else segs, method=method, k=k, seed=seed,
            band=band, return_paths=True,
        )
        assert scored.paths is not None
        nxt = []
        for j, ((c, lo, hi, slot), (j0, j1)) in enumerate(zip(pieces, spans)):
            path = np.array(scored.paths[j], dtype=np.int64)
            path[:, 1] += j0
            out.append(
                SegmentMatch(c, (j0, j1), path, float(scored.dtw_cost[j]), float(scored.random_cost[j]),
                             float(scored.draq[j]), slot)
            )
            if level == 0:
                if j0 - lo >= n:
                    nxt.append((c, lo, j0, 1))
                if hi - (j1 + 1) >= n:
                    nxt.append((c, j1 + 1, hi, 2))
        pieces = nxt
    return out

"""DRAQ: Dynamic Relative Alignment Quality (paper Eq. 6), for one pair and for batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._runtime import quiet_blas_pools
from ._validate import as_band, as_cost, as_nonnegative_int, as_seed, as_sequence, as_threads
from .cost import Metric, check_metric
from .diagnostics import MIN_DRAQ_FRAMES, warn_short_draq

__all__ = ["DraqBatchResult", "draq", "draq_batch", "METHODS"]

Method = Literal["exact", "sampled"]
METHODS: tuple[str, ...] = ("exact", "sampled")


def _check_method(method: object) -> bool:
    # A string test first: ``in`` on an array argument would raise NumPy's "truth value is
    # ambiguous" instead of naming the argument.
    if not isinstance(method, str) or method not in METHODS:
        shown = f"a {type(method).__name__}" if not isinstance(method, str) else repr(method)
        raise ValueError(f"method: unknown method {shown} (expected 'exact' or 'sampled')")
    return method == "exact"


def draq(
    cost: ArrayLike,
    method: Method = "exact",
    k: int = 100,
    seed: int = 0,
    *,
    stream: int = 0,
    subsequence: bool = False,
) -> float:
    """DRAQ of one cost matrix: ``D / Cost_random`` (paper Eq. 6). Lower = more alignable.

    ``D`` is the optimal DTW cost (:func:`draqcore.dtw`); ``Cost_random`` is
    :func:`draqcore.expected_random_cost` for ``method="exact"`` (deterministic) or the mean of
    ``k`` sampled paths (:func:`draqcore.random_path_costs` with ``seed`` and ``stream``) for
    ``method="sampled"``. When ``Cost_random`` is 0 every cell a random path can visit costs 0;
    DRAQ is then 1.0 if ``D`` is 0 too.

    With ``subsequence=True`` the query (rows) is matched whole into the best contiguous run of
    columns ``j0 .. j1`` (``dtw(cost, subsequence=True)``), and the DRAQ of that match is

        ``draq(cost, subsequence=True) == draq(cost[:, j0:j1+1])``

    ``D`` is the subsequence cost, which for non-negative costs equals the ordinary DTW cost of
    ``cost[:, j0:j1+1]``, and the random paths run from ``(0, j0)`` to ``(n-1, j1)`` through
    exactly those columns. The paper's baseline must cover the region the optimal path aligns:
    random paths across all ``m`` columns would wander through the parts of a long video that
    the query does not match, so a short query in a long video would get a random cost that
    says nothing about the match and a DRAQ near 1.0 however good the match is (and the
    numerator and denominator would compare paths of very different lengths).

    Parameters
    ----------
    cost : array_like of shape (n, m)
        Non-negative costs (e.g. from :func:`draqcore.cost_matrix`); never modified.
    method : {"exact", "sampled"}
    k : int
        Sampled paths (``method="sampled"``), ``k >= 1``.
    seed, stream : int
        Random stream of the sampled paths.
    subsequence : bool
        DRAQ of the best subsequence match (see above).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Bad shape, empty, NaN/Inf, negative costs, unknown method, ``k < 1``.

    Warns
    -----
    ShortSequenceWarning
        When ``cost`` has fewer than :data:`draqcore.MIN_DRAQ_FRAMES` rows or columns: a clip
        that short leaves almost no random paths to compare with (DRAQ is exactly 1.0 for one
        row or one column, whatever the costs). A subsequence match that collapses onto a few
        columns of a long clip (the query frozen on a few frames of it) is not warned about:
        its DRAQ is near or exactly 1.0, which is the right verdict — not alignable.
    """
    exact = _check_method(method)
    k = as_nonnegative_int(k, "k", minimum=1)
    seed = as_seed(seed, "seed")
    stream = as_seed(stream, "stream")
    c = as_cost(cost)
    value = float(_core.draq(c, exact, k, seed, stream, bool(subsequence)))
    if c.shape[0] < MIN_DRAQ_FRAMES or c.shape[1] < MIN_DRAQ_FRAMES:
        warn_short_draq(c.shape[0], [c.shape[1]], "draq")
    return value


@dataclass  # not frozen: a frozen dataclass costs ~0.4 us more to build, felt by small calls
class DraqBatchResult:
    """Result of :func:`draq_batch`, one entry per candidate in input order.

    Attributes
    ----------
    dtw_cost : ndarray of shape (N,), float64
        ``D(n, m_c)`` of the query against candidate ``c``.
    random_cost : ndarray of shape (N,), float64
        Exact expectation or sampled mean of the random path cost.
    draq : ndarray of shape (N,), float64
        ``dtw_cost / random_cost`` (Eq. 6).
    paths : list of ndarray of shape (L_c, 2), int64, or None
        Optimal paths (query frame, candidate frame) in order from start to end, when
        ``return_paths=True``: from (0, 0), or from (0, j0) with ``subsequence=True``.
    spans : ndarray of shape (N, 2), int64
        ``(j0, j1)`` per candidate: the candidate frames (inclusive) the optimal path spans;
        ``(0, T_c - 1)`` unless ``subsequence=True``.
    """

    dtw_cost: np.ndarray
    random_cost: np.ndarray
    draq: np.ndarray
    paths: Optional[list[np.ndarray]]
    spans: np.ndarray

    def __len__(self) -> int:
        return len(self.draq)


def _candidate_list(candidates: Union[Sequence[ArrayLike], ArrayLike], offsets: Optional[ArrayLike]) -> list[np.ndarray]:
    """Candidates as a list of C-contiguous float32 (T_c, d) arrays: the packed form is split
    into views (no copy), list items are converted only when needed."""
    if offsets is not None:
        packed = as_sequence(candidates, "candidates")
        off = np.asarray(offsets)
        if off.dtype.kind not in "iu" or off.ndim != 1 or len(off) < 1:
            raise ValueError("offsets: expected a 1-D integer array of N + 1 row offsets")
        off = off.astype(np.int64)
        if off[0] != 0 or off[-1] != packed.shape[0]:
            raise ValueError(
                f"offsets: must start at 0 and end at the number of packed rows ({packed.shape[0]})"
            )
        empty = np.flatnonzero(np.diff(off) <= 0)
        if empty.size:
            raise ValueError(f"candidates[{int(empty[0])}]: is empty (offsets must be strictly increasing)")
        bounds = off.tolist()
        return [packed[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    if isinstance(candidates, np.ndarray):
        raise TypeError("candidates: pass a list of (T_i, d) arrays, or a packed (sum T_i, d) array with offsets=")
    if not isinstance(candidates, (list, tuple)):
        try:
            candidates = list(candidates)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError("candidates: expected a list of (T_i, d) arrays") from None
    seqs = []
    first = -1
    for i, c in enumerate(candidates):
        if type(c) is np.ndarray and c.dtype == np.float32 and c.ndim == 2 and c.flags.c_contiguous and c.size:
            sq = c  # already what the kernel reads (the common case; hot for small calls)
        else:
            sq = as_sequence(c, "candidates[%d]" % i)
        if first < 0:
            first = sq.shape[1]
        elif sq.shape[1] != first:
            raise ValueError(f"candidates[{i}]: feature dimension {sq.shape[1]} differs from candidates[0]'s {first}")
        seqs.append(sq)
    return seqs


def draq_batch(
    query: ArrayLike,
    candidates: Union[Sequence[ArrayLike], ArrayLike],
    *,
    offsets: Optional[ArrayLike] = None,
    metric: Metric = "cosine",
    method: Method = "exact",
    k: int = 100,
    seed: int = 0,
    band: Optional[int] = None,
    return_paths: bool = False,
    threads: Optional[int] = None,
    subsequence: bool = False,
    contextualize: bool = False,
) -> DraqBatchResult:
    """DTW cost, random cost and DRAQ of one query against many candidates, in parallel.

    For every candidate ``c`` this computes the cost matrix ``C_c`` between ``query`` and the
    candidate (:func:`draqcore.cost_matrix` with ``metric``), its DTW cost (and path), the
    random-path cost and ``DRAQ = D / Cost_random`` (paper Eq. 6) — all pairs inside C++ under
    OpenMP with the GIL released. Results equal a per-pair loop of
    ``draq(cost_matrix(query, cand_c, metric), method, k, seed, stream=c)`` exactly, and are
    bit-identical for any ``threads``: sampled paths of candidate ``c`` draw from the stream
    keyed by ``(seed, c, path index)``. Features are used as given unless ``contextualize=True``;
    the paper compares contextualized features (Eq. 2-3).

    With ``subsequence=True`` the query is matched whole into the best contiguous part of each
    candidate (``dtw(C_c, subsequence=True)``, span ``(j0, j1)`` in ``spans``) and the DRAQ is
    that of the match, ``draq(C_c[:, j0:j1+1])``: the random paths run through the candidate
    frames the optimal path spans (see :func:`draqcore.draq`). Results equal a per-pair loop
    of ``draq(C_c, ..., subsequence=True)``, with the same determinism guarantees.

    Parameters
    ----------
    query : array_like of shape (n, d)
    candidates : list of array_like of shape (T_c, d), or array_like of shape (sum T_c, d)
        The packed form needs ``offsets``.
    offsets : array_like of shape (N + 1,), int, optional
        Row offsets into the packed array: candidate ``c`` is rows ``offsets[c]:offsets[c+1]``.
    metric : {"cosine", "sqeuclidean", "euclidean"}
    method : {"exact", "sampled"}
    k : int
        Sampled paths per pair (``method="sampled"``).
    seed : int
    band : int, optional
        Sakoe-Chiba radius of the DTW (see :func:`draqcore.dtw`); the random paths are not
        banded. Not with ``subsequence=True``.
    return_paths : bool
    threads : int, optional
        OpenMP threads; ``None`` = all cores. With fewer candidates than threads (one long
        pair), each pair runs on all of them: its cost tiles and the tiles of its DTW/expected-cost
        sweep are tasks of one wavefront, bit-identical to one thread.
    subsequence : bool
        Subsequence DRAQ per candidate (see above).
    contextualize : bool
        Contextualize (Eq. 2-3) the query and every candidate inside the kernel, each candidate
        into a buffer of the thread that scores it: the same bits as passing
        ``contextualize(query)`` and ``contextualize_batch(candidates)``, without materialising a
        ``(T_c, 2d)`` copy of every candidate (which costs about as much as the re-ranking).

    Returns
    -------
    DraqBatchResult

    Raises
    ------
    ValueError
        Bad shapes, empty sequences, mismatched feature dimensions, NaN/Inf (naming ``query`` or
        ``candidates[c]``), unknown metric or method, ``k < 1``, negative band, ``band``
        together with ``subsequence=True``.
    TypeError
        Non-numeric dtypes, candidates not a list.
    MemoryError
        When the per-thread working memory would exceed :func:`draqcore.memory_limit`.
    KeyboardInterrupt
        Ctrl-C is honoured between pairs.

    Warns
    -----
    ShortSequenceWarning
        Once per call, when the query or some candidate has fewer than
        :data:`draqcore.MIN_DRAQ_FRAMES` frames (see :func:`draqcore.draq`).
    """
    metric = check_metric(metric)
    exact = _check_method(method)
    k = as_nonnegative_int(k, "k", minimum=1)
    seed = as_seed(seed, "seed")
    radius = as_band(band)
    if subsequence and radius >= 0:
        raise ValueError(
            "band: cannot be combined with subsequence=True (the band is defined around the line "
            "from (0, 0) to (n-1, m-1); a subsequence match has no fixed start or end)"
        )
    nthreads = as_threads(threads)
    q = as_sequence(query, "query")
    cands = _candidate_list(candidates, offsets)
    if cands and cands[0].shape[1] != q.shape[1]:
        raise ValueError(
            f"candidates: feature dimension {cands[0].shape[1]} differs from the query's {q.shape[1]}"
        )
    n = q.shape[0]
    lengths = [len(cand) for cand in cands]  # once, for both uses (small calls feel every pass)
    if cands:
        quiet_blas_pools(nthreads, n * q.shape[1] * sum(lengths))
    # (dtw_cost, random_cost, draq, paths, spans): the fields in their order, passed positionally
    # (keywords cost ~0.5 us more, felt by small calls).
    fields = _core.draq_batch(
        q, cands, metric, exact, k, seed, radius, bool(return_paths), nthreads, bool(subsequence),
        bool(contextualize),
    )
    if cands and (n < MIN_DRAQ_FRAMES or min(lengths) < MIN_DRAQ_FRAMES):
        warn_short_draq(n, lengths, "draq_batch")
    return DraqBatchResult(*fields)

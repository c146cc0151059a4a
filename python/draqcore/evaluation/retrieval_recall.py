"""recall@k of same-class video retrieval (paper Sec. 5.4, Table 4)."""

from __future__ import annotations

import operator
from typing import Hashable, Iterable, Sequence

import numpy as np

__all__ = ["recall_at_k"]


def _ks(ks: Iterable[int]) -> list[int]:
    try:
        items = list(ks)
    except TypeError:
        raise ValueError(f"ks: expected a sequence of integers >= 1, got {ks!r}") from None
    if not items:
        raise ValueError("ks: is empty")
    out: list[int] = []
    for k in items:
        if isinstance(k, (bool, np.bool_)):
            raise ValueError(f"ks: expected integers >= 1, got {k!r}")
        try:
            value = operator.index(k)
        except TypeError:
            raise ValueError(f"ks: expected integers >= 1, got {k!r}") from None
        if value < 1:
            raise ValueError(f"ks: every k must be >= 1, got {value}")
        if value in out:
            raise ValueError(f"ks: {value} is listed twice")
        out.append(value)
    return out


def recall_at_k(
    query_classes: Sequence[Hashable],
    ranked_classes: Sequence[Sequence[Hashable]],
    ks: Iterable[int] = (1, 5, 10),
) -> dict[int, float]:
    """recall@k of same-class retrieval (paper Sec. 5.4, Table 4).

    The paper: "a retrieval is considered correct if the query and retrieval video show the same
    action category". Our exact variant is the *hit rate* used throughout video retrieval
    benchmarks: for every k,

    ``recall@k = (1 / Q) * sum_q [ any(ranked_classes[q][r] == query_classes[q] for r < k) ]``,

    the fraction of queries with at least one same-class item among their first ``k``
    retrievals. It is not the information-retrieval ratio (relevant items retrieved / relevant
    items in the collection). A ranking shorter than ``k`` counts with what it has (an empty one
    is a miss), so recall@k never decreases with k. The query itself must not be in its own
    ranking (the paper queries the validation split against the training split).

    Parameters
    ----------
    query_classes : sequence of hashable, length Q
        The class of every query (str or int; compared with ``==``).
    ranked_classes : sequence of Q sequences
        ``ranked_classes[q]`` is the classes of the items retrieved for query ``q``, best first.
        Rankings may differ in length (a 2-D array is read row by row).
    ks : iterable of int
        Cut-offs, each >= 1, no repeats.

    Returns
    -------
    dict of int to float
        ``{k: recall@k}`` in the order of ``ks``, each in [0, 1].

    Raises
    ------
    ValueError
        No queries; ``query_classes`` and ``ranked_classes`` of different lengths; a class of
        ``None``; bad ``ks``.
    """
    cutoffs = _ks(ks)
    queries = list(query_classes)
    rankings = list(ranked_classes)
    if not queries:
        raise ValueError("query_classes: is empty (no queries)")
    if len(rankings) != len(queries):
        raise ValueError(
            f"ranked_classes: has {len(rankings)} rankings for {len(queries)} queries (one per query needed)"
        )
    # first_hit[q]: 1-based rank of the first same-class retrieval, or 0 when there is none.
    first_hit = np.zeros(len(queries), dtype=np.int64)
    for q, (cls, ranking) in enumerate(zip(queries, rankings)):
        if cls is None:
            raise ValueError(f"query_classes[{q}]: is None (every query needs a class)")
        if isinstance(ranking, (str, bytes)):
            raise ValueError(f"ranked_classes[{q}]: expected a sequence of classes, got the string {ranking!r}")
        for r, got in enumerate(ranking, start=1):
            if got == cls:
                first_hit[q] = r
                break
    hit = first_hit > 0
    return {k: float(np.count_nonzero(hit & (first_hit <= k))) / len(queries) for k in cutoffs}

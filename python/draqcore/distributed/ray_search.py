"""``draq search --batch QUERIES_DIR --ray``: many queries searched by Ray tasks, each a reader.

The queries are split into one contiguous chunk per cluster CPU; every task opens the collection
read-only (readers take no lock and may run anywhere the collection directory is readable at the
same path) and searches its chunk. Results come back in query order and equal a serial run's.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence

from .ray_index import _import_ray, _ray_session

__all__ = ["search_with_ray"]


def _search_task(directory: str, queries: Sequence[str], kwargs: dict[str, Any]) -> list[Any]:
    from ..collection import Collection

    with Collection.open(directory) as coll:
        return [coll.search(q, **kwargs) for q in queries]


def search_with_ray(directory: Any, queries: Sequence[Any], *, address: Optional[str] = None,
                    **search_kwargs: Any) -> list[list[Any]]:
    """Search every query of ``queries`` in the collection at ``directory`` on a Ray cluster.

    Parameters
    ----------
    directory : path-like
        The collection (readable at this path on every node).
    queries : sequence of path-like
        Query files (videos or ``.npy`` features) or, for precomputed collections, clip names.
    address : str, optional
        As for :func:`add_with_ray` (``None``: a local cluster on the loopback interface).
    **search_kwargs
        Passed to :meth:`draqcore.Collection.search` (``top``, ``candidates``, ``method``, ...).

    Returns
    -------
    list of list of SearchHit
        One ranking per query, in the order of ``queries``.
    """
    ray = _import_ray()
    qs = [os.fspath(q) for q in queries]
    if not qs:
        return []
    with _ray_session(ray, address):
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        task = ray.remote(num_cpus=1)(_search_task)
        per = -(-len(qs) // cpus)
        chunks = [qs[i : i + per] for i in range(0, len(qs), per)]
        futures = [task.remote(os.fspath(directory), chunk, dict(search_kwargs)) for chunk in chunks]
        out: list[list[Any]] = []
        for fut in futures:
            out.extend(ray.get(fut))
        return out

"""Ray glue (optional extra ``pip install "draqcore[ray]"``); the single-machine path never imports it.

- :func:`add_with_ray` -- decode and embed videos on a Ray cluster (a local one by default)
  while this process, the collection's one writer, commits them in input order: the collection
  is the same as after a serial :meth:`draqcore.Collection.add`.
- :func:`search_with_ray` -- many queries searched by Ray tasks (each a reader of the collection).
"""

from __future__ import annotations

from .ray_index import add_with_ray
from .ray_search import search_with_ray

__all__ = ["add_with_ray", "search_with_ray"]

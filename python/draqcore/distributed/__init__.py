"""Ray glue (optional extra ``pip install "draqcore[ray]"``); the single-machine path never imports it.

- :func:`add_with_ray` -- decode and embed videos on a Ray cluster (a local one by default)
  while this process, the collection's one writer, commits them in input order: the collection
  is the same as after a serial :meth:`draqcore.Collection.add`.
- :func:`search_with_ray` -- many queries searched by Ray tasks (each a reader of the collection).
- :func:`evaluate_with_ray`, :func:`evaluate_retiming_with_ray` -- ``draq eval`` with its
  independent units (video features, queries, Fig.-5 pairs, re-timing jobs) run by Ray tasks;
  the reports equal the serial ones.
"""

from __future__ import annotations

from .ray_eval import evaluate_retiming_with_ray, evaluate_with_ray
from .ray_index import add_with_ray
from .ray_search import search_with_ray

__all__ = ["add_with_ray", "evaluate_retiming_with_ray", "evaluate_with_ray", "search_with_ray"]

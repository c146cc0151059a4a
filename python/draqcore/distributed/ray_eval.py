"""``draq eval ... --ray``: the evaluation's independent units run as Ray tasks.

:func:`~draqcore.evaluation.evaluate` (``draq eval synthetic`` / ``draq eval DIR``) and
:func:`~draqcore.evaluation.retime_benchmark.evaluate_retiming` (``draq eval retime``) hand their
units to a runner (:mod:`draqcore.evaluation.runner`); :class:`RayRunner` runs them on a cluster:

- the collection's videos are decoded and embedded by :func:`~draqcore.distributed.add_with_ray`
  (one task per video, one writer: this process);
- query videos are decoded and embedded, one task per chunk of queries;
- every query is retrieved, re-ranked and scored against its candidates, and every Fig.-5 pair
  is scored, by tasks that each open the collection as a reader (no lock). These tasks are pinned
  to this process's node: this process holds the collection open as its writer, and SQLite's
  write-ahead log is only safe for readers on the writer's machine;
- ``draq eval retime``: every (video, warp) job -- render the re-timed copy, align it back,
  score it -- is one task.

Random draws (oracle candidates, Fig.-5 pairs) and aggregation stay in this process and run in
input order, so every table equals the serial run's. Workers on other machines need the videos
at the same absolute paths (a shared file system), the output folder writable at the same path
(``retime`` writes each re-timed copy there, and the task that wrote it reads and removes it) and
the same Python, Ray and draqcore (and extractor model files).
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Mapping, Optional, Sequence

from .ray_index import _import_ray, _ray_session

__all__ = ["RayRunner", "evaluate_retiming_with_ray", "evaluate_with_ray"]


def _unit_task(fn: Any, directory: Optional[str], extractor: Any, ctx: Any, items: list) -> list:
    """Runs on a Ray worker: ``fn`` over one chunk, with the collection opened as a reader."""
    if directory is None:
        return fn(None, ctx, items)
    from ..collection import Collection

    with Collection.open(directory, extractor=extractor) as coll:
        return fn(coll, ctx, items)


def _options(public: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The arguments of the serial ``public`` function with its defaults filled in (its signature
    checks them: an unknown keyword is a ``TypeError`` before any cluster starts); the positional
    ones under ``"args"``."""
    bound = inspect.signature(public).bind(*args, **kwargs)
    bound.apply_defaults()
    opts = dict(bound.arguments)
    opts["args"] = [opts.pop(name) for name in list(opts)[: len(args)]]
    return opts


class RayRunner:
    """Runs evaluation units as Ray tasks (one CPU each) in an initialised Ray session.

    Parameters
    ----------
    ray : module
        The ``ray`` module, initialised.
    chunks_per_cpu : int, default 2
        Items of one :meth:`map` are split into at most this many contiguous chunks per cluster
        CPU (one task each): enough for load balance, few enough that each task's cost of opening
        the collection stays small.
    """

    def __init__(self, ray: Any, chunks_per_cpu: int = 2) -> None:
        self._ray = ray
        self._cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._chunks = max(1, int(chunks_per_cpu)) * self._cpus
        self._task = ray.remote(num_cpus=1)(_unit_task)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        # Readers of the collection this process is writing run on this node (SQLite's WAL).
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        self._reader_task = self._task.options(scheduling_strategy=here)

    def add(self, coll: Any, paths: Sequence[Any], labels: Optional[Mapping[Any, Optional[str]]],
            progress: bool) -> Any:
        from .ray_index import add_with_ray

        return add_with_ray(coll, paths, labels=labels, progress=progress)  # in this session

    def map(self, fn: Any, ctx: Any, items: Sequence[Any], *, coll: Any = None,
            desc: str = "", progress: bool = False) -> list:
        ray = self._ray
        items = list(items)
        if not items:
            return []
        per = -(-len(items) // min(len(items), self._chunks))
        chunks = [items[i : i + per] for i in range(0, len(items), per)]
        directory = None if coll is None else os.fspath(coll.directory)
        extractor = None if coll is None else ray.put(coll.extractor)
        ctx_ref = ray.put(ctx)
        task = self._task if coll is None else self._reader_task
        futures = [task.remote(fn, directory, extractor, ctx_ref, chunk) for chunk in chunks]
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(items), desc=desc, leave=False)
        out: list = []
        for chunk, fut in zip(chunks, futures):  # in order: results come back as the serial run's
            out.extend(ray.get(fut))
            if progress:
                bar.update(len(chunk))
        if progress:
            bar.close()
        return out


def evaluate_with_ray(queries: Sequence[Any], collection_videos: Sequence[Any], work_dir: Any, *,
                      address: Optional[str] = None, **kwargs: Any) -> Any:
    """:func:`draqcore.evaluation.evaluate` with its units on a Ray cluster; the same report.

    Parameters
    ----------
    queries, collection_videos, work_dir, **kwargs
        As for :func:`~draqcore.evaluation.evaluate` (``top``, ``recall_depth``, ``extractor``,
        ``canonical_time``, ``fig5_pairs``, ``seed``, ...). ``work_dir`` and the videos must be
        at the same paths on every node.
    address : str, optional
        A Ray cluster (``"HOST:6379"``, ``"auto"``, ``"ray://HOST:10001"``); ``None`` or ``"local"``
        starts a local cluster on the loopback interface (stopped afterwards). When Ray is
        already initialised in this process, it is used as it is.

    Returns
    -------
    EvaluationReport
        Equal, table for table, to the serial :func:`~draqcore.evaluation.evaluate`'s.

    Raises
    ------
    ImportError
        Ray is not installed.
    """
    from ..evaluation.protocol import _evaluate, evaluate

    opts = _options(evaluate, queries, collection_videos, work_dir, **kwargs)
    ray = _import_ray()
    with _ray_session(ray, address):
        return _evaluate(*opts.pop("args"), RayRunner(ray), **opts)


def evaluate_retiming_with_ray(videos: Sequence[Any], work_dir: Any, *, address: Optional[str] = None,
                               **kwargs: Any) -> Any:
    """:func:`draqcore.evaluation.retime_benchmark.evaluate_retiming` with one Ray task per
    (video, warp) job; the same report.

    Parameters
    ----------
    videos, work_dir, **kwargs
        As for :func:`~draqcore.evaluation.retime_benchmark.evaluate_retiming`; ``work_dir`` and
        the videos must be at the same paths on every node (the re-timed copies are written there).
    address : str, optional
        As for :func:`evaluate_with_ray`.

    Returns
    -------
    RetimeReport
        Equal, row for row, to the serial run's.
    """
    from ..evaluation.retime_benchmark import _evaluate_retiming, evaluate_retiming

    opts = _options(evaluate_retiming, videos, work_dir, **kwargs)
    ray = _import_ray()
    with _ray_session(ray, address):
        return _evaluate_retiming(*opts.pop("args"), RayRunner(ray), **opts)

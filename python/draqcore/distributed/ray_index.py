"""``draq index --ray``: videos are decoded and embedded by Ray tasks, committed by one writer.

The writer (this process) runs :meth:`draqcore.Collection.add`'s loop unchanged -- input order,
content hashes, one durable commit per video, resumability, failure records -- but takes each
video's features from a Ray task instead of computing them itself. Tasks are submitted ahead of
the loop (at most ``window`` in flight), so the cluster works while the writer commits. A video
whose size, modification time and inode are unchanged since it was indexed is not sent to the
cluster at all.

Pointing it at a real cluster: start Ray on the machines (``ray start --head`` on one,
``ray start --address=HEAD:6379`` on the others), make the videos readable at the same paths on
every node (a shared file system), install the same draqcore and extractor everywhere, and run
``draq index VIDEOS --collection C --ray HEAD:6379`` (or ``--ray auto`` inside the cluster). The
collection itself is written only by the process that runs ``draq index``.

Without an address, a local cluster is started on the loopback interface with one CPU per core
and stopped at the end. On 2 cores this gives no speed-up over the serial path (the writer and
Ray's own processes compete with the two workers for the cores); it pays off on machines with
many cores or many machines (see docs/collection.md).
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Union

from ..collection import AddReport, Collection

__all__ = ["add_with_ray"]

PathLike = Union[str, "os.PathLike[str]"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError('Ray is not installed: pip install "draqcore[ray]"') from None
    return ray


@contextmanager
def _ray_session(ray: Any, address: Optional[str]) -> Iterator[None]:
    """Ray initialised for the block: a local loopback cluster (``None``/``"local"``), the cluster
    at ``address``, or the session this process already has (left running)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network calls home
    started = False
    if not ray.is_initialized():
        if address in (None, "", "local"):
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     _node_ip_address="127.0.0.1", configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        started = True
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _extract_task(extractor: Any, path: str, sample_fps: float, dim: int) -> tuple[bool, Any]:
    """Runs on a Ray worker: ``(True, (features, times, indices, fps))`` or ``(False, exception)``."""
    from ..collection.state import extract_video

    try:
        return True, extract_video(extractor, Path(path), sample_fps, dim)
    except Exception as exc:  # the writer records it exactly as a local failure
        return False, exc


def add_with_ray(
    collection: Collection,
    paths: Any,
    *,
    labels: Optional[Mapping[PathLike, Optional[str]]] = None,
    address: Optional[str] = None,
    progress: bool = False,
    window: Optional[int] = None,
) -> AddReport:
    """:meth:`Collection.add` with decoding and embedding done by Ray tasks.

    Parameters
    ----------
    collection : Collection
        The collection to add to; this process becomes (or stays) its writer.
    paths, labels, progress
        As for :meth:`Collection.add`.
    address : str, optional
        A Ray cluster (``"HOST:6379"``, ``"auto"``, ``"ray://HOST:10001"``); ``None`` or
        ``"local"`` starts a local cluster on the loopback interface (stopped afterwards). When
        Ray is already initialised in this process, it is used as it is.
    window : int, optional
        Tasks in flight at most (default: 2 per CPU of the cluster).

    Returns
    -------
    AddReport
        As :meth:`Collection.add`; the collection equals the one a serial ``add`` makes.

    Raises
    ------
    ImportError
        Ray is not installed.
    """
    ray = _import_ray()
    with _ray_session(ray, address):
        cpus = int(ray.cluster_resources().get("CPU", 1))
        limit = window if window is not None else max(2, 2 * cpus)
        task = ray.remote(num_cpus=1)(_extract_task)
        extractor_ref = ray.put(collection.extractor)
        fps, dim = collection.sample_fps, collection.dim
        queue: deque[Path] = deque()
        futures: dict[Path, Any] = {}

        def top_up() -> None:
            while queue and len(futures) < limit:
                p = queue.popleft()
                futures[p] = task.remote(extractor_ref, str(p), fps, dim)

        def before(items: list[Path]) -> None:
            from ..collection.ingest import _file_stat
            from ..collection.inputs import _catalog_key

            cat = collection._cat
            for p in items:
                existing = cat.find(_catalog_key(p)[0])
                if existing is not None and existing.ok and existing.file_stat is not None \
                        and existing.file_stat == _file_stat(p):
                    continue  # add() skips it without reading it
                queue.append(p)
            top_up()

        def extract(path: Path) -> Any:
            fut = futures.pop(path, None)
            if fut is None:  # not submitted ahead (cannot normally happen): run it now
                if path in queue:
                    queue.remove(path)
                fut = task.remote(extractor_ref, str(path), fps, dim)
            top_up()
            ok, value = ray.get(fut)
            if not ok:
                raise value
            return value

        return collection._add_paths(paths, labels, progress, extract, before)

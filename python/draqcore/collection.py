"""A searchable collection of videos: index once, then retrieve alignable videos (paper Sec. 3).

A collection is a directory::

    <directory>/
        .lock               the writer lock (draqcore.store.lock)
        catalog.sqlite      one row per video + meta (schema version, extractor identity,
                            feature dimension, sample fps, creation time, committed feature
                            rows); the source of truth, SQLite in WAL mode
        features.f32        frame features of all ok videos, float32 (sum T_i, d), appended
        index/              hnswlib cosine index of standardised clip vectors (see
                            draqcore.store.ann_index): ann.json + g<generation>/...

One writer at a time (a file lock), any number of readers that see the last committed state;
a writer killed at any moment leaves a collection the next writer repairs and resumes (see
:class:`Collection` and docs/collection.md).

Search follows the paper's pipeline: (1) the query's clip vector (mean of its frame features),
standardised with the collection's statistics, retrieves ``candidates`` videos by cosine
similarity; (2) all of them are re-ranked by DRAQ (Eq. 6) on contextualized frame features
(Eq. 2-3) in one :func:`draqcore.draq_batch` call; (3) the DTW path of every returned hit gives
the alignment, with the query kept unwarped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

import draqcore  # the compiled-core wrappers (draq_batch, contextualize, warp); used at call time

from . import video as _video
from .features import (
    FrameFeatureExtractor,
    default_extractor,
    extractor_from_identity,
    same_identity,
)
from .store.ann_index import INDEX_DIRNAME, MANIFEST_FILENAME, AnnIndex, AnnParams, remove_leftovers, sha256_file
from .store.catalog import CATALOG_FILENAME, TEMP_CATALOG, Catalog, VideoRecord, _text
from .store.feature_store import FEATURES_FILENAME, FeatureStore
from .store.lock import LOCK_FILENAME, CollectionLockedError, WriterLock
from .store.testhooks import kill_point
from ._validate import as_nonnegative_int as _int_arg

__all__ = ["AddReport", "Collection", "CollectionLockedError", "SearchHit", "INDEX_DIRNAME"]

PathLike = Union[str, "os.PathLike[str]"]
VideoRef = Union[VideoRecord, int, PathLike]

_METHODS = ("exact", "sampled")


def _resolve(path: PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a file path, got {type(path).__name__}")
    p = Path(path).expanduser()
    try:
        return p.resolve()
    except (OSError, RuntimeError):  # a symlink loop: reading it fails later, with the reason
        return Path(os.path.abspath(p))


def _catalog_key(path: Path) -> tuple[str, Optional[str]]:
    """The catalog's ``path`` of a file, and why it cannot be indexed under it (or None).

    SQLite stores UTF-8. A name with bytes that are not UTF-8 (Python decodes them as lone
    surrogates) is stored with those bytes escaped (``\\xe9``) and recorded as failed: its
    catalog path would not name the file.
    """
    key = str(path)
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        escaped = _text(key)
        assert escaped is not None
        return escaped, ("the file name is not valid UTF-8 (its undecodable bytes are shown as \\xNN); "
                         "rename the file to index it")
    return key, None


def _failure_reason(exc: BaseException) -> str:
    """One line for the catalog: the message of a read error, type and message of others."""
    if isinstance(exc, (ValueError, OSError)):  # draqcore.video.VideoReadError is a ValueError
        text = str(exc)
    else:  # e.g. MemoryError, or an extractor's own error: keep going, but say what it was
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text or type(exc).__name__


def _content_hash(path: Path) -> str:
    """SHA-256 of a video file's bytes (streamed), hex.

    A folder of images (which :mod:`draqcore.video` reads as a video) hashes the names and
    SHA-256 of its non-hidden regular files, in name order.

    Raises
    ------
    OSError
        The path cannot be read, or is neither a regular file nor a folder (a FIFO, socket or
        device is never opened: reading it could block forever).
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISDIR(mode):
        if not stat.S_ISREG(mode):
            raise OSError(f"{path}: not a regular file or a folder (a FIFO, socket or device)")
        return sha256_file(path)
    h = hashlib.sha256(b"draqcore image folder\n")
    for entry in sorted(os.listdir(path)):
        f = path / entry
        if entry.startswith(".") or not f.is_file():
            continue
        h.update(f"{entry}\0{sha256_file(f)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()




def _clip_mean(features: np.ndarray) -> np.ndarray:
    """Clip vector ``(1/T) sum_j f_j`` (paper Sec. 3), accumulated in float64, as float32 (d,)."""
    return features.mean(axis=0, dtype=np.float64).astype(np.float32)


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
        Cosine similarity of the standardised clip vectors (retrieval stage), in [-1, 1].
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
        }


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class Collection:
    """A directory of indexed videos that can be searched for alignable videos.

    Create one with :meth:`create`, reopen it with :meth:`open`; add videos with :meth:`add` (any
    number of times) and query with :meth:`search`. Use it as a context manager or call
    :meth:`close`.

    The frame features extractor is fixed at creation: its identity is stored and every later
    :meth:`open` is refused with a different extractor. Adding videos changes the
    standardisation statistics of the clip vectors, so the ANN index is rebuilt from all stored
    clip means after every :meth:`add` that changed the set of videos (cheap next to decoding).

    Writers and readers. At most one writer per collection: the first method that writes
    (:meth:`add`, :meth:`rebuild_index`; or :meth:`create` and ``open(write=True)`` at once)
    takes the collection's writer lock (:mod:`draqcore.store.lock`) and holds it until
    :meth:`close`; a second writer gets :class:`CollectionLockedError`. A collection that has
    not written holds no lock: it is a reader, opens the catalog read-only, never changes a file,
    and may search while another process writes. Every search sees the last committed state
    (all videos committed when it starts, including those committed after :meth:`open`); if the
    saved index does not hold exactly those videos yet, a reader builds one in memory.

    Crash safety. A writer killed at any moment (SIGKILL included) leaves a collection that the
    next writer opens as it was after the last committed video: feature rows appended but never
    committed are cut off, a stale or missing index is rebuilt, the lock is released by the
    operating system. Indexing the same inputs again then resumes where it stopped.
    """

    def __init__(self, directory: Path, catalog: Catalog, extractor: FrameFeatureExtractor,
                 lock: Optional[WriterLock]) -> None:
        # Private: use Collection.create / Collection.open.
        self._directory = directory
        self._catalog: Optional[Catalog] = catalog
        self._extractor = extractor
        self._lock = lock
        self._sample_fps = catalog.sample_fps
        self._dim = catalog.feature_dim
        self._store: Optional[FeatureStore] = None
        self._index: Optional[AnnIndex] = None
        self._manifest_seen: Optional[bytes] = None  # ann.json as last loaded (readers)

    # -- creating and opening ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: PathLike,
        *,
        extractor: Optional[FrameFeatureExtractor] = None,
        sample_fps: Optional[float] = None,
        exist_ok: bool = False,
    ) -> "Collection":
        """Create an empty collection in ``directory`` and take its writer lock.

        Parameters
        ----------
        directory : path-like
            Created if missing; an existing directory must be empty (or hold a collection, with
            ``exist_ok=True``). Leftovers of a ``create`` killed before it finished (the lock
            file, a temporary catalog) count as empty.
        extractor : FrameFeatureExtractor, optional
            Frame features to use; default :func:`draqcore.features.default_extractor`. Its
            identity is stored in the catalog.
        sample_fps : float, optional
            Frames per second to sample videos at; default
            :data:`draqcore.video.DEFAULT_SAMPLE_FPS`.
        exist_ok : bool, default False
            If ``directory`` already holds a collection, open it for writing
            (``open(write=True)``) instead of failing -- provided it was made with the same
            extractor (and ``sample_fps``, when given).

        Returns
        -------
        Collection
            Holding the writer lock until :meth:`close`.

        Raises
        ------
        FileExistsError
            ``directory`` holds a collection and ``exist_ok`` is False, or it is a non-empty
            directory that holds no collection, or a file.
        CollectionLockedError
            Another writer holds the collection's lock.
        ValueError
            Bad ``sample_fps``; with ``exist_ok``, an existing collection with another
            extractor or sample rate.
        """
        root = Path(directory).expanduser().resolve()
        ext = extractor if extractor is not None else default_extractor()
        if sample_fps is None:
            fps = float(_video.DEFAULT_SAMPLE_FPS)
        else:
            if isinstance(sample_fps, (bool, np.bool_)) or not isinstance(sample_fps, (int, float, np.integer, np.floating)):
                raise TypeError(f"sample_fps: expected a number, got {type(sample_fps).__name__}")
            fps = float(sample_fps)
            if not (math.isfinite(fps) and fps > 0):
                raise ValueError(f"sample_fps: must be a positive finite number, got {sample_fps!r}")
        catalog_path = root / CATALOG_FILENAME
        if not catalog_path.exists():
            if root.exists() and not root.is_dir():
                raise FileExistsError(f"collection {root}: exists and is not a directory")
            if root.is_dir() and not cls._empty_for_create(root):
                raise FileExistsError(f"collection {root}: directory is not empty and holds no collection")
            dim = _int_arg(ext.dim, "extractor.dim", 1)
            root.mkdir(parents=True, exist_ok=True)
            lock = WriterLock.acquire(root)
            try:
                if not catalog_path.exists():  # else another process created it meanwhile
                    for entry in root.iterdir():
                        if TEMP_CATALOG.fullmatch(entry.name):  # of a create that was killed
                            entry.unlink()
                    Catalog.create(catalog_path, extractor_identity=ext.identity(), feature_dim=dim,
                                   sample_fps=fps).close()
                    kill_point("create")
                    return cls._open(root, ext, lock)
            except BaseException:
                lock.release()
                raise
            lock.release()
        if not exist_ok:
            raise FileExistsError(f"collection {root}: already exists (pass exist_ok=True to open it)")
        coll = cls.open(root, extractor=ext, write=True)
        if sample_fps is not None and coll.sample_fps != fps:
            stored = coll.sample_fps
            coll.close()
            raise ValueError(
                f"collection {root}: samples videos at {stored} fps, not the requested {fps} fps"
            )
        return coll

    @staticmethod
    def _empty_for_create(root: Path) -> bool:
        return all(e.name == LOCK_FILENAME or TEMP_CATALOG.fullmatch(e.name) for e in root.iterdir())

    @classmethod
    def open(
        cls,
        directory: PathLike,
        *,
        extractor: Optional[FrameFeatureExtractor] = None,
        write: bool = False,
    ) -> "Collection":
        """Open an existing collection.

        Parameters
        ----------
        directory : path-like
        extractor : FrameFeatureExtractor, optional
            Must have the identity stored at creation. ``None`` rebuilds the built-in extractor
            from the stored identity (:func:`draqcore.features.extractor_from_identity`).
        write : bool, default False
            Take the writer lock now (and repair what an interrupted writer left: cut orphan
            feature rows). Otherwise the collection opens as a reader that takes no lock and
            changes nothing; its first :meth:`add` or :meth:`rebuild_index` takes the lock.

        Raises
        ------
        FileNotFoundError
            ``directory`` holds no collection.
        CollectionLockedError
            ``write=True`` and another writer holds the lock.
        ValueError
            A different extractor (the message shows both identities), a stored identity that
            cannot be rebuilt without ``extractor=``, a damaged catalog, feature file or index.
        """
        root = Path(directory).expanduser().resolve()
        if not (root / CATALOG_FILENAME).is_file():
            raise FileNotFoundError(f"collection {root}: not a draqcore collection (no {CATALOG_FILENAME})")
        lock = WriterLock.acquire(root) if write else None
        try:
            return cls._open(root, extractor, lock)
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @classmethod
    def _open(cls, root: Path, extractor: Optional[FrameFeatureExtractor],
              lock: Optional[WriterLock]) -> "Collection":
        catalog = Catalog.open(root / CATALOG_FILENAME, readonly=lock is None)
        try:
            stored = catalog.extractor_identity
            if extractor is None:
                try:
                    ext = extractor_from_identity(stored)
                except (ValueError, TypeError) as exc:
                    raise ValueError(
                        f"collection {root}: cannot rebuild its feature extractor from the stored "
                        f"identity {json.dumps(stored, sort_keys=True)} ({exc}); pass extractor="
                    ) from None
            else:
                ext = extractor
                given = ext.identity()
                try:
                    same = same_identity(stored, given)
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"collection {root}: cannot compare extractor identities ({exc})") from None
                if not same:
                    raise ValueError(
                        f"collection {root}: was built with extractor "
                        f"{json.dumps(stored, sort_keys=True)}; refusing extractor "
                        f"{json.dumps(given, sort_keys=True)} (features of different extractors "
                        "cannot be compared)"
                    )
            dim = catalog.feature_dim
            if ext.dim != dim:
                raise ValueError(f"collection {root}: stores {dim}-dimensional features, extractor gives {ext.dim}")
            coll = cls(root, catalog, ext, lock)
            coll._store, coll._index = coll._load_state(catalog, writer=lock is not None)
        except BaseException:
            catalog.close()
            raise
        return coll

    def _load_state(self, catalog: Catalog, writer: bool) -> tuple[FeatureStore, Optional[AnnIndex]]:
        """The feature store (orphan rows cut, for a writer) and the saved index, if any."""
        store = FeatureStore(self._directory / FEATURES_FILENAME, self._dim, catalog.feature_rows(),
                             readonly=not writer)
        if writer:
            store.truncate_orphans()  # appended by a writer that died before committing them
            remove_leftovers(self._directory / INDEX_DIRNAME)  # of an index save that was killed
        return store, self._load_index(writer)

    def _manifest_bytes(self) -> Optional[bytes]:
        try:
            return (self._directory / INDEX_DIRNAME / MANIFEST_FILENAME).read_bytes()
        except OSError:
            return None

    def _load_index(self, writer: bool) -> Optional[AnnIndex]:
        """The saved index; None if there is none.

        A reader can race a writer that replaces the index while it is being read; that shows
        as a changed ``ann.json`` and is retried. A writer has no one to race: any error is
        damage.
        """
        root, dim = self._directory, self._dim
        index_dir = root / INDEX_DIRNAME
        for _attempt in range(5):
            before = self._manifest_bytes()
            try:
                index = AnnIndex.load(index_dir)
            except FileNotFoundError:
                if not writer and self._manifest_bytes() != before:
                    continue
                self._manifest_seen = None
                return None  # never built (or removed): rebuilt from the catalog when needed
            except (ValueError, OSError) as exc:
                if not writer and self._manifest_bytes() != before:
                    continue
                raise ValueError(
                    f"collection {root}: {exc}. The index is derived data: delete {index_dir} and "
                    "reopen to rebuild it from the catalog and features"
                ) from None
            if index.dim != dim:
                raise ValueError(
                    f"collection {root}: index {index_dir} has dimension {index.dim}, features have {dim}; "
                    f"delete {index_dir} and reopen to rebuild it"
                )
            self._manifest_seen = before
            return index
        return None  # replaced faster than it can be read: a reader builds one in memory

    def _begin_write(self) -> None:
        """Become the writer (once): take the lock, reopen the catalog writable, repair."""
        cat = self._cat
        if self._lock is not None:
            return
        lock = WriterLock.acquire(self._directory)
        try:
            catalog = Catalog.open(self._directory / CATALOG_FILENAME)
            try:
                store, index = self._load_state(catalog, writer=True)
            except BaseException:
                catalog.close()
                raise
        except BaseException:
            lock.release()
            raise
        cat.close()
        if self._store is not None:
            self._store.close()
        self._catalog, self._store, self._index, self._lock = catalog, store, index, lock

    def close(self) -> None:
        """Release the catalog connection, the memory map and the writer lock (idempotent)."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        if self._store is not None:
            self._store.close()
        self._index = None
        if self._lock is not None:
            self._lock.release()  # last: after the catalog's final checkpoint
            self._lock = None

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._catalog is None:
            return f"Collection({str(self._directory)!r}, closed)"
        role = "writer" if self._lock is not None else "reader"
        return f"Collection({str(self._directory)!r}, videos={len(self)}, extractor={self._extractor.name!r}, {role})"

    @property
    def _cat(self) -> Catalog:
        if self._catalog is None:
            raise ValueError(f"collection {self._directory}: is closed")
        return self._catalog

    @property
    def _features(self) -> FeatureStore:
        self._cat  # noqa: B018  (raises when closed)
        assert self._store is not None
        return self._store

    # -- properties ----------------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The collection directory (absolute)."""
        return self._directory

    @property
    def extractor(self) -> FrameFeatureExtractor:
        """The frame feature extractor."""
        return self._extractor

    @property
    def sample_fps(self) -> float:
        """Frames per second videos are sampled at."""
        return self._sample_fps

    @property
    def dim(self) -> int:
        """Frame feature dimension ``d``."""
        return self._dim

    @property
    def writer(self) -> bool:
        """True while this object holds the collection's writer lock."""
        return self._lock is not None and self._catalog is not None

    def __len__(self) -> int:
        """Number of videos with status ``"ok"`` (searchable)."""
        return self._cat.count("ok")

    def videos(self) -> list[VideoRecord]:
        """All catalog rows (ok and failed), ordered by id."""
        return self._cat.records()

    def _record(self, video: VideoRef) -> VideoRecord:
        cat = self._cat
        if isinstance(video, VideoRecord):
            rec = cat.get(video.id)
            if rec is None or rec.path != video.path:
                raise KeyError(f"collection {self._directory}: no video {video.path!r} with id {video.id}")
        elif isinstance(video, (int, np.integer)) and not isinstance(video, (bool, np.bool_)):
            rec = cat.get(int(video))
            if rec is None:
                raise KeyError(f"collection {self._directory}: no video with id {int(video)}")
        else:
            path = str(_resolve(video))
            rec = cat.find(path)
            if rec is None:
                raise KeyError(f"collection {self._directory}: no video {path!r}")
        if not rec.ok:
            raise ValueError(f"video {rec.path}: failed to index ({rec.reason}), it has no features")
        return rec

    def _read(self, rec: VideoRecord) -> np.ndarray:
        """The feature rows of an ok record (a read-only view)."""
        store = self._features
        if store.readonly and rec.row_offset + rec.num_frames > store.rows:
            store.extend(self._cat.feature_rows())  # committed by a writer since we looked
        rows = store.read(rec.row_offset, rec.num_frames)
        if not np.isfinite(rows).all():  # appended rows are checked: only damage gets here
            raise ValueError(
                f"collection {self._directory}: the features of video {rec.id} ({rec.path}) in "
                f"{FEATURES_FILENAME} contain NaN/Inf: the file is damaged; run `draq check {self._directory}`"
            )
        return rows

    def features(self, video: VideoRef) -> np.ndarray:
        """Frame features of one video.

        Parameters
        ----------
        video : VideoRecord, int (id) or path-like

        Returns
        -------
        ndarray of shape (T, d), float32
            A copy (the caller may modify it).

        Raises
        ------
        KeyError
            No such video.
        ValueError
            The video failed to index.
        """
        with self._cat.snapshot():
            rec = self._record(video)
            return np.array(self._read(rec), dtype=np.float32, copy=True)

    def frame_times(self, video: VideoRef) -> np.ndarray:
        """Seconds of the sampled frames of one video: ndarray of shape (T,), float64."""
        with self._cat.snapshot():
            rec = self._record(video)
            return self._cat.frames(rec.id)[0]

    def frame_indices(self, video: VideoRef) -> np.ndarray:
        """Native frame index of each sampled frame of one video: ndarray of shape (T,), int64."""
        with self._cat.snapshot():
            rec = self._record(video)
            return self._cat.frames(rec.id)[1]

    # -- adding ----------------------------------------------------------------------------------------

    def _extract(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Decode, sample and embed one video: features (T, d), times (T,), indices (T,), native fps."""
        fps = float(_video.native_fps(path))
        times: list[float] = []
        indices: list[int] = []

        def images() -> Iterable[np.ndarray]:
            for frame in _video.iter_sampled_frames(path, sample_fps=self._sample_fps):
                times.append(float(frame.time))
                indices.append(int(frame.index))
                yield frame.image

        try:
            feats = self._extractor.extract(images())
        except _video.VideoReadError:
            raise
        except ValueError as exc:
            if not times:  # the extractor saw no frame; say so rather than only its complaint
                raise ValueError(f"{path}: no frames could be decoded ({exc})") from None
            raise
        feats = np.asarray(feats)
        if feats.ndim != 2 or feats.shape != (len(times), self._dim):
            raise ValueError(
                f"extractor {self._extractor.name!r} returned features of shape {feats.shape} "
                f"for {len(times)} frames, expected ({len(times)}, {self._dim})"
            )
        if not np.isfinite(feats).all():
            raise ValueError(f"extractor {self._extractor.name!r} returned NaN/Inf features")
        return feats, np.asarray(times, dtype=np.float64), np.asarray(indices, dtype=np.int64), fps

    def add(
        self,
        paths: Iterable[PathLike],
        *,
        labels: Optional[Mapping[PathLike, Optional[str]]] = None,
        progress: bool = False,
    ) -> AddReport:
        """Decode, embed and index videos.

        Takes the writer lock first (if this collection does not hold it yet). For every path
        (resolved to an absolute path): the file's SHA-256 is computed; a file already in the
        collection with the same hash and status ``"ok"`` is skipped; otherwise it is decoded at
        :attr:`sample_fps`, embedded, its features appended to ``features.f32`` (and
        ``fsync``-ed) and then its catalog row committed, replacing the row of a file whose
        content changed. Each video is committed on its own, so an interrupted ``add`` keeps
        every video committed before it and the same call run again resumes after them.

        A file that cannot be read, decoded or embedded is recorded as ``"failed"`` with the
        reason and does not stop the others (failed files are tried again by a later ``add``):
        missing, unreadable, empty, text, corrupt, truncated or zero-frame files, names that
        are not valid UTF-8, FIFOs/sockets/devices (never opened), and any error the decoder or
        extractor raises (e.g. ``MemoryError``; the reason then names the exception type).
        Errors of the collection itself (a full disk, a damaged catalog) stop ``add``: what was
        committed stays. Finally, if the saved index does not hold exactly the ok videos, it is
        rebuilt from all clip means and saved.

        Parameters
        ----------
        paths : iterable of path-like
        labels : mapping of path-like to (str or None), optional
            Class labels; keys are resolved like ``paths``. A path without an entry keeps its
            previous label (None for new videos).
        progress : bool, default False
            Show a tqdm progress bar on stderr.

        Returns
        -------
        AddReport

        Raises
        ------
        TypeError
            A path or label of the wrong type.
        CollectionLockedError
            Another writer holds the collection's lock.
        """
        if isinstance(paths, (str, os.PathLike)):
            raise TypeError("paths: expected an iterable of paths, got a single path (wrap it in a list)")
        items = [_resolve(p) for p in paths]
        label_map: dict[Path, Optional[str]] = {}
        if labels is not None:
            if not isinstance(labels, Mapping):
                raise TypeError(f"labels: expected a mapping of path to str/None, got {type(labels).__name__}")
            for key, value in labels.items():
                if value is not None and not isinstance(value, str):
                    raise TypeError(f"labels[{key!r}]: expected a str or None, got {type(value).__name__}")
                label_map[_resolve(key)] = value
        self._begin_write()
        cat = self._cat
        store = self._features

        report = AddReport()
        iterator: Iterable[Path] = items
        if progress:
            from tqdm import tqdm

            iterator = tqdm(items, desc="indexing videos", unit="video")
        for path in iterator:
            key, name_problem = _catalog_key(path)
            existing = cat.find(key)
            class_name = label_map[path] if path in label_map else (existing.class_name if existing else None)
            digest: Optional[str] = None
            if name_problem is not None:
                reason = name_problem
            else:
                try:
                    digest = _content_hash(path)
                except OSError as exc:
                    reason = f"cannot read file: {exc.strerror or exc}"
                else:
                    if existing is not None and existing.ok and existing.sha256 == digest:
                        if class_name != existing.class_name:
                            cat.set_class_name(existing.id, class_name)
                        report.skipped.append(key)
                        continue
                    try:
                        feats, times, indices, nfps = self._extract(path)
                    except Exception as exc:  # one bad video must not stop an overnight run
                        reason = _failure_reason(exc)
                    else:
                        offset = store.append(feats)
                        kill_point("append")
                        duration = float(times[-1]) + 1.0 / nfps
                        cat.add_ok(key, sha256=digest, class_name=class_name, native_fps=nfps, duration=duration,
                                   sample_fps=self._sample_fps, row_offset=offset, frame_times=times,
                                   frame_indices=indices)
                        kill_point("commit")
                        report.added.append(key)
                        if existing is not None and existing.sha256 != digest:
                            report.replaced.append(key)
                        continue
            reason = _text(reason) or "unknown error"  # printable and storable, like the key
            cat.add_failed(key, sha256=digest, reason=reason, class_name=class_name, sample_fps=self._sample_fps)
            kill_point("commit")
            report.failed.append((key, reason))
            if existing is not None and existing.sha256 != digest:
                report.replaced.append(key)
        ids = cat.ok_ids()
        if ids.size == 0:
            self._drop_index()
        elif self._index is None or not np.array_equal(self._index.ids, ids):
            self.rebuild_index()
        return report

    # -- the index -------------------------------------------------------------------------------------

    def rebuild_index(self) -> None:
        """Rebuild the ANN index from all ok videos and save it under ``index/``.

        Takes the writer lock first (if this collection does not hold it yet). Clip means of
        videos already in the current index are reused (an id always names the same features);
        the others are computed from ``features.f32``. Standardisation statistics are
        recomputed over all videos.

        Raises
        ------
        ValueError
            The collection has no ok videos.
        CollectionLockedError
            Another writer holds the collection's lock.
        """
        self._begin_write()
        cat = self._cat
        with cat.snapshot():
            ids = cat.ok_ids()
            if ids.size == 0:
                raise ValueError(f"collection {self._directory}: has no videos to index")
            index = self._build_index(ids)
        index.save(self._directory / INDEX_DIRNAME)
        self._index = index

    def _build_index(self, ids: np.ndarray) -> AnnIndex:
        """An index of these ok ids (in memory), reusing the clip means the current one caches."""
        means = np.empty((ids.size, self._dim), dtype=np.float32)
        known: dict[int, int] = {}
        params = AnnParams()
        if self._index is not None:
            known = {int(v): i for i, v in enumerate(self._index.ids)}
            params = self._index.params
        missing = [int(v) for v in ids if int(v) not in known]
        records = self._cat.get_many(missing)
        for row, vid in enumerate(ids):
            slot = known.get(int(vid))
            if slot is not None:
                means[row] = self._index.clip_means[slot]  # type: ignore[union-attr]
            else:
                rec = records.get(int(vid))
                if rec is None or not rec.ok:
                    raise ValueError(f"collection {self._directory}: video id {int(vid)} vanished from the catalog")
                means[row] = _clip_mean(self._read(rec))
        return AnnIndex.build(ids, means, params)

    def _drop_index(self) -> None:
        """No ok video is left: remove the saved index (the manifest first)."""
        self._index = None
        index_dir = self._directory / INDEX_DIRNAME
        try:
            (index_dir / MANIFEST_FILENAME).unlink()
        except FileNotFoundError:
            pass
        if index_dir.is_dir():
            shutil.rmtree(index_dir, ignore_errors=True)

    def _current_index(self, ids: np.ndarray) -> AnnIndex:
        """An index of exactly ``ids`` (the ok videos of the current snapshot)."""
        if self._index is not None and np.array_equal(self._index.ids, ids):
            return self._index
        if self._lock is not None:
            # Never built, or stale (e.g. a crash after a catalog commit): the catalog decides.
            self.rebuild_index()
        else:
            # A reader changes no file. A writer may have saved a newer index since we loaded ours.
            if self._manifest_bytes() != self._manifest_seen:
                saved = self._load_index(writer=False)
                if saved is not None:
                    self._index = saved
            if self._index is None or not np.array_equal(self._index.ids, ids):
                self._index = self._build_index(ids)
        assert self._index is not None
        return self._index

    def _check_clip_means(self, index: AnnIndex, records: list[VideoRecord], feats: list[np.ndarray]) -> None:
        """Refuse features that are not the ones the index was built from (a modified file)."""
        slots = np.searchsorted(index.ids, [r.id for r in records])
        for rec, f, slot in zip(records, feats, slots):
            want = index.clip_means[slot]
            got = _clip_mean(f)
            tol = 1e-5 * (1.0 + float(np.abs(want).max()))
            if not np.allclose(got, want, rtol=1e-5, atol=tol):
                raise ValueError(
                    f"collection {self._directory}: the features of video {rec.id} ({rec.path}) in "
                    f"{FEATURES_FILENAME} do not match the clip vector its index holds: a collection file "
                    f"was modified or damaged; run `draq check {self._directory}`"
                )

    # -- searching -------------------------------------------------------------------------------------

    def _query_features(self, query: Any, query_times: Optional[Any]) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(query, (str, os.PathLike)):
            if query_times is not None:
                raise ValueError("query_times: only for a query given as a feature array (a video has its own times)")
            path = _resolve(query)
            if not path.exists():
                raise FileNotFoundError(f"query: no such file {path}")
            with self._cat.snapshot():
                rec = self._cat.find(_catalog_key(path)[0])
                if rec is not None and rec.ok:
                    try:
                        same = rec.sha256 == _content_hash(path)
                    except OSError:
                        same = False  # decoding reports why it cannot be read
                    if same:
                        # Same bytes already embedded with this extractor: reuse the stored features.
                        return np.array(self._read(rec), dtype=np.float32), self._cat.frames(rec.id)[0]
            feats, times, _, _ = self._extract(path)
            return np.ascontiguousarray(feats, dtype=np.float32), times
        arr = np.asarray(query)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"query: expected a video path or a (T, {self._dim}) real array, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[1] != self._dim or arr.shape[0] == 0:
            raise ValueError(f"query: expected frame features of shape (T, {self._dim}) with T >= 1, got {arr.shape}")
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            feats = np.array(arr, dtype=np.float32, copy=True)
        if not np.isfinite(feats).all():
            raise ValueError("query: contains NaN/Inf (or values too large for float32)")
        if query_times is None:
            times = np.arange(feats.shape[0], dtype=np.float64) / self._sample_fps
        else:
            times = np.array(query_times, dtype=np.float64, copy=True)
            if times.shape != (feats.shape[0],):
                raise ValueError(f"query_times: expected shape ({feats.shape[0]},), got {times.shape}")
            if not np.isfinite(times).all():
                raise ValueError("query_times: contains NaN/Inf")
        return feats, times

    def search(
        self,
        query: Union[PathLike, np.ndarray],
        top: int = 10,
        candidates: int = 50,
        *,
        method: str = "exact",
        k: int = 100,
        seed: int = 0,
        band: Optional[int] = None,
        query_times: Optional[np.ndarray] = None,
    ) -> list[SearchHit]:
        """Find the videos best alignable with ``query`` (paper Sec. 3).

        1. The query's clip vector (mean of its frame features) is standardised with the
           collection's statistics; the ANN index returns the ``candidates`` most cosine-similar
           videos.
        2. All candidates are scored by DRAQ in one :func:`draqcore.draq_batch` call on
           :func:`draqcore.contextualize` d frame features (query and candidates), cosine frame
           cost.
        3. Hits are sorted by DRAQ ascending (ties keep the retrieval order) and the first
           ``top`` returned, each with its DTW alignment.

        Parameters
        ----------
        query : path-like or array_like of shape (T, d)
            A video file (decoded at :attr:`sample_fps` with the collection's extractor; a file
            already in the collection with unchanged content reuses its stored features), or
            frame features computed with the same extractor.
        top : int, default 10
            Hits to return (>= 1); fewer when the collection is smaller.
        candidates : int, default 50
            Videos retrieved for re-ranking (>= ``top``); at most the collection size.
        method : {"exact", "sampled"}
            Random-path baseline: exact expectation or ``k`` sampled paths.
        k : int, default 100
            Sampled paths per pair (``method="sampled"``).
        seed : int, default 0
        band : int, optional
            Sakoe-Chiba radius of the DTW, in sampled frames.
        query_times : array_like of shape (T,), optional
            Seconds of the query frames when ``query`` is an array; default ``arange(T) /
            sample_fps``.

        Returns
        -------
        list of SearchHit
            Sorted by ``draq`` ascending.

        Raises
        ------
        ValueError
            Bad arguments, an empty collection, a query of the wrong dimension, a video that
            cannot be decoded (:class:`draqcore.video.VideoReadError`), a damaged collection
            (e.g. candidates' features that do not match the clip vectors of the index).
        FileNotFoundError
            A query path that does not exist.

        Notes
        -----
        A search sees the last committed state of the collection when it starts (one SQLite
        read transaction), including videos another process committed after :meth:`open`. A
        reader whose saved index does not hold exactly those videos builds one in memory (a
        writer rebuilds and saves it).
        """
        top = _int_arg(top, "top", 1)
        candidates = _int_arg(candidates, "candidates", 1)
        if candidates < top:
            raise ValueError(f"candidates: must be >= top ({top}) since hits are chosen among them, got {candidates}")
        if method not in _METHODS:
            raise ValueError(f"method: expected 'exact' or 'sampled', got {method!r}")
        k = _int_arg(k, "k", 1)
        seed = _int_arg(seed, "seed", 0)
        if band is not None:
            band = _int_arg(band, "band", 0)
        cat = self._cat
        if cat.count("ok") == 0:
            raise ValueError(f"collection {self._directory}: is empty; add videos with Collection.add first")
        q_feats, q_times = self._query_features(query, query_times)
        # One read transaction: the index, the records and their frames all come from the same
        # committed state, whatever a concurrent writer commits meanwhile.
        with cat.snapshot():
            ok_ids = cat.ok_ids()
            if ok_ids.size == 0:
                raise ValueError(f"collection {self._directory}: is empty; add videos with Collection.add first")
            index = self._current_index(ok_ids)
            ids, sims = index.query(_clip_mean(q_feats), candidates)
            found = cat.get_many(ids)
            records = []
            for vid in ids:
                rec = found.get(int(vid))
                if rec is None or not rec.ok:  # cannot happen: the index was checked against the catalog
                    raise ValueError(f"collection {self._directory}: index names video id {int(vid)} that is not ok")
                records.append(rec)
            feats = [self._read(r) for r in records]
            self._check_clip_means(index, records, feats)
            cand = [draqcore.contextualize(f) for f in feats]
            result = draqcore.draq_batch(draqcore.contextualize(q_feats), cand, metric="cosine", method=method,
                                         k=k, seed=seed, band=band, return_paths=True)
            assert result.paths is not None
            order = np.argsort(np.asarray(result.draq), kind="stable")[:top]
            q_times = _readonly(np.array(q_times, dtype=np.float64))
            hits: list[SearchHit] = []
            for rank, c in enumerate(order, start=1):
                rec = records[c]
                hits.append(
                    SearchHit(
                        rank=rank,
                        path=rec.path,
                        class_name=rec.class_name,
                        similarity=float(sims[c]),
                        dtw_cost=float(result.dtw_cost[c]),
                        random_cost=float(result.random_cost[c]),
                        draq=float(result.draq[c]),
                        alignment=_readonly(np.asarray(draqcore.warp(result.paths[c], keep=0), dtype=np.int64)),
                        query_times=q_times,
                        hit_times=_readonly(cat.frames(rec.id)[0]),
                        video_id=rec.id,
                    )
                )
        return hits

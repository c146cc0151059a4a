"""The :class:`Collection` facade: creating, opening, closing and reading a collection.

Ingest (:mod:`.ingest`), search (:mod:`.search`) and index maintenance (:mod:`.maintenance`) live
in their own modules; :class:`Collection` combines them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np

from ..features import FrameFeatureExtractor, default_extractor, extractor_from_identity, same_identity
from ..store.catalog import CATALOG_FILENAME, TEMP_CATALOG, Catalog, VideoRecord
from ..store.lock import LOCK_FILENAME, WriterLock
from ..store.testhooks import kill_point
from .._validate import as_nonnegative_int as _int_arg
from .inputs import PathLike
from .ingest import _Ingest
from .feature_ingest import _FeatureIngest
from ..store.feature_store import FEATURE_DTYPES, shard_rows_for
from .search import _Search
from .state import VideoRef

__all__ = ["Collection", "DEFAULT_FEATURE_DTYPE"]

#: Storage dtype of new collections' frame features (see docs/collection.md, "float16").
DEFAULT_FEATURE_DTYPE = "float32"


class Collection(_Ingest, _FeatureIngest, _Search):
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

    # -- creating and opening ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: PathLike,
        *,
        extractor: Optional[FrameFeatureExtractor] = None,
        sample_fps: Optional[float] = None,
        exist_ok: bool = False,
        feature_dtype: Optional[str] = None,
        shard_bytes: Optional[int] = None,
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
        feature_dtype : {"float32", "float16"}, optional
            Storage dtype of frame features (default :data:`DEFAULT_FEATURE_DTYPE`). float16
            halves the disk; docs/collection.md measures its effect on DRAQ rankings.
        shard_bytes : int, optional
            Bytes per feature shard file (default
            :data:`draqcore.store.feature_store.SHARD_BYTES`).

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
        from .. import video as _video  # OpenCV: only where videos are read (not to open or search)

        ext = extractor if extractor is not None else default_extractor()
        if sample_fps is None:
            fps = float(_video.DEFAULT_SAMPLE_FPS)
        else:
            fps = _video._check_rate(sample_fps, "sample_fps", allow_none=False)  # finite, in (0, 1000]
            assert fps is not None
        catalog_path = root / CATALOG_FILENAME
        if not catalog_path.exists():
            if root.exists() and not root.is_dir():
                raise FileExistsError(f"collection {root}: exists and is not a directory")
            if root.is_dir() and not cls._empty_for_create(root):
                raise FileExistsError(f"collection {root}: directory is not empty and holds no collection")
            dim = _int_arg(ext.dim, "extractor.dim", 1)
            dtype = DEFAULT_FEATURE_DTYPE if feature_dtype is None else feature_dtype
            if dtype not in FEATURE_DTYPES:
                raise ValueError(f"feature_dtype: expected one of {sorted(FEATURE_DTYPES)}, got {feature_dtype!r}")
            if shard_bytes is None:
                shard_rows = shard_rows_for(dim, dtype)
            else:
                shard_rows = shard_rows_for(dim, dtype, _int_arg(shard_bytes, "shard_bytes", 1))
            root.mkdir(parents=True, exist_ok=True)
            lock = WriterLock.acquire(root)
            try:
                if not catalog_path.exists():  # else another process created it meanwhile
                    for entry in root.iterdir():
                        if TEMP_CATALOG.fullmatch(entry.name):  # of a create that was killed
                            entry.unlink()
                    Catalog.create(catalog_path, extractor_identity=ext.identity(), feature_dim=dim,
                                   sample_fps=fps, feature_dtype=dtype, shard_rows=shard_rows).close()
                    kill_point("create")
                    return cls._open(root, ext, lock)
            except BaseException:
                lock.release()
                raise
            lock.release()
        if not exist_ok:
            raise FileExistsError(f"collection {root}: already exists (in Python: Collection.create(..., exist_ok=True) "
                                  "or Collection.open(..., write=True); on the command line: draq index PATH "
                                  "--collection DIR adds to it)")
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
        role = "writer" if self.writer else "reader"
        return f"Collection({str(self._directory)!r}, videos={len(self)}, extractor={self._extractor.name!r}, {role})"

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
        return self._lock is not None and self._lock.held and self._catalog is not None

    def __len__(self) -> int:
        """Number of videos with status ``"ok"`` (searchable)."""
        return self._cat.count("ok")

    def videos(self) -> list[VideoRecord]:
        """All catalog rows (ok and failed), ordered by id."""
        return self._cat.records()

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

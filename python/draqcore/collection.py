"""A searchable collection of videos: index once, then retrieve alignable videos (paper Sec. 3).

A collection is a directory::

    <directory>/
        catalog.sqlite      one row per video + meta (schema version, extractor identity,
                            feature dimension, sample fps, creation time); the source of truth
        features.f32        frame features of all ok videos, float32 (sum T_i, d), appended
        index/              hnswlib cosine index of standardised clip vectors (see
                            draqcore.store.ann_index): ann.json + g<generation>/...

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
import operator
import os
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
from .store.ann_index import AnnIndex, AnnParams
from .store.catalog import CATALOG_FILENAME, Catalog, VideoRecord
from .store.feature_store import FEATURES_FILENAME, FeatureStore

__all__ = ["AddReport", "Collection", "SearchHit", "INDEX_DIRNAME"]

#: Sub-directory of a collection that holds the ANN index.
INDEX_DIRNAME: str = "index"

PathLike = Union[str, "os.PathLike[str]"]
VideoRef = Union[VideoRecord, int, PathLike]

_METHODS = ("exact", "sampled")


def _resolve(path: PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a file path, got {type(path).__name__}")
    return Path(path).expanduser().resolve()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _content_hash(path: Path) -> str:
    """SHA-256 of a video file's bytes (streamed), hex.

    A folder of images (which :mod:`draqcore.video` reads as a video) hashes the names and
    SHA-256 of its non-hidden regular files, in name order.

    Raises
    ------
    OSError
        The path cannot be read.
    """
    if not path.is_dir():
        return _sha256_file(path)
    h = hashlib.sha256(b"draqcore image folder\n")
    for entry in sorted(os.listdir(path)):
        f = path / entry
        if entry.startswith(".") or not f.is_file():
            continue
        h.update(f"{entry}\0{_sha256_file(f)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _int_arg(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an integer, got a bool")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}") from None
    if v < minimum:
        raise ValueError(f"{name}: must be at least {minimum}, got {v}")
    return v


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
        ``(path, reason)`` for videos that could not be read or decoded; they are recorded in
        the catalog with status ``"failed"``.
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
    """

    def __init__(self, directory: Path, catalog: Catalog, store: FeatureStore,
                 extractor: FrameFeatureExtractor, index: Optional[AnnIndex]) -> None:
        # Private: use Collection.create / Collection.open.
        self._directory = directory
        self._catalog: Optional[Catalog] = catalog
        self._store = store
        self._extractor = extractor
        self._index = index
        self._sample_fps = catalog.sample_fps
        self._dim = catalog.feature_dim

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
        """Create an empty collection in ``directory``.

        Parameters
        ----------
        directory : path-like
            Created if missing; an existing directory must be empty (or hold a collection, with
            ``exist_ok=True``).
        extractor : FrameFeatureExtractor, optional
            Frame features to use; default :func:`draqcore.features.default_extractor`. Its
            identity is stored in the catalog.
        sample_fps : float, optional
            Frames per second to sample videos at; default
            :data:`draqcore.video.DEFAULT_SAMPLE_FPS`.
        exist_ok : bool, default False
            If ``directory`` already holds a collection, open it instead of failing -- provided
            it was made with the same extractor (and ``sample_fps``, when given).

        Returns
        -------
        Collection

        Raises
        ------
        FileExistsError
            ``directory`` holds a collection and ``exist_ok`` is False, or it is a non-empty
            directory that holds no collection, or a file.
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
        if catalog_path.exists():
            if not exist_ok:
                raise FileExistsError(f"collection {root}: already exists (pass exist_ok=True to open it)")
            coll = cls.open(root, extractor=ext)
            if sample_fps is not None and coll.sample_fps != fps:
                stored = coll.sample_fps
                coll.close()
                raise ValueError(
                    f"collection {root}: samples videos at {stored} fps, not the requested {fps} fps"
                )
            return coll
        if root.exists() and not root.is_dir():
            raise FileExistsError(f"collection {root}: exists and is not a directory")
        if root.is_dir() and any(root.iterdir()):
            raise FileExistsError(f"collection {root}: directory is not empty and holds no collection")
        dim = _int_arg(ext.dim, "extractor.dim", 1)
        root.mkdir(parents=True, exist_ok=True)
        store = FeatureStore(root / FEATURES_FILENAME, dim, 0)
        catalog = Catalog.create(catalog_path, extractor_identity=ext.identity(), feature_dim=dim, sample_fps=fps)
        return cls(root, catalog, store, ext, None)

    @classmethod
    def open(cls, directory: PathLike, *, extractor: Optional[FrameFeatureExtractor] = None) -> "Collection":
        """Open an existing collection.

        Parameters
        ----------
        directory : path-like
        extractor : FrameFeatureExtractor, optional
            Must have the identity stored at creation. ``None`` rebuilds the built-in extractor
            from the stored identity (:func:`draqcore.features.extractor_from_identity`).

        Raises
        ------
        FileNotFoundError
            ``directory`` holds no collection.
        ValueError
            A different extractor (the message shows both identities), a stored identity that
            cannot be rebuilt without ``extractor=``, a damaged catalog, feature file or index.
        """
        root = Path(directory).expanduser().resolve()
        catalog_path = root / CATALOG_FILENAME
        if not catalog_path.is_file():
            raise FileNotFoundError(f"collection {root}: not a draqcore collection (no {CATALOG_FILENAME})")
        catalog = Catalog.open(catalog_path)
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
            store = FeatureStore(root / FEATURES_FILENAME, dim, catalog.rows_end())
            index = cls._load_index(root, dim)
        except BaseException:
            catalog.close()
            raise
        return cls(root, catalog, store, ext, index)

    @staticmethod
    def _load_index(root: Path, dim: int) -> Optional[AnnIndex]:
        index_dir = root / INDEX_DIRNAME
        try:
            index = AnnIndex.load(index_dir)
        except FileNotFoundError:
            return None  # never built (or removed): rebuilt from the catalog when needed
        except ValueError as exc:
            raise ValueError(
                f"collection {root}: {exc}. The index is derived data: delete {index_dir} and "
                "reopen to rebuild it from the catalog and features"
            ) from None
        if index.dim != dim:
            raise ValueError(
                f"collection {root}: index {index_dir} has dimension {index.dim}, features have {dim}; "
                f"delete {index_dir} and reopen to rebuild it"
            )
        return index

    def close(self) -> None:
        """Release the catalog connection and the memory map (idempotent)."""
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
        self._store.close()
        self._index = None

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._catalog is None:
            return f"Collection({str(self._directory)!r}, closed)"
        return f"Collection({str(self._directory)!r}, videos={len(self)}, extractor={self._extractor.name!r})"

    @property
    def _cat(self) -> Catalog:
        if self._catalog is None:
            raise ValueError(f"collection {self._directory}: is closed")
        return self._catalog

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
        rec = self._record(video)
        return np.array(self._store.read(rec.row_offset, rec.num_frames), dtype=np.float32, copy=True)

    def frame_times(self, video: VideoRef) -> np.ndarray:
        """Seconds of the sampled frames of one video: ndarray of shape (T,), float64."""
        rec = self._record(video)
        return self._cat.frames(rec.id)[0]

    def frame_indices(self, video: VideoRef) -> np.ndarray:
        """Native frame index of each sampled frame of one video: ndarray of shape (T,), int64."""
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

        For every path (resolved to an absolute path): the file's SHA-256 is computed; a file
        already in the collection with the same hash and status ``"ok"`` is skipped; otherwise
        it is decoded at :attr:`sample_fps`, embedded, its features appended to
        ``features.f32`` and then its catalog row committed (replacing the row of a file whose
        content changed). A file that cannot be read or decoded is recorded as ``"failed"``
        with the reason and does not stop the others (failed files are tried again by a later
        ``add``). Finally, if the set of videos changed, the ANN index is rebuilt from all clip
        means and saved.

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
        """
        cat = self._cat
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

        report = AddReport()
        changed = False
        iterator: Iterable[Path] = items
        if progress:
            from tqdm import tqdm

            iterator = tqdm(items, desc="indexing videos", unit="video")
        for path in iterator:
            key = str(path)
            existing = cat.find(key)
            class_name = label_map[path] if path in label_map else (existing.class_name if existing else None)
            try:
                digest: Optional[str] = _content_hash(path)
            except OSError as exc:
                digest = None
                reason = f"cannot read file: {exc.strerror or exc}"
            else:
                if existing is not None and existing.ok and existing.sha256 == digest:
                    if class_name != existing.class_name:
                        cat.set_class_name(existing.id, class_name)
                    report.skipped.append(key)
                    continue
                try:
                    feats, times, indices, nfps = self._extract(path)
                except (ValueError, OSError) as exc:  # draqcore.video.VideoReadError is a ValueError
                    reason = str(exc) or type(exc).__name__
                else:
                    offset = self._store.append(feats)
                    duration = float(times[-1]) + 1.0 / nfps
                    cat.add_ok(key, sha256=digest, class_name=class_name, native_fps=nfps, duration=duration,
                               sample_fps=self._sample_fps, row_offset=offset, frame_times=times,
                               frame_indices=indices)
                    report.added.append(key)
                    if existing is not None and existing.sha256 != digest:
                        report.replaced.append(key)
                    changed = True
                    continue
            cat.add_failed(key, sha256=digest, reason=reason, class_name=class_name, sample_fps=self._sample_fps)
            report.failed.append((key, reason))
            if existing is not None and existing.sha256 != digest:
                report.replaced.append(key)
            changed = changed or (existing is not None and existing.ok)
        if changed or (self._index is None and len(self) > 0):
            self.rebuild_index()
        return report

    # -- the index -------------------------------------------------------------------------------------

    def rebuild_index(self) -> None:
        """Rebuild the ANN index from all ok videos and save it under ``index/``.

        Clip means of videos already in the current index are reused (an id always names the
        same features); the others are computed from ``features.f32``. Standardisation
        statistics are recomputed over all videos.

        Raises
        ------
        ValueError
            The collection has no ok videos.
        """
        cat = self._cat
        ids = cat.ok_ids()
        if ids.size == 0:
            raise ValueError(f"collection {self._directory}: has no videos to index")
        means = np.empty((ids.size, self._dim), dtype=np.float32)
        known: dict[int, int] = {}
        params = AnnParams()
        if self._index is not None:
            known = {int(v): i for i, v in enumerate(self._index.ids)}
            params = self._index.params
        for row, vid in enumerate(ids):
            slot = known.get(int(vid))
            if slot is not None:
                means[row] = self._index.clip_means[slot]  # type: ignore[union-attr]
            else:
                rec = cat.get(int(vid))
                assert rec is not None
                means[row] = _clip_mean(self._store.read(rec.row_offset, rec.num_frames))
        index = AnnIndex.build(ids, means, params)
        index.save(self._directory / INDEX_DIRNAME)
        self._index = index

    def _current_index(self) -> AnnIndex:
        ids = self._cat.ok_ids()
        if ids.size == 0:
            raise ValueError(f"collection {self._directory}: is empty; add videos with Collection.add first")
        if self._index is None or not np.array_equal(self._index.ids, ids):
            # Never built, or stale (e.g. a crash after a catalog commit): the catalog decides.
            self.rebuild_index()
        assert self._index is not None
        return self._index

    # -- searching -------------------------------------------------------------------------------------

    def _query_features(self, query: Any, query_times: Optional[Any]) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(query, (str, os.PathLike)):
            if query_times is not None:
                raise ValueError("query_times: only for a query given as a feature array (a video has its own times)")
            path = _resolve(query)
            if not path.exists():
                raise FileNotFoundError(f"query: no such file {path}")
            rec = self._cat.find(str(path))
            if rec is not None and rec.ok and rec.sha256 == _content_hash(path):
                # Same bytes already embedded with this extractor: reuse the stored features.
                feats = np.asarray(self._store.read(rec.row_offset, rec.num_frames))
                return feats, self._cat.frames(rec.id)[0]
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
            cannot be decoded (:class:`draqcore.video.VideoReadError`).
        FileNotFoundError
            A query path that does not exist.
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
        index = self._current_index()
        q_feats, q_times = self._query_features(query, query_times)
        ids, sims = index.query(_clip_mean(q_feats), candidates)
        records = []
        for vid in ids:
            rec = self._cat.get(int(vid))
            if rec is None or not rec.ok:  # cannot happen: the index was checked against the catalog
                raise ValueError(f"collection {self._directory}: index names video id {int(vid)} that is not ok")
            records.append(rec)
        cand = [draqcore.contextualize(self._store.read(r.row_offset, r.num_frames)) for r in records]
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
                    hit_times=_readonly(self._cat.frames(rec.id)[0]),
                    video_id=rec.id,
                )
            )
        return hits

"""The state every part of a :class:`~draqcore.collection.Collection` shares.

The catalog connection, the feature store, the loaded ANN index and the writer lock; becoming the
writer; reading one video's feature rows; decoding and embedding one video.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..features import FrameFeatureExtractor
from ..store.ann_index import INDEX_DIRNAME, MANIFEST_FILENAME, AnnIndex, remove_leftovers
from ..store.catalog import CATALOG_FILENAME, Catalog, VideoRecord
from ..store.feature_store import FEATURES_DIRNAME, FEATURES_FILENAME, FeatureStore, features_digest
from ..store.lock import CollectionLockedError, WriterLock
from .inputs import PathLike, _resolve

VideoRef = Union[VideoRecord, int, PathLike]


def _clip_mean(features: np.ndarray) -> np.ndarray:
    """Clip vector ``(1/T) sum_j f_j`` (paper Sec. 3), accumulated in float64, as float32 (d,)."""
    return features.mean(axis=0, dtype=np.float64).astype(np.float32)


def _video_name(rec: Any) -> str:
    """"video ID (PATH)" for messages; "video ID" for a clip located without its catalog row
    (:class:`~draqcore.store.locations.Located`)."""
    return f"video {rec.id} ({rec.path})" if rec.path else f"video {rec.id}"


class _CollectionState:
    """Attributes and private helpers shared by ingest, search and maintenance."""

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
        self._index_loaded = False  # the saved index is loaded on first use, not at open
        self._manifest_seen: Optional[bytes] = None  # ann.json as last loaded (readers)

    def _load_state(self, catalog: Catalog, writer: bool) -> tuple[FeatureStore, Optional[AnnIndex]]:
        """The feature store (orphan rows cut, for a writer); the saved index is loaded lazily.

        Opening reads O(1) catalog values and stats the shard files: nothing scales with N.
        """
        shard_rows = catalog.shard_rows
        if shard_rows is None:  # a collection made before shards: one float32 file
            store = FeatureStore(self._directory / FEATURES_FILENAME, self._dim, catalog.feature_rows(),
                                 readonly=not writer)
        else:
            store = FeatureStore(self._directory / FEATURES_DIRNAME, self._dim, catalog.feature_rows(),
                                 readonly=not writer, dtype=catalog.feature_dtype, shard_rows=shard_rows)
        if writer:
            store.truncate_orphans()  # appended by a writer that died before committing them
            remove_leftovers(self._directory / INDEX_DIRNAME)  # of an index save that was killed
        self._index_loaded = False
        return store, None

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
            if self._lock.held:
                return
            # A forked child of the writer: the lock is its parent's (see draqcore.store.lock).
            raise CollectionLockedError(
                f"collection {self._directory}: this Collection was opened for writing by process "
                f"{self._lock.owner}; a forked process cannot write through it (open the collection "
                "again in this process to write once that writer has finished)"
            )
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
        self._index_loaded = False


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
            rec = cat.find(str(video)) if isinstance(video, str) else None  # a clip name as stored
            if rec is None:
                path = str(_resolve(video))
                rec = cat.find(path)
                if rec is None:
                    raise KeyError(f"collection {self._directory}: no video {path!r}")
        if not rec.ok:
            raise ValueError(f"video {rec.path}: failed to index ({rec.reason}), it has no features")
        return rec

    def _read(self, rec: VideoRecord) -> np.ndarray:
        """The feature rows of an ok record as float32 (a new read-only array), checksum verified.

        Raises ``ValueError`` (naming the file) when the rows cannot be read in full, or do not
        match the checksum recorded when they were written (any change of a stored value).
        """
        store = self._features
        if store.readonly and rec.row_offset + rec.num_frames > store.rows:
            store.extend(self._cat.feature_rows())  # committed by a writer since we looked
        try:
            stored = store.read_stored(rec.row_offset, rec.num_frames)
        except ValueError as exc:
            raise ValueError(
                f"collection {self._directory}: the features of {_video_name(rec)} cannot be read: "
                f"{exc}; run `draq check {self._directory}`"
            ) from None
        if rec.features_digest is not None and features_digest(stored) != rec.features_digest:
            raise ValueError(
                f"collection {self._directory}: the features of {_video_name(rec)} in "
                f"{store.path.name}/ do not match their recorded checksum: a feature file was modified "
                f"or damaged; run `draq check {self._directory}`"
            )
        rows = stored.astype(np.float32) if stored.dtype != np.float32 else stored
        if not np.isfinite(rows).all():  # appended rows are checked: only damage gets here
            raise ValueError(
                f"collection {self._directory}: the features of {_video_name(rec)} in "
                f"{store.path.name} contain NaN/Inf: the file is damaged; run `draq check {self._directory}`"
            )
        rows.setflags(write=False)
        return rows

    def _extract(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Decode, sample and embed one video: features (T, d), times (T,), indices (T,), native fps."""
        return extract_video(self._extractor, path, self._sample_fps, self._dim)


def extract_video(extractor: FrameFeatureExtractor, path: Path, sample_fps: float,
                  dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Decode, sample and embed one video: features (T, d), times (T,), indices (T,), native fps.

    What :meth:`Collection.add` runs per video (in this process, or in a Ray task: see
    :mod:`draqcore.distributed`). One decode: frames are decoded in a background thread while
    the extractor runs in this one, and the native frame rate comes from the same pass
    (:func:`draqcore.video.process_sampled_frames`).
    """
    from .. import video as _video  # OpenCV: loaded with the first video, not to open or search

    seen = [0]

    def embed(frames: Iterable[np.ndarray]) -> np.ndarray:
        def counted() -> Iterable[np.ndarray]:
            for image in frames:
                seen[0] += 1
                yield image

        return extractor.extract(counted())

    try:
        done = _video.process_sampled_frames(path, embed, sample_fps=sample_fps)
    except _video.VideoReadError:
        raise
    except ValueError as exc:
        if not seen[0]:  # the extractor saw no frame; say so rather than only its complaint
            raise ValueError(f"{path}: no frames could be decoded ({exc})") from None
        raise
    if done.native_fps is None:
        raise _video.VideoReadError(
            f"{path}: no usable frame rate (container gives none, timestamps do not increase)"
        )
    feats, times, indices, fps = done.result, done.times, done.indices, float(done.native_fps)
    feats = np.asarray(feats)
    if feats.ndim != 2 or feats.shape != (len(times), dim):
        raise ValueError(
            f"extractor {extractor.name!r} returned features of shape {feats.shape} "
            f"for {len(times)} frames, expected ({len(times)}, {dim})"
        )
    if not np.isfinite(feats).all():
        raise ValueError(f"extractor {extractor.name!r} returned NaN/Inf features")
    return feats, times, indices, fps

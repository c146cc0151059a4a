"""Maintenance of a collection: building, saving, reloading and dropping the ANN index."""

from __future__ import annotations

import shutil

import numpy as np

from ..store.ann_index import INDEX_DIRNAME, MANIFEST_FILENAME, AnnIndex, AnnParams
from ..store.catalog import VideoRecord
from ..store.feature_store import FEATURES_FILENAME
from .state import _clip_mean, _CollectionState


class _Maintenance(_CollectionState):
    """The ANN index of the ok videos (mixin of :class:`~draqcore.collection.Collection`)."""

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
        if self._lock is not None and self._lock.held:
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

"""The window index: retrieval of long videos by their overlapping windows (issue 9).

Long videos (:mod:`draqcore.store.windows`) contribute one vector per overlapping window besides
their clip vector. The window vectors live in a second :class:`~draqcore.store.ann_index.AnnIndex`
saved in ``index/windows/`` (its own manifest, generations, checksums and graph validation; its
"clip ids" are window labels ``video_id << 20 | w``). It follows the clip index:

* standardisation: the same ``mu, sigma`` as the clip vectors. Small collections (at most
  :data:`~draqcore.collection.maintenance.REBUILD_MAX` windows) are searched exactly with the
  statistics the clip stage uses in that search; larger ones through the graph, built with the
  clip index's statistics when it was (re)built and frozen since (``draq reindex`` refreshes
  both);
* incremental: a write adds the windows of its new long videos (computed from the features
  just stored; :meth:`AnnIndex.add`, never a rebuild; windows of removed or replaced videos stay
  until ``draq reindex`` and searches skip them): a small window index is saved at once, a large one gets them inserted once
  :data:`~draqcore.collection.maintenance.TAIL_MAX` are pending; until then (and for readers
  of a collection whose saved window index is behind the catalog, e.g. one made before
  windows existed) searches compute the pending windows from the stored features;
* integrity: every window vector is a function of stored features, so ``draq check``
  recomputes all of them, and a search recomputes the window of every video it retrieved by a
  window and refuses a mismatch, as for clip vectors.

An old collection without ``index/windows/`` gets it from its first writer (any write, or a
search by a writer); readers meanwhile compute the windows in memory.
"""

from __future__ import annotations

import json
import shutil
from typing import Optional

import numpy as np

from ..store.ann_index import (INDEX_DIRNAME, MANIFEST_FILENAME, AnnIndex, AnnParams, _atomic_write_text,
                               standardization_stats)
from ..store.windows import (LONG_WINDOWS, WINDOWS_DIRNAME, label_video, label_window, window_bounds,
                             window_counts, window_frames, window_labels, window_means)
from .maintenance import REBUILD_MAX, TAIL_MAX, _cosine, _Maintenance, manifest_summary
from .state import _video_name

#: In ``index/windows/``: the largest video id up to which long videos were looked for.
SCANNED_FILENAME = "scanned.json"
_SCANNED_FORMAT = "draqcore-windows-scanned"


class _WindowIndex(_Maintenance):
    """Window vectors of long videos (mixin of :class:`~draqcore.collection.Collection`)."""

    # -- state -----------------------------------------------------------------------------------

    def _windows_dir(self):
        return self._directory / INDEX_DIRNAME / WINDOWS_DIRNAME

    def _windows_manifest(self) -> Optional[bytes]:
        try:
            return (self._windows_dir() / MANIFEST_FILENAME).read_bytes()
        except OSError:
            return None

    def _loaded_windows(self) -> Optional[AnnIndex]:
        """The saved window index (None if there is none); a reader reloads a newer one."""
        writer = self._lock is not None and self._lock.held
        seen = getattr(self, "_win_seen", None)
        if getattr(self, "_win_loaded", False) and (writer or self._windows_manifest() == seen):
            return self._win
        root = self._windows_dir()
        for _attempt in range(5):
            before = self._windows_manifest()
            try:
                win = AnnIndex.load(root)
            except FileNotFoundError:
                win = None
            except (ValueError, OSError) as exc:
                if not writer and self._windows_manifest() != before:
                    continue
                raise ValueError(
                    f"collection {self._directory}: window index: {exc}. The index is derived data: delete "
                    f"{self._directory / INDEX_DIRNAME} and reopen to rebuild it from the catalog and features"
                ) from None
            if win is not None and win.dim != self._dim:
                raise ValueError(
                    f"collection {self._directory}: window index {root} has dimension {win.dim}, features have "
                    f"{self._dim}; delete {self._directory / INDEX_DIRNAME} and reopen to rebuild it"
                )
            self._win, self._win_loaded, self._win_seen = win, True, before
            return win
        return None  # replaced faster than it can be read: pending windows are computed instead

    def _long_after(self, after_id: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Ok long videos with id > ``after_id`` (inside a snapshot): ids, window counts, and
        the largest id given out so far (every id up to it has been looked at)."""
        length, _ = window_frames(self._sample_fps)
        ids, frames = self._cat.long_videos(after_id, int(LONG_WINDOWS * length))
        counts = window_counts(frames, self._sample_fps)
        return ids, counts, max(int(after_id), self._cat.max_id())

    def _compute_windows(self, video_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and window vectors of ``video_ids`` from their stored features (checksummed)."""
        if video_ids.size == 0:
            return np.empty(0, dtype=np.int64), np.empty((0, self._dim), dtype=np.float32)
        recs = self._cat.get_many([int(v) for v in video_ids])
        labels, means = [], []
        for v in video_ids:
            m = window_means(self._read(recs[int(v)]), self._sample_fps)
            labels.append(window_labels(int(v), m.shape[0]))
            means.append(m)
        return np.concatenate(labels), np.concatenate(means, axis=0)

    def _covered(self, win: Optional[AnnIndex]) -> int:
        """Largest video id up to which long videos have been looked for: those of the saved
        window index, or more (``scanned.json``, written by the writer: ids after the last long
        video need not be scanned again, so a collection with no long video costs no scan)."""
        mark = getattr(self, "_win_covered", None)
        if mark is not None and mark[0] is win:
            return mark[1]
        held = int(label_video(win.ids[-1])) if win is not None else 0
        mark = self._scanned_mark()
        # Only for the window index it was written with (a reader may hold an older one).
        upto = mark[0] if mark is not None and mark[1] == held else 0
        return max(held, upto)

    def _scanned_mark(self) -> Optional[tuple[int, int]]:
        """``(scanned_id, held_id)`` of ``scanned.json`` when it is one of this format and window
        size, else None."""
        try:
            scanned = json.loads((self._windows_dir() / SCANNED_FILENAME).read_bytes().decode("utf-8"))
            if scanned.get("format") != _SCANNED_FORMAT or scanned.get("window_frames") != list(
                    window_frames(self._sample_fps)):
                return None
            upto, held = scanned["scanned_id"], scanned["held_id"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None
        for v in (upto, held):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                return None
        return upto, held

    def _mark_scanned(self, win: Optional[AnnIndex], top: int) -> None:
        """Remember (in memory, and in ``scanned.json`` for later writers and readers) that no
        long video up to ``top`` is missing from ``win``."""
        self._win_covered = (win, top)
        self._write_scanned(int(label_video(win.ids[-1])) if win is not None else 0, top)

    def _write_scanned(self, held: int, top: int) -> None:
        root = self._windows_dir()
        root.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": _SCANNED_FORMAT, "scanned_id": int(top), "held_id": int(held),
                           "window_frames": list(window_frames(self._sample_fps))}) + "\n"
        _atomic_write_text(root / SCANNED_FILENAME, text)

    def _pending_windows(self, win: Optional[AnnIndex]) -> tuple[np.ndarray, np.ndarray]:
        """Windows of ok long videos the saved window index does not hold yet (inside a
        snapshot), computed from their features; cached while the catalog does not change."""
        covered = self._covered(win)
        key = (id(win), covered, self._cat.max_id())
        cache = getattr(self, "_win_pending", None)
        if cache is not None and cache[0] == key:
            return cache[1], cache[2]
        vids, _, _ = self._long_after(covered)
        labels, means = self._compute_windows(vids)
        self._win_pending = (key, labels, means)
        return labels, means

    # -- maintenance -----------------------------------------------------------------------------

    def _begin_write(self) -> None:
        super()._begin_write()
        self._win_loaded = False  # reload as the writer

    def _update_index(self) -> None:
        super()._update_index()
        self._update_windows(rebuild=False)

    def rebuild_index(self) -> None:
        super().rebuild_index()
        self._update_windows(rebuild=True)

    def _drop_index(self) -> None:
        super()._drop_index()
        self._win, self._win_loaded, self._win_seen, self._win_covered = None, True, None, None

    def _update_windows(self, *, rebuild: bool) -> None:
        """After a write: add the windows of new long videos (writer only; see the module notes)."""
        if not rebuild and not getattr(self, "_win_loaded", False) and self._update_windows_unloaded():
            return
        cat = self._cat
        win = None if rebuild else self._loaded_windows()
        covered = 0 if rebuild else self._covered(win)
        with cat.snapshot():
            vids, counts, top = self._long_after(covered)
            if vids.size == 0:
                if rebuild:
                    self._remove_windows()
                if rebuild or top > covered:
                    self._mark_scanned(win, top)  # nothing new is long: no need to scan these again
                return
            if win is not None:
                small = win.count + int(counts.sum()) <= REBUILD_MAX
                if not small and counts.sum() < TAIL_MAX:
                    return  # pending: searches compute them from the features
            labels, means = self._compute_windows(vids)
        index = self._index if getattr(self, "_index_loaded", False) else None
        if win is None:
            stats = (index.mean, index.scale) if index is not None else None
            params = AnnParams()
            win = AnnIndex.build(labels, means, params, stats=stats)
        else:
            win = win.add(labels, means)
        win.save(self._windows_dir())
        self._win, self._win_loaded, self._win_seen = win, True, self._windows_manifest()
        self._mark_scanned(win, top)

    def _update_windows_unloaded(self) -> bool:
        """The writes that need not load the saved window index, decided from ``scanned.json``
        and the manifest's count alone; True when the write is handled.

        The saved window index can be larger than the clip index (2.2 million windows, 2.6 GB
        of files, for a million clips of 8-24 s), and loading it took 4-6 s of every
        ``add_features`` at that size. It need not be loaded when no long video was added since
        the last scan (only ``scanned.json`` moves on), or when the new long videos' windows stay
        pending because a large index takes them :data:`TAIL_MAX` at a time. ``scanned_id`` is
        only ever written after the windows up to it were saved or found absent, so it never
        claims more than the saved index holds; an older or missing mark only means more
        candidates here, and the full path below.
        """
        mark, manifest = self._scanned_mark(), self._windows_manifest()
        if mark is None:
            return False
        summary = manifest_summary(manifest)
        if manifest is not None and summary is None:
            return False
        count = summary[0] if summary is not None else 0
        scanned, held = mark
        with self._cat.snapshot():
            vids, counts, top = self._long_after(scanned)
        if vids.size == 0:
            if top > scanned:
                self._write_scanned(held, top)
                self._win_covered = None
            return True
        return manifest is not None and count + int(counts.sum()) > REBUILD_MAX and int(counts.sum()) < TAIL_MAX

    def _remove_windows(self) -> None:
        shutil.rmtree(self._windows_dir(), ignore_errors=True)
        self._win, self._win_loaded, self._win_seen, self._win_covered = None, True, None, None

    # -- retrieval -------------------------------------------------------------------------------

    def _retrieve_windows(self, clip_vector: np.ndarray, candidates: int,
                          stats: Optional[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``candidates`` ok videos whose best window is most similar to a raw query clip
        vector (inside a snapshot).

        ``stats`` are the clip stage's statistics of this search (exact search of a small
        window set); a large one uses the window graph and its frozen statistics.

        Returns
        -------
        video_ids, similarity, labels : ndarrays of shape (k,)
            Best window first; ``labels`` is the best window of each video.
        """
        cat = self._cat
        win = self._loaded_windows()
        t_labels, t_means = self._pending_windows(win)
        indexed = win.count if win is not None else 0
        if indexed + t_labels.size == 0:
            return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)
        if indexed + t_labels.size <= REBUILD_MAX or win is None:
            labels = np.concatenate([win.ids, t_labels]) if win is not None else t_labels
            means = np.concatenate([win.clip_means, t_means], axis=0) if win is not None else t_means
            if stats is None:
                stats = standardization_stats(means)
            mean, scale = stats
            sims = _cosine((means - mean) / scale, (clip_vector - mean) / scale)
            return self._best_per_video(labels, sims, candidates, exhausted=True)[:3]
        mean, scale = win.mean, win.scale
        t_sims = _cosine((t_means - mean) / scale, (clip_vector - mean) / scale) if t_labels.size else np.empty(0)
        want = 4 * candidates
        while True:
            g_labels, g_sims = win.query(clip_vector, min(want, win.count))
            done = g_labels.size >= win.count
            out = self._best_per_video(np.concatenate([g_labels, t_labels]), np.concatenate([g_sims, t_sims]),
                                       candidates, exhausted=done)
            if out[3] or done:
                return out[:3]
            want *= 4

    def _best_per_video(self, labels: np.ndarray, sims: np.ndarray, candidates: int, *,
                        exhausted: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """Dedupe windows by video (best window each), keep ok videos, the first ``candidates``;
        the last value says whether ``candidates`` videos were found."""
        order = np.lexsort((labels, -sims))
        labels, sims = labels[order], sims[order]
        vids = label_video(labels)
        _, first = np.unique(vids, return_index=True)
        first = np.sort(first)
        labels, sims, vids = labels[first], sims[first], vids[first]
        asked = vids[: 4 * candidates + 16].tolist()
        ok = self._cat.still_ok(asked)  # windows exist only of videos that were ok
        keep = np.array([v in ok for v in asked], dtype=bool)
        n = keep.size
        vids, sims, labels = vids[:n][keep], sims[:n][keep], labels[:n][keep]
        return vids[:candidates], sims[:candidates], labels[:candidates], vids.size >= candidates

    def _verify_windows(self, records: list, feats: list, labels: dict[int, int]) -> None:
        """Refuse a video retrieved by a stored window vector that is not the mean of its
        features in that window (forged or swapped window vectors), checked against the window
        graph's vectors in memory."""
        win = self._win if getattr(self, "_win_loaded", False) else None
        if win is None:
            return  # pending windows were computed from the features in this search
        checked = [(rec, f, labels[rec.id]) for rec, f in zip(records, feats) if rec.id in labels]
        if not checked:
            return
        got: list = []  # each one's window vector from its features (None: no such window)
        for rec, f, label in checked:
            w = int(label_window(np.int64(label)))
            means = window_means(f, self._sample_fps) if w < window_bounds(f.shape[0], self._sample_fps).shape[0] else None
            got.append(None if means is None else means[w])
        labels_arr = np.array([label for _, _, label in checked], dtype=np.int64)
        in_graph = win.rows_of(labels_arr) >= 0  # the others: pending windows, computed from the features
        fine = np.ones(len(checked), dtype=bool)
        have = in_graph & np.array([g is not None for g in got], dtype=bool)
        if have.any():
            # Against the window graph's vectors in memory (AnnIndex.holds): no file is read.
            fine[have] = win.holds(labels_arr[have], np.stack([got[i] for i in np.flatnonzero(have)]))
        fine[in_graph & ~have] = False  # a stored window the features do not have
        for (rec, f, label), ok in zip(checked, fine.tolist()):
            if not ok:
                w = int(label_window(np.int64(label)))
                raise ValueError(
                    f"collection {self._directory}: the window vector stored for window {w} of "
                    f"{_video_name(rec)} is not the mean of its features in that window: a collection file was "
                    f"modified (forged vectors would give wrong results); run `draq check {self._directory}`"
                )

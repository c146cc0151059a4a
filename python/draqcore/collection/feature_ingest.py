"""Ingest of features computed elsewhere ("bring your own features"), one clip or a stream.

:meth:`add_features` commits one clip durably; :meth:`add_features_batch` streams any number of
clips, appending the features of many clips with one ``fsync`` per shard and committing their
catalog rows in one transaction per chunk (:data:`BATCH_CLIPS` clips or :data:`BATCH_BYTES` of
features). Both are idempotent by clip name: a name already stored with the same features is
skipped (its label updated if one is given), a name stored with other features is replaced.
A batch killed at any moment keeps every chunk committed before it; running it again skips those
clips and resumes after them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any, Optional

import numpy as np

from ..store.feature_store import features_digest
from ..store.testhooks import kill_point
from .maintenance import _Maintenance
from .results import AddReport
from .state import _clip_mean

#: Clips committed per transaction by :meth:`add_features_batch`.
BATCH_CLIPS = 8192
#: Bytes of stored features per transaction (whichever limit is reached first).
BATCH_BYTES = 64 * 1024 * 1024


def _clip_name(name: Any, where: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{where}name: expected a str, got {type(name).__name__}")
    if not name or len(name) > 4096 or "\x00" in name:
        raise ValueError(f"{where}name: expected 1-4096 characters without NUL, got {name[:80]!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}name: {name[:80]!r} is not valid UTF-8") from None
    return name


def _content_digest(features32: np.ndarray, times: Optional[np.ndarray]) -> str:
    """SHA-256 of a clip as given: float32 features (C order) and, if given, float64 times."""
    h = hashlib.sha256(b"draqcore clip features\n")
    h.update(f"{features32.shape[0]}x{features32.shape[1]}\n".encode())
    h.update(memoryview(features32).cast("B"))  # C-contiguous: no copy
    if times is not None:
        h.update(b"times\n")
        h.update(np.ascontiguousarray(times, dtype="<f8").tobytes())
    return h.hexdigest()


class _FeatureIngest(_Maintenance):
    """:meth:`add_features` and :meth:`add_features_batch` (mixin of :class:`Collection`)."""

    def _prepare_clip(self, name: Any, features: Any, times: Any, label: Any, where: str) -> dict[str, Any]:
        name = _clip_name(name, where)
        if label is not None and not isinstance(label, str):
            raise TypeError(f"{where}label: expected a str or None, got {type(label).__name__}")
        arr = np.asarray(features)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"{where}features: expected a real (T, {self._dim}) array, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[1] != self._dim or arr.shape[0] == 0:
            raise ValueError(f"{where}features: expected shape (T, {self._dim}) with T >= 1, got {arr.shape}")
        with np.errstate(over="ignore"):
            f32 = np.ascontiguousarray(arr, dtype=np.float32)  # only read here: no copy when already float32
        if not np.isfinite(f32).all():
            raise ValueError(f"{where}features: contains NaN/Inf (or values too large for float32)")
        t = None
        if times is not None:
            t = np.array(times, dtype=np.float64, copy=True)
            if t.shape != (f32.shape[0],):
                raise ValueError(f"{where}times: expected shape ({f32.shape[0]},), got {t.shape}")
            if not np.isfinite(t).all() or (np.diff(t) < 0).any():
                raise ValueError(f"{where}times: must be finite and non-decreasing (seconds)")
        try:
            stored = self._features.prepare(f32)
        except ValueError as exc:
            raise ValueError(f"{where}{exc}") from None
        return {"name": name, "stored": stored, "times": t, "label": label,
                "sha256": _content_digest(f32, t)}

    def _values(self, clip: dict[str, Any], offset: int, label: Optional[str]) -> dict[str, Any]:
        stored, t = clip["stored"], clip["times"]
        n = stored.shape[0]
        duration = (float(t[-1]) if t is not None else (n - 1) / self._sample_fps) + 1.0 / self._sample_fps
        return self._cat.ok_values(
            sha256=clip["sha256"], class_name=label, native_fps=None,
            duration=duration if math.isfinite(duration) else None, sample_fps=self._sample_fps,
            row_offset=offset, row_count=n, frame_times=t, frame_indices=None,
            features_digest=features_digest(stored), clip_mean=_clip_mean(stored), file_stat=None,
        )

    def add_features(
        self,
        name: str,
        features: Any,
        *,
        times: Optional[Any] = None,
        label: Optional[str] = None,
    ) -> AddReport:
        """Add one clip's precomputed frame features (durable when this returns).

        Takes the writer lock first (if this collection does not hold it yet).

        Parameters
        ----------
        name : str
            The clip's name, unique in the collection (e.g. a file stem or dataset id); hits
            report it as their ``path``.
        features : array_like of shape (T, d)
            Frame features ``F`` (paper Eq. 1) of any real dtype, made by the backbone the
            collection's :class:`~draqcore.features.Precomputed` identity names. Not modified.
        times : array_like of shape (T,), optional
            Seconds of the frames, non-decreasing; default ``arange(T) / sample_fps``.
        label : str, optional
            Class label; ``None`` keeps an existing clip's label.

        Returns
        -------
        AddReport
            ``added`` (new or replaced), ``skipped`` (same name, same features and times).

        Raises
        ------
        TypeError, ValueError
            A bad name, label, shape, dtype, NaN/Inf, values beyond the storage dtype's range.
        CollectionLockedError
            Another writer holds the collection's lock.
        """
        return self.add_features_batch([(name, features, times, label)])

    def add_features_batch(self, clips: Iterable[Any], *, progress: bool = False) -> AddReport:
        """Add a stream of clips' precomputed features in large transactions (resumable).

        Parameters
        ----------
        clips : iterable of tuples
            ``(name, features)`` or ``(name, features, times, label)`` (``times``/``label`` may be
            None), as for :meth:`add_features`. Consumed lazily: memory holds one chunk.
        progress : bool, default False
            Show a tqdm progress bar on stderr.

        Returns
        -------
        AddReport
            Names ``added``, ``skipped`` (already stored with the same features) and ``replaced``.

        Raises
        ------
        TypeError, ValueError
            A malformed clip (the message names its position and name). Every clip before it is
            committed first, so nothing valid is lost and a rerun resumes.
        CollectionLockedError
            Another writer holds the collection's lock.

        Notes
        -----
        Cost per clip: its share of one catalog lookup per chunk (indexed by name, O(log N) per
        name, 500 names per statement), the features written once, two checksums (the input's
        SHA-256 for idempotency, the stored bytes' BLAKE2b for integrity) and its row in one
        ``executemany``; one ``fsync`` and one transaction per chunk. The ANN index is brought
        up to date once at the end (:mod:`draqcore.collection.maintenance`).
        """
        if isinstance(clips, (str, bytes)) or not isinstance(clips, Iterable):
            raise TypeError(f"clips: expected an iterable of (name, features[, times, label]) tuples, got {type(clips).__name__}")
        self._begin_write()
        cat = self._cat
        store = self._features
        report = AddReport()
        pending: list[tuple[dict[str, Any], Optional[str]]] = []
        pending_names: set[str] = set()
        pending_bytes = 0
        broken = False

        def flush() -> None:
            nonlocal pending_bytes, broken
            if not pending or broken:
                return
            broken = True  # until this chunk is committed: never retried after a failure
            # One indexed lookup for the whole chunk: which names are new, unchanged or replaced.
            found = cat.lookup([c["name"] for c, _ in pending])
            adding: list[tuple[dict[str, Any], Optional[str], bool]] = []
            for c, label in pending:
                existing = found.get(c["name"])
                new_label = label if label is not None else (existing[3] if existing else None)
                if existing is not None and existing[2] == "ok" and existing[1] == c["sha256"]:
                    if new_label != existing[3]:
                        cat.set_class_name(existing[0], new_label)
                    report.skipped.append(c["name"])
                    continue
                adding.append((c, new_label, existing is not None))
            if adding:
                before = store.rows
                offsets = store.append_prepared([c["stored"] for c, _, _ in adding])
                kill_point("append")
                try:
                    cat.add_many([(c["name"], self._values(c, off, label)) for (c, label, _), off in zip(adding, offsets)],
                                 new=[not replaced for _, _, replaced in adding])
                except BaseException:
                    store.forget(before)
                    raise
                kill_point("commit")
            for c, _, replaced in adding:
                report.added.append(c["name"])
                if replaced:
                    report.replaced.append(c["name"])
            pending.clear()
            pending_names.clear()
            pending_bytes = 0
            broken = False

        iterator: Iterable[Any] = clips
        if progress:
            from tqdm import tqdm

            iterator = tqdm(clips, desc="adding clips", unit="clip")
        try:
            for i, item in enumerate(iterator):
                if not isinstance(item, tuple) or len(item) not in (2, 4):
                    raise TypeError(f"clips[{i}]: expected (name, features) or (name, features, times, label), "
                                    f"got {type(item).__name__}{f' of length {len(item)}' if isinstance(item, tuple) else ''}")
                name, feats = item[0], item[1]
                times, label = (item[2], item[3]) if len(item) == 4 else (None, None)
                where = f"clips[{i}] ({name!r}): " if isinstance(name, str) else f"clips[{i}]: "
                clip = self._prepare_clip(name, feats, times, label, where)
                if clip["name"] in pending_names:
                    flush()  # the same name twice in a chunk: the later one replaces the earlier
                pending.append((clip, label))
                pending_names.add(clip["name"])
                pending_bytes += clip["stored"].nbytes
                if len(pending) >= BATCH_CLIPS or pending_bytes >= BATCH_BYTES:
                    flush()
        finally:
            flush()  # what was valid before an error is committed: nothing is lost
            if not broken:
                self._update_index()
        return report

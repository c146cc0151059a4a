"""Ingest: decode, embed and commit videos to a collection, one durable video at a time."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Optional

import numpy as np

from ..store.catalog import _text
from ..store.testhooks import kill_point
from .inputs import PathLike, _catalog_key, _content_hash, _failure_reason, _resolve
from .results import AddReport
from .maintenance import _Maintenance


class _Ingest(_Maintenance):
    """:meth:`add` (mixin of :class:`~draqcore.collection.Collection`)."""

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

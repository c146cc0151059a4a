"""Ingest: decode, embed and commit videos to a collection, one durable video at a time."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Callable, Optional


from ..store.catalog import _text
from ..store.testhooks import kill_point
from .inputs import PathLike, _catalog_key, _content_hash, _failure_reason, _resolve
from .results import AddReport
from .maintenance import _Maintenance
from .state import _clip_mean
from ..store.feature_store import features_digest


def _file_stat(path: Path) -> Optional[str]:
    """``"size:mtime_ns:inode:dev"`` of a regular file (None otherwise: folders are always hashed)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_dev}"


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
        (resolved to an absolute path): a regular file already in the collection with status
        ``"ok"`` and the same size, modification time (ns), inode and device as when it was
        hashed is skipped without reading it; otherwise the file's SHA-256 is computed and a file
        with the same hash is skipped; otherwise it is decoded at :attr:`sample_fps`, embedded,
        its features appended to the feature shards (and ``fsync``-ed) with their checksum, and
        then its catalog row committed, replacing the row of a file whose
        content changed. Each video is committed on its own, so an interrupted ``add`` keeps
        every video committed before it and the same call run again resumes after them.

        A file that cannot be read, decoded or embedded is recorded as ``"failed"`` with the
        reason and does not stop the others (failed files are tried again by a later ``add``):
        missing, unreadable, empty, text, corrupt, truncated or zero-frame files, names that
        are not valid UTF-8, FIFOs/sockets/devices (never opened), and any error the decoder or
        extractor raises (e.g. ``MemoryError``; the reason then names the exception type).
        Errors of the collection itself (a full disk, a damaged catalog) stop ``add``: what was
        committed stays. Finally the ANN index is brought up to date (see
        :mod:`draqcore.collection.maintenance`: small collections are rebuilt, large ones grow
        incrementally).

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
        return self._add_paths(paths, labels, progress, None)

    def _add_paths(self, paths: Iterable[PathLike], labels: Optional[Mapping[PathLike, Optional[str]]],
                   progress: bool, extract: Optional[Callable[[Path], Any]],
                   before: Optional[Callable[[list[Path]], None]] = None) -> AddReport:
        """:meth:`add` with another way to decode and embed one video (``extract(path)``, as
        :meth:`_extract`; e.g. a Ray task's result) and a hook that sees the resolved paths
        first (``before``). Everything else -- order, hashing, commits -- is :meth:`add`'s, so
        the collection is the same whoever extracts."""
        extract = extract if extract is not None else self._extract
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
        if before is not None:
            before(items)

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
                fstat = _file_stat(path)
                if existing is not None and existing.ok and fstat is not None and existing.file_stat == fstat:
                    if class_name != existing.class_name:
                        cat.set_class_name(existing.id, class_name)
                    report.skipped.append(key)  # unchanged size, mtime, inode: not re-hashed
                    continue
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
                        feats, times, indices, nfps = extract(path)
                    except Exception as exc:  # one bad video must not stop an overnight run
                        reason = _failure_reason(exc)
                    else:
                        stored = store.prepare(feats)
                        before = store.rows
                        offset = store.append_prepared([stored])[0]
                        kill_point("append")
                        duration = float(times[-1]) + 1.0 / nfps
                        try:
                            cat.add_ok(key, sha256=digest, class_name=class_name, native_fps=nfps, duration=duration,
                                       sample_fps=self._sample_fps, row_offset=offset, frame_times=times,
                                       frame_indices=indices, features_digest=features_digest(stored),
                                       clip_mean=_clip_mean(stored), file_stat=fstat)
                        except BaseException:
                            store.forget(before)
                            raise
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
        self._update_index()
        return report

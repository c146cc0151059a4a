"""Remembered verdicts of fully verified ANN index generations (so that opening is not re-verifying).

Loading a saved index verifies all of it (:meth:`draqcore.store.AnnIndex.load`): the SHA-256 of
every file, the structure of every field of the hnswlib graph (hnswlib trusts its file: a forged
graph would crash the interpreter), the graph's vectors against the clip vectors, and the
strongly connected component of its level 0. At a million clips that is seconds of work, paid
by every process. A *verdict* remembers that one generation passed, together with what the
verification computed that loading needs again (the elements' levels and the rows outside the
level-0 component), so that the next process loading the very same, unchanged files skips the
checks.

**Unchanged** means: the same manifest bytes (its SHA-256, which covers the recorded SHA-256 of
every file) and, for every file of the generation, the same device, inode, size, modification
time and *status-change time* (``st_ctime_ns``). Any write to a file, ``truncate``, ``chmod``,
``utime`` or rename onto it sets its ctime to the current time, and ctime cannot be set back by
anyone but the kernel; a copy or an extracted archive is a new inode. A verdict is only recorded
when every file's ctime lies at least :data:`RACY_NS` before the moment its bytes were read, so a
write right after the verified one cannot share its ctime tick (the "racy timestamp" problem of
build tools); and loading compares the identity taken before reading with ``fstat`` after
reading, so a file changed while it was read is verified in full.

**Where.** In a per-user folder, never in the collection: ``$DRAQ_INDEX_CACHE`` if set (``off``
disables verdicts), else ``~/.cache/draqcore/verified-indexes``, created with mode 0700. A
collection can therefore never vouch for itself: a collection from someone else (an archive, a
shared folder another user can write) is verified in full by the first process of each user that
loads it, and a file its owner rewrites afterwards has a new ctime. One small file per index
directory (named by the directory's device and inode) holds the verdict of its latest
generation.

**What it does not cover.** A file whose bytes change without any system call noticing (a failing
disk returning other bytes without an I/O error; a network file system serving other content
under unchanged attributes) is not re-hashed while its verdict holds. ``draq check`` always
verifies in full. Set ``DRAQ_INDEX_CACHE=off`` to verify in full on every load.

Only indexes of at least :data:`VERDICT_MIN_CLIPS` clips are remembered (below that, verifying
costs less than 0.1 s).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

__all__ = ["Verdict", "FileIdentity", "VERDICT_MIN_CLIPS", "RACY_NS", "cache_dir", "identity", "lookup", "record",
           "settled"]

#: Smallest index (clips) whose verdict is remembered.
VERDICT_MIN_CLIPS: int = 20_000
#: A verdict is recorded only for files whose status-change time is at least this old (ns) when read.
RACY_NS: int = 100_000_000
_FORMAT = "draqcore-index-verdict-1"

#: ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)`` of a file.
FileIdentity = tuple[int, int, int, int, int]


def identity(st: os.stat_result) -> FileIdentity:
    """The attributes that any change of a file's bytes changes (see the module notes)."""
    return (int(st.st_dev), int(st.st_ino), int(st.st_size), int(st.st_mtime_ns), int(st.st_ctime_ns))


def settled(identities: dict[str, FileIdentity], read_start_ns: int) -> bool:
    """Whether every file's ctime is at least :data:`RACY_NS` older than ``read_start_ns``
    (``time.time_ns()`` taken before the files were read): only then may a verdict be recorded."""
    return all(read_start_ns - ident[4] >= RACY_NS for ident in identities.values())


@dataclass(frozen=True)
class Verdict:
    """What a full verification of one generation found and loading needs again.

    Attributes
    ----------
    levels : ndarray of shape (N,), int8
        Top level of each graph element (graph order).
    outside_rows : ndarray of shape (K,), int64
        Rows (id order) outside the level-0 strongly connected component.
    """

    levels: np.ndarray
    outside_rows: np.ndarray


def cache_dir() -> Optional[Path]:
    """The verdicts folder, or None when disabled (``DRAQ_INDEX_CACHE=off``)."""
    env = os.environ.get("DRAQ_INDEX_CACHE")
    if env is not None:
        return None if env.strip().lower() in ("off", "0", "") else Path(env)
    try:
        return Path.home() / ".cache" / "draqcore" / "verified-indexes"
    except RuntimeError:  # no home directory
        return None


def _key(manifest_bytes: bytes, identities: dict[str, FileIdentity]) -> dict[str, Any]:
    import hnswlib

    return {
        "format": _FORMAT,
        "hnswlib": str(getattr(hnswlib, "__version__", "")),
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "files": {name: list(identities[name]) for name in sorted(identities)},
    }


def _entry(root: Path) -> Optional[Path]:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        st = root.stat()
    except OSError:
        return None
    return folder / f"{int(st.st_dev)}-{int(st.st_ino)}.json"


def lookup(root: Path, manifest_bytes: bytes, identities: dict[str, FileIdentity], count: int) -> Optional[Verdict]:
    """The remembered verdict of exactly these files, or None (never raises).

    Parameters
    ----------
    root : Path
        The index directory (holding the manifest).
    manifest_bytes : bytes
        The manifest as read.
    identities : dict
        :func:`identity` of every file of the generation, taken before reading it.
    count : int
        Clips in the index (the verdict's levels must have this length).
    """
    entry = _entry(root)
    if entry is None:
        return None
    try:
        doc = json.loads(entry.read_bytes())
        if doc.get("key") != _key(manifest_bytes, identities):
            return None
        levels = np.frombuffer(zlib.decompress(base64.b64decode(doc["levels"])), dtype=np.int8)
        outside = np.asarray(doc["outside_rows"], dtype=np.int64)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError, zlib.error):
        return None  # missing, foreign or damaged: verify in full
    if levels.shape != (count,) or outside.ndim != 1 or (outside.size and (outside.min() < 0 or outside.max() >= count)):
        return None
    return Verdict(levels=levels.copy(), outside_rows=outside)


def record(root: Path, manifest_bytes: bytes, identities: dict[str, FileIdentity], verdict: Verdict) -> None:
    """Remember a verdict (best effort: an unwritable cache folder is silently skipped)."""
    entry = _entry(root)
    if entry is None:
        return
    doc = {
        "key": _key(manifest_bytes, identities),
        "index": str(root),  # for people looking at the folder; never read back
        "levels": base64.b64encode(zlib.compress(np.ascontiguousarray(verdict.levels, dtype=np.int8).tobytes(), 6)).decode(),
        "outside_rows": [int(v) for v in verdict.outside_rows],
    }
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=entry.name + ".", suffix=".tmp", dir=entry.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
            os.replace(tmp, entry)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        pass

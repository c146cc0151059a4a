"""Input files of a collection: absolute paths, catalog keys, content hashes, failure reasons."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Optional, Union

from ..store.ann_index import sha256_file
from ..store.catalog import _text

PathLike = Union[str, "os.PathLike[str]"]


def _resolve(path: PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a file path, got {type(path).__name__}")
    if "\0" in os.fspath(path):
        raise ValueError(f"{os.fspath(path)!r}: a path cannot contain a NUL character")
    p = Path(path).expanduser()
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError):  # a symlink loop: reading it fails later, with the reason
        return Path(os.path.abspath(p))
    if not resolved.exists() and os.path.islink(p):
        # A dangling link: keep (and report) the link's own name, not the target it points to.
        try:
            return p.parent.resolve() / p.name
        except (OSError, RuntimeError):
            return Path(os.path.abspath(p))
    return resolved


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

"""Packed frame features of a collection, in fixed-size shard files, read with ``pread``.

Frame features of every indexed video lie back to back in one global row space, a row-major
little-endian matrix of shape ``(sum T_i, d)`` with no header (``d``, the storage dtype and the
shard size are recorded in the catalog). A video is the row range ``row_offset : row_offset + T``
stored in its catalog row.

Layout. A collection made by this draqcore stores the row space in *shards*: files
``features/000000.f16``, ``features/000001.f16``, ... (``.f32`` for float32) of ``shard_rows`` rows
each (:data:`SHARD_BYTES` per shard by default), so no file grows without bound and a finished
shard is never written again. Global row ``r`` is row ``r % shard_rows`` of shard
``r // shard_rows``; a video may straddle two shards. Collections of older draqcore versions keep
their single ``features.f32`` file (float32, no shards), which this class still reads and
appends to (``shard_rows=None``).

Storage dtype. ``float32`` (exact) or ``float16`` (half the disk; values beyond +-65504 are
refused). Reads always return float32. docs/collection.md measures what float16 does to DRAQ
rankings.

Reads use ``os.pread`` on descriptors kept open, never a memory map: a shard truncated under a
live reader gives a short read, reported as a ``ValueError`` naming the file, never SIGBUS.
Every read touches only the requested rows.

Writes only ever append. The catalog, not the files, says which rows are valid: the store is
opened with the number of rows the catalog has ever committed (its high-water mark, see
:meth:`draqcore.store.catalog.Catalog.feature_rows`); rows beyond that (left by a crash between
appending and committing the catalog row, or a partial row from a crash mid-write) are orphans:
ignored on read, cut off by :meth:`FeatureStore.truncate_orphans` when a writer opens the
collection and by the next append. Rows below the mark are never cut.

A store opened with ``readonly=True`` (a reader) never creates, truncates or writes a file; it
can :meth:`~FeatureStore.extend` its valid rows when the catalog has committed more.

Checksums. :func:`features_digest` is the BLAKE2b-128 of a video's stored bytes; the catalog
keeps it per video, and every read of a video's rows by a collection checks it (see
:mod:`draqcore.collection`), so any change of stored features is detected.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np
from numpy.typing import ArrayLike
from .._validate import as_nonnegative_int as _positive_int
from .durability import fsync_dir

__all__ = ["FeatureStore", "FEATURES_FILENAME", "FEATURES_DIRNAME", "FEATURE_DTYPES", "SHARD_BYTES",
           "features_digest", "shard_rows_for"]

#: The single float32 file of collections made before shards (read and appended to as before).
FEATURES_FILENAME: str = "features.f32"
#: Directory of the shard files of a collection.
FEATURES_DIRNAME: str = "features"
#: Storage dtypes and their file suffixes.
FEATURE_DTYPES: dict[str, str] = {"float32": ".f32", "float16": ".f16"}
#: Default bytes per shard (the last shard of a collection holds less).
SHARD_BYTES: int = 256 * 1024 * 1024


def shard_rows_for(dim: int, dtype: str, shard_bytes: int = SHARD_BYTES) -> int:
    """Rows per shard so that a shard holds about ``shard_bytes`` bytes (at least 1 row)."""
    return max(1, int(shard_bytes) // (int(dim) * np.dtype(dtype).itemsize))


def features_digest(stored: np.ndarray) -> str:
    """BLAKE2b-128 (hex) of a video's stored feature bytes (C order, little-endian)."""
    return hashlib.blake2b(memoryview(np.ascontiguousarray(stored)).cast("B"), digest_size=16).hexdigest()


class FeatureStore:
    """Append-only packed frame features in shard files, read with ``pread``.

    Parameters
    ----------
    path : path-like
        The shard directory (``<collection>/features``) when ``shard_rows`` is given, else the
        single ``features.f32`` file of an older collection. Created if missing (unless
        ``readonly``).
    dim : int
        Feature dimension ``d`` (columns).
    rows : int
        Number of valid rows (from the catalog: its committed high-water mark). The files must
        hold at least that many; extra bytes are ignored and removed by the next append.
    readonly : bool, default False
        Never create, truncate or write a file (appending raises).
    dtype : {"float32", "float16"}, default "float32"
        Storage dtype (``float16`` only with shards).
    shard_rows : int, optional
        Rows per shard file; ``None`` = the single-file layout.

    Raises
    ------
    ValueError
        If the files hold fewer than ``rows`` rows (the catalog references rows that are not
        there: the store is damaged or belongs to another collection), or a path is not a
        regular file/directory.
    """

    def __init__(self, path: Union[str, os.PathLike[str]], dim: int, rows: int = 0, *,
                 readonly: bool = False, dtype: str = "float32", shard_rows: Optional[int] = None) -> None:
        self._path = Path(path)
        self._dim = _positive_int(dim, "dim", 1)
        self._rows = _positive_int(rows, "rows", 0)
        self._readonly = bool(readonly)
        if dtype not in FEATURE_DTYPES:
            raise ValueError(f"dtype: expected one of {sorted(FEATURE_DTYPES)}, got {dtype!r}")
        if shard_rows is None and dtype != "float32":
            raise ValueError("dtype: the single-file layout stores float32 only")
        self._dtype = np.dtype(dtype).newbyteorder("<")
        self._suffix = FEATURE_DTYPES[dtype]
        self._shard_rows = None if shard_rows is None else _positive_int(shard_rows, "shard_rows", 1)
        self._fds: dict[int, int] = {}
        if self._shard_rows is None:
            if not self._path.exists():
                if self._rows:
                    raise ValueError(f"feature store {self._path}: missing, but {self._rows} rows are expected")
                if not self._readonly:
                    self._path.touch()
        else:
            if not self._path.exists():
                if self._rows:
                    raise ValueError(f"feature store {self._path}: missing, but {self._rows} rows are expected")
                if not self._readonly:
                    self._path.mkdir()
            elif not self._path.is_dir():
                raise ValueError(f"feature store {self._path}: is not a directory")
        self._check_size(self._rows)

    # -- layout ----------------------------------------------------------------------------------

    def shard_path(self, shard: int) -> Path:
        """The file of shard ``shard`` (the single file for the old layout)."""
        if self._shard_rows is None:
            return self._path
        return self._path / f"{shard:06d}{self._suffix}"

    def _capacity(self) -> int:
        return self._shard_rows if self._shard_rows is not None else 1 << 62

    def _parts(self, offset: int, count: int) -> list[tuple[int, int, int]]:
        """``(shard, first local row, rows)`` pieces of the global rows ``offset : offset + count``."""
        cap = self._capacity()
        out = []
        while count > 0:
            shard, local = divmod(offset, cap)
            n = min(count, cap - local)
            out.append((shard, local, n))
            offset += n
            count -= n
        return out

    def shards(self) -> list[Path]:
        """The files that hold the valid rows, in order (one for the old layout)."""
        if self._rows == 0:
            return []
        last = (self._rows - 1) // self._capacity()
        return [self.shard_path(k) for k in range(last + 1)]

    def _rows_in_shard(self, shard: int, rows: int) -> int:
        cap = self._capacity()
        return max(0, min(cap, rows - shard * cap))

    def _check_size(self, rows: int) -> None:
        if rows == 0:
            return
        for k, f in enumerate(self.shards_for(rows)):
            want = self._rows_in_shard(k, rows)
            try:
                st = f.stat()
            except FileNotFoundError:
                raise ValueError(f"feature store {f}: missing, but the catalog references {want} rows in it") from None
            if not f.is_file():
                raise ValueError(f"feature store {f}: is not a regular file")
            if st.st_size < want * self.row_bytes:
                raise ValueError(
                    f"feature store {f}: holds {st.st_size // self.row_bytes} rows of dimension "
                    f"{self._dim} ({st.st_size} bytes), but the catalog references {want} "
                    "(the file was cut short or belongs to another collection)"
                )

    def shards_for(self, rows: int) -> list[Path]:
        """The files that hold the first ``rows`` rows."""
        if rows == 0:
            return []
        return [self.shard_path(k) for k in range((rows - 1) // self._capacity() + 1)]

    # -- properties ------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The shard directory, or the single file of the old layout."""
        return self._path

    @property
    def dim(self) -> int:
        """Feature dimension ``d``."""
        return self._dim

    @property
    def rows(self) -> int:
        """Number of valid rows."""
        return self._rows

    @property
    def dtype(self) -> np.dtype:
        """Storage dtype (little-endian float32 or float16)."""
        return self._dtype

    @property
    def shard_rows(self) -> Optional[int]:
        """Rows per shard (None for the single-file layout)."""
        return self._shard_rows

    @property
    def row_bytes(self) -> int:
        """Bytes per stored row (``itemsize * d``)."""
        return self._dim * self._dtype.itemsize

    @property
    def readonly(self) -> bool:
        """True for a reader's store."""
        return self._readonly

    # -- orphans ---------------------------------------------------------------------------------

    def _orphan_files(self) -> list[tuple[Path, int]]:
        """``(file, valid bytes)`` for every existing file with bytes beyond the valid rows."""
        out = []
        if self._shard_rows is None:
            candidates = [(0, self._path)]
        else:
            candidates = []
            if self._path.is_dir():
                for entry in self._path.iterdir():
                    stem, suffix = entry.stem, entry.suffix
                    if suffix == self._suffix and stem.isdigit():
                        candidates.append((int(stem), entry))
        for k, f in candidates:
            try:
                size = f.stat().st_size
            except FileNotFoundError:
                continue
            valid = self._rows_in_shard(k, self._rows) * self.row_bytes
            if size > valid:
                out.append((f, valid))
        return out

    def orphan_bytes(self) -> int:
        """Bytes of the files beyond the valid rows (0 if there are none)."""
        total = 0
        for f, valid in self._orphan_files():
            try:
                total += f.stat().st_size - valid
            except FileNotFoundError:
                pass
        return total

    def truncate_orphans(self) -> int:
        """Cut the files to exactly the valid rows and ``fsync`` them (shards past the end go).

        Only a writer may call this (while holding the collection's writer lock).

        Returns
        -------
        int
            Bytes removed.
        """
        if self._readonly:
            raise ValueError(f"feature store {self._path}: opened read-only")
        removed = 0
        for f, valid in self._orphan_files():
            size = f.stat().st_size
            self._drop_fd(f)
            if valid == 0 and self._shard_rows is not None:
                f.unlink()
            else:
                with open(f, "r+b") as fh:
                    fh.truncate(valid)
                    fh.flush()
                    os.fsync(fh.fileno())
            removed += size - valid
        if removed and self._shard_rows is not None:
            fsync_dir(self._path)
        return removed

    def extend(self, rows: int) -> None:
        """Make rows up to ``rows`` valid (a reader, after the catalog committed more).

        Raises
        ------
        ValueError
            The files do not hold that many rows.
        """
        rows = _positive_int(rows, "rows", 0)
        if rows <= self._rows:
            return
        self._check_size(rows)
        self._rows = rows

    def forget(self, rows: int) -> None:
        """Treat only the first ``rows`` rows as valid again (appended rows whose catalog commit
        failed become orphans, cut by the next append)."""
        rows = _positive_int(rows, "rows", 0)
        if rows < self._rows:
            self._rows = rows

    # -- writing ---------------------------------------------------------------------------------

    def prepare(self, features: ArrayLike) -> np.ndarray:
        """One video's features validated and converted to the storage dtype (a new array).

        Parameters
        ----------
        features : array_like of shape (T, d)
            Any real dtype (the caller's array is not modified); ``T >= 1``; finite, and
            within the storage dtype's range.

        Returns
        -------
        ndarray of shape (T, d), storage dtype, C-contiguous

        Raises
        ------
        ValueError
            Wrong shape or dimension, empty, NaN/Inf or too large for the storage dtype.
        """
        arr = np.asarray(features)
        if arr.dtype.kind not in "fiub":
            raise ValueError(f"features: expected a real numeric array, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[1] != self._dim:
            raise ValueError(f"features: expected shape (T, {self._dim}), got {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError("features: is empty (no frames)")
        with np.errstate(over="ignore", invalid="ignore"):  # out of range becomes inf: reported below
            data = np.array(arr, dtype=self._dtype, order="C", copy=True)
        if not np.isfinite(data).all():
            raise ValueError(f"features: contains NaN/Inf (or values too large for {self._dtype.name})")
        return data

    def append(self, features: ArrayLike) -> int:
        """Append one video's frame features and flush them to disk.

        Bytes beyond the valid rows (orphans of an earlier crash) are cut off first, so the new
        rows start exactly at :attr:`rows`. The data is ``fsync``-ed before returning: commit
        the catalog row only after this returns.

        Returns
        -------
        int
            Row offset of the first appended row.

        Raises
        ------
        ValueError
            See :meth:`prepare`; a read-only store.
        """
        return self.append_prepared([self.prepare(features)])[0]

    def append_prepared(self, videos: Sequence[np.ndarray]) -> list[int]:
        """Append several videos prepared by :meth:`prepare`, with one ``fsync`` per file touched.

        Returns
        -------
        list of int
            Row offset of each video's first row.
        """
        if self._readonly:
            raise ValueError(f"feature store {self._path}: opened read-only")
        if not videos:
            return []
        for v in videos:
            if v.dtype != self._dtype or v.ndim != 2 or v.shape[1] != self._dim or not v.flags.c_contiguous:
                raise ValueError("append_prepared: expects arrays returned by prepare()")
        self.truncate_orphans()
        offsets = []
        start = self._rows
        for v in videos:
            offsets.append(start)
            start += v.shape[0]
        blob = videos[0] if len(videos) == 1 else np.concatenate(videos, axis=0)
        created = False
        pos = 0
        for shard, local, n in self._parts(self._rows, blob.shape[0]):
            f = self.shard_path(shard)
            created |= not f.exists()
            try:
                with open(f, "ab") as fh:
                    if fh.tell() != local * self.row_bytes:  # cannot happen after truncate_orphans
                        raise ValueError(f"feature store {f}: holds {fh.tell()} bytes, expected {local * self.row_bytes}")
                    fh.write(memoryview(blob[pos : pos + n]).cast("B"))
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                # Disk full, quota, I/O error: name the file (write errors carry none). Nothing
                # was committed; the next writer cuts the partial rows off.
                raise OSError(exc.errno, f"{exc.strerror or exc} (writing features; nothing was committed)",
                              str(f)) from None
            pos += n
        if created and self._shard_rows is not None:
            fsync_dir(self._path)
        self._rows = start
        return offsets

    # -- reading ---------------------------------------------------------------------------------

    def _fd(self, shard: int) -> int:
        fd = self._fds.get(shard)
        if fd is None:
            f = self.shard_path(shard)
            try:
                fd = os.open(f, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise ValueError(f"feature store {f}: cannot be opened ({exc.strerror or exc})") from None
            self._fds[shard] = fd
        return fd

    def _drop_fd(self, f: Path) -> None:
        for shard, fd in list(self._fds.items()):
            if self.shard_path(shard) == f:
                os.close(fd)
                del self._fds[shard]

    def prefetch(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Ask the kernel to start reading these ``(offset, count)`` row ranges now
        (``posix_fadvise(WILLNEED)``), so that the reads that follow find them in the page cache.

        A search reads its candidates' rows one after another; on a cold page cache each read
        is a random disk access. Announcing all of them first lets the disk serve them
        concurrently (its queue depth) instead of one at a time. Advisory only: ranges outside the
        valid rows and any error are ignored (the reads report them); a no-op where the platform
        has no ``posix_fadvise``.
        """
        advise = getattr(os, "posix_fadvise", None)
        if advise is None:
            return
        for offset, count in ranges:
            if offset < 0 or count < 1 or offset + count > self._rows:
                continue
            for shard, local, n in self._parts(int(offset), int(count)):
                try:
                    advise(self._fd(shard), local * self.row_bytes, n * self.row_bytes, os.POSIX_FADV_WILLNEED)
                except (OSError, ValueError):
                    pass

    def read_stored(self, offset: int, count: int) -> np.ndarray:
        """Rows ``offset : offset + count`` exactly as stored (storage dtype), a new array.

        Raises
        ------
        ValueError
            The range lies outside the valid rows, or a file holds fewer bytes than it should
            (cut short, e.g. under a live reader); the message names the file.
        """
        off = _positive_int(offset, "offset", 0)
        cnt = _positive_int(count, "count", 1)
        if off + cnt > self._rows:
            raise ValueError(
                f"feature store {self._path}: rows {off}:{off + cnt} are outside the "
                f"{self._rows} valid rows (the files were cut short, or the catalog is damaged)"
            )
        out = np.empty((cnt, self._dim), dtype=self._dtype)
        buf = memoryview(out).cast("B")
        pos = 0
        for shard, local, n in self._parts(off, cnt):
            want = n * self.row_bytes
            fd = self._fd(shard)
            try:
                got = os.preadv(fd, [buf[pos : pos + want]], local * self.row_bytes)
            except OSError as exc:
                raise ValueError(f"feature store {self.shard_path(shard)}: read error ({exc.strerror or exc})") from None
            if got != want:
                raise ValueError(
                    f"feature store {self.shard_path(shard)}: holds fewer rows than the catalog "
                    f"references (rows {local}:{local + n} wanted; the file was cut short or damaged)"
                )
            pos += want
        return out

    def read(self, offset: int, count: int) -> np.ndarray:
        """Rows ``offset : offset + count`` as float32.

        Parameters
        ----------
        offset : int
            First row (>= 0).
        count : int
            Number of rows (>= 1).

        Returns
        -------
        ndarray of shape (count, d), float32
            A new read-only array (copy it to modify it).

        Raises
        ------
        ValueError
            See :meth:`read_stored`.
        """
        out = self.read_stored(offset, count)
        if out.dtype != np.float32:
            out = out.astype(np.float32)
        out.setflags(write=False)
        return out

    def close(self) -> None:
        """Close the open file descriptors (arrays already returned stay valid)."""
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


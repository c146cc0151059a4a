"""The SQLite catalog of a collection: one row per video, plus a key/value meta table.

The catalog is the collection's source of truth. Feature rows on disk and the ANN index are
derived from it: a feature row that no catalog row references is dead space, and an index whose
video ids differ from the catalog's ``ok`` rows is stale and gets rebuilt.

Schema (version :data:`SCHEMA_VERSION`)::

    meta(key TEXT PRIMARY KEY, value TEXT)
        schema_version   "2"
        extractor        JSON of FrameFeatureExtractor.identity()
        feature_dim      "d"
        sample_fps       "2.0"                 (frames per second the videos are sampled at)
        created          ISO 8601 UTC time
        feature_dtype    "float32" or "float16" (storage dtype of the feature shards)
        shard_rows       rows per feature shard file (absent: the single features.f32 file
                         of a collection made before shards)

    videos(id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: an id names fixed features
           path TEXT UNIQUE,                       -- absolute, resolved
           sha256 TEXT,                            -- of the file bytes; NULL if unreadable
           status TEXT,                            -- 'ok' or 'failed'
           reason TEXT,                            -- why it failed (NULL when ok)
           class_name TEXT,                        -- optional label
           native_fps REAL, duration REAL,         -- seconds
           sample_fps REAL,
           row_offset INTEGER, row_count INTEGER,  -- rows in the feature store (ok only)
           frame_times BLOB,                       -- (row_count,) float64 little-endian, seconds;
                                                   --   NULL = arange(T) / sample_fps
           frame_indices BLOB,                     -- (row_count,) int64 little-endian, native index;
                                                   --   NULL = arange(T)
           added TEXT,                             -- ISO 8601 UTC time
           features_digest TEXT,                   -- BLAKE2b-128 hex of the stored feature bytes
           clip_mean BLOB,                         -- (d,) float32 little-endian clip vector
           file_stat TEXT)                         -- "size:mtime_ns:inode:dev" of the input file
    index videos_status(status, id)                -- ok rows by id: O(log N) tail and existence
    removed_ids(id INTEGER PRIMARY KEY)            -- every video id whose row was deleted
    trigger videos_removal_log                     -- AFTER DELETE ON videos: logs old.id there

Schema version 1 (draqcore before shards) lacks the last three columns and the index; a writer
upgrades such a catalog in place (the new columns are NULL for old rows: their features are then
not checksummed until re-indexed).

The meta table may also hold ``feature_rows``, the high-water mark of feature rows ever
committed (raised in the transaction that commits an ``ok`` row; older catalogs lack it and the
mark is then one past the last referenced row). Rows of the feature store beyond it were never
committed: they are orphans of an interrupted write.

Re-indexing a changed file deletes its row and inserts a new one, so a video id always refers to
the same feature rows (the ANN index caches clip means by id).

Removal log. Apart from its label, a row never changes after it is inserted: it exists with the
same status, feature rows and checksum, or it was deleted (removed, or replaced by a new id).
The ``removed_ids`` table, filled by a trigger on every delete whichever code deletes, lists the
deleted ids, so "is this once-ok video still ok?" is answered by one small table
(:meth:`Catalog.removed_among`) instead of one row read per video: a search at a million clips
checks its candidates without reading their rows (:mod:`draqcore.store.locations`). The
first writer of a catalog made before the log creates it in the same transaction that logs
every id missing below the largest id ever assigned (``sqlite_sequence``), so the log is complete
whenever it exists (:meth:`Catalog.logs_removals`).

Concurrency and crash safety. The database runs in SQLite's WAL mode: a writer's transactions
never wait for readers and readers never wait for the writer; every read transaction
(:meth:`Catalog.snapshot`) sees the last committed state. Every write is one transaction,
durable (``synchronous=FULL``) before the method returns, so a killed process loses at most
the transaction in flight. A new catalog is built in a temporary file and renamed into place,
so a killed :meth:`Catalog.create` leaves no half-made catalog. Readers open the file
read-only (``Catalog.open(..., readonly=True)``). Every SQLite error (a damaged or foreign
file, a busy database) is raised as a ``ValueError`` naming the catalog file.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import math
import operator
import os
import re
import secrets
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np

from .locations import pack_locations

__all__ = ["Catalog", "VideoRecord", "SCHEMA_VERSION", "CATALOG_FILENAME"]

SCHEMA_VERSION: int = 2
CATALOG_FILENAME: str = "catalog.sqlite"

_STATUSES = ("ok", "failed")

#: Seconds a statement waits for a lock held by another connection before failing. In WAL mode
#: only writer-vs-writer and checkpoints wait; the collection's writer lock keeps writers apart.
_BUSY_TIMEOUT_S = 30.0

#: Leftovers of a :meth:`Catalog.create` that was killed before renaming its temporary file.
TEMP_CATALOG = re.compile(r"catalog\.sqlite\.[A-Za-z0-9_]+\.tmp(-wal|-shm|-journal)?")

_SCHEMA = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE videos (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    path          TEXT NOT NULL UNIQUE,
    sha256        TEXT,
    status        TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    reason        TEXT,
    class_name    TEXT,
    native_fps    REAL,
    duration      REAL,
    sample_fps    REAL NOT NULL,
    row_offset    INTEGER,
    row_count     INTEGER,
    frame_times   BLOB,
    frame_indices BLOB,
    added         TEXT NOT NULL,
    features_digest TEXT,
    clip_mean     BLOB,
    file_stat     TEXT,
    CHECK (status = 'failed' OR (row_offset >= 0 AND row_count >= 1)),
    CHECK (status = 'ok' OR reason IS NOT NULL)
);
CREATE INDEX videos_status ON videos(status, id);
"""

_UPGRADE_1_TO_2 = (
    "ALTER TABLE videos ADD COLUMN features_digest TEXT",
    "ALTER TABLE videos ADD COLUMN clip_mean BLOB",
    "ALTER TABLE videos ADD COLUMN file_stat TEXT",
    "CREATE INDEX IF NOT EXISTS videos_status ON videos(status, id)",
    "UPDATE meta SET value = '2' WHERE key = 'schema_version'",
)

# The removal log (see the module notes). Not part of _SCHEMA: its trigger body holds ";".
_REMOVAL_LOG = (
    "CREATE TABLE IF NOT EXISTS removed_ids (id INTEGER PRIMARY KEY)",
    "CREATE TRIGGER IF NOT EXISTS videos_removal_log AFTER DELETE ON videos "
    "BEGIN INSERT OR IGNORE INTO removed_ids(id) VALUES (old.id); END",
)

_COLUMNS = (
    "id, path, sha256, status, reason, class_name, native_fps, duration, sample_fps, "
    "row_offset, row_count, added, features_digest, file_stat"
)


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class VideoRecord:
    """One catalog row.

    Attributes
    ----------
    id : int
        Catalog id; never reused, so it names one fixed set of feature rows.
    path : str
        Absolute, resolved path of the video file.
    sha256 : str or None
        Hex SHA-256 of the file bytes (None if the file could not be read).
    status : {"ok", "failed"}
    reason : str or None
        Why indexing failed (None when ``status == "ok"``).
    class_name : str or None
        Optional label.
    native_fps : float or None
        Frame rate of the file, frames per second.
    duration : float or None
        Seconds up to the end of the last sampled frame (its time + ``1 / native_fps``); the
        video itself may run on for less than one sampling period more.
    sample_fps : float
        Rate the frames were sampled at, frames per second.
    row_offset, num_frames : int
        The video's sampled frames are rows ``row_offset : row_offset + num_frames`` of the
        feature store (both 0 for failed videos).
    added : str
        ISO 8601 UTC time the row was written.
    features_digest : str or None
        BLAKE2b-128 (hex) of the video's stored feature bytes (None for failed rows and rows
        written before checksums).
    file_stat : str or None
        ``"size:mtime_ns:inode:dev"`` of the input file when it was hashed (videos only).
    """

    id: int
    path: str
    sha256: Optional[str]
    status: str
    reason: Optional[str]
    class_name: Optional[str]
    native_fps: Optional[float]
    duration: Optional[float]
    sample_fps: float
    row_offset: int
    num_frames: int
    added: str
    features_digest: Optional[str] = None
    file_stat: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when the video was indexed (``status == "ok"``)."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-serialisable dict."""
        return {
            "id": self.id,
            "path": self.path,
            "sha256": self.sha256,
            "status": self.status,
            "reason": self.reason,
            "class_name": self.class_name,
            "native_fps": self.native_fps,
            "duration": self.duration,
            "sample_fps": self.sample_fps,
            "row_offset": self.row_offset,
            "num_frames": self.num_frames,
            "added": self.added,
            "features_digest": self.features_digest,
        }


def _record(row: tuple[Any, ...]) -> VideoRecord:
    (vid, path, sha, status, reason, cls, nfps, dur, sfps, off, cnt, added, digest, fstat) = row
    return VideoRecord(
        id=int(vid),
        path=str(path),
        sha256=sha,
        status=str(status),
        reason=reason,
        class_name=cls,
        native_fps=None if nfps is None else float(nfps),
        duration=None if dur is None else float(dur),
        sample_fps=float(sfps),
        row_offset=0 if off is None else int(off),
        num_frames=0 if cnt is None else int(cnt),
        added=str(added),
        features_digest=None if digest is None else str(digest),
        file_stat=None if fstat is None else str(fstat),
    )


def _text(value: Optional[str]) -> Optional[str]:
    """``value`` made storable as UTF-8: lone surrogates (undecodable bytes of a file name,
    decoded by Python with ``surrogateescape``) become backslash escapes."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _optional_finite(value: Optional[float], name: str) -> Optional[float]:
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite or None, got {value!r}")
    return v


def _uri(path: Path, mode: str) -> str:
    """An SQLite URI for ``path`` (any characters, quoted) opened with ``mode``."""
    from urllib.parse import quote

    return f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode={mode}"


def _can_share_wal(path: Path) -> bool:
    """Whether a reader can use SQLite's WAL shared memory next to ``path``.

    A WAL-mode reader creates (or opens for writing) ``<catalog>-shm``. On read-only media, or in
    a folder of another user, it cannot: the catalog is then opened ``immutable`` (SQLite reads
    the file as it is, takes no locks), which is right because nobody can be writing there --
    unless a ``-wal`` file holds commits not yet folded into the catalog, which an immutable
    reader would not see: that is refused (``ValueError``) rather than answered from stale data.
    """
    folder = path.parent
    shm = Path(f"{path}-shm")
    if os.access(folder, os.W_OK) and (not shm.exists() or os.access(shm, os.W_OK)):
        return True
    if shm.exists() and os.access(shm, os.W_OK):
        return True
    wal = Path(f"{path}-wal")
    try:
        pending = wal.stat().st_size > 0
    except OSError:
        pending = False
    if pending:
        raise ValueError(
            f"catalog {path}: {wal.name} holds commits not yet written into the catalog, and this folder "
            "cannot be written: open the collection once where it is writable (any draq command folds them "
            "in when it closes), then copy it again"
        )
    return False


def _fsync_path(path: Union[str, Path], directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if directory:  # directories cannot be opened everywhere: best effort
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


_INSERT_SQL = (
    "INSERT INTO videos(path, sha256, status, reason, class_name, native_fps, duration, "
    "sample_fps, row_offset, row_count, frame_times, frame_indices, added, features_digest, "
    "clip_mean, file_stat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Catalog:
    """The SQLite catalog file of a collection (see the module docstring for the schema).

    Use :meth:`create` for a new file and :meth:`open` for an existing one; :meth:`close` (or a
    ``with`` block) releases the connection. Every write is one transaction, committed (and
    durable) before the method returns; :meth:`snapshot` groups reads into one consistent view.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection, readonly: bool = False) -> None:
        # Private: use Catalog.create / Catalog.open.
        self._path = path
        self._db: Optional[sqlite3.Connection] = connection
        self._readonly = readonly

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Union[str, os.PathLike[str]],
        *,
        extractor_identity: dict[str, Any],
        feature_dim: int,
        sample_fps: float,
        feature_dtype: str = "float32",
        shard_rows: Optional[int] = None,
    ) -> "Catalog":
        """Create a new catalog file with its meta table, atomically.

        The catalog is built in a temporary file next to ``path`` (``catalog.sqlite.*.tmp``)
        and renamed into place: a process killed meanwhile leaves no file at ``path``.

        Parameters
        ----------
        path : path-like
            The new file; its parent must exist.
        extractor_identity : dict
            JSON object identifying the frame feature extractor.
        feature_dim : int
            Frame feature dimension ``d`` (>= 1).
        sample_fps : float
            Frames per second the videos are sampled at (> 0).
        feature_dtype : {"float32", "float16"}, default "float32"
            Storage dtype of the feature shards.
        shard_rows : int, optional
            Rows per feature shard file; None records the single-file layout (float32 only).

        Raises
        ------
        FileExistsError
            If ``path`` exists.
        ValueError
            Bad ``feature_dim``/``sample_fps``, or an identity that is not a JSON object.
        """
        p = Path(path)
        if p.exists():
            raise FileExistsError(f"catalog {p}: already exists")
        try:
            dim = operator.index(feature_dim)
        except TypeError:
            dim = 0
        if isinstance(feature_dim, bool) or dim < 1:
            raise ValueError(f"feature_dim: must be a positive integer, got {feature_dim!r}")
        fps = float(sample_fps)
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"sample_fps: must be a positive finite number, got {sample_fps!r}")
        if not isinstance(extractor_identity, dict):
            raise ValueError(
                f"extractor_identity: expected a dict, got {type(extractor_identity).__name__}"
            )
        try:
            identity_json = json.dumps(extractor_identity, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extractor_identity: not JSON-serialisable ({exc})") from None
        if feature_dtype not in ("float32", "float16"):
            raise ValueError(f"feature_dtype: expected 'float32' or 'float16', got {feature_dtype!r}")
        layout: list[tuple[str, str]] = [("feature_dtype", feature_dtype)]
        if shard_rows is not None:
            if isinstance(shard_rows, bool) or operator.index(shard_rows) < 1:
                raise ValueError(f"shard_rows: must be a positive integer, got {shard_rows!r}")
            layout.append(("shard_rows", str(operator.index(shard_rows))))
        elif feature_dtype != "float32":
            raise ValueError("feature_dtype: float16 needs the sharded layout (shard_rows)")
        tmp = str(p.parent / f"{p.name}.{secrets.token_hex(6)}.tmp")
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # empty = an empty database
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file header
                db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("extractor", identity_json),
                        ("feature_dim", str(dim)),
                        ("sample_fps", repr(fps)),
                        ("created", _utc_now()),
                        ("feature_rows", "0"),
                        *layout,
                    ],
                )
                db.execute("COMMIT")
            finally:
                db.close()  # the last connection: checkpoints and removes the -wal file
            _fsync_path(tmp)
            if p.exists():
                raise FileExistsError(f"catalog {p}: already exists")
            os.replace(tmp, p)
            _fsync_path(p.parent, directory=True)
        except BaseException as exc:
            for leftover in (tmp, tmp + "-wal", tmp + "-shm", tmp + "-journal"):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
            if isinstance(exc, sqlite3.Error):  # disk full, I/O error...: name the file, no SQLite type
                code = errno.ENOSPC if "full" in str(exc) else errno.EIO
                raise OSError(code, f"cannot create the catalog (SQLite: {exc})", str(p)) from None
            raise
        return cls.open(p)

    @classmethod
    def open(cls, path: Union[str, os.PathLike[str]], *, readonly: bool = False) -> "Catalog":
        """Open an existing catalog file and check its schema version and meta table.

        Parameters
        ----------
        path : path-like
        readonly : bool, default False
            Open the file read-only (a reader): every write method raises ``ValueError``. A
            writable catalog is switched to WAL mode (catalogs of older draqcore versions) with
            ``synchronous=FULL``.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a draqcore catalog (not SQLite, damaged, another schema), has
            another schema version, or its meta table is damaged (message names the file and
            the key).
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"catalog {p}: no such file")
        mode = "ro" if readonly else "rw"
        if readonly and not _can_share_wal(p):
            mode = "ro&immutable=1"
        try:
            db = sqlite3.connect(_uri(p, mode), uri=True, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise ValueError(f"catalog {p}: cannot be opened as SQLite ({exc})") from None
        catalog = cls(p, db, readonly)
        try:
            if not readonly:
                catalog._upgrade()
            catalog._check_meta()
            if not readonly:
                try:
                    db.execute("PRAGMA journal_mode=WAL")  # a no-op when it already is
                    db.execute("PRAGMA synchronous=FULL")
                except sqlite3.Error as exc:
                    raise catalog._error(exc) from None
        except BaseException:
            catalog.close()
            raise
        return catalog

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        """The catalog file."""
        return self._path

    @property
    def readonly(self) -> bool:
        """True when opened read-only."""
        return self._readonly

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"catalog {self._path}: is closed")
        return self._db

    # -- SQL with errors as ValueError ------------------------------------------------------------

    def _error(self, exc: BaseException) -> Exception:
        """A ``ValueError`` (damage, busy) or ``OSError`` (the disk) naming the catalog file."""
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
            return ValueError(f"catalog {self._path}: SQLite says {exc} (busy for {_BUSY_TIMEOUT_S:g} s)")
        if isinstance(exc, sqlite3.OperationalError):
            for needle, code in (("disk is full", errno.ENOSPC), ("disk I/O error", errno.EIO),
                                 ("readonly database", errno.EROFS), ("unable to open", errno.EACCES)):
                if needle in text:
                    return OSError(code, f"{text} (SQLite; the transaction was rolled back, nothing was committed)",
                                   str(self._path))
        return ValueError(f"catalog {self._path}: damaged or not a draqcore catalog (SQLite: {exc})")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        except UnicodeEncodeError as exc:
            raise ValueError(f"catalog {self._path}: text that is not valid UTF-8 ({exc})") from None

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Optional[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        except UnicodeEncodeError as exc:
            raise ValueError(f"catalog {self._path}: text that is not valid UTF-8 ({exc})") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self._readonly:
            raise ValueError(f"catalog {self._path}: opened read-only")
        db = self._conn
        if db.in_transaction:
            raise ValueError(f"catalog {self._path}: cannot write inside a snapshot")
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # no transaction left to roll back (e.g. COMMIT failed and ended it)
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise

    @contextmanager
    def snapshot(self) -> Iterator["Catalog"]:
        """A read transaction: every read inside sees the same committed state.

        In WAL mode it neither waits for nor delays a writer. Nested snapshots join the outer
        one. No write method may be called inside.
        """
        db = self._conn
        if db.in_transaction:
            yield self
            return
        try:
            db.execute("BEGIN")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            yield self
        finally:
            try:
                db.execute("COMMIT")  # ends the read transaction; nothing was written
            except sqlite3.Error:
                pass

    # -- meta ------------------------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"catalog {self._path}: not a draqcore catalog ({exc})") from None
        return {str(k): str(v) for k, v in rows}

    def _check_meta(self) -> None:
        meta = self._meta()
        for key in ("schema_version", "extractor", "feature_dim", "sample_fps", "created"):
            if key not in meta:
                raise ValueError(f"catalog {self._path}: meta table lacks {key!r}")
        if meta["schema_version"] != str(SCHEMA_VERSION):
            hint = ""
            if meta["schema_version"] == "1":
                hint = "; open it once for writing (`draq index` or Collection.open(write=True)) to upgrade it"
            raise ValueError(
                f"catalog {self._path}: schema version {meta['schema_version']!r}, "
                f"this draqcore reads version {SCHEMA_VERSION}{hint}"
            )
        # Parse once so a damaged value is reported at open time, naming the key.
        self.extractor_identity  # noqa: B018
        self.feature_dim  # noqa: B018
        self.sample_fps  # noqa: B018
        self.feature_dtype  # noqa: B018
        self.shard_rows  # noqa: B018
        self.feature_rows()
        self._one(f"SELECT {_COLUMNS} FROM videos WHERE id = 0")  # the table and its columns (O(log N))

    def _upgrade(self) -> None:
        """Upgrade a schema-1 catalog in place, and give a catalog without one its removal log
        (a transaction each; a writer only)."""
        row = self._one("SELECT value FROM meta WHERE key = 'schema_version'") if self._has_meta() else None
        if row is None:
            return
        if str(row[0]) == "1":
            with self._transaction() as db:
                for statement in _UPGRADE_1_TO_2:
                    db.execute(statement)
        if not self.logs_removals:
            self._start_removal_log()

    def _start_removal_log(self) -> None:
        """Create the removal log and log every id ever assigned that has no row now (one
        transaction: the log is complete from the moment it exists). Reads the ids from the
        ``videos_status`` index: once per catalog, O(N)."""
        with self._transaction() as db:
            gone = self._ids_without_rows()
            for statement in _REMOVAL_LOG:
                db.execute(statement)
            db.executemany("INSERT OR IGNORE INTO removed_ids(id) VALUES (?)", ((int(v),) for v in gone))

    def _ids_without_rows(self) -> np.ndarray:
        """Ids assigned once (up to ``sqlite_sequence``'s largest) that have no row now, ascending:
        the deleted ones (and any a rolled-back insert took). O(N) over the ``videos_status``
        index."""
        seq = self._one("SELECT seq FROM sqlite_sequence WHERE name = 'videos'")
        top = int(seq[0]) if seq is not None and seq[0] is not None else 0
        present = np.fromiter((r[0] for r in self._rows("SELECT id FROM videos WHERE status IN ('ok', 'failed')")),
                              dtype=np.int64)
        top = max(top, int(present.max()) if present.size else 0)
        return np.setdiff1d(np.arange(1, top + 1, dtype=np.int64), present, assume_unique=True)

    def _removal_log_parts(self) -> set[str]:
        """Which of the removal log's table and trigger exist."""
        return {str(r[0]) for r in self._rows(
            "SELECT name FROM sqlite_master WHERE name IN ('removed_ids', 'videos_removal_log')")}

    def _verify_removal_log(self) -> list[str]:
        """Problems of the removal log: one of its table and trigger without the other, or an id
        assigned once (at most ``sqlite_sequence``'s) that has no row and is not logged (a
        search could then return a removed video). A catalog without either has no log yet
        (made before it, opened read-only since): no problem."""
        name = self._path.name
        try:
            have = self._removal_log_parts()
            if not have:
                return []
            if len(have) == 1:
                return [f"{name}: the removal log is damaged (only {have.pop()!r} exists): deletions are not logged"]
            logged = {int(r[0]) for r in self._rows("SELECT id FROM removed_ids")}
            lost = [v for v in self._ids_without_rows().tolist() if v not in logged]
        except (ValueError, TypeError) as exc:
            return [f"{name}: the removal log cannot be read ({exc})"]
        if not lost:
            return []
        shown = ", ".join(str(v) for v in lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
        return [f"{name}: the removal log lacks the deleted video ids {shown} (rows deleted with the log's trigger "
                "dropped: searches could return them)"]

    @property
    def logs_removals(self) -> bool:
        """Whether this catalog has its removal log (every catalog once a writer of this
        version opened it); when it does, the log is complete (see the module notes)."""
        return len(self._removal_log_parts()) == 2

    def still_ok(self, video_ids: Sequence[int]) -> set[int]:
        """The ids among ``video_ids``, each of a video that was ok once (it entered an index),
        that are ok in this snapshot: those the removal log does not name (no row of ``videos``
        is read), or without a log, :meth:`ok_among`."""
        if self.logs_removals:
            return set(int(v) for v in video_ids) - self.removed_among(video_ids)
        return self.ok_among(video_ids)

    def removed_among(self, video_ids: Sequence[int]) -> set[int]:
        """The ids among ``video_ids`` whose rows were deleted (from the removal log, whose
        pages stay cached: no row of ``videos`` is read). Only meaningful with
        :attr:`logs_removals`; for an id that was once ok, "not removed" is "ok now"."""
        return self._ids_among("SELECT id FROM removed_ids WHERE", video_ids)

    def _ids_among(self, select: str, video_ids: Sequence[int]) -> set[int]:
        """The ids ``select ... id IN (video_ids)`` returns (``select`` ends before ``id IN``),
        asked 500 at a time (SQLite limits the number of parameters)."""
        ids = [int(v) for v in video_ids]
        out: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            out.update(r[0] for r in self._rows(f"{select} id IN ({marks})", chunk))
        return out

    def _has_meta(self) -> bool:
        try:
            return self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is not None
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"catalog {self._path}: not a draqcore catalog ({exc})") from None

    def _meta_value(self, key: str) -> str:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        if row is None:
            raise ValueError(f"catalog {self._path}: meta table lacks {key!r}")
        return str(row[0])

    @property
    def extractor_identity(self) -> dict[str, Any]:
        """The extractor identity recorded at creation (a JSON object)."""
        text = self._meta_value("extractor")
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(
                f"catalog {self._path}: meta 'extractor' is not valid JSON ({type(exc).__name__}: {exc}): {text[:200]!r}"
            ) from None
        if not isinstance(value, dict):
            raise ValueError(
                f"catalog {self._path}: meta 'extractor' must be a JSON object, got {text[:200]!r}"
            )
        return value

    @property
    def feature_dim(self) -> int:
        """Frame feature dimension ``d``."""
        text = self._meta_value("feature_dim")
        try:
            d = int(text)
        except ValueError:
            d = 0
        if d < 1:
            raise ValueError(f"catalog {self._path}: meta 'feature_dim' must be a positive integer, got {text!r}")
        return d

    @property
    def sample_fps(self) -> float:
        """Frames per second the collection samples videos at."""
        text = self._meta_value("sample_fps")
        try:
            fps = float(text)
        except ValueError:
            fps = float("nan")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"catalog {self._path}: meta 'sample_fps' must be a positive number, got {text!r}")
        return fps

    @property
    def feature_dtype(self) -> str:
        """Storage dtype of the feature files: ``"float32"`` or ``"float16"``."""
        row = self._one("SELECT value FROM meta WHERE key = 'feature_dtype'")
        value = "float32" if row is None else str(row[0])
        if value not in ("float32", "float16"):
            raise ValueError(f"catalog {self._path}: meta 'feature_dtype' must be float32 or float16, got {value!r}")
        return value

    @property
    def shard_rows(self) -> Optional[int]:
        """Rows per feature shard file; None for the single ``features.f32`` of older collections."""
        row = self._one("SELECT value FROM meta WHERE key = 'shard_rows'")
        if row is None:
            return None
        text = str(row[0])
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"catalog {self._path}: meta 'shard_rows' must be a positive integer, got {text!r}")
        return int(text)

    @property
    def created(self) -> str:
        """ISO 8601 UTC creation time."""
        return self._meta_value("created")

    @property
    def schema_version(self) -> int:
        """Schema version of the file."""
        return int(self._meta_value("schema_version"))

    def _feature_rows_mark(self) -> Optional[int]:
        row = self._one("SELECT value FROM meta WHERE key = 'feature_rows'")
        if row is None:
            return None  # a catalog of an older draqcore
        text = str(row[0])
        if not text.isdigit():
            raise ValueError(f"catalog {self._path}: meta 'feature_rows' must be a non-negative integer, got {text!r}")
        return int(text)

    def feature_rows(self) -> int:
        """Feature rows ever committed: the valid length of the feature store.

        The meta ``feature_rows`` high-water mark (rows of replaced videos stay below it as
        dead space; rows beyond it are orphans). Every commit of an ok row raises the mark, so it
        is read in O(1); only a catalog without a mark takes :meth:`rows_end` (a scan).
        """
        with self.snapshot():
            mark = self._feature_rows_mark()
            return mark if mark is not None else self.rows_end()

    # -- rows ------------------------------------------------------------------------------------

    @staticmethod
    def ok_values(
        *,
        sha256: str,
        class_name: Optional[str],
        native_fps: Optional[float],
        duration: Optional[float],
        sample_fps: float,
        row_offset: int,
        row_count: int,
        frame_times: Optional[np.ndarray],
        frame_indices: Optional[np.ndarray],
        features_digest: Optional[str] = None,
        clip_mean: Optional[np.ndarray] = None,
        file_stat: Optional[str] = None,
    ) -> dict[str, Any]:
        """Validated column values of an ok row (for :meth:`add_ok` and :meth:`add_many`).

        ``frame_times``/``frame_indices`` None store the defaults ``arange(T) / sample_fps``
        and ``arange(T)`` in no space.
        """
        count = int(row_count)
        if count < 1:
            raise ValueError(f"row_count: must be >= 1, got {row_count}")
        times_blob = idx_blob = None
        if frame_times is not None:
            times = np.ascontiguousarray(frame_times, dtype="<f8")
            if times.shape != (count,):
                raise ValueError(f"frame_times: expected shape ({count},), got {np.shape(frame_times)}")
            if not np.isfinite(times).all():
                raise ValueError("frame_times: contains NaN/Inf")
            times_blob = times.tobytes()
        if frame_indices is not None:
            idx = np.ascontiguousarray(frame_indices, dtype="<i8")
            if idx.shape != (count,):
                raise ValueError(f"frame_indices: expected shape ({count},), got {np.shape(frame_indices)}")
            idx_blob = idx.tobytes()
        if int(row_offset) < 0:
            raise ValueError(f"row_offset: must be >= 0, got {row_offset}")
        mean_blob = None
        if clip_mean is not None:
            mean_blob = np.ascontiguousarray(clip_mean, dtype="<f4").tobytes()
        return dict(
            sha256=sha256,
            status="ok",
            reason=None,
            class_name=class_name,
            native_fps=_optional_finite(native_fps, "native_fps"),
            duration=_optional_finite(duration, "duration"),
            sample_fps=float(sample_fps),
            row_offset=int(row_offset),
            row_count=count,
            frame_times=times_blob,
            frame_indices=idx_blob,
            features_digest=features_digest,
            clip_mean=mean_blob,
            file_stat=file_stat,
        )

    def add_ok(
        self,
        path: str,
        *,
        sha256: str,
        class_name: Optional[str],
        native_fps: Optional[float],
        duration: Optional[float],
        sample_fps: float,
        row_offset: int,
        frame_times: np.ndarray,
        frame_indices: np.ndarray,
        features_digest: Optional[str] = None,
        clip_mean: Optional[np.ndarray] = None,
        file_stat: Optional[str] = None,
    ) -> VideoRecord:
        """Record an indexed video, replacing any earlier row of the same path (one transaction).

        The transaction also raises the ``feature_rows`` high-water mark to the video's last row.

        Parameters
        ----------
        path : str
            Absolute, resolved path (or a clip name, for precomputed features).
        frame_times : ndarray of shape (T,), float
            Seconds of the sampled frames; ``T >= 1`` is the number of feature rows.
        frame_indices : ndarray of shape (T,), int
            Native frame index of every sampled frame.
        row_offset : int
            First row of the video in the feature store.
        features_digest : str, optional
            Checksum of the stored feature rows (:func:`draqcore.store.feature_store.features_digest`).
        clip_mean : ndarray of shape (d,), optional
            The clip vector, kept for the ANN index.
        file_stat : str, optional
            ``"size:mtime_ns:inode:dev"`` of the input file.

        Returns
        -------
        VideoRecord
            The new row (with a new id).
        """
        times = np.asarray(frame_times)
        idx = np.asarray(frame_indices)
        if times.ndim != 1 or times.shape[0] == 0 or idx.shape != times.shape:
            raise ValueError(
                f"frame_times/frame_indices: expected two equal (T,) arrays with T >= 1, "
                f"got shapes {np.shape(frame_times)} and {np.shape(frame_indices)}"
            )
        values = self.ok_values(sha256=sha256, class_name=class_name, native_fps=native_fps, duration=duration,
                                sample_fps=sample_fps, row_offset=row_offset, row_count=times.shape[0],
                                frame_times=times, frame_indices=idx, features_digest=features_digest,
                                clip_mean=clip_mean, file_stat=file_stat)
        return self._replace(path, **values)

    def add_many(self, rows: Sequence[tuple[str, dict[str, Any]]], *, new: Sequence[bool] = ()) -> list[int]:
        """Record many ok rows (``(path, ok_values(...))``) in one transaction; returns their ids.

        Each replaces any earlier row of its path; the ``feature_rows`` mark is raised once.
        ``new`` (one flag per row, optional) marks rows whose path the caller has just looked up
        and found absent, inside this writer (:meth:`lookup`): they are inserted in one
        ``executemany`` without the per-row delete, and get no id in the result (-1).
        """
        ids: list[int] = []
        if not rows:
            return ids
        for path, _ in rows:
            if _text(path) != path:
                raise ValueError(f"path: {_text(path)!r} is not valid UTF-8 (escape it before storing it)")
        fresh = list(new) if new else [False] * len(rows)
        if len(fresh) != len(rows):
            raise ValueError(f"new: expected {len(rows)} flags, got {len(fresh)}")
        with self._transaction() as db:
            end = 0
            batch: list[tuple[Any, ...]] = []  # consecutive new rows: ids stay in input order
            for (path, values), f in zip(rows, fresh):
                if f:
                    batch.append(self._insert_params(path, values))
                    ids.append(-1)
                else:
                    if batch:
                        db.executemany(_INSERT_SQL, batch)
                        batch.clear()
                    ids.append(self._insert(db, path, values))
                end = max(end, values["row_offset"] + values["row_count"])
            if batch:
                db.executemany(_INSERT_SQL, batch)
            if end > (self._feature_rows_mark() or 0):
                db.execute(
                    "INSERT INTO meta(key, value) VALUES ('feature_rows', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(end),),
                )
        return ids

    def add_failed(
        self,
        path: str,
        *,
        sha256: Optional[str],
        reason: str,
        class_name: Optional[str],
        sample_fps: float,
    ) -> VideoRecord:
        """Record a video that could not be indexed, replacing any earlier row of the path.

        ``reason`` is stored as UTF-8; undecodable bytes of file names in it become escapes.
        """
        if not reason:
            raise ValueError("reason: a failed video needs a non-empty reason")
        return self._replace(
            path,
            sha256=sha256,
            status="failed",
            reason=_text(str(reason)),
            class_name=class_name,
            native_fps=None,
            duration=None,
            sample_fps=float(sample_fps),
            row_offset=None,
            row_count=None,
            frame_times=None,
            frame_indices=None,
            features_digest=None,
            clip_mean=None,
            file_stat=None,
        )

    @staticmethod
    def _insert(db: sqlite3.Connection, path: str, values: dict[str, Any]) -> int:
        db.execute("DELETE FROM videos WHERE path = ?", (path,))
        cur = db.execute(_INSERT_SQL, Catalog._insert_params(path, values))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    @staticmethod
    def _insert_params(path: str, values: dict[str, Any]) -> tuple[Any, ...]:
        return (
                path,
                values["sha256"],
                values["status"],
                values["reason"],
                _text(values["class_name"]),
                values["native_fps"],
                values["duration"],
                values["sample_fps"],
                values["row_offset"],
                values["row_count"],
                values["frame_times"],
                values["frame_indices"],
                _utc_now(),
                values.get("features_digest"),
                values.get("clip_mean"),
                values.get("file_stat"),
            )

    def _replace(self, path: str, **values: Any) -> VideoRecord:
        if _text(path) != path:
            raise ValueError(f"path: {_text(path)!r} is not valid UTF-8 (escape it before storing it)")
        with self._transaction() as db:
            vid = self._insert(db, path, values)
            if values["status"] == "ok":
                end = values["row_offset"] + values["row_count"]
                if end > (self._feature_rows_mark() or 0):
                    db.execute(
                        "INSERT INTO meta(key, value) VALUES ('feature_rows', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (str(end),),
                    )
        record = self.get(int(vid))
        assert record is not None
        return record

    def remove(self, video_ids: Sequence[int]) -> int:
        """Delete these rows in one transaction; returns how many existed.

        Their feature rows stay in the feature file, unreferenced (like the rows of a video
        that was re-indexed); the ``feature_rows`` high-water mark does not move.
        """
        ids = [int(v) for v in video_ids]
        removed = 0
        with self._transaction() as db:
            for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
                part = ids[start : start + 500]
                cur = db.execute(f"DELETE FROM videos WHERE id IN ({', '.join('?' * len(part))})", part)
                removed += cur.rowcount
        return removed

    def set_class_name(self, video_id: int, class_name: Optional[str]) -> None:
        """Change the label of one row."""
        with self._transaction() as db:
            cur = db.execute("UPDATE videos SET class_name = ? WHERE id = ?", (_text(class_name), int(video_id)))
            if cur.rowcount != 1:
                raise KeyError(f"catalog {self._path}: no video with id {video_id}")

    def _record(self, row: tuple[Any, ...]) -> VideoRecord:
        try:
            return _record(row)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"catalog {self._path}: video row {row[0]!r} is damaged ({exc})") from None

    def get(self, video_id: int) -> Optional[VideoRecord]:
        """The row with this id, or None."""
        row = self._one(f"SELECT {_COLUMNS} FROM videos WHERE id = ?", (int(video_id),))
        return None if row is None else self._record(row)

    def lookup(self, paths: Sequence[str]) -> dict[str, tuple[int, Optional[str], str, Optional[str]]]:
        """``{path: (id, sha256, status, class_name)}`` of those of ``paths`` that have a row.

        One indexed statement per 500 paths, reading four small columns only: what an ingest of
        many clips needs to decide which are new, unchanged or replaced.
        """
        out: dict[str, tuple[int, Optional[str], str, Optional[str]]] = {}
        names = [str(p) for p in paths]
        for start in range(0, len(names), 500):  # SQLite limits the number of parameters
            chunk = names[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for vid, path, sha, status, cls in self._rows(
                    f"SELECT id, path, sha256, status, class_name FROM videos WHERE path IN ({marks})", chunk):
                out[path] = (int(vid), sha, status, cls)
        return out

    def find(self, path: str) -> Optional[VideoRecord]:
        """The row of this (absolute, resolved) path, or None."""
        row = self._one(f"SELECT {_COLUMNS} FROM videos WHERE path = ?", (str(path),))
        return None if row is None else self._record(row)

    def get_many(self, video_ids: Sequence[int]) -> dict[int, VideoRecord]:
        """The rows of these ids that exist, by id (one statement: one consistent view)."""
        ids = [int(v) for v in video_ids]
        out: dict[int, VideoRecord] = {}
        for start in range(0, len(ids), 500):  # SQLite limits the number of parameters
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._rows(f"SELECT {_COLUMNS} FROM videos WHERE id IN ({marks})", chunk):
                rec = self._record(row)
                out[rec.id] = rec
        return out

    def ok_among(self, video_ids: Sequence[int]) -> set[int]:
        """The ids among ``video_ids`` whose rows exist and are ok (one consistent view).

        Answered from the ``videos_status`` index alone (SQLite's covering-index plan): a row is
        ~1 KB with its frame times, an index entry ~12 bytes, so on a cold page cache this reads
        a few index pages instead of one table page per id (a search checks ~270 candidates).
        """
        return self._ids_among("SELECT id FROM videos WHERE status = 'ok' AND", video_ids)

    def records(self, status: Optional[str] = None) -> list[VideoRecord]:
        """All rows ordered by id, optionally only those with ``status``."""
        if status is None:
            rows = self._rows(f"SELECT {_COLUMNS} FROM videos ORDER BY id")
        else:
            if status not in _STATUSES:
                raise ValueError(f"status: expected 'ok', 'failed' or None, got {status!r}")
            rows = self._rows(f"SELECT {_COLUMNS} FROM videos WHERE status = ? ORDER BY id", (status,))
        return [self._record(r) for r in rows]

    def iter_records(self, status: Optional[str] = None) -> Iterator[VideoRecord]:
        """Iterate the rows ordered by id, optionally only those with ``status`` (read at once)."""
        return iter(self.records(status))

    def ok_ids(self) -> np.ndarray:
        """Ids of the ``ok`` rows, ascending, as an int64 array of shape (N,)."""
        rows = self._rows("SELECT id FROM videos WHERE status = 'ok' ORDER BY id")
        return np.array([r[0] for r in rows], dtype=np.int64)

    def has_ok(self) -> bool:
        """True when at least one row is ok (an index lookup, O(log N))."""
        return self._one("SELECT 1 FROM videos WHERE status = 'ok' LIMIT 1") is not None

    def max_id(self) -> int:
        """The largest id ever given out (0 for none): ids above it are new (O(1))."""
        row = self._one("SELECT seq FROM sqlite_sequence WHERE name = 'videos'")
        return 0 if row is None or row[0] is None else int(row[0])

    def long_videos(self, after_id: int, min_frames: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and frame counts of the ok rows with ``id > after_id`` and more than
        ``min_frames`` sampled frames, ascending by id (a range scan of ``videos_status`` that
        reads no vectors: O(log N + k) for the k rows after ``after_id``)."""
        rows = self._rows(
            "SELECT id, row_count FROM videos WHERE status = 'ok' AND id > ? AND row_count > ? ORDER BY id",
            (int(after_id), int(min_frames)))
        return (np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)))

    def clip_means(self, after_id: int = 0, upto_id: Optional[int] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids, stored clip vectors and feature locations of the ok rows with ``after_id < id <= upto_id``.

        A range scan of the ``videos_status`` index: O(log N + k) for the k rows returned.

        Returns
        -------
        ids : ndarray of shape (k,), int64, ascending
        means : ndarray of shape (k, d), float32
            NaN rows for rows that hold no clip vector (written before schema 2).
        locations : ndarray of shape (k, 5), int64
            Where each one's features are: ``row_offset, row_count`` and the features digest
            (:func:`draqcore.store.locations.pack_locations`).
        """
        hi = (1 << 62) if upto_id is None else int(upto_id)
        rows = self._rows(
            "SELECT id, clip_mean, row_offset, row_count, features_digest FROM videos "
            "WHERE status = 'ok' AND id > ? AND id <= ? ORDER BY id", (int(after_id), hi))
        dim = self.feature_dim
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        means = np.full((len(rows), dim), np.nan, dtype=np.float32)
        ranges = np.empty((len(rows), 2), dtype=np.int64)
        digests: list[Optional[str]] = []
        for i, (_, blob, off, cnt, digest) in enumerate(rows):
            if isinstance(blob, bytes) and len(blob) == 4 * dim:
                means[i] = np.frombuffer(blob, dtype="<f4")
            ranges[i] = (off, cnt)
            digests.append(digest if isinstance(digest, str) else None)
        try:
            locations = pack_locations(ranges, digests)
        except ValueError as exc:
            raise ValueError(f"catalog {self._path}: a damaged features_digest ({exc})") from None
        return ids, means, locations

    def ok_after(self, after_id: int) -> tuple[int, int]:
        """``(count, largest id)`` of the ok rows with ``id > after_id`` (``(0, 0)`` for none).

        Reads the ``videos_status`` index only (no row, no vector): O(log N + k) for the k rows
        after ``after_id``. Ids are never reused, so any row added, removed or marked failed
        after ``after_id`` changes the pair.
        """
        row = self._one("SELECT COUNT(*), MAX(id) FROM videos WHERE status = 'ok' AND id > ?", (int(after_id),))
        if row is None or not row[0]:
            return 0, 0
        return int(row[0]), int(row[1])

    def count(self, status: Optional[str] = "ok") -> int:
        """Number of rows (with ``status``; ``None`` counts all)."""
        if status is None:
            row = self._one("SELECT COUNT(*) FROM videos")
        else:
            row = self._one("SELECT COUNT(*) FROM videos WHERE status = ?", (status,))
        assert row is not None
        return int(row[0])

    def rows_end(self) -> int:
        """One past the last feature row any ``ok`` row references (0 when there is none)."""
        row = self._one("SELECT MAX(row_offset + row_count) FROM videos WHERE status = 'ok'")
        if row is None or row[0] is None:
            return 0
        try:
            return int(row[0])
        except (TypeError, ValueError):
            raise ValueError(f"catalog {self._path}: damaged row_offset/row_count values") from None

    def frames(self, video_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Sampled frame times and native indices of an ``ok`` row.

        Returns
        -------
        times : ndarray of shape (T,), float64
            Seconds.
        indices : ndarray of shape (T,), int64
            Native frame index of each sampled frame.
        """
        row = self._one(
            "SELECT frame_times, frame_indices, row_count, status FROM videos WHERE id = ?", (int(video_id),)
        )
        if row is None:
            raise KeyError(f"catalog {self._path}: no video with id {video_id}")
        times_blob, idx_blob, count, status = row
        if status != "ok":
            raise ValueError(f"catalog {self._path}: video {video_id} has status {status!r}, no frames")
        if times_blob is None:
            times_blob = (np.arange(count, dtype="<f8") / self.sample_fps).tobytes()
        if idx_blob is None:
            idx_blob = np.arange(count, dtype="<i8").tobytes()
        try:
            times = np.frombuffer(times_blob, dtype="<f8").astype(np.float64)
            idx = np.frombuffer(idx_blob, dtype="<i8").astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"catalog {self._path}: video {video_id} frame times/indices are damaged ({exc})") from None
        if times.shape != (count,) or idx.shape != (count,):
            raise ValueError(
                f"catalog {self._path}: video {video_id} frame times/indices hold "
                f"{times.shape[0]}/{idx.shape[0]} values, expected {count}"
            )
        return times, idx

    # -- verification ----------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Check the file and every row; one line per problem (empty when healthy).

        Checks SQLite's ``quick_check``; that every ok row has a row range ``>= 0`` of ``>= 1``
        rows, frame time/index blobs of ``8 * row_count`` bytes with finite non-decreasing times
        and increasing indices, a 64-hex-digit SHA-256 and the collection's sample rate; that
        every failed row has a reason; that no two ok rows share feature rows; that the removal
        log, where there is one, names every deleted id; and that the ``feature_rows`` mark is
        not below the rows referenced.
        """
        problems: list[str] = []
        name = self._path.name
        try:
            checks = [str(r[0]) for r in self._rows("PRAGMA quick_check")]
        except ValueError as exc:
            return [str(exc)]
        if checks != ["ok"]:
            problems.extend(f"{name}: SQLite integrity check: {line}" for line in checks[:20])
        try:
            fps = self.sample_fps
            rows = self._rows(
                "SELECT id, path, sha256, status, reason, sample_fps, row_offset, row_count, "
                "frame_times, frame_indices FROM videos ORDER BY id"
            )
        except ValueError as exc:
            return problems + [str(exc)]
        ranges: list[tuple[int, int, int]] = []
        for vid, path, sha, status, reason, sfps, off, cnt, times_blob, idx_blob in rows:
            where = f"{name}: video {vid} ({path})"
            if status == "failed":
                if not reason:
                    problems.append(f"{where}: failed without a reason")
                continue
            if status != "ok":
                problems.append(f"{where}: unknown status {status!r}")
                continue
            if not isinstance(off, int) or not isinstance(cnt, int) or off < 0 or cnt < 1:
                problems.append(f"{where}: invalid feature row range offset={off!r} count={cnt!r}")
                continue
            ranges.append((off, off + cnt, vid))
            if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
                problems.append(f"{where}: invalid sha256 {sha!r}")
            if not isinstance(sfps, (int, float)) or float(sfps) != fps:
                problems.append(f"{where}: sampled at {sfps!r} fps, the collection samples at {fps!r}")
            if times_blob is None:
                times_blob = (np.arange(cnt, dtype="<f8") / fps).tobytes()
            if idx_blob is None:
                idx_blob = np.arange(cnt, dtype="<i8").tobytes()
            if not isinstance(times_blob, bytes) or not isinstance(idx_blob, bytes) \
                    or len(times_blob) != 8 * cnt or len(idx_blob) != 8 * cnt:
                problems.append(f"{where}: frame times/indices do not hold {cnt} values each")
                continue
            times = np.frombuffer(times_blob, dtype="<f8")
            idx = np.frombuffer(idx_blob, dtype="<i8")
            if not np.isfinite(times).all() or (np.diff(times) < 0).any():
                problems.append(f"{where}: frame times are not finite and non-decreasing")
            if (idx < 0).any() or (np.diff(idx) <= 0).any():
                problems.append(f"{where}: frame indices are not non-negative and increasing")
        ranges.sort()
        for (a0, a1, a_id), (b0, b1, b_id) in zip(ranges, ranges[1:]):
            if b0 < a1:
                problems.append(
                    f"{name}: videos {a_id} and {b_id} share feature rows ({a0}:{a1} and {b0}:{b1})"
                )
        problems.extend(self._verify_removal_log())
        try:
            mark = self._feature_rows_mark()
        except ValueError as exc:
            problems.append(str(exc))
        else:
            end = max((r[1] for r in ranges), default=0)
            if mark is not None and mark < end:
                problems.append(f"{name}: meta 'feature_rows' is {mark}, but rows up to {end} are referenced")
        return problems

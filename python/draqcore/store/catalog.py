"""The SQLite catalog of a collection: one row per video, plus a key/value meta table.

The catalog is the collection's source of truth. Feature rows on disk and the ANN index are
derived from it: a feature row that no catalog row references is dead space, and an index whose
video ids differ from the catalog's ``ok`` rows is stale and gets rebuilt.

Schema (version :data:`SCHEMA_VERSION`)::

    meta(key TEXT PRIMARY KEY, value TEXT)
        schema_version   "1"
        extractor        JSON of FrameFeatureExtractor.identity()
        feature_dim      "d"
        sample_fps       "2.0"                 (frames per second the videos are sampled at)
        created          ISO 8601 UTC time

    videos(id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: an id names fixed features
           path TEXT UNIQUE,                       -- absolute, resolved
           sha256 TEXT,                            -- of the file bytes; NULL if unreadable
           status TEXT,                            -- 'ok' or 'failed'
           reason TEXT,                            -- why it failed (NULL when ok)
           class_name TEXT,                        -- optional label
           native_fps REAL, duration REAL,         -- seconds
           sample_fps REAL,
           row_offset INTEGER, row_count INTEGER,  -- rows in the feature store (ok only)
           frame_times BLOB,                       -- (row_count,) float64 little-endian, seconds
           frame_indices BLOB,                     -- (row_count,) int64 little-endian, native index
           added TEXT)                             -- ISO 8601 UTC time

Re-indexing a changed file deletes its row and inserts a new one, so a video id always refers to
the same feature rows (the ANN index caches clip means by id).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import operator
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

__all__ = ["Catalog", "VideoRecord", "SCHEMA_VERSION", "CATALOG_FILENAME"]

SCHEMA_VERSION: int = 1
CATALOG_FILENAME: str = "catalog.sqlite"

_STATUSES = ("ok", "failed")

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
    CHECK (status = 'failed' OR (row_offset >= 0 AND row_count >= 1
                                 AND frame_times IS NOT NULL AND frame_indices IS NOT NULL)),
    CHECK (status = 'ok' OR reason IS NOT NULL)
);
"""

_COLUMNS = (
    "id, path, sha256, status, reason, class_name, native_fps, duration, sample_fps, "
    "row_offset, row_count, added"
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
        }


def _record(row: tuple[Any, ...]) -> VideoRecord:
    (vid, path, sha, status, reason, cls, nfps, dur, sfps, off, cnt, added) = row
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
    )


def _optional_finite(value: Optional[float], name: str) -> Optional[float]:
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: must be finite or None, got {value!r}")
    return v


class Catalog:
    """The SQLite catalog file of a collection (see the module docstring for the schema).

    Use :meth:`create` for a new file and :meth:`open` for an existing one; :meth:`close` (or a
    ``with`` block) releases the connection. Every write is one transaction, committed before
    the method returns.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        # Private: use Catalog.create / Catalog.open.
        self._path = path
        self._db: Optional[sqlite3.Connection] = connection

    # -- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Union[str, os.PathLike[str]],
        *,
        extractor_identity: dict[str, Any],
        feature_dim: int,
        sample_fps: float,
    ) -> "Catalog":
        """Create a new catalog file with its meta table.

        Parameters
        ----------
        path : path-like
            The file to create; must not exist.
        extractor_identity : dict
            ``FrameFeatureExtractor.identity()``; must be JSON-serialisable.
        feature_dim : int
            Frame feature dimension ``d`` (>= 1).
        sample_fps : float
            Frames per second the videos are sampled at (> 0).

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
        db = sqlite3.connect(str(p), isolation_level=None)
        try:
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
                ],
            )
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return cls(p, db)

    @classmethod
    def open(cls, path: Union[str, os.PathLike[str]]) -> "Catalog":
        """Open an existing catalog file and check its schema version and meta table.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a draqcore catalog, has another schema version, or its meta
            table is damaged (message names the file and the key).
        """
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"catalog {p}: no such file")
        try:
            db = sqlite3.connect(f"file:{p}?mode=rw", uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise ValueError(f"catalog {p}: cannot be opened as SQLite ({exc})") from None
        catalog = cls(p, db)
        try:
            catalog._check_meta()
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
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"catalog {self._path}: is closed")
        return self._db

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
            raise ValueError(
                f"catalog {self._path}: schema version {meta['schema_version']!r}, "
                f"this draqcore reads version {SCHEMA_VERSION}"
            )
        # Parse once so a damaged value is reported at open time, naming the key.
        self.extractor_identity  # noqa: B018
        self.feature_dim  # noqa: B018
        self.sample_fps  # noqa: B018

    def _meta_value(self, key: str) -> str:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise ValueError(f"catalog {self._path}: meta table lacks {key!r}")
        return str(row[0])

    @property
    def extractor_identity(self) -> dict[str, Any]:
        """The extractor identity recorded at creation (a JSON object)."""
        text = self._meta_value("extractor")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"catalog {self._path}: meta 'extractor' is not valid JSON ({exc}): {text[:200]!r}"
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
    def created(self) -> str:
        """ISO 8601 UTC creation time."""
        return self._meta_value("created")

    @property
    def schema_version(self) -> int:
        """Schema version of the file."""
        return int(self._meta_value("schema_version"))

    # -- rows ------------------------------------------------------------------------------------

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
    ) -> VideoRecord:
        """Record an indexed video, replacing any earlier row of the same path (one transaction).

        Parameters
        ----------
        path : str
            Absolute, resolved path.
        frame_times : ndarray of shape (T,), float
            Seconds of the sampled frames; ``T >= 1`` is the number of feature rows.
        frame_indices : ndarray of shape (T,), int
            Native frame index of every sampled frame.
        row_offset : int
            First row of the video in the feature store.

        Returns
        -------
        VideoRecord
            The new row (with a new id).
        """
        times = np.ascontiguousarray(frame_times, dtype="<f8")
        idx = np.ascontiguousarray(frame_indices, dtype="<i8")
        if times.ndim != 1 or times.shape[0] == 0 or idx.shape != times.shape:
            raise ValueError(
                f"frame_times/frame_indices: expected two equal (T,) arrays with T >= 1, "
                f"got shapes {np.shape(frame_times)} and {np.shape(frame_indices)}"
            )
        if not np.isfinite(times).all():
            raise ValueError("frame_times: contains NaN/Inf")
        if int(row_offset) < 0:
            raise ValueError(f"row_offset: must be >= 0, got {row_offset}")
        return self._replace(
            path,
            sha256=sha256,
            status="ok",
            reason=None,
            class_name=class_name,
            native_fps=_optional_finite(native_fps, "native_fps"),
            duration=_optional_finite(duration, "duration"),
            sample_fps=float(sample_fps),
            row_offset=int(row_offset),
            row_count=int(times.shape[0]),
            frame_times=times.tobytes(),
            frame_indices=idx.tobytes(),
        )

    def add_failed(
        self,
        path: str,
        *,
        sha256: Optional[str],
        reason: str,
        class_name: Optional[str],
        sample_fps: float,
    ) -> VideoRecord:
        """Record a video that could not be indexed, replacing any earlier row of the path."""
        if not reason:
            raise ValueError("reason: a failed video needs a non-empty reason")
        return self._replace(
            path,
            sha256=sha256,
            status="failed",
            reason=str(reason),
            class_name=class_name,
            native_fps=None,
            duration=None,
            sample_fps=float(sample_fps),
            row_offset=None,
            row_count=None,
            frame_times=None,
            frame_indices=None,
        )

    def _replace(self, path: str, **values: Any) -> VideoRecord:
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM videos WHERE path = ?", (path,))
            cur = db.execute(
                "INSERT INTO videos(path, sha256, status, reason, class_name, native_fps, duration, "
                "sample_fps, row_offset, row_count, frame_times, frame_indices, added) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    path,
                    values["sha256"],
                    values["status"],
                    values["reason"],
                    values["class_name"],
                    values["native_fps"],
                    values["duration"],
                    values["sample_fps"],
                    values["row_offset"],
                    values["row_count"],
                    values["frame_times"],
                    values["frame_indices"],
                    _utc_now(),
                ),
            )
            vid = cur.lastrowid
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        record = self.get(int(vid))  # type: ignore[arg-type]
        assert record is not None
        return record

    def set_class_name(self, video_id: int, class_name: Optional[str]) -> None:
        """Change the label of one row."""
        db = self._conn
        cur = db.execute("UPDATE videos SET class_name = ? WHERE id = ?", (class_name, int(video_id)))
        if cur.rowcount != 1:
            raise KeyError(f"catalog {self._path}: no video with id {video_id}")

    def get(self, video_id: int) -> Optional[VideoRecord]:
        """The row with this id, or None."""
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM videos WHERE id = ?", (int(video_id),)).fetchone()
        return None if row is None else _record(row)

    def find(self, path: str) -> Optional[VideoRecord]:
        """The row of this (absolute, resolved) path, or None."""
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM videos WHERE path = ?", (str(path),)).fetchone()
        return None if row is None else _record(row)

    def records(self, status: Optional[str] = None) -> list[VideoRecord]:
        """All rows ordered by id, optionally only those with ``status``."""
        return list(self.iter_records(status))

    def iter_records(self, status: Optional[str] = None) -> Iterator[VideoRecord]:
        """Iterate the rows ordered by id, optionally only those with ``status``."""
        if status is None:
            cur = self._conn.execute(f"SELECT {_COLUMNS} FROM videos ORDER BY id")
        else:
            if status not in _STATUSES:
                raise ValueError(f"status: expected 'ok', 'failed' or None, got {status!r}")
            cur = self._conn.execute(f"SELECT {_COLUMNS} FROM videos WHERE status = ? ORDER BY id", (status,))
        for row in cur:
            yield _record(row)

    def ok_ids(self) -> np.ndarray:
        """Ids of the ``ok`` rows, ascending, as an int64 array of shape (N,)."""
        rows = self._conn.execute("SELECT id FROM videos WHERE status = 'ok' ORDER BY id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count(self, status: Optional[str] = "ok") -> int:
        """Number of rows (with ``status``; ``None`` counts all)."""
        if status is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM videos").fetchone()[0])
        return int(self._conn.execute("SELECT COUNT(*) FROM videos WHERE status = ?", (status,)).fetchone()[0])

    def rows_end(self) -> int:
        """One past the last feature row any ``ok`` row references (0 when there is none)."""
        row = self._conn.execute(
            "SELECT MAX(row_offset + row_count) FROM videos WHERE status = 'ok'"
        ).fetchone()
        return 0 if row[0] is None else int(row[0])

    def frames(self, video_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Sampled frame times and native indices of an ``ok`` row.

        Returns
        -------
        times : ndarray of shape (T,), float64
            Seconds.
        indices : ndarray of shape (T,), int64
            Native frame index of each sampled frame.
        """
        row = self._conn.execute(
            "SELECT frame_times, frame_indices, row_count, status FROM videos WHERE id = ?", (int(video_id),)
        ).fetchone()
        if row is None:
            raise KeyError(f"catalog {self._path}: no video with id {video_id}")
        times_blob, idx_blob, count, status = row
        if status != "ok":
            raise ValueError(f"catalog {self._path}: video {video_id} has status {status!r}, no frames")
        times = np.frombuffer(times_blob, dtype="<f8").astype(np.float64)
        idx = np.frombuffer(idx_blob, dtype="<i8").astype(np.int64)
        if times.shape != (count,) or idx.shape != (count,):
            raise ValueError(
                f"catalog {self._path}: video {video_id} frame times/indices hold "
                f"{times.shape[0]}/{idx.shape[0]} values, expected {count}"
            )
        return times, idx

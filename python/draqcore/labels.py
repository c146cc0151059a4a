"""The labels file: the action class and per-frame phase labels of videos.

JSON format (``*.json``)::

    {"format": "draqcore-labels", "version": 1,
     "videos": [
       {"path": "clips/swing_001.mp4", "class": "swing", "phases": [0, 0, 1, 1, 2, 2, 2]},
       {"path": "/data/other.mp4", "class": "jump"},
       {"path": "unlabelled.mp4"}
     ]}

* ``path`` (required): a video file or image folder; a relative path is relative to the folder
  that holds the labels file. Two entries may not name the same video.
* ``class`` (optional, string or null): the action class.
* ``phases`` (optional, list of integers >= 0 or null): one phase label per *native* decoded frame
  of the video, in decode order (frame ``i`` of :func:`draqcore.video.native_timeline`).
  Sampled frames take ``phases[index]`` of their native index.

No other keys are allowed, so a misspelt ``"phase"`` is an error rather than silently ignored.

CSV format (``*.csv``), class labels only: one ``path,class`` row per video, an optional
``path,class`` header row, blank lines ignored, fields quoted as usual when they contain commas;
an empty class means "no class".
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

import numpy as np

from ._json import load_json_text
from ._text import shown

__all__ = ["FORMAT", "VERSION", "VideoLabel", "read_labels", "write_labels"]

FORMAT: str = "draqcore-labels"
"""Value of the ``format`` key of a JSON labels file."""

VERSION: int = 1
"""Version of the JSON labels format written and read by this module."""

_ENTRY_KEYS = ("path", "class", "phases")
#: Largest phase label accepted (phases are small class indices; this bound keeps int64 exact).
_MAX_PHASE = 2**53
_TOP_KEYS = ("format", "version", "videos")


@dataclass(frozen=True, eq=False)
class VideoLabel:
    """Labels of one video.

    Attributes
    ----------
    path : Path
        The video file or image folder (as given; :func:`read_labels` gives resolved paths).
    class_name : str or None
        Action class, or ``None`` when unknown.
    phases : ndarray of shape (N,), int64, or None
        Phase label of each native decoded frame (>= 0), or ``None`` when unknown. A read-only
        copy of what was passed: the caller's array is never kept or modified.
    """

    path: Path
    class_name: Optional[str] = None
    phases: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        try:
            path = Path(self.path)
        except TypeError:
            raise TypeError(
                f"VideoLabel.path: expected a str or os.PathLike, got {self.path!r}"
            ) from None
        if str(path) in ("", "."):
            raise ValueError("VideoLabel.path: empty path")
        object.__setattr__(self, "path", path)
        if self.class_name is not None and not isinstance(self.class_name, str):
            raise TypeError(
                f"VideoLabel.class_name ({path}): expected a str or None, got {self.class_name!r}"
            )
        if self.phases is not None:
            phases = phase_labels(self.phases, f"VideoLabel.phases ({path})")
            object.__setattr__(self, "phases", phases)


def phase_labels(values: Any, what: str) -> np.ndarray:
    """Per-frame phase labels as a read-only int64 copy, shape (N,), every label >= 0.

    Integral floats (labels saved as float by another tool) are accepted; ``what`` names the
    source in error messages. Shared by this module and :mod:`draqcore.evaluation.datasets`.
    """
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{what}: cannot be read as a sequence of phase labels ({exc})") from None
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected a 1-D sequence of phase labels, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        if not (arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError(f"{what}: expected integer phase labels (non-negative integers), got dtype {arr.dtype}")
    if arr.dtype.kind == "O":
        raise ValueError(f"{what}: expected integer phase labels, got Python objects (e.g. integers beyond 64 bits)")
    if arr.size and arr.dtype.kind in "fu" and float(arr.max()) > _MAX_PHASE:
        raise ValueError(f"{what}: phase label {arr.max().item()!r} is larger than the largest phase label {_MAX_PHASE}")
    out = np.array(arr, dtype=np.int64)  # always a copy
    if out.size and out.min() < 0:
        raise ValueError(f"{what}: phase labels must be >= 0, got {int(out.min())}")
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------------------------
# reading


def _fail(file: Path, where: str, message: str) -> ValueError:
    return ValueError(f"{file}: {where}: {message}" if where else f"{file}: {message}")


def _resolve(file: Path, entry_path: str) -> Path:
    p = Path(os.path.expanduser(entry_path))
    if not p.is_absolute():
        p = file.parent / p
    return p.resolve()


def _read_json(file: Path, text: str) -> List[VideoLabel]:
    doc = load_json_text(text, str(file))
    if not isinstance(doc, dict):
        raise _fail(file, "", f"expected a JSON object at the top level, got {type(doc).__name__}")
    extra = sorted(set(doc) - set(_TOP_KEYS))
    if extra:
        raise _fail(file, "", f"unknown top-level key(s) {extra}; allowed: {list(_TOP_KEYS)}")
    if doc.get("format") != FORMAT:
        raise _fail(file, "", f'"format" must be "{FORMAT}", got {doc.get("format")!r}')
    version = doc.get("version")
    if isinstance(version, bool) or version != VERSION:
        raise _fail(file, "", f'unsupported "version" {version!r} (this reader knows {VERSION})')
    videos = doc.get("videos")
    if not isinstance(videos, list):
        raise _fail(file, "", f'"videos" must be a list, got {type(videos).__name__}')
    out: List[VideoLabel] = []
    for i, entry in enumerate(videos):
        where = f"videos[{i}]"
        if not isinstance(entry, dict):
            raise _fail(file, where, f"expected an object, got {type(entry).__name__}")
        extra = sorted(set(entry) - set(_ENTRY_KEYS))
        if extra:
            raise _fail(file, where, f"unknown key(s) {extra}; allowed: {list(_ENTRY_KEYS)}")
        path = entry.get("path")
        if not isinstance(path, str) or not path.strip():
            raise _fail(file, where, f'"path" must be a non-empty string, got {path!r}')
        _check_path(file, where, path)
        where = f"videos[{i}] ({shown(path)})"
        cls = entry.get("class")
        if cls is not None and not isinstance(cls, str):
            raise _fail(file, where, f'"class" must be a string or null, got {cls!r}')
        _check_class(file, where, cls)
        phases = entry.get("phases")
        if phases is not None:
            if not isinstance(phases, list):
                got = type(phases).__name__
                raise _fail(file, where, f'"phases" must be a list of integers, got {got}')
            for j, v in enumerate(phases):
                if isinstance(v, bool) or not isinstance(v, int):
                    raise _fail(file, where, f'"phases"[{j}] must be an integer, got {v!r}')
                if v < 0:
                    raise _fail(file, where, f'"phases"[{j}] must be >= 0, got {v}')
                if v > _MAX_PHASE:
                    raise _fail(file, where, f'"phases"[{j}] is {v}, larger than the largest phase label {_MAX_PHASE}')
            phases = np.asarray(phases, dtype=np.int64) if phases else np.zeros(0, dtype=np.int64)
        out.append(VideoLabel(_resolve(file, path), cls, phases))
    return out


def _check_path(file: Path, where: str, path: str) -> None:
    if "\0" in path:
        raise _fail(file, where, f"path {path!r} contains a NUL character (no file can have that name)")


def _check_class(file: Path, where: str, cls: Optional[str]) -> None:
    # Class names are printed in tables and reports: control characters (NUL, newlines, ANSI
    # escapes) would corrupt them, and no real class name needs one.
    if cls is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in cls):
        raise _fail(file, where, f"class {cls!r} contains control characters")


def _read_csv(file: Path, text: str) -> List[VideoLabel]:
    """Rows of a real CSV parser (quoted fields may hold commas, quotes and newlines); anything
    it refuses in strict mode (an unterminated quote, text after a closing quote, an over-long
    field) is refused with the line it starts on."""
    out: List[VideoLabel] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    first = True
    line_no = 1
    while True:
        line_no = reader.line_num + 1  # the row about to be read starts on this line
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _fail(file, f"line {line_no}", f"not valid CSV ({exc})") from None
        if not row or all(not cell.strip() for cell in row):
            continue
        cells = [cell.strip() for cell in row]
        if first and [c.lower() for c in cells] == ["path", "class"]:
            first = False
            continue
        first = False
        where = f"line {line_no}"
        if len(cells) != 2:
            raise _fail(file, where, f"expected 2 fields 'path,class', got {len(cells)}: {row!r}")
        path, cls = cells
        if not path:
            raise _fail(file, where, "empty path")
        _check_path(file, where, path)
        _check_class(file, where, cls)
        out.append(VideoLabel(_resolve(file, path), cls or None, None))
    return out


def read_labels(path: Union[str, "os.PathLike[str]"]) -> Dict[Path, VideoLabel]:
    """Read a labels file (JSON, or CSV ``path,class``; see the module notes).

    Parameters
    ----------
    path : str or os.PathLike
        The labels file. ``*.csv`` is read as CSV, anything else as JSON.

    Returns
    -------
    dict of Path to VideoLabel
        Keyed by the resolved absolute video path (``VideoLabel.path`` is the same path), in
        file order.

    Raises
    ------
    FileNotFoundError
        The labels file does not exist.
    ValueError
        Malformed file; the message names the file and the entry (``videos[i]`` or CSV line).
    """
    file = Path(path)
    if "\0" in str(file):
        raise ValueError(f"{str(file)!r}: a path cannot contain a NUL character")
    try:
        # newline="": a CSV field may hold a quoted line break, which the parser must see as is.
        with open(file, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise _fail(file, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if file.suffix.lower() == ".csv":
        entries = _read_csv(file, text)
    else:
        entries = _read_json(file, text)
    result: Dict[Path, VideoLabel] = {}
    for label in entries:
        if label.path in result:
            raise _fail(file, "", f"video {label.path} is listed twice")
        result[label.path] = label
    return result


# --------------------------------------------------------------------------------------------
# writing


def _portable(video: Path, folder: Path) -> str:
    """Path relative to ``folder`` with '/' separators when the video lies inside it."""
    absolute = video if video.is_absolute() else Path.cwd() / video
    absolute = Path(os.path.normpath(absolute))
    try:
        return absolute.relative_to(Path(os.path.normpath(folder.absolute()))).as_posix()
    except ValueError:
        return str(absolute)


def write_labels(path: Union[str, "os.PathLike[str]"], labels: Iterable[VideoLabel]) -> None:
    """Write a labels file (an existing file is replaced).

    Video paths inside the labels file's folder are written relative to it (with ``/``), others
    as absolute paths; a relative ``VideoLabel.path`` is taken relative to the current directory.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. ``*.csv`` writes ``path,class`` rows (only possible when no label has
        phases); anything else writes the JSON format. Its folder must exist.
    labels : iterable of VideoLabel
        One per video, written in this order.

    Raises
    ------
    TypeError
        An item is not a :class:`VideoLabel`.
    ValueError
        Two labels name the same video, or phases are to be written to CSV.
    """
    file = Path(path)
    folder = file.parent
    items = list(labels)
    seen: Dict[str, int] = {}
    rows: List[tuple] = []
    for i, label in enumerate(items):
        if not isinstance(label, VideoLabel):
            raise TypeError(
                f"{file}: labels[{i}]: expected a VideoLabel, got {type(label).__name__}"
            )
        rel = _portable(label.path, folder)
        if rel in seen:
            raise ValueError(f"{file}: labels[{i}]: video {label.path} is also labels[{seen[rel]}]")
        seen[rel] = i
        rows.append((rel, label))
    if file.suffix.lower() == ".csv":
        for i, (_, label) in enumerate(rows):
            if label.phases is not None:
                raise ValueError(
                    f"{file}: labels[{i}] ({label.path}) has phases, which CSV cannot hold; "
                    "write JSON"
                )
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["path", "class"])
        for rel, label in rows:
            writer.writerow([rel, label.class_name or ""])
        text = buf.getvalue()
    else:
        parts = []
        for rel, label in rows:
            entry: Dict[str, Any] = {"path": rel}
            if label.class_name is not None:
                entry["class"] = label.class_name
            if label.phases is not None:
                entry["phases"] = [int(v) for v in label.phases]
            parts.append("    " + json.dumps(entry, ensure_ascii=False))
        body = ",\n".join(parts)
        text = (
            f'{{\n  "format": "{FORMAT}",\n  "version": {VERSION},\n  "videos": [\n'
            + (body + "\n" if body else "")
            + "  ]\n}\n"
        )
    with open(file, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)

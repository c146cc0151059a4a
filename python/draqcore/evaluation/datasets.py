"""Dataset adapters: PennAction, UCF101, Kinetics and labelled folders in one protocol (paper Sec. 5.1).

Every reader lists videos and labels from a dataset's on-disk layout without decoding anything
and returns a :class:`DatasetIndex` of :class:`LabelledVideo` records. Nothing is downloaded.
Listed videos whose files are absent are reported in ``DatasetIndex.missing`` instead of
failing; problems that change what is returned (labels resampled, entries skipped) are described
in ``DatasetIndex.notes``. Malformed label or list files raise ``ValueError`` naming the file and
line.

Supported layouts
-----------------
PennAction (:func:`read_penn_action`)::

    <root>/frames/<video_id>/000001.jpg ...       one folder of images per video (the video)
    <root>/labels/<video_id>.mat                  MATLAB v5: action, nframes, train (1 / -1), ...
    <root>/penn_action_labels/<split>/<action>/<video_id>.npy   per-frame phases (optional)

UCF101 (:func:`read_ucf101`)::

    <root>/UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    <root>/ucfTrainTestlist/classInd.txt, trainlist0{1,2,3}.txt, testlist0{1,2,3}.txt

Kinetics (:func:`read_kinetics`)::

    <root>/<split>.csv          columns label,youtube_id,time_start,time_end[,split]
    <root>/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4

A folder of your own videos with a draqcore labels file (:func:`read_labelled_dir`, see
:mod:`draqcore.labels`).
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Literal, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike

from ..labels import phase_labels, read_labels
from ..store.npy import read_untrusted_npy
from ..video import IMAGE_SUFFIXES

__all__ = [
    "DatasetIndex",
    "LabelledVideo",
    "PENN_PHASES_DIRNAME",
    "read_kinetics",
    "read_labelled_dir",
    "read_penn_action",
    "read_ucf101",
]

PathLike = Union[str, "os.PathLike[str]"]
PhaseMismatch = Literal["resample", "drop", "error"]

PENN_PHASES_DIRNAME: str = "penn_action_labels"
"""Default folder (inside the PennAction root) of the per-frame phase labels."""


# --------------------------------------------------------------------------------------------
# the protocol


@dataclass(frozen=True, eq=False)
class LabelledVideo:
    """One video of a dataset with its labels.

    Attributes
    ----------
    path : Path
        The video: a file, or a folder of numbered images (PennAction); readable by
        :mod:`draqcore.video`.
    class_name : str
        Action class as the dataset names it.
    phases : ndarray of shape (N,), int64, or None
        Phase label of every *native* decoded frame (frame ``i`` of
        :func:`draqcore.video.native_timeline`), >= 0, read-only; ``None`` when unknown. Use
        :meth:`phases_at` with the native indices of sampled frames.
    split : str or None
        The dataset split the video belongs to (e.g. ``"train"``, ``"val"``, ``"test"``), or
        ``None`` when the layout has none.
    """

    path: Path
    class_name: str
    phases: Optional[np.ndarray] = None
    split: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not isinstance(self.class_name, str) or not self.class_name:
            raise ValueError(f"class_name ({self.path}): expected a non-empty string, got {self.class_name!r}")
        if self.phases is not None:
            object.__setattr__(self, "phases", phase_labels(self.phases, f"phases ({self.path})"))
        if self.split is not None and not isinstance(self.split, str):
            raise ValueError(f"split ({self.path}): expected a string or None, got {self.split!r}")

    def phases_at(self, native_indices: ArrayLike) -> np.ndarray:
        """Phase labels of the given native frames, e.g. ``SampledVideo.indices``.

        Parameters
        ----------
        native_indices : array_like of shape (T,), int
            0-based native frame indices.

        Returns
        -------
        ndarray of shape (T,), int64
            A new array.

        Raises
        ------
        ValueError
            No phase labels, or an index outside ``[0, N)``.
        """
        if self.phases is None:
            raise ValueError(f"{self.path}: has no phase labels")
        idx = np.asarray(native_indices)
        if idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise ValueError(f"native_indices: expected a 1-D integer array, got {idx.dtype} shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.phases)):
            raise ValueError(
                f"native_indices: must lie in [0, {len(self.phases)}) (frames with phase labels of "
                f"{self.path}), got [{idx.min()}, {idx.max()}]"
            )
        return np.array(self.phases[idx], dtype=np.int64)


@dataclass(frozen=True)
class DatasetIndex:
    """What a dataset reader found.

    Iterating, ``len`` and indexing go over ``videos``.

    Attributes
    ----------
    dataset : str
        Which reader produced it: ``"PennAction"``, ``"UCF101"``, ``"Kinetics"`` or
        ``"labelled-dir"``.
    videos : tuple of LabelledVideo
        Videos present on disk, in the order of the dataset's own lists.
    missing : tuple of Path
        Videos the lists name but the disk lacks (not fatal: partial downloads are common).
    notes : tuple of str
        Non-fatal remarks: labels resampled, entries skipped, and why.
    """

    dataset: str
    videos: Tuple[LabelledVideo, ...]
    missing: Tuple[Path, ...] = ()
    notes: Tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.videos)

    def __iter__(self) -> Iterator[LabelledVideo]:
        return iter(self.videos)

    def __getitem__(self, index: int) -> LabelledVideo:
        return self.videos[index]

    @property
    def classes(self) -> list[str]:
        """Sorted distinct class names of the present videos."""
        return sorted({v.class_name for v in self.videos})

    def in_split(self, split: str) -> list[LabelledVideo]:
        """The present videos of one split, in order."""
        return [v for v in self.videos if v.split == split]


# --------------------------------------------------------------------------------------------
# helpers


def _directory(path: PathLike, name: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"{name}: {str(p)!r} is not a folder")
    return p


def _plain_name(value: Any, name: str) -> str:
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or os.sep in value:
        raise ValueError(f"{name}: expected a plain folder/file name, got {value!r}")
    return value


def _count_images(folder: Path) -> int:
    """Frames of an image folder as :mod:`draqcore.video` reads it (0 when absent or empty)."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return sum(
        1
        for e in entries
        if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_SUFFIXES) and e.is_file()
    )


def _int(text: str, what: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: expected an integer, got {text!r}") from None
    if not math.isfinite(value) or value != round(value):
        raise ValueError(f"{what}: expected an integer, got {text!r}")
    return int(round(value))


# --------------------------------------------------------------------------------------------
# PennAction


def _mat_scalar(mat: Dict[str, Any], key: str, file: Path) -> Any:
    if key not in mat:
        raise ValueError(f"{file}: has no field {key!r}")
    arr = np.asarray(mat[key])
    if arr.size != 1:
        raise ValueError(f"{file}: field {key!r} should hold one value, holds {arr.size}")
    return arr.reshape(()).item()


def _read_penn_mat(file: Path) -> Tuple[str, int, str]:
    """(action, nframes, official split) of one PennAction ``labels/<id>.mat``."""
    try:
        import scipy.io
    except ImportError:  # scipy is not among draqcore's dependencies
        raise ImportError("reading PennAction's .mat labels needs scipy (pip install \"draqcore[datasets]\")") from None
    try:
        mat = scipy.io.loadmat(str(file))
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, EOFError, OSError) as exc:
        raise ValueError(f"{file}: not a readable MATLAB v5 file ({exc})") from None
    except NotImplementedError:  # what loadmat raises for HDF5-based v7.3 files
        raise ValueError(f"{file}: MATLAB v7.3 (HDF5) files are not supported; save as v5 or v7") from None
    action = _mat_scalar(mat, "action", file)
    if not isinstance(action, str) or not action.strip():
        raise ValueError(f"{file}: field 'action' should be a non-empty string, got {action!r}")
    nframes = _int(str(_mat_scalar(mat, "nframes", file)), f"{file}: field 'nframes'")
    train = _int(str(_mat_scalar(mat, "train", file)), f"{file}: field 'train'")
    if train not in (1, -1):
        raise ValueError(f"{file}: field 'train' should be 1 (train) or -1 (test), got {train}")
    return action.strip(), nframes, "train" if train == 1 else "test"


def _read_phase_file(file: Path) -> np.ndarray:
    if file.suffix == ".npy":
        values = read_untrusted_npy(file, max_ndim=2)
        if values.ndim == 2 and 1 in values.shape:  # a row or column vector saved as 2-D
            values = values.reshape(-1)
        return phase_labels(values, str(file))
    tokens = file.read_text(encoding="utf-8").split()
    return phase_labels([_int(t, f"{file}: label {k}") for k, t in enumerate(tokens)], str(file))


def _index_phase_files(phases_dir: Path) -> Dict[str, Tuple[Path, str]]:
    """video_id -> (phase file, split) for ``<phases_dir>/<split>/<action>/<video_id>.{npy,txt}``."""
    found: Dict[str, Tuple[Path, str]] = {}
    for split_dir in sorted(p for p in phases_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for action_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for f in sorted(action_dir.iterdir()):
                if f.name.startswith(".") or f.suffix not in (".npy", ".txt") or not f.is_file():
                    continue
                if f.stem in found:
                    raise ValueError(
                        f"{phases_dir}: video {f.stem} has two phase-label files: {found[f.stem][0]} and {f}"
                    )
                found[f.stem] = (f, split_dir.name)
    return found


def read_penn_action(
    root: PathLike,
    *,
    phases_dir: Optional[PathLike] = None,
    phase_length_mismatch: PhaseMismatch = "resample",
    require_phases: bool = False,
) -> DatasetIndex:
    """Read the PennAction layout (Zhang et al. 2013) with optional per-frame phase labels.

    Videos are the folders ``<root>/frames/<video_id>/`` (numbered JPEGs, frame ``i`` = the
    ``i``-th image in natural order), one per ``<root>/labels/<video_id>.mat`` (MATLAB v5, read
    with ``scipy.io.loadmat``): ``action`` is the class, ``train`` (1 / -1) the official split
    (``"train"`` / ``"test"``); ``nframes`` is checked against the image count (a mismatch is
    noted; the images are what gets decoded).

    Phase labels (our supported layout). PennAction itself has no phase labels; the per-frame
    phases used by TCC, LAV, CARL and the paper were distributed separately as one NumPy file
    per video. We read them from::

        <phases_dir>/<split>/<action>/<video_id>.npy    1-D integer array, one label per frame
        <phases_dir>/<split>/<action>/<video_id>.txt    the same as text: one integer per line

    with ``phases_dir`` defaulting to ``<root>/penn_action_labels`` (skipped silently when that
    folder does not exist). Files are matched to videos by ``<video_id>`` only: the ``<action>``
    folder names of that distribution differ from the .mat actions (``bowling`` vs ``bowl``)
    and are not used. A video with phase labels takes the phase folder's ``<split>`` (the
    alignment benchmark's split, e.g. ``"train"`` / ``"val"``, which the paper uses: queries
    from val, retrieval over train); a video without keeps the official split from its .mat.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``frames/`` and ``labels/``.
    phases_dir : str or os.PathLike, optional
        Phase-label folder; it must exist when given.
    phase_length_mismatch : {"resample", "drop", "error"}
        When a video has ``N`` images but ``L != N`` phase labels (the distributed labels differ
        from the image count for some videos): ``"resample"`` gives native frame ``t`` the label
        ``labels[floor(t * L / N)]`` (TCC's nearest-earlier rule), ``"drop"`` keeps the video
        without phases, ``"error"`` raises. Every case is noted.
    require_phases : bool
        Only return videos that have phase labels (the 13-action alignment subset).

    Returns
    -------
    DatasetIndex
        ``missing``: ``frames/<video_id>`` folders that are absent or hold no image.

    Raises
    ------
    FileNotFoundError
        ``root/labels`` (or a given ``phases_dir``) is not a folder.
    ValueError
        A malformed .mat or phase file (naming it), two phase files for one video, a mismatch
        with ``phase_length_mismatch="error"``, an unknown policy.
    ImportError
        scipy is not installed.
    """
    if phase_length_mismatch not in ("resample", "drop", "error"):
        raise ValueError(
            f"phase_length_mismatch: expected 'resample', 'drop' or 'error', got {phase_length_mismatch!r}"
        )
    base = _directory(root, "root")
    labels_dir = _directory(base / "labels", "root")
    if phases_dir is None:
        default = base / PENN_PHASES_DIRNAME
        phase_files = _index_phase_files(default) if default.is_dir() else {}
    else:
        phase_files = _index_phase_files(_directory(phases_dir, "phases_dir"))

    videos: List[LabelledVideo] = []
    missing: List[Path] = []
    notes: List[str] = []
    mats = sorted(f for f in labels_dir.iterdir() if f.suffix.lower() == ".mat" and not f.name.startswith("."))
    seen = set()
    for mat_file in mats:
        video_id = mat_file.stem
        seen.add(video_id)
        action, nframes, split = _read_penn_mat(mat_file)
        folder = base / "frames" / video_id
        count = _count_images(folder)
        if count == 0:
            missing.append(folder)
            continue
        if count != nframes:
            notes.append(f"{video_id}: {count} images but nframes = {nframes} in {mat_file.name}; using the images")
        phases: Optional[np.ndarray] = None
        if video_id in phase_files:
            phase_file, split = phase_files[video_id]
            labels = _read_phase_file(phase_file)
            if len(labels) == count:
                phases = labels
            elif phase_length_mismatch == "error":
                raise ValueError(f"{phase_file}: {len(labels)} phase labels for {count} images of {folder}")
            elif phase_length_mismatch == "resample" and len(labels) > 0:
                phases = labels[(np.arange(count, dtype=np.int64) * len(labels)) // count]
                notes.append(f"{video_id}: {len(labels)} phase labels resampled to its {count} images")
            else:
                notes.append(f"{video_id}: {len(labels)} phase labels for {count} images; phases dropped")
        if require_phases and phases is None:
            continue
        videos.append(LabelledVideo(folder, action, phases, split))
    orphans = sorted(set(phase_files) - seen)
    if orphans:
        notes.append(f"phase labels without labels/<id>.mat ignored: {', '.join(orphans)}")
    return DatasetIndex("PennAction", tuple(videos), tuple(missing), tuple(notes))


# --------------------------------------------------------------------------------------------
# UCF101


def _lines(file: Path) -> Iterator[Tuple[int, List[str]]]:
    if not file.is_file():
        raise FileNotFoundError(f"{file}: not found")
    for line_no, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if fields:
            yield line_no, fields


def read_ucf101(root: PathLike, split: int = 1) -> DatasetIndex:
    """Read the UCF101 layout (Soomro et al. 2012) with one of its three official splits.

    ``classInd.txt`` holds ``<index> <Class>`` lines; ``trainlist0<split>.txt`` holds
    ``<Class>/<file>.avi <index>`` and ``testlist0<split>.txt`` ``<Class>/<file>.avi``. Every
    listed video is ``<root>/UCF-101/<Class>/<file>.avi`` with class ``<Class>`` (the list's
    folder part, which must be in ``classInd.txt``; note UCF101's own spelling differences
    between folders and file names, e.g. ``HandstandPushups/v_HandStandPushups_...``, are left
    alone) and split ``"train"`` / ``"test"``. The paper uses split 1 (9,537 train, 3,783 test).
    Files on disk that no list names are ignored.

    Parameters
    ----------
    root : str or os.PathLike
        The folder holding ``UCF-101/`` and ``ucfTrainTestlist/``.
    split : {1, 2, 3}

    Returns
    -------
    DatasetIndex
        No phase labels (``phases=None``).

    Raises
    ------
    FileNotFoundError
        A list file is absent.
    ValueError
        Bad ``split``; a malformed line, a class not in ``classInd.txt``, a train label that
        contradicts it, or a video listed twice (each naming file and line).
    """
    if isinstance(split, bool) or split not in (1, 2, 3):
        raise ValueError(f"split: UCF101 has splits 1, 2 and 3, got {split!r}")
    base = _directory(root, "root")
    lists = base / "ucfTrainTestlist"
    class_ind = lists / "classInd.txt"
    index_of: Dict[str, int] = {}
    for line_no, fields in _lines(class_ind):
        if len(fields) != 2:
            raise ValueError(f"{class_ind}: line {line_no}: expected '<index> <Class>', got {' '.join(fields)!r}")
        index_of[fields[1]] = _int(fields[0], f"{class_ind}: line {line_no}")
    videos: List[LabelledVideo] = []
    missing: List[Path] = []
    listed: Dict[str, str] = {}
    for name, list_file in (("train", lists / f"trainlist0{split}.txt"), ("test", lists / f"testlist0{split}.txt")):
        for line_no, fields in _lines(list_file):
            where = f"{list_file}: line {line_no}"
            rel = fields[0].replace("\\", "/")
            parts = rel.split("/")
            if len(parts) != 2 or not parts[0] or not parts[1] or len(fields) > 2:
                raise ValueError(f"{where}: expected '<Class>/<file>.avi [<index>]', got {' '.join(fields)!r}")
            cls = parts[0]
            if cls not in index_of:
                raise ValueError(f"{where}: class {cls!r} is not in {class_ind.name}")
            if len(fields) == 2 and _int(fields[1], where) != index_of[cls]:
                raise ValueError(f"{where}: label {fields[1]} contradicts {class_ind.name} ({cls} is {index_of[cls]})")
            if rel in listed:
                raise ValueError(f"{where}: {rel} is already listed in the {listed[rel]} list")
            listed[rel] = name
            path = base / "UCF-101" / cls / parts[1]
            if path.is_file():
                videos.append(LabelledVideo(path, cls, None, name))
            else:
                missing.append(path)
    return DatasetIndex("UCF101", tuple(videos), tuple(missing), ())


# --------------------------------------------------------------------------------------------
# Kinetics


_KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def read_kinetics(root: PathLike, split: str = "train") -> DatasetIndex:
    """Read a Kinetics (400/600/700) split from its CSV and a class-folder video layout.

    ``<root>/<split>.csv`` has a header with at least ``label,youtube_id,time_start,time_end``
    (the official files add ``split``, sometimes ``is_cc``; other columns are ignored). Each row
    is the clip ``<root>/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4`` (the
    layout of the common download scripts; ``<label>`` is used exactly as written in the CSV,
    spaces included), with class ``label`` and split the row's ``split`` column (or ``split``
    when the CSV has none). Times are whole seconds. Clips not on disk (YouTube videos vanish)
    are listed in ``missing``.

    Parameters
    ----------
    root : str or os.PathLike
    split : str
        CSV name and video folder, e.g. ``"train"``, ``"validate"`` / ``"val"``.

    Returns
    -------
    DatasetIndex
        No phase labels (the paper's 91 annotated validation videos are not distributed; attach
        your own with :func:`read_labelled_dir`).

    Raises
    ------
    FileNotFoundError
        The CSV is absent.
    ValueError
        ``split`` not a plain name, missing columns, an empty label or id, non-integral times,
        a clip listed twice (naming file and line).
    """
    name = _plain_name(split, "split")
    base = _directory(root, "root")
    table = base / f"{name}.csv"
    if not table.is_file():
        raise FileNotFoundError(f"{table}: not found")
    videos: List[LabelledVideo] = []
    missing: List[Path] = []
    seen: Dict[Path, int] = {}
    with open(table, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        absent = [c for c in _KINETICS_COLUMNS if c not in header]
        if absent:
            raise ValueError(f"{table}: missing column(s) {absent}; header is {header}")
        reader.fieldnames = header
        for row in reader:
            line_no = reader.line_num
            where = f"{table}: line {line_no}"
            label = (row.get("label") or "").strip()
            yid = (row.get("youtube_id") or "").strip()
            if not label or not yid:
                raise ValueError(f"{where}: empty label or youtube_id")
            start = _int((row.get("time_start") or "").strip(), f"{where}: time_start")
            end = _int((row.get("time_end") or "").strip(), f"{where}: time_end")
            if start < 0 or end < start:
                raise ValueError(f"{where}: expected 0 <= time_start <= time_end, got {start}, {end}")
            path = base / name / label / f"{yid}_{start:06d}_{end:06d}.mp4"
            if path in seen:
                raise ValueError(f"{where}: clip {path.name} of {label!r} is already on line {seen[path]}")
            seen[path] = line_no
            row_split = (row.get("split") or "").strip() or name
            if path.is_file():
                videos.append(LabelledVideo(path, label, None, row_split))
            else:
                missing.append(path)
    return DatasetIndex("Kinetics", tuple(videos), tuple(missing), ())


# --------------------------------------------------------------------------------------------
# the user's own videos


def read_labelled_dir(directory: PathLike, labels_file: Optional[PathLike] = None) -> DatasetIndex:
    """Videos of a folder described by a draqcore labels file (:func:`draqcore.labels.read_labels`).

    Every entry of the labels file whose (resolved) path lies inside ``directory`` is a video,
    with the entry's class and per-native-frame phases and no split. Entries outside
    ``directory`` and entries without a class (the evaluation needs one) are skipped and noted;
    entries whose file or image folder does not exist are listed in ``missing``.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder of videos.
    labels_file : str or os.PathLike, optional
        JSON or CSV labels file; default ``<directory>/labels.json``. Relative video paths in
        it are relative to the labels file's folder.

    Returns
    -------
    DatasetIndex

    Raises
    ------
    FileNotFoundError
        ``directory`` is not a folder, or the labels file does not exist.
    ValueError
        A malformed labels file (see :func:`draqcore.labels.read_labels`).
    """
    folder = _directory(directory, "directory").resolve()
    file = Path(labels_file) if labels_file is not None else folder / "labels.json"
    if not file.is_file():
        raise FileNotFoundError(f"labels_file: {str(file)!r} not found")
    videos: List[LabelledVideo] = []
    missing: List[Path] = []
    notes: List[str] = []
    outside = 0
    for path, label in read_labels(file).items():
        try:
            path.relative_to(folder)
        except ValueError:
            outside += 1
            continue
        if label.class_name is None:
            notes.append(f"{path}: no class in {file.name}; skipped")
            continue
        if not path.exists():
            missing.append(path)
            continue
        videos.append(LabelledVideo(path, label.class_name, label.phases, None))
    if outside:
        notes.append(f"{outside} entr{'y' if outside == 1 else 'ies'} of {file.name} outside {folder} skipped")
    return DatasetIndex("labelled-dir", tuple(videos), tuple(missing), tuple(notes))

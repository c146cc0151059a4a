"""Clips of precomputed features read from files: ``.npy``, ``.npz`` and HDF5 (``draq index --features``).

A folder (not its sub-folders) holds any mix of:

* ``NAME.npy``: one clip, a ``(T, d)`` array; ``NAME.times.npy`` beside it: its ``(T,)`` frame
  times in seconds.
* ``FILE.npz`` (``numpy.savez(FILE, **{name: features, ...})``): one clip per array key, named by
  the key; a key ``NAME.times`` holds the times of clip ``NAME``. Many clips per file is what
  ``.npz`` is for (one archive per dataset split, say); the file's own name is not part of the
  clip names.
* ``FILE.h5`` / ``FILE.hdf5``: one clip per two-dimensional dataset, named by its path in the file
  without the leading ``/`` (``/v_abc`` is ``v_abc``; ``/train/v_abc`` is ``train/v_abc``); a
  one-dimensional dataset ``NAME.times`` in the same group holds its times. Needs ``h5py`` (``pip
  install "draqcore[hdf5]"``).

Clip names must be unique across the folder; a ``NAME.times`` without a clip ``NAME``, any other
array or dataset (not ``(T, d)`` of a real dtype), an object array (never unpickled) or an
unreadable file is an error naming the file and the key, raised by :func:`scan_feature_folder`
before anything is added where it can be seen from the names and shapes alone. Arrays are read one
clip at a time (:func:`read_clips`), so memory holds one clip, whatever the files' sizes. A ``.npy``
file or ``.npz`` member is read header first: its dtype and shape must be a real array of at most
two dimensions whose byte count is exactly what follows the header, and no array may declare more
than half of the machine's memory (a forged header or a compression bomb gets a ``ValueError``
naming the file and key, not an allocation of what it claims).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from ..store.npy import check_array_bytes, read_untrusted_npy, untrusted_npy_stream

__all__ = ["FEATURE_SUFFIXES", "FeatureClip", "scan_feature_folder", "read_clips"]

#: File suffixes :func:`scan_feature_folder` reads (lower case).
FEATURE_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".h5", ".hdf5")
_TIMES = ".times"


@dataclass(frozen=True)
class FeatureClip:
    """Where one clip's features (and times) are.

    Attributes
    ----------
    name : str
        The clip's name in the collection.
    file : Path
        The file holding its features.
    key : str or None
        Array key (``.npz``) or dataset path (HDF5); None for a ``.npy`` file.
    times_file : Path or None
        The file holding its times (``NAME.times.npy``, or ``file`` itself), None without times.
    times_key : str or None
        Key or dataset path of the times inside ``times_file`` (None for ``.npy``).
    """

    name: str
    file: Path
    key: Optional[str]
    times_file: Optional[Path]
    times_key: Optional[str]


def _h5py() -> Any:
    try:
        import h5py  # optional: draqcore[hdf5]
    except ImportError:
        raise ValueError('HDF5 feature files need h5py: pip install "draqcore[hdf5]"') from None
    return h5py


def _npz_keys(f: Path) -> list[str]:
    """Array keys of an ``.npz`` file, read from its zip directory (no array is loaded)."""
    try:
        with zipfile.ZipFile(f) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValueError(f"{f}: not a readable .npz file ({exc})") from None
    keys = []
    for n in names:
        if not n.endswith(".npy"):
            raise ValueError(f"{f}: holds {n!r}, which is not an array saved by numpy.savez")
        keys.append(n[: -len(".npy")])
    return keys


def _h5_datasets(f: Path) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    """``(path without the leading '/', shape, dtype)`` of every dataset of an HDF5 file."""
    h5py = _h5py()
    out: list[tuple[str, tuple[int, ...], np.dtype]] = []
    try:
        with h5py.File(f, "r") as h:
            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    out.append((name, tuple(obj.shape), obj.dtype))
            h.visititems(visit)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{f}: not a readable HDF5 file ({exc})") from None
    return out


def scan_feature_folder(directory: Union[str, os.PathLike[str]]) -> list[FeatureClip]:
    """Every clip of a features folder, sorted by file name, then by key within a file.

    Reads the names (and, for HDF5, the shapes and dtypes) of the arrays, not their values.

    Raises
    ------
    ValueError
        Not a folder; no feature file in it; a clip name given twice; a ``NAME.times`` without its
        clip; an HDF5 dataset that is neither ``(T, d)`` real nor ``NAME.times``; a file that cannot
        be read (each names the file and key).
    """
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    files = sorted(f for f in root.iterdir() if not f.name.startswith(".") and f.suffix.lower() in FEATURE_SUFFIXES
                   and f.is_file())
    clips: list[FeatureClip] = []
    seen: dict[str, Path] = {}
    npy_stems = {f.name[: -len(".npy")] for f in files if f.suffix.lower() == ".npy"}

    def add(clip: FeatureClip) -> None:
        if clip.name in seen:
            where = "" if clip.key is None else f" (key {clip.key!r})"
            raise ValueError(f"{clip.file}{where}: clip name {clip.name!r} is also given by {seen[clip.name]}")
        seen[clip.name] = clip.file
        clips.append(clip)

    for f in files:
        suffix = f.suffix.lower()
        if suffix == ".npy":
            stem = f.name[: -len(".npy")]
            if stem.endswith(_TIMES):
                if stem[: -len(_TIMES)] not in npy_stems:
                    raise ValueError(f"{f}: times of a clip {stem[: -len(_TIMES)]!r}, but there is no "
                                     f"{stem[: -len(_TIMES)]}.npy beside it")
                continue
            times = f.with_name(stem + _TIMES + ".npy")
            add(FeatureClip(stem, f, None, times if times.is_file() else None, None))
        elif suffix == ".npz":
            keys = _npz_keys(f)
            keyset = set(keys)
            for k in sorted(keys):
                if k.endswith(_TIMES):
                    if k[: -len(_TIMES)] not in keyset:
                        raise ValueError(f"{f}: key {k!r} holds the times of a clip {k[: -len(_TIMES)]!r}, "
                                         "which the file does not hold")
                    continue
                t = k + _TIMES
                add(FeatureClip(k, f, k, f if t in keyset else None, t if t in keyset else None))
        else:
            datasets = _h5_datasets(f)
            names = {n for n, _, _ in datasets}
            for name, shape, dtype in sorted(datasets):
                if name.endswith(_TIMES):
                    if name[: -len(_TIMES)] not in names:
                        raise ValueError(f"{f}: dataset {name!r} holds the times of a clip "
                                         f"{name[: -len(_TIMES)]!r}, which the file does not hold")
                    continue
                if len(shape) != 2 or dtype.kind not in "fiu":
                    raise ValueError(f"{f}: dataset {name!r} of shape {shape} and dtype {dtype} is not a clip "
                                     "((T, d) real features) nor NAME.times")
                t = name + _TIMES
                add(FeatureClip(name, f, name, f if t in names else None, t if t in names else None))
    if not clips:
        raise ValueError(f"{root}: holds no feature files ({', '.join(FEATURE_SUFFIXES)}; one (T, d) array per clip)")
    return clips


class _Open:
    """The one ``.npz``/HDF5 file currently read (clips come sorted by file, so one is enough)."""

    def __init__(self) -> None:
        self.path: Optional[Path] = None
        self.handle: Any = None

    def get(self, f: Path) -> Any:
        if self.path != f:
            self.close()
            try:
                self.handle = zipfile.ZipFile(f) if f.suffix.lower() == ".npz" else _h5py().File(f, "r")
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise ValueError(f"{f}: cannot be read ({exc})") from None
            self.path = f
        return self.handle

    def read(self, f: Path, key: str) -> np.ndarray:
        h = self.get(f)
        where = f"{f} (key {key!r})"
        try:
            if f.suffix.lower() == ".npz":
                info = h.getinfo(key + ".npy")
                with h.open(info) as member:  # decompressed as read: at most what the header declares
                    return untrusted_npy_stream(member, int(info.file_size), where, max_ndim=2)
            dataset = h[key]
            check_array_bytes(where, tuple(dataset.shape), dataset.dtype)
            return np.asarray(dataset[()])
        except (OSError, KeyError, EOFError, zipfile.BadZipFile, RuntimeError) as exc:
            raise ValueError(f"{where}: cannot be read ({exc})") from None
        except ValueError as exc:
            if str(exc).startswith(where):
                raise
            raise ValueError(f"{where}: cannot be read ({exc})") from None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.path, self.handle = None, None


def read_clips(clips: list[FeatureClip]) -> Iterator[tuple[str, np.ndarray, Optional[np.ndarray], None]]:
    """``(name, features, times, None)`` of every clip, read one at a time: the tuples
    :meth:`Collection.add_features_batch <draqcore.collection.Collection.add_features_batch>` takes.

    Raises
    ------
    ValueError
        A file or array that cannot be read, or an object array (named with its file and key).
    """
    handle = _Open()
    try:
        for c in clips:
            if c.key is None:
                feats = read_untrusted_npy(c.file, max_ndim=2)
                times = read_untrusted_npy(c.times_file, max_ndim=2) if c.times_file is not None else None
            else:
                feats = handle.read(c.file, c.key)
                times = handle.read(c.file, c.times_key) if c.times_key is not None else None
            if feats.dtype.kind not in "fiu" or feats.ndim != 2:
                where = "" if c.key is None else f" (key {c.key!r})"
                raise ValueError(f"{c.file}{where}: expected a (T, d) real array, got dtype {feats.dtype} "
                                 f"and shape {feats.shape}")
            yield c.name, feats, times, None
    finally:
        handle.close()

"""Packed frame features of a collection: one raw float32 file, read through a memory map.

The file ``features.f32`` holds the frame features of every indexed video back to back, a
row-major little-endian float32 matrix of shape ``(sum T_i, d)`` with no header (``d`` is recorded
in the catalog). A video is the row range ``row_offset : row_offset + T`` stored in its catalog
row. Reads go through :class:`numpy.memmap`, so a query touches only its candidates' rows.

Writes only ever append. The catalog, not this file, says which rows are valid: the store is
opened with the number of rows the catalog has ever committed (its high-water mark, see
:meth:`draqcore.store.catalog.Catalog.feature_rows`); rows beyond that (left by a crash between
appending and committing the catalog row, or a partial row from a crash mid-write) are orphans:
ignored on read, cut off by :meth:`FeatureStore.truncate_orphans` when a writer opens the
collection and by the next :meth:`FeatureStore.append`. Rows below the mark are never cut, so a
reader's memory map (which covers only committed rows) never loses pages under it.

A store opened with ``readonly=True`` (a reader) never creates, truncates or writes the file; it
can :meth:`~FeatureStore.extend` its valid rows when the catalog has committed more.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
from numpy.typing import ArrayLike
from .._validate import as_nonnegative_int as _positive_int

__all__ = ["FeatureStore", "FEATURES_FILENAME"]

FEATURES_FILENAME: str = "features.f32"

_DTYPE = np.dtype("<f4")




class FeatureStore:
    """Append-only packed float32 frame features with memory-mapped reads.

    Parameters
    ----------
    path : path-like
        The ``features.f32`` file; created empty if missing.
    dim : int
        Feature dimension ``d`` (columns).
    rows : int
        Number of valid rows (from the catalog: its committed high-water mark). The file must
        hold at least that many; extra bytes are ignored and removed by the next append.
    readonly : bool, default False
        Never create, truncate or write the file (:meth:`append` and
        :meth:`truncate_orphans` raise).

    Raises
    ------
    ValueError
        If the file is shorter than ``rows`` rows (the catalog references rows that are not
        there: the store is damaged or belongs to another collection), or is not a regular file.
    """

    def __init__(self, path: Union[str, os.PathLike[str]], dim: int, rows: int = 0, *,
                 readonly: bool = False) -> None:
        self._path = Path(path)
        self._dim = _positive_int(dim, "dim", 1)
        self._rows = _positive_int(rows, "rows", 0)
        self._readonly = bool(readonly)
        self._map: Optional[np.memmap] = None
        if not self._path.exists():
            if self._rows:
                raise ValueError(f"feature store {self._path}: missing, but {self._rows} rows are expected")
            if not self._readonly:
                self._path.touch()
        self._check_size(self._rows)

    def _check_size(self, rows: int) -> None:
        if rows == 0 and not self._path.exists():
            return
        if not self._path.is_file():
            raise ValueError(f"feature store {self._path}: is not a regular file")
        size = self._path.stat().st_size
        if size < rows * self.row_bytes:
            raise ValueError(
                f"feature store {self._path}: holds {size // self.row_bytes} rows of dimension "
                f"{self._dim} ({size} bytes), but the catalog references {rows} "
                "(the file was cut short or belongs to another collection)"
            )

    @property
    def path(self) -> Path:
        """The ``features.f32`` file."""
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
    def row_bytes(self) -> int:
        """Bytes per row (``4 * d``)."""
        return self._dim * _DTYPE.itemsize

    @property
    def readonly(self) -> bool:
        """True for a reader's store."""
        return self._readonly

    def orphan_bytes(self) -> int:
        """Bytes of the file beyond the valid rows (0 if the file is missing)."""
        try:
            size = self._path.stat().st_size
        except FileNotFoundError:
            return 0
        return max(0, size - self._rows * self.row_bytes)

    def truncate_orphans(self) -> int:
        """Cut the file to exactly the valid rows and ``fsync`` it.

        Only a writer may call this (while holding the collection's writer lock).

        Returns
        -------
        int
            Bytes removed.
        """
        if self._readonly:
            raise ValueError(f"feature store {self._path}: opened read-only")
        extra = self.orphan_bytes()
        if extra:
            with open(self._path, "r+b") as fh:
                fh.truncate(self._rows * self.row_bytes)
                fh.flush()
                os.fsync(fh.fileno())
        return extra

    def extend(self, rows: int) -> None:
        """Make rows up to ``rows`` valid (a reader, after the catalog committed more).

        Raises
        ------
        ValueError
            The file does not hold that many rows.
        """
        rows = _positive_int(rows, "rows", 0)
        if rows <= self._rows:
            return
        self._check_size(rows)
        self._rows = rows
        self._map = None

    def append(self, features: ArrayLike) -> int:
        """Append one video's frame features and flush them to disk.

        Bytes beyond the valid rows (orphans of an earlier crash) are cut off first, so the new
        rows start exactly at :attr:`rows`. The data is ``fsync``-ed before returning: commit
        the catalog row only after this returns.

        Parameters
        ----------
        features : array_like of shape (T, d)
            Any real dtype, converted to float32 (the caller's array is not modified). ``T >= 1``;
            values must be finite.

        Returns
        -------
        int
            Row offset of the first appended row.

        Raises
        ------
        ValueError
            Wrong shape or dimension, empty, NaN/Inf; a read-only store.
        """
        if self._readonly:
            raise ValueError(f"feature store {self._path}: opened read-only")
        arr = np.asarray(features)
        if arr.dtype.kind not in "fiub":
            raise ValueError(f"features: expected a real numeric array, got dtype {arr.dtype}")
        if arr.ndim != 2 or arr.shape[1] != self._dim:
            raise ValueError(f"features: expected shape (T, {self._dim}), got {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError("features: is empty (no frames)")
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            data = np.ascontiguousarray(arr, dtype=_DTYPE)
        if not np.isfinite(data).all():
            raise ValueError("features: contains NaN/Inf (or values too large for float32)")
        offset = self._rows
        with open(self._path, "r+b") as fh:
            fh.truncate(offset * self.row_bytes)
            fh.seek(offset * self.row_bytes)
            fh.write(data.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        self._rows = offset + data.shape[0]
        self._map = None  # remapped lazily at the new size
        return offset

    def _mapped(self) -> np.memmap:
        if self._map is None:
            self._map = np.memmap(self._path, dtype=_DTYPE, mode="r", shape=(self._rows, self._dim))
        return self._map

    def read(self, offset: int, count: int) -> np.ndarray:
        """Rows ``offset : offset + count`` as a read-only memory-mapped view.

        Parameters
        ----------
        offset : int
            First row (>= 0).
        count : int
            Number of rows (>= 1).

        Returns
        -------
        ndarray of shape (count, d), float32
            A read-only view into the file (C-contiguous; copy it to keep it past :meth:`close`
            of the owning collection, or to modify it).

        Raises
        ------
        ValueError
            If the range lies outside the valid rows.
        """
        off = _positive_int(offset, "offset", 0)
        cnt = _positive_int(count, "count", 1)
        if off + cnt > self._rows:
            raise ValueError(
                f"feature store {self._path}: rows {off}:{off + cnt} are outside the "
                f"{self._rows} valid rows"
            )
        view = self._mapped()[off : off + cnt]
        return np.asarray(view)

    def close(self) -> None:
        """Drop the memory map (views already handed out stay valid)."""
        self._map = None

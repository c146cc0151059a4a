"""Approximate nearest-neighbour index of standardised clip vectors (paper Sec. 3, retrieval).

A clip vector is the mean of a video's frame features, ``F_bar = (1/T) sum_j f_j``. Before
indexing, clip vectors are standardised with the per-dimension mean and standard deviation of all
clip vectors of the collection, ``z = (F_bar - mu) / sigma``, and searched by cosine similarity
in an hnswlib index (``space="cosine"``: distance ``1 - cos``, similarity ``cos``).

Standard deviation floor: a dimension whose standard deviation over the collection is below
:data:`STD_FLOOR` (e.g. a constant dimension, or any dimension of a one-video collection) is
divided by 1 instead: it is centred to (about) zero and adds nothing to the cosine, instead of
blowing rounding noise up by ``1 / sigma``.

Statistics policy. :meth:`AnnIndex.build` computes ``mu`` and ``sigma`` from the clips it is
built from (or takes them, ``stats=``); :meth:`AnnIndex.add` inserts more clips standardised with
the *same, frozen* statistics in O(k log N), without rebuilding the graph. How a collection
chooses between the two is described in :mod:`draqcore.collection.maintenance`.

On-disk layout (``directory`` is e.g. ``<collection>/index``)::

    ann.json                  manifest, written last (temp file + os.replace)
    g<generation>/ann.hnsw         hnswlib graph, labels = video ids
    g<generation>/clip_means.npy   (N, d) float32, raw (unstandardised) clip means
    g<generation>/clip_ids.npy     (N,) int64 video ids, ascending, one per row above
    g<generation>/std_mean.npy     (d,) float64, mu
    g<generation>/std_scale.npy    (d,) float64, sigma after the floor
    g<generation>/row_data.npy     (N, w) int64, optional: the caller's fixed-width data per row
                                   (a collection keeps where each clip's features are:
                                   draqcore.store.locations); held in memory when loaded

The manifest records the space, dimension, count, hnswlib parameters (M, ef_construction, ef),
the floor, the generation directory and the SHA-256 and size of every file. Every save writes a
new generation directory and only then replaces ``ann.json``, so a crash leaves the previous,
complete index in place; :meth:`AnnIndex.load` checks all of it and refuses (``ValueError``
naming the file) a manifest that does not match its files. Files are ``.npy`` loaded with
``allow_pickle=False`` and JSON; nothing is pickled.

Memory of a loaded index. A loaded index holds the ids, the statistics and hnswlib's graph
(about ``N * (d + 2 M + 3) * 4`` bytes), not the clip means: it keeps ``clip_means.npy`` open and
reads rows on demand (:meth:`AnnIndex.clip_mean_rows`; each read checks that the file is still the
one verified: :mod:`draqcore.store.pinned_file`). A search of a large collection reads none: it
checks its candidates against the graph's own vectors (:meth:`AnnIndex.holds`). The full verification
streams that file in blocks (hashed, checked for NaN/Inf and compared with the graph's vectors
as it goes), and hnswlib reads the verified graph file itself instead of copying the checked
bytes (:mod:`draqcore.store.hnsw_graph`), so the graph is in memory once. Files changed within
:data:`~draqcore.store.verdicts.RACY_NS` of loading (a just-written index) are held in memory as
verified and the graph is handed over as bytes. At a million clips sampled at 2 fps (a clip
index of 1M and a window index of 2.18M vectors, d = 128) the searching process peaks at 2.3 GiB
(3.1 GiB when it verifies both in full); it was 5.2-5.5 GiB with everything held.
"""

from __future__ import annotations

import hashlib
import json
import re
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import hnswlib
import numpy as np
from numpy.typing import ArrayLike

from .._json import load_json_text
from . import verdicts
from .hnsw_graph import (HEADER_BYTES, GraphError, check_verified_layout, graph_from_verified, graph_index, level0_end,
                         level0_outside_component, load_graph_file, parse_graph, reseeded)
from .npy import npy_data_offset, npy_from_bytes
from .pinned_file import PinnedFile
from .testhooks import kill_point
from .._validate import as_nonnegative_int as _int_at_least
from .._validate import as_threads
from .durability import fsync_dir

__all__ = ["AnnIndex", "AnnParams", "INDEX_DIRNAME", "STD_FLOOR", "MANIFEST_FILENAME", "leftovers",
           "remove_leftovers", "standardization_stats"]

STD_FLOOR: float = 1e-6
MANIFEST_FILENAME: str = "ann.json"
#: Sub-directory of a collection that holds the ANN index.
INDEX_DIRNAME: str = "index"
_FORMAT = "draqcore-ann"
_FORMAT_VERSION = 1
_GENERATION = re.compile(r"g[0-9]{6,}")
_FILES = ("ann.hnsw", "clip_means.npy", "clip_ids.npy", "std_mean.npy", "std_scale.npy")
# Optional: present in a generation saved with row data (its width is in the manifest).
_ROWS = "row_data.npy"
# Largest difference allowed between a stored graph vector and the one recomputed from the clip
# means (both are unit vectors; float32 rounding of the standardisation and normalisation is ~1e-7).
_VECTOR_TOL = 1e-4
# The longest a writer waits for the files it has just written to settle before verifying them.
_MAX_SETTLE_NS = 200_000_000


@dataclass(frozen=True)
class AnnParams:
    """hnswlib parameters.

    Attributes
    ----------
    M : int
        Graph degree (hnswlib ``M``, >= 2).
    ef_construction : int
        Candidate list size while building (>= 1).
    ef : int
        Candidate list size while searching (>= 1); a query for ``k`` neighbours uses
        ``max(ef, k)``.
    seed : int
        hnswlib's random seed for the level assignment.
    """

    M: int = 16
    ef_construction: int = 200
    ef: int = 100
    seed: int = 100

    def __post_init__(self) -> None:
        _int_at_least(self.M, "M", 2)
        _int_at_least(self.ef_construction, "ef_construction", 1)
        _int_at_least(self.ef, "ef", 1)
        _int_at_least(self.seed, "seed", 0)


def standardization_stats(clip_means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and floored standard deviation of clip vectors.

    Parameters
    ----------
    clip_means : ndarray of shape (N, d)
        Raw clip vectors, ``N >= 1``.

    Returns
    -------
    mean : ndarray of shape (d,), float64
    scale : ndarray of shape (d,), float64
        Population standard deviation (``ddof=0``); entries below :data:`STD_FLOOR` are 1.0.
    """
    x = np.asarray(clip_means, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std < STD_FLOOR, 1.0, std)
    return mean, scale


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (memory does not grow with size)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; give it the permissions of any other file we create
        # (0666 minus the umask), so other users and read-only copies can read the manifest.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _temp_manifests(root: Path) -> list[Path]:
    return sorted(root.glob(MANIFEST_FILENAME + ".*.tmp"))


def leftovers(directory: Union[str, os.PathLike[str]]) -> list[Path]:
    """Files an interrupted :meth:`AnnIndex.save` may leave in ``directory``.

    Generation directories the manifest does not name (a save killed before replacing
    ``ann.json``, or after it but before removing older generations) and temporary manifests.
    They are harmless (never read) and removed by the next successful save.
    """
    root = Path(directory)
    if not root.is_dir():
        return []
    manifest = root / MANIFEST_FILENAME
    current = None
    if manifest.exists():
        try:
            current = json.loads(manifest.read_bytes().decode("utf-8")).get("directory")
        except (OSError, ValueError, AttributeError, RecursionError):
            pass
        if not isinstance(current, str):  # a damaged manifest: which generation is current is unknown
            return _temp_manifests(root)
    gens = [d for d in sorted(root.iterdir()) if d.is_dir() and _GENERATION.fullmatch(d.name) and d.name != current]
    return gens + _temp_manifests(root)


def remove_leftovers(directory: Union[str, os.PathLike[str]]) -> int:
    """Delete :func:`leftovers` (only the collection's writer may call this); returns how many."""
    found = leftovers(directory)
    for item in found:
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            try:
                item.unlink()
            except OSError:
                pass
    return len(found)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


class AnnIndex:
    """hnswlib cosine index over standardised clip vectors, labelled by video id.

    Build with :meth:`build`, persist with :meth:`save`, reopen with :meth:`load`.
    """

    def __init__(
        self,
        index: "hnswlib.Index",
        ids: np.ndarray,
        clip_means: Union[np.ndarray, "_MeansFile"],
        mean: np.ndarray,
        scale: np.ndarray,
        params: AnnParams,
        *,
        exhaustive: bool = False,
        outside: Optional[np.ndarray] = None,
        unseeded: bool = False,
        row_data: Optional[np.ndarray] = None,
    ) -> None:
        # Private: use AnnIndex.build / AnnIndex.load. ``clip_means`` is an array, or (a loaded
        # index) the verified file its rows are read from on demand; ``unseeded``: hnswlib read
        # the graph itself and its level generator is not seeded yet (see add).
        self._index = index
        self._unseeded = unseeded
        self._exhaustive = exhaustive
        # Rows (into ids) the graph search may not reach: compared exhaustively on every query.
        self._outside = np.empty(0, dtype=np.int64) if outside is None else np.asarray(outside, dtype=np.int64)
        self._z_unit: Optional[np.ndarray] = None  # normalised standardised vectors, for exact answers
        self._outside_unit: Optional[np.ndarray] = None  # the same of the rows in _outside only
        self._ids = ids
        self._clip_means = clip_means
        self._mean = mean
        self._scale = scale
        self._params = params
        self._row_data = row_data
        for arr in (self._ids, self._clip_means, self._mean, self._scale, self._row_data):
            if isinstance(arr, np.ndarray):
                arr.setflags(write=False)

    # -- properties ------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Clip vector dimension ``d``."""
        return int(self._mean.shape[0])

    @property
    def count(self) -> int:
        """Number of indexed clips ``N``."""
        return int(self._ids.shape[0])

    def __len__(self) -> int:
        return self.count

    @property
    def ids(self) -> np.ndarray:
        """Video ids, ascending: ndarray of shape (N,), int64 (read-only)."""
        return self._ids

    @property
    def clip_means(self) -> np.ndarray:
        """Raw clip means, row ``i`` for ``ids[i]``: ndarray of shape (N, d), float32 (read-only).

        A loaded index does not hold them in memory (at a million clips they are 0.5 GB, and a
        search needs a few rows: :meth:`clip_mean_rows`); the first access reads them all from
        the verified file and keeps them (writers growing the index, ``draq check``).

        Raises
        ------
        ValueError
            The file changed since it was verified (modified or truncated in place).
        """
        if not isinstance(self._clip_means, np.ndarray):
            means = self._clip_means.all()
            means.setflags(write=False)
            self._clip_means = means
        return self._clip_means

    @property
    def row_data(self) -> Optional[np.ndarray]:
        """The caller's data of each row (row ``i`` for ``ids[i]``): ndarray of shape (N, w),
        int64 (read-only, in memory), or None for an index built or saved without it."""
        return self._row_data

    def clip_mean_rows(self, rows: ArrayLike) -> np.ndarray:
        """Raw clip means of some rows (row ``i`` is ``ids[i]``), read from the verified file when
        the index does not hold them (see :attr:`clip_means`).

        Parameters
        ----------
        rows : array_like of shape (k,), int
            Row numbers in ``0 .. N - 1`` (any order, repeats allowed).

        Returns
        -------
        ndarray of shape (k, d), float32
            A new array.

        Raises
        ------
        IndexError
            A row outside ``0 .. N - 1``.
        ValueError
            The file changed since it was verified.
        """
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        if isinstance(self._clip_means, np.ndarray):
            if r.size and (r.min() < 0 or r.max() >= self.count):
                raise IndexError(f"clip_means: rows outside 0..{self.count - 1}")
            return self._clip_means[r]
        return self._clip_means.rows(r)

    def holds(self, ids: ArrayLike, clip_vectors: ArrayLike) -> np.ndarray:
        """Whether the graph holds, for each id, the standardised direction of the raw clip
        vector given for it: (k,) bool (False for an id it does not hold).

        The same test as the full verification's check of the graph against ``clip_means.npy``
        (in float64, unit vectors within 1e-4), but made against the vectors hnswlib holds in
        memory, so no file is read: a search checks that what retrieval used is what the
        candidates' features give (forged or swapped vectors would return the wrong videos).

        Parameters
        ----------
        ids : array_like of shape (k,), int
        clip_vectors : array_like of shape (k, d)
            Raw (unstandardised) clip vectors, e.g. the means of the features as stored.
        """
        id64 = np.asarray(ids, dtype=np.int64).reshape(-1)
        x = np.asarray(clip_vectors, dtype=np.float64).reshape(id64.size, self.dim)
        out = np.zeros(id64.size, dtype=bool)
        held = self.rows_of(id64) >= 0
        if not held.any():
            return out
        graph = np.asarray(self._index.get_items(id64[held], return_type="numpy"), dtype=np.float64)
        out[held] = np.abs(_directions(x[held], self._mean, self._scale) - graph).max(axis=1) <= _VECTOR_TOL
        return out

    def prefetch_clip_means(self, rows: ArrayLike) -> None:
        """Ask the kernel to start reading these rows of the clip means file now
        (``posix_fadvise(WILLNEED)``), so that a later :meth:`clip_mean_rows` finds them in the
        page cache: on a cold cache each row is a random disk access, and announcing all of a
        search's rows together lets the disk serve them concurrently. Advisory only (errors and
        rows out of range are ignored); a no-op when the means are held in memory.
        """
        if not isinstance(self._clip_means, np.ndarray):
            self._clip_means.prefetch(np.asarray(rows, dtype=np.int64).reshape(-1))

    def rows_of(self, ids: ArrayLike) -> np.ndarray:
        """Row of each video id (``ids[row] == id``), ``-1`` for ids the index does not hold.

        Parameters
        ----------
        ids : array_like of shape (k,), int

        Returns
        -------
        ndarray of shape (k,), int64
        """
        want = np.asarray(ids, dtype=np.int64).reshape(-1)
        rows = np.searchsorted(self._ids, want)
        held = (rows < self.count) & (self._ids[np.minimum(rows, self.count - 1)] == want)
        return np.where(held, rows, -1).astype(np.int64)

    @property
    def mean(self) -> np.ndarray:
        """Standardisation mean ``mu``: ndarray of shape (d,), float64 (read-only)."""
        return self._mean

    @property
    def scale(self) -> np.ndarray:
        """Standardisation scale ``sigma`` after the floor: ndarray of shape (d,), float64."""
        return self._scale

    @property
    def params(self) -> AnnParams:
        """hnswlib parameters."""
        return self._params

    @property
    def exhaustive(self) -> bool:
        """True when queries compare with every clip vector instead of walking the graph.

        A loaded graph whose level 0 is not strongly connected (some elements cannot be
        reached from some others, so the graph search could miss them) is answered exactly.
        """
        return self._exhaustive

    # -- building and querying -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        ids: ArrayLike,
        clip_means: ArrayLike,
        params: Optional[AnnParams] = None,
        *,
        threads: Optional[int] = None,
        stats: Optional[tuple[np.ndarray, np.ndarray]] = None,
        row_data: Optional[ArrayLike] = None,
    ) -> "AnnIndex":
        """Standardise clip means by their own statistics (or ``stats``) and build the hnswlib graph.

        Parameters
        ----------
        ids : array_like of shape (N,), int
            Distinct non-negative video ids (sorted ascending in the result).
        clip_means : array_like of shape (N, d)
            Raw clip vectors (any real dtype, stored as float32; not modified). ``N >= 1``.
        params : AnnParams, optional
        threads : int, optional
            Threads for hnswlib insertion; ``None`` = all cores; at most ``max(1024, cores)``
            (hnswlib starts as many as asked: a larger request is refused). With more than one thread the
            graph (hence which approximate neighbours are found) can differ between builds; a
            saved index always answers the same.
        stats : (mean, scale), optional
            Frozen standardisation statistics, each of shape (d,); default: those of
            ``clip_means`` (:func:`standardization_stats`).
        row_data : array_like of shape (N, w), int, optional
            Fixed-width integers kept with each row and saved with the index (:attr:`row_data`);
            reordered with the ids.

        Raises
        ------
        ValueError
            Shapes disagree, ``N == 0``, duplicate or negative ids, NaN/Inf.
        """
        p = params if params is not None else AnnParams()
        id_arr = np.asarray(ids)
        if id_arr.dtype.kind not in "iu" or id_arr.ndim != 1:
            raise ValueError(f"ids: expected a 1-D integer array, got dtype {id_arr.dtype}, shape {id_arr.shape}")
        means = np.asarray(clip_means)
        if means.dtype.kind not in "fiu" or means.ndim != 2:
            raise ValueError(f"clip_means: expected a 2-D real array (N, d), got shape {means.shape}")
        if means.shape[0] != id_arr.shape[0]:
            raise ValueError(f"clip_means: has {means.shape[0]} rows but ids has {id_arr.shape[0]} entries")
        if id_arr.shape[0] == 0:
            raise ValueError("ids: cannot build an index of zero clips")
        if means.shape[1] == 0:
            raise ValueError("clip_means: has no columns")
        id64 = id_arr.astype(np.int64)
        if (id64 < 0).any():
            raise ValueError("ids: must be non-negative")
        order = np.argsort(id64, kind="stable")
        id64 = np.ascontiguousarray(id64[order])
        if (np.diff(id64) == 0).any():
            raise ValueError("ids: contains duplicates")
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            m32 = np.ascontiguousarray(means[order], dtype=np.float32)  # a new array: caller's untouched
        if not np.isfinite(m32).all():
            raise ValueError("clip_means: contains NaN/Inf")
        if stats is None:
            mean, scale = standardization_stats(m32)
        else:
            mean, scale = (np.array(s, dtype=np.float64) for s in stats)
            if mean.shape != (m32.shape[1],) or scale.shape != mean.shape or not np.isfinite(mean).all() \
                    or not (np.isfinite(scale).all() and (scale > 0).all()):
                raise ValueError(f"stats: expected finite mean and positive scale of shape ({m32.shape[1]},)")
        rows = _row_data_arg(row_data, id64.shape[0])
        index = cls._make_graph(id64, m32, mean, scale, p, threads)
        return cls(index, id64, m32, mean, scale, p, row_data=None if rows is None else np.ascontiguousarray(rows[order]))

    def add(self, ids: ArrayLike, clip_means: ArrayLike, *, threads: Optional[int] = None,
            row_data: Optional[ArrayLike] = None) -> "AnnIndex":
        """A new index: this one plus more clips, standardised with the frozen statistics.

        The hnswlib graph is grown in place (``resize_index`` + ``add_items``: O(k log N) for k
        clips, no rebuild); this object must not be used afterwards.

        Parameters
        ----------
        ids : array_like of shape (k,), int
            New distinct ids, all larger than every id already held.
        clip_means : array_like of shape (k, d)
            Their raw clip vectors.
        threads : int, optional
            Threads for hnswlib insertion (None = all cores; at most ``max(1024, cores)``).
        row_data : array_like of shape (k, w), int, optional
            Their row data, as wide as this index's. The new index has row data only when this
            one has and it is given.

        Raises
        ------
        ValueError
            Shapes, NaN/Inf, or ids not above the current ones.
        """
        nthreads = _hnsw_threads(threads)
        id64 = np.asarray(ids, dtype=np.int64).reshape(-1)
        with np.errstate(over="ignore"):
            m32 = np.ascontiguousarray(clip_means, dtype=np.float32)
        if m32.shape != (id64.shape[0], self.dim):
            raise ValueError(f"clip_means: expected shape ({id64.shape[0]}, {self.dim}), got {m32.shape}")
        if id64.size == 0:
            return self
        if (np.diff(id64) <= 0).any() or id64[0] <= self._ids[-1]:
            raise ValueError("ids: must be ascending and above the ids already indexed")
        if not np.isfinite(m32).all():
            raise ValueError("clip_means: contains NaN/Inf")
        rows = _row_data_arg(row_data, id64.shape[0])
        if rows is not None and self._row_data is not None and rows.shape[1] != self._row_data.shape[1]:
            raise ValueError(f"row_data: expected {self._row_data.shape[1]} columns, got {rows.shape[1]}")
        rows_all = None if rows is None or self._row_data is None else np.concatenate([self._row_data, rows])
        z = ((m32.astype(np.float64) - self._mean) / self._scale).astype(np.float32)
        old_means = self.clip_means  # (read before the graph grows: a changed file leaves it as it was)
        if self._unseeded:
            # hnswlib read the graph itself (load): seed its level generator as an index handed to
            # hnswlib by graph_index is, so the grown graph is the same whichever way it was loaded.
            state = dict(self._index.__getstate__()[0])
            self._index = None  # the graph in memory twice (state, new index), not three times
            try:
                self._index = reseeded(state, ef=self._params.ef, seed=self._params.seed)
            except BaseException:
                self._index = reseeded(state, ef=self._params.ef, seed=self._params.seed)  # as it was
                raise
            del state
            self._unseeded = False
        self._index.resize_index(self.count + int(id64.size))
        self._index.add_items(z, id64.astype(np.uint64), num_threads=nthreads)
        ids_all = np.concatenate([self._ids, id64])
        means_all = np.concatenate([old_means, m32], axis=0)
        return AnnIndex(self._index, ids_all, means_all, self._mean.copy(), self._scale.copy(), self._params,
                        exhaustive=self._exhaustive, outside=self._outside, row_data=rows_all)

    @staticmethod
    def _make_graph(
        ids: np.ndarray,
        means: np.ndarray,
        mean: np.ndarray,
        scale: np.ndarray,
        params: AnnParams,
        threads: Optional[int],
    ) -> "hnswlib.Index":
        n, d = means.shape
        z = ((means.astype(np.float64) - mean) / scale).astype(np.float32)
        index = hnswlib.Index(space="cosine", dim=int(d))
        index.init_index(max_elements=int(n), ef_construction=params.ef_construction, M=params.M,
                         random_seed=params.seed)
        nthreads = _hnsw_threads(threads)
        index.add_items(z, ids.astype(np.uint64), num_threads=nthreads)
        index.set_ef(params.ef)
        return index

    def standardize(self, clip_vectors: ArrayLike) -> np.ndarray:
        """``(x - mu) / sigma`` for one vector (d,) or a batch (B, d); returns float32, a new array."""
        x = np.asarray(clip_vectors, dtype=np.float64)
        if x.shape[-1:] != (self.dim,) or x.ndim not in (1, 2):
            raise ValueError(f"clip_vectors: expected shape ({self.dim},) or (B, {self.dim}), got {x.shape}")
        return ((x - self._mean) / self._scale).astype(np.float32)

    def query(self, clip_vector: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar clips of one raw clip vector.

        Parameters
        ----------
        clip_vector : array_like of shape (d,)
            Raw (unstandardised) clip mean of the query; standardised here.
        k : int
            Neighbours wanted (>= 1); more than :attr:`count` returns all clips.

        Returns
        -------
        ids : ndarray of shape (min(k, N),), int64
            Video ids, most similar first.
        similarity : ndarray of shape (min(k, N),), float64
            Cosine similarity of the standardised vectors (``1 - hnswlib distance``).

        Raises
        ------
        ValueError
            Wrong dimension, NaN/Inf, ``k < 1``.
        """
        k = _int_at_least(k, "k", 1)
        v = np.asarray(clip_vector)
        if v.shape != (self.dim,):
            raise ValueError(f"clip_vector: expected shape ({self.dim},), got {v.shape}")
        z = self.standardize(v)
        if not np.isfinite(z).all():
            raise ValueError("clip_vector: contains NaN/Inf")
        kk = min(k, self.count)
        # A few clips outside the graph's strongly connected component are compared exactly and
        # merged with the graph's answer; with many, every query is answered exactly.
        few = self._outside.size <= max(64, self.count // 100)
        if self._exhaustive and few and self._outside.size < self.count:
            self._index.set_ef(max(self._params.ef, kk))
            try:
                labels, dist = self._index.knn_query(z.reshape(1, -1), k=kk, num_threads=1)
            except RuntimeError:
                return self._exact_query(z, kk)
            g_ids, g_sims = labels[0].astype(np.int64), 1.0 - dist[0].astype(np.float64)
            o_ids, o_sims = self._exact_query(z, kk, rows=self._outside)
            ids = np.concatenate([g_ids, o_ids])
            sims = np.concatenate([g_sims, o_sims])
            ids, first = np.unique(ids, return_index=True)
            sims = sims[first]
            order = np.lexsort((ids, -sims))[:kk]
            return ids[order], sims[order]
        if not self._exhaustive:
            # hnswlib needs ef >= k to return k results; it is a search-time setting.
            self._index.set_ef(max(self._params.ef, kk))
            try:
                labels, dist = self._index.knn_query(z.reshape(1, -1), k=kk, num_threads=1)
            except RuntimeError:
                pass  # fewer than k reachable from where the descent ended: answer exactly
            else:
                return labels[0].astype(np.int64), 1.0 - dist[0].astype(np.float64)
        return self._exact_query(z, kk)

    def _exact_query(self, z: np.ndarray, k: int, rows: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarity to every standardised clip vector (or those of ``rows``); the ``k``
        best, ties by id."""
        if rows is None:
            if self._z_unit is None:  # computed once, in float64, kept as float32
                zs = self.standardize(self.clip_means).astype(np.float64)
                zs /= np.sqrt((zs * zs).sum(axis=1, keepdims=True)) + 1e-30
                self._z_unit = zs.astype(np.float32)
            unit, ids = self._z_unit, self._ids
        elif rows is self._outside:  # asked on every query: computed once (K rows, K <= N / 100)
            if self._outside_unit is None:
                zs = self.standardize(self.clip_mean_rows(rows)).astype(np.float64)
                zs /= np.sqrt((zs * zs).sum(axis=1, keepdims=True)) + 1e-30
                self._outside_unit = zs
            unit, ids = self._outside_unit, self._ids[rows]
        else:
            zs = self.standardize(self.clip_mean_rows(rows)).astype(np.float64)
            zs /= np.sqrt((zs * zs).sum(axis=1, keepdims=True)) + 1e-30
            unit, ids = zs, self._ids[rows]
        q = z.astype(np.float64)
        q /= np.sqrt(float(q @ q)) + 1e-30
        sims = unit.astype(np.float64, copy=False) @ q if unit.dtype == np.float64 else (unit @ q.astype(np.float32)).astype(np.float64)
        if sims.size > 4 * k:
            top = np.argpartition(-sims, k)[: k * 2]
            order = top[np.lexsort((ids[top], -sims[top]))][:k]
        else:
            order = np.lexsort((ids, -sims))[:k]
        return ids[order].copy(), sims[order]

    # -- persistence -----------------------------------------------------------------------------

    def save(self, directory: Union[str, os.PathLike[str]]) -> Path:
        """Write the index into ``directory`` (a new generation, then the manifest).

        Older generation directories (and temporary manifests of an interrupted save) are
        removed after the manifest points at the new one. The caller must be the collection's
        only writer.

        Returns
        -------
        Path
            The manifest file.
        """
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        manifest_path = root / MANIFEST_FILENAME
        generation = 1
        if manifest_path.exists():
            try:
                generation = int(json.loads(manifest_path.read_bytes().decode("utf-8"))["generation"]) + 1
            except (ValueError, KeyError, TypeError, OSError, RecursionError):
                generation = 1
        while (root / f"g{generation:06d}").exists():
            generation += 1
        gen_name = f"g{generation:06d}"
        gen_dir = root / gen_name
        gen_dir.mkdir()
        try:
            self._index.save_index(str(gen_dir / "ann.hnsw"))
            np.save(gen_dir / "clip_means.npy", self.clip_means, allow_pickle=False)
            np.save(gen_dir / "clip_ids.npy", self._ids, allow_pickle=False)
            np.save(gen_dir / "std_mean.npy", self._mean, allow_pickle=False)
            np.save(gen_dir / "std_scale.npy", self._scale, allow_pickle=False)
            names = _FILES
            if self._row_data is not None:
                np.save(gen_dir / _ROWS, self._row_data, allow_pickle=False)
                names = _FILES + (_ROWS,)
            files: dict[str, dict[str, Any]] = {}
            for name in names:
                _fsync_file(gen_dir / name)
            fsync_dir(gen_dir)
            verdict = None
            if self.count >= verdicts.VERDICT_MIN_CLIPS and verdicts.cache_dir() is not None:
                # Read the files back and verify them as a loader would (the SHA-256 for the
                # manifest comes from the same bytes), so that the next process to load this
                # generation finds its verdict and skips the checks (draqcore.store.verdicts).
                opened = _open_generation(gen_dir, None, settle=True, names=names)
                man = _Manifest(self.dim, self.count, self._params, generation, gen_name, {},
                                0 if self._row_data is None else int(self._row_data.shape[1]))
                checked = _verify(man, opened, gen_dir, None, keep_means=False)
                files = {name: {"sha256": checked.digests[name], "bytes": opened.files[name].size} for name in names}
                if opened.unchanged() and opened.settled:
                    verdict = (opened.identities, verdicts.Verdict(checked.graph.levels.astype(np.int8),
                                                                   checked.outside_rows))
                del opened, checked
            else:
                for name in names:
                    f = gen_dir / name
                    files[name] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
            kill_point("index-generation")
            manifest = {
                "format": _FORMAT,
                "format_version": _FORMAT_VERSION,
                "space": "cosine",
                "dim": self.dim,
                "count": self.count,
                "M": self._params.M,
                "ef_construction": self._params.ef_construction,
                "ef": self._params.ef,
                "seed": self._params.seed,
                "std_floor": STD_FLOOR,
                "generation": generation,
                "directory": gen_name,
                "max_id": int(self._ids[-1]),  # lets a writer find clips added since without loading the graph
                "files": files,
            }
            if self._row_data is not None:
                manifest["row_data_width"] = int(self._row_data.shape[1])
            manifest_text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
            _atomic_write_text(manifest_path, manifest_text)
            if verdict is not None:
                verdicts.record(root, manifest_text.encode("utf-8"), *verdict)
        except BaseException:
            # The manifest still names the previous generation (os.replace is all-or-nothing).
            shutil.rmtree(gen_dir, ignore_errors=True)
            raise
        fsync_dir(root)
        kill_point("index-manifest")
        for old in root.iterdir():
            if old.is_dir() and _GENERATION.fullmatch(old.name) and old.name != gen_name:
                shutil.rmtree(old, ignore_errors=True)
        for tmp in _temp_manifests(root):
            try:
                tmp.unlink()
            except OSError:
                pass
        return manifest_path

    @classmethod
    def load(cls, directory: Union[str, os.PathLike[str]], *, full: bool = False) -> "AnnIndex":
        """Load and verify an index written by :meth:`save`.

        Checks: the manifest is valid JSON of this format; every file exists with the recorded
        size and SHA-256; array shapes and dtypes agree with ``dim``/``count``; ids are distinct
        and ascending; the statistics are finite with ``sigma >= STD_FLOOR`` or exactly 1 (they
        may be frozen statistics of fewer clips, see :meth:`add`); the hnswlib graph passes
        :func:`~draqcore.store.hnsw_graph.parse_graph` (every field), holds exactly the ids and,
        as its vectors, the normalised standardised clip vectors of ``clip_means.npy``; and which
        elements lie outside the strongly connected component of its level 0.

        An index of at least :data:`~draqcore.store.verdicts.VERDICT_MIN_CLIPS` clips whose files
        are byte-for-byte those of an earlier full verification by this user (same manifest, same
        device, inode, size, mtime and ctime of every file; :mod:`draqcore.store.verdicts`) skips
        the checks above except the manifest's, the sizes, the ``.npy`` headers, the graph's
        header and its link-list layout.

        Where the files are settled, the loaded index does not hold the clip means (it reads rows
        on demand from the verified file) and hnswlib reads the verified graph file itself: see
        "Memory of a loaded index" in the module notes.

        Parameters
        ----------
        directory : path-like
            The index directory (holding ``ann.json``).
        full : bool, default False
            Verify in full even when a verdict is remembered (``draq check`` does).

        Raises
        ------
        FileNotFoundError
            No manifest in ``directory``.
        ValueError
            Any mismatch; the message names the file and what differs.
        """
        root = Path(directory)
        manifest_path = root / MANIFEST_FILENAME
        man, manifest_bytes = _read_manifest(manifest_path)
        gen_dir = root / man.gen_name

        def fail(what: str) -> ValueError:
            return ValueError(f"ANN index {manifest_path}: {what}")

        opened = _open_generation(gen_dir, man.files, fail=fail)
        if not full and man.count >= verdicts.VERDICT_MIN_CLIPS:
            verdict = verdicts.lookup(root, manifest_bytes, opened.identities, man.count)
            if verdict is not None:
                try:
                    return cls._from_verified(man, opened, gen_dir, verdict)
                except ValueError:
                    pass  # the remembered verdict does not fit after all: verify in full
        for attempt in range(2):
            # Files that are settled are read later only while unchanged: the index reads clip
            # means on demand, and hnswlib reads the verified graph file itself. If that file
            # changed meanwhile, verify again from the start and hand hnswlib the bytes verified
            # (a changed file then fails its SHA-256).
            settled = opened.settled
            by_path = attempt == 0 and settled and _can_load_by_path(opened.files[_GRAPH])
            checked = _verify(man, opened, gen_dir, manifest_path, keep_means=not settled)
            if man.count >= verdicts.VERDICT_MIN_CLIPS and settled and opened.unchanged():
                verdicts.record(root, manifest_bytes, opened.identities,
                                verdicts.Verdict(checked.graph.levels.astype(np.int8), checked.outside_rows))
            means: Union[np.ndarray, _MeansFile] = checked.means if checked.means is not None else \
                _MeansFile(opened.files[_MEANS], checked.means_offset, man.count, man.dim)
            if by_path:
                checked.graph = None  # the verified bytes go before hnswlib reads the file
                try:
                    index = _load_by_path(opened.files[_GRAPH], man)
                except ValueError:
                    opened = _open_generation(gen_dir, man.files, fail=fail)
                    continue
            else:
                index = graph_index(checked.graph, ef=man.params.ef, seed=man.params.seed)
            return cls(index, checked.ids, means, checked.mean, checked.scale, man.params,
                       exhaustive=checked.outside_rows.size > 0, outside=checked.outside_rows, unseeded=by_path,
                       row_data=checked.row_data)
        raise AssertionError("unreachable")  # the second attempt returns or raises

    @classmethod
    def _from_verified(cls, man: "_Manifest", opened: "_Opened", gen_dir: Path,
                       verdict: "verdicts.Verdict") -> "AnnIndex":
        """An index from files a full verification passed before (their verdict): the arrays'
        headers and the graph's header and layout are checked again, nothing else. The clip
        means are not read (rows are read on demand) and hnswlib reads the graph file itself
        (where that is not possible, the graph is read here and handed to hnswlib)."""
        ids, mean, scale, offset, row_data = _arrays(man, opened, gen_dir)
        means = _MeansFile(opened.files[_MEANS], offset, man.count, man.dim)
        graph_file = opened.files[_GRAPH]
        p = man.params
        end = level0_end(dim=man.dim, count=man.count, M=p.M, ef_construction=p.ef_construction)
        if not 0 < end <= graph_file.size:
            raise ValueError(f"{graph_file.path}: has {graph_file.size} bytes, {man.count} elements need more")
        check_verified_layout(graph_file.pread(HEADER_BYTES, 0), graph_file.pread(graph_file.size - end, end),
                              graph_file.size, dim=man.dim, count=man.count, M=p.M, ef_construction=p.ef_construction,
                              levels=verdict.levels)
        unseeded = _can_load_by_path(graph_file)
        if unseeded:
            index = _load_by_path(graph_file, man)
        else:
            graph = graph_from_verified(graph_file.pread(graph_file.size, 0), dim=man.dim, count=man.count, M=p.M,
                                        ef_construction=p.ef_construction, levels=verdict.levels)
            index = graph_index(graph, ef=p.ef, seed=p.seed)
            del graph
        return cls(index, ids, means, mean, scale, p, exhaustive=verdict.outside_rows.size > 0,
                   outside=verdict.outside_rows, unseeded=unseeded, row_data=row_data)


def _directions(clip_means: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The unit vectors hnswlib stores for raw clip means (k, d): standardised, then normalised,
    in float64 (in float32 a dimension with a tiny scale amplifies rounding past any tolerance)."""
    z = (np.asarray(clip_means, dtype=np.float64) - mean) / scale
    z /= np.sqrt(np.einsum("ij,ij->i", z, z))[:, None] + 1e-300
    return z


def _row_data_arg(row_data: Optional[ArrayLike], n: int) -> Optional[np.ndarray]:
    """``row_data`` as a new (n, w) int64 array (w >= 1), or None."""
    if row_data is None:
        return None
    arr = np.asarray(row_data)
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
        raise ValueError(f"row_data: expected an integer array of shape ({n}, w >= 1), got dtype {arr.dtype}, "
                         f"shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError("row_data: values beyond int64")
    return np.array(arr, dtype=np.int64, copy=True)


def _hnsw_threads(threads: Optional[int]) -> int:
    """hnswlib's ``num_threads`` for ``threads``, checked like the kernels' (at most
    ``max(1024, cores)``: hnswlib starts as many threads as asked). None: the cores this process
    may run on, counted here: hnswlib's own default (-1) is its index's thread count, which is
    1 for an index it loaded (a loaded collection's graph grew on one core of two)."""
    if threads is not None:
        return as_threads(threads)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Manifest:
    dim: int
    count: int
    params: AnnParams
    generation: int
    gen_name: str
    files: dict[str, Any]
    row_width: int = 0  # columns of row_data.npy; 0: none


def _read_manifest(manifest_path: Path) -> tuple[_Manifest, bytes]:
    """The manifest, checked (format, space, parameters, generation, file list), and its bytes."""
    if not manifest_path.is_file():
        raise FileNotFoundError(f"ANN index {manifest_path}: no such file")
    raw = manifest_path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"ANN index {manifest_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    man = load_json_text(text, f"ANN index {manifest_path}")

    def fail(what: str) -> ValueError:
        return ValueError(f"ANN index {manifest_path}: {what}")

    if not isinstance(man, dict) or man.get("format") != _FORMAT:
        raise fail(f"not a draqcore ANN manifest (expected format {_FORMAT!r})")
    if man.get("format_version") != _FORMAT_VERSION:
        raise fail(f"format version {man.get('format_version')!r}, this draqcore reads {_FORMAT_VERSION}")
    if man.get("space") != "cosine":
        raise fail(f"space {man.get('space')!r}, expected 'cosine'")
    try:
        dim = _int_at_least(man["dim"], "dim", 1)
        count = _int_at_least(man["count"], "count", 1)
        params = AnnParams(M=man["M"], ef_construction=man["ef_construction"], ef=man["ef"], seed=man["seed"])
        generation = _int_at_least(man["generation"], "generation", 1)
        floor = float(man["std_floor"])
        gen_name = str(man["directory"])
        files = man["files"]
    except (KeyError, TypeError, ValueError) as exc:
        raise fail(f"damaged entry ({type(exc).__name__}: {exc})") from None
    if gen_name != f"g{generation:06d}":
        raise fail(f"directory {gen_name!r} does not match generation {generation}")
    if floor != STD_FLOOR:
        raise fail(f"std_floor {floor!r} differs from this draqcore's {STD_FLOOR!r}; rebuild the index")
    if not isinstance(files, dict) or set(files) not in (set(_FILES), set(_FILES) | {_ROWS}):
        raise fail(f"'files' must list exactly {sorted(_FILES)} (and {_ROWS!r} with row data)")
    row_width = 0
    if _ROWS in files or "row_data_width" in man:
        try:
            row_width = _int_at_least(man["row_data_width"], "row_data_width", 1)
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(f"damaged row data entry ({type(exc).__name__}: {exc})") from None
        if _ROWS not in files:
            raise fail(f"'row_data_width' without {_ROWS!r} in 'files'")
    if count >= 2**31 - 1:  # hnswlib's internal ids are 32-bit
        raise fail(f"count {count} is beyond what an hnswlib graph can hold")
    return _Manifest(dim, count, params, generation, gen_name, files, row_width), raw


_MEANS = "clip_means.npy"
_GRAPH = "ann.hnsw"
# Files read whole when a generation is opened (small: ids and statistics); the graph and the
# clip means are read by the verification (or not at all, with a verdict) through PinnedFile.
_SMALL = ("clip_ids.npy", "std_mean.npy", "std_scale.npy", _ROWS)
# Rows of clip_means.npy read at once while streaming it (8 MiB at d = 128).
_MEANS_BLOCK = 1 << 14
# Enough bytes for any .npy header NumPy writes.
_NPY_HEAD = 1 << 16


class _MeansFile:
    """The rows of a verified ``clip_means.npy``, read on demand from the pinned file.

    Every read checks that the file is still the one verified (:class:`PinnedFile`), so a file
    changed or truncated after loading gives a ``ValueError``, never other numbers or a crash.
    """

    def __init__(self, pinned: PinnedFile, offset: int, count: int, dim: int) -> None:
        self.pinned, self.offset, self.count, self.dim = pinned, int(offset), int(count), int(dim)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (k,) as a new (k, d) float32 array: one ``pread`` per run of
        consecutive rows."""
        r = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((r.size, self.dim), dtype=np.float32)
        if r.size == 0:
            return out
        if r.min() < 0 or r.max() >= self.count:
            raise IndexError(f"clip_means: rows outside 0..{self.count - 1}")
        order = np.argsort(r, kind="stable")
        s = r[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(s) > 1) + 1]).tolist()
        ends = starts[1:] + [s.size]
        row_bytes = 4 * self.dim
        runs = [(int(s[a]), int(s[b - 1]) + 1) for a, b in zip(starts, ends)]
        datas = self.pinned.pread_many([((hi - lo) * row_bytes, self.offset + lo * row_bytes) for lo, hi in runs])
        for a, b, (lo, hi), data in zip(starts, ends, runs, datas):
            block = np.frombuffer(data, dtype="<f4").reshape(hi - lo, self.dim)
            out[order[a:b]] = block[s[a:b] - lo]
        return out

    def prefetch(self, rows: np.ndarray) -> None:
        """``posix_fadvise(WILLNEED)`` of these rows (runs of consecutive rows together)."""
        advise = getattr(os, "posix_fadvise", None)
        r = np.unique(rows[(rows >= 0) & (rows < self.count)])
        if advise is None or r.size == 0:
            return
        row_bytes = 4 * self.dim
        starts = np.concatenate([[0], np.flatnonzero(np.diff(r) > 1) + 1])
        ends = np.concatenate([starts[1:], [r.size]])
        try:
            for a, b in zip(starts.tolist(), ends.tolist()):
                lo, hi = int(r[a]), int(r[b - 1]) + 1
                advise(self.pinned.fd, self.offset + lo * row_bytes, (hi - lo) * row_bytes, os.POSIX_FADV_WILLNEED)
        except (OSError, ValueError):
            pass

    def all(self) -> np.ndarray:
        """All rows, (N, d) float32 (one read)."""
        data = self.pinned.pread(self.count * 4 * self.dim, self.offset)
        return np.frombuffer(data, dtype="<f4").reshape(self.count, self.dim)


@dataclass
class _Opened:
    """The files of one generation, open (their identities pinned), the small ones read."""

    files: dict[str, PinnedFile]
    blobs: dict[str, bytearray]
    started_ns: int

    @property
    def identities(self) -> dict[str, "verdicts.FileIdentity"]:
        return {name: f.identity for name, f in self.files.items()}

    @property
    def settled(self) -> bool:
        """Every file's ctime lay :data:`~draqcore.store.verdicts.RACY_NS` before it was opened:
        any later write changes its identity, so later reads through the pinned files (and
        hnswlib's own read of the graph) see the verified bytes or are refused."""
        return verdicts.settled(self.identities, self.started_ns)

    def unchanged(self) -> bool:
        return all(f.unchanged() for f in self.files.values())


def _open_generation(gen_dir: Path, files: Optional[dict[str, Any]], fail: Any = None,
                     settle: bool = False, names: tuple[str, ...] = _FILES) -> _Opened:
    """Every file of a generation opened once (identity taken), the small ones read.

    With ``files`` (the manifest's entries), each file must exist with the recorded size.
    ``settle`` (a writer about to record a verdict of files it has just written) first waits until
    the files are :data:`~draqcore.store.verdicts.RACY_NS` old (at most that long). A file that
    changes while it is read raises ``fail``'s ``ValueError`` (or ``ValueError`` without it).
    Without ``files``, ``names`` are the files to open.
    """
    paths = {name: gen_dir / name for name in (tuple(files) if files is not None else names)}
    if settle:
        try:
            newest = max(p.stat().st_ctime_ns for p in paths.values())
            wait = newest + verdicts.RACY_NS - time.time_ns()
            if 0 < wait <= min(verdicts.RACY_NS, _MAX_SETTLE_NS):
                time.sleep(wait / 1e9)
        except OSError:
            pass
    started = time.time_ns()
    opened: dict[str, PinnedFile] = {}
    blobs: dict[str, bytearray] = {}

    def refuse(what: str) -> Exception:
        return fail(what) if fail is not None else ValueError(what)

    for name, f in paths.items():
        if files is not None:
            entry = files[name]
            if not f.is_file():
                raise refuse(f"{f} is missing")
            size = f.stat().st_size
            if not isinstance(entry, dict) or entry.get("bytes") != size:
                raise refuse(f"{f} has {size} bytes, manifest says {entry.get('bytes') if isinstance(entry, dict) else entry!r}")
        try:
            pinned = PinnedFile(f)
        except OSError as exc:
            if fail is None:
                raise
            raise fail(f"{f} cannot be read ({exc.strerror or exc})") from None
        if files is not None and pinned.size != files[name]["bytes"]:
            raise refuse(f"{f} changed while being read")
        opened[name] = pinned
        if name in _SMALL:
            try:
                blobs[name] = pinned.pread(pinned.size, 0)
            except ValueError as exc:
                raise refuse(str(exc)) from None
    return _Opened(opened, blobs, started)


@dataclass
class _Checked:
    means: Optional[np.ndarray]  # None unless kept (keep_means)
    means_offset: int
    ids: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    graph: Any
    outside_rows: np.ndarray
    digests: dict[str, str]
    row_data: Optional[np.ndarray] = None


def _arrays(man: _Manifest, opened: _Opened, gen_dir: Path, where: Any = None) -> tuple[np.ndarray, ...]:
    """clip_ids, std_mean, std_scale from their bytes (headers, shapes and dtypes checked;
    views, no copies), the offset of the data of clip_means.npy (its header and size checked,
    its data not read) and the row data (None without)."""
    def arr(name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
        return npy_from_bytes(opened.blobs[name], str(gen_dir / name), np.dtype(dtype), shape)

    try:
        means_file = opened.files[_MEANS]
        head = means_file.pread(min(means_file.size, _NPY_HEAD), 0)
        offset = npy_data_offset(head, means_file.size, str(gen_dir / _MEANS), np.dtype("<f4"), (man.count, man.dim))
        rows = arr(_ROWS, "<i8", (man.count, man.row_width)) if man.row_width else None
        return (arr("clip_ids.npy", "<i8", (man.count,)), arr("std_mean.npy", "<f8", (man.dim,)),
                arr("std_scale.npy", "<f8", (man.dim,)), offset, rows)
    except ValueError as exc:
        raise ValueError(f"ANN index {where or gen_dir}: {exc} (dim={man.dim}, count={man.count})") from None


def _can_load_by_path(graph_file: PinnedFile) -> bool:
    """Whether hnswlib may read this (verified, settled) graph file itself: only a file that no
    one but this user can write (owned by the effective user, not writable by group or others),
    since hnswlib trusts what it reads and a file rewritten between the verification and
    hnswlib's read could crash it before the identity check notices; and only where the open
    file can be named (``/proc/self/fd``)."""
    try:
        st = os.fstat(graph_file.fd)
    except (OSError, ValueError):
        return False
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022 and os.path.exists(f"/proc/self/fd/{graph_file.fd}")


def _load_by_path(graph_file: PinnedFile, man: _Manifest) -> "hnswlib.Index":
    """hnswlib's own read of a verified graph file (:func:`load_graph_file`) through the open
    descriptor (the verified inode, even if the path was replaced since); the caller has checked
    :func:`_can_load_by_path` and that the file is settled.

    Raises
    ------
    ValueError
        hnswlib refused the file, or the file changed while hnswlib read it.
    """
    index = load_graph_file(f"/proc/self/fd/{graph_file.fd}", dim=man.dim, ef=man.params.ef)
    if not graph_file.unchanged() or index.get_current_count() != man.count or index.get_max_elements() != man.count:
        raise ValueError(f"{graph_file.path} changed while hnswlib read it")
    return index


def _verify(man: _Manifest, opened: _Opened, gen_dir: Path, manifest_path: Optional[Path], *,
            keep_means: bool) -> _Checked:
    """The full verification of a generation (see :meth:`AnnIndex.load`).

    With ``manifest_path``, every file must match the SHA-256 the manifest records. The graph is
    read whole (hashed in a second thread while the main thread checks it: hashlib releases the
    GIL); ``clip_means.npy`` is streamed in blocks of :data:`_MEANS_BLOCK` rows, each hashed,
    checked for NaN/Inf and compared with the graph's vectors of the same ids, and kept only
    with ``keep_means``. Without ``manifest_path`` (a writer verifying what it has just written),
    the digests are returned for the manifest.
    """
    where = manifest_path if manifest_path is not None else gen_dir

    def fail(what: str) -> ValueError:
        return ValueError(f"ANN index {where}: {what}")

    try:
        graph_bytes = opened.files[_GRAPH].pread(opened.files[_GRAPH].size, 0)
    except ValueError as exc:
        raise fail(str(exc)) from None
    blobs: dict[str, Any] = {**opened.blobs, _GRAPH: graph_bytes}
    digests: dict[str, str] = {}

    def hash_all() -> None:
        for name in opened.files:
            if name != _MEANS:
                digests[name] = hashlib.sha256(blobs[name]).hexdigest()

    hasher = threading.Thread(target=hash_all, name="draqcore-index-sha256", daemon=True)
    hasher.start()
    means_file = opened.files[_MEANS]
    means_hash = hashlib.sha256()
    hashed = [0]  # bytes of clip_means.npy hashed so far, in order

    def hash_means(data: Any) -> None:
        means_hash.update(data)
        hashed[0] += len(data)

    def check_digests() -> None:
        hasher.join()
        if hashed[0] < means_file.size:  # stopped early (another error): hash the rest
            try:
                while hashed[0] < means_file.size:
                    hash_means(means_file.pread(min(means_file.size - hashed[0], 1 << 24), hashed[0]))
            except ValueError:
                pass  # changed or truncated: its digest differs
        digests[_MEANS] = means_hash.hexdigest() if hashed[0] == means_file.size else ""
        if manifest_path is None:
            return
        for name in man.files:
            entry = man.files[name]
            if not isinstance(entry, dict) or entry.get("sha256") != digests.get(name):
                raise fail(f"{gen_dir / name} does not match its recorded SHA-256 (modified or damaged)")

    try:
        ids, mean, scale, offset, row_data = _arrays(man, opened, gen_dir, where)
        count, dim = man.count, man.dim
        if (ids < 0).any() or (np.diff(ids) <= 0).any():
            raise fail("clip_ids.npy must hold distinct non-negative ids in ascending order")
        # The statistics may be frozen ones of fewer clips (AnnIndex.add), so they need not be
        # those of clip_means.npy; the graph check below ties them to the graph's vectors.
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and ((scale >= STD_FLOOR) | (scale == 1.0)).all()):
            raise fail("std_mean.npy/std_scale.npy must be finite with scale >= std_floor")
        graph_path = gen_dir / _GRAPH
        try:
            graph = parse_graph(graph_bytes, dim=dim, count=count, M=man.params.M,
                                ef_construction=man.params.ef_construction)
        except GraphError as exc:
            raise fail(f"{graph_path} is not a valid hnswlib graph of this index: {exc}") from None
        labels = graph.labels.astype(np.int64)
        if labels.min() < 0 or not np.array_equal(np.sort(labels), ids):
            raise fail(f"{graph_path} labels differ from clip_ids.npy")
        rows = np.searchsorted(ids, labels)  # graph element -> row (id order)
        element = np.empty(count, dtype=np.int64)  # row -> graph element
        element[rows] = np.arange(count)
        # The graph's vectors must be the normalised standardised clip vectors of their labels:
        # swapped, duplicated or altered vectors would silently change which videos are found.
        # In float64 like the build (in float32, a dimension whose scale is tiny -- 2.7e-6 in a
        # real 3-clip collection -- amplifies the rounding of means - mean past any sensible
        # tolerance and a valid index was refused), in blocks of 4096 rows so that the float64
        # copies stay a few MB even at 1M clips. clip_means.npy itself is read a block at a time
        # (hashed as it goes) and not kept: a search reads the rows it needs later.
        mean64, scale64 = mean.astype(np.float64), scale.astype(np.float64)
        kept = np.empty((count, dim), dtype=np.float32) if keep_means else None
        hash_means(means_file.pread(offset, 0))
        row_bytes = 4 * dim
        bad_rows = []
        for lo in range(0, count, _MEANS_BLOCK):
            hi = min(count, lo + _MEANS_BLOCK)
            try:
                data = means_file.pread((hi - lo) * row_bytes, offset + lo * row_bytes)
            except ValueError as exc:
                raise fail(str(exc)) from None
            hash_means(data)
            block = np.frombuffer(data, dtype="<f4").reshape(hi - lo, dim)
            if not np.isfinite(block).all():
                raise fail("clip_means.npy holds NaN/Inf")
            if kept is not None:
                kept[lo:hi] = block
            for sub in range(0, hi - lo, 1 << 12):
                part = block[sub : sub + (1 << 12)]
                z = _directions(part, mean64, scale64)
                z -= graph.vectors[element[lo + sub : lo + sub + part.shape[0]]]
                np.abs(z, out=z)
                off = z.max(axis=1)
                if (off > _VECTOR_TOL).any():
                    bad_rows.append(lo + sub + np.flatnonzero(off > _VECTOR_TOL))
            del data, block
        if bad_rows:
            bad = ids[np.concatenate(bad_rows)]
            shown = ", ".join(str(int(v)) for v in bad[:5]) + (f" and {bad.size - 5} more" if bad.size > 5 else "")
            raise fail(
                f"{graph_path} holds vectors that are not the standardised clip vectors of clip_means.npy "
                f"(videos {shown}): the graph was modified or belongs to another index"
            )
        del element
        outside = level0_outside_component(graph)
    except ValueError:
        check_digests()  # a modified file is reported as such, whatever else it breaks
        raise
    except BaseException:
        hasher.join()  # the hashing thread never outlives the call (e.g. Ctrl-C, then fork)
        raise
    check_digests()
    # Graph rows are in graph order; the index keeps rows in id order.
    outside_rows = np.sort(rows[outside]) if outside.size else outside
    if kept is not None:
        kept.setflags(write=False)
    return _Checked(kept, offset, ids, mean, scale, graph, outside_rows, dict(digests), row_data)

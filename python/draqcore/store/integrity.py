"""Verify a collection on disk: do its catalog, feature file and ANN index agree?

:func:`check_collection` is what ``draq check DIR`` runs. It only reads (it takes no lock and
opens the catalog read-only, so it may run while a writer works) and never raises for a damaged
collection: every finding is one line in the returned :class:`CheckReport`.

Findings come in two kinds:

problems
    Damage that makes the collection refuse to open or search, or that could give wrong
    answers: a catalog that is not SQLite or fails its integrity check, rows with invalid
    ranges or frame data, two videos sharing feature rows, a feature file shorter than the rows
    the catalog references, NaN/Inf features, an index whose files do not match its manifest,
    or whose clip vectors do not match the features. ``ok`` is False.
notes
    What an interrupted writer leaves and the next writer repairs by itself: orphan feature
    rows beyond the committed ones, an index that is stale or missing (readers build one in
    memory meanwhile), unreferenced index generations and temporary files. ``ok`` stays True.

Every video's stored feature bytes carry a checksum (BLAKE2b-128, in the catalog), so any change
of a stored value is found; the clip vectors the catalog and the index keep are checked against
the mean of the features, and so are the window vectors of long videos in the window index
(``index/windows/``, :mod:`draqcore.store.windows`) against the means of their windows.
``check`` reads every committed feature row: O(total rows).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .._text import shown
from .ann_index import INDEX_DIRNAME, MANIFEST_FILENAME, AnnIndex, leftovers
from .windows import LONG_WINDOWS, WINDOWS_DIRNAME, label_video, label_window, window_frames, window_means
from .catalog import CATALOG_FILENAME, TEMP_CATALOG, Catalog, VideoRecord
from .locations import pack_locations
from .feature_store import FEATURES_DIRNAME, FEATURES_FILENAME, FeatureStore, features_digest

__all__ = ["CheckReport", "check_collection"]

_DTYPE = np.dtype("<f4")
_SHOWN = 5  # videos named per finding before "and N more"


@dataclass
class CheckReport:
    """Result of :func:`check_collection`.

    Attributes
    ----------
    directory : Path
    problems : list of str
        Damage, one line each (empty when healthy).
    notes : list of str
        Leftovers of an interrupted write that the next writer repairs, one line each.
    videos_ok, videos_failed : int
        Catalog rows by status (0 when the catalog cannot be read).
    feature_rows : int
        Committed feature rows (the catalog's high-water mark).
    indexed : int or None
        Videos in the saved index; None without a readable index.
    catalog_read : bool
        False when the catalog could not be read (the counts are then 0).
    sources_missing : int
        Catalog rows whose source path no longer exists (a note: the features stay usable).
    found : bool
        False when ``directory`` is not a collection at all (missing, or no catalog): the
        summary then says so instead of calling it damaged.
    """

    directory: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    videos_ok: int = 0
    videos_failed: int = 0
    feature_rows: int = 0
    indexed: Optional[int] = None
    catalog_read: bool = False
    sources_missing: int = 0
    found: bool = True

    @property
    def ok(self) -> bool:
        """True when no problem was found (notes allowed)."""
        return not self.problems

    def lines(self) -> list[str]:
        """Human-readable report: ``problem: ...`` and ``note: ...`` lines, then a summary."""
        out = [f"problem: {p}" for p in self.problems] + [f"note: {n}" for n in self.notes]
        if any(p.startswith(f"{INDEX_DIRNAME}/: ") for p in self.problems):
            index = "index unusable"
        else:
            index = "no saved index" if self.indexed is None else f"{self.indexed} videos in the index"
        if self.catalog_read:
            what = f"{self.videos_ok} videos ok, {self.videos_failed} failed, {self.feature_rows} feature rows, {index}"
        else:
            what = f"catalog unreadable, {index}"
        if not self.found:
            out.append(f"not a collection: {shown(self.directory)}")
        elif self.ok:
            out.append(f"ok: {self.directory}: {what}")
        else:
            out.append(f"damaged: {self.directory}: {len(self.problems)} problem(s); {what}")
        return out


def _names(records: list[VideoRecord]) -> str:
    listed = ", ".join(f"{r.id} ({shown(r.path)})" for r in records[:_SHOWN])
    more = f" and {len(records) - _SHOWN} more" if len(records) > _SHOWN else ""
    return listed + more


def _clip_mean(features: np.ndarray) -> np.ndarray:
    # As draqcore.collection._clip_mean (float64 accumulation, float32 result).
    return features.mean(axis=0, dtype=np.float64).astype(np.float32)


def _means_match(got: np.ndarray, want: np.ndarray) -> bool:
    tol = 1e-5 * (1.0 + float(np.abs(want).max()))
    return bool(np.allclose(got, want, rtol=1e-5, atol=tol))


def check_collection(directory: Union[str, "os.PathLike[str]"]) -> CheckReport:
    """Check that a collection's catalog, features and index agree (see the module notes).

    Parameters
    ----------
    directory : path-like
        The collection directory.

    Returns
    -------
    CheckReport
        Never raises for a damaged or foreign directory: it is reported as a problem.
    """
    root = Path(directory).expanduser()
    try:
        root = root.resolve()
    except (OSError, RuntimeError):
        root = Path(os.path.abspath(root))
    report = CheckReport(root)
    if not root.is_dir():
        report.problems.append(f"{shown(root)}: no such directory")
        report.found = False
        return report
    if not (root / CATALOG_FILENAME).is_file():
        report.problems.append(f"{shown(root)}: not a draqcore collection (no {CATALOG_FILENAME})")
        # A collection that lost its catalog is damaged; a folder with none of its files is none.
        report.found = any((root / name).exists() for name in (INDEX_DIRNAME, FEATURES_FILENAME, FEATURES_DIRNAME, ".lock"))
        return report
    try:
        catalog = Catalog.open(root / CATALOG_FILENAME, readonly=True)
    except Exception as exc:  # ValueError for damage; anything else is reported, not raised
        report.problems.append(f"{CATALOG_FILENAME}: cannot be opened: {exc}")
        _check_index_alone(root, report)
        return report
    try:
        with catalog.snapshot():  # one consistent view, even while a writer commits
            _check(root, catalog, report)
    except Exception as exc:
        report.problems.append(f"unexpected {type(exc).__name__} while checking: {exc}")
    finally:
        catalog.close()
    for entry in sorted(root.iterdir()):
        if TEMP_CATALOG.fullmatch(entry.name):
            report.notes.append(f"{entry.name}: temporary file of an interrupted create (removed by the next create)")
    return report


def _check_extractor(catalog: Catalog, report: CheckReport) -> None:
    """Can the collection be opened: is its stored extractor identity one this draqcore knows?"""
    from ..features.base import _REGISTRY, _checked_identity, load_builtin_extractors, same_identity

    load_builtin_extractors()

    try:
        ident = _checked_identity(catalog.extractor_identity, "extractor identity")
    except (ValueError, TypeError) as exc:
        report.problems.append(f"{CATALOG_FILENAME}: the stored feature extractor identity is unusable ({exc}); "
                               "the collection cannot be opened")
        return
    name = ident["name"]
    if ident["dim"] != catalog.feature_dim:
        report.problems.append(f"{CATALOG_FILENAME}: the extractor identity says dimension {ident['dim']}, "
                               f"the catalog stores {catalog.feature_dim}-dimensional features")
    factory = _REGISTRY.get(name)
    if factory is None:
        report.problems.append(
            f"{CATALOG_FILENAME}: features were computed by extractor {shown(name)!s}, which this draqcore does not "
            f"know (known: {', '.join(sorted(_REGISTRY))}); the collection cannot be opened or searched"
        )
        return
    try:
        extractor = factory(ident["params"])
    except (ValueError, TypeError) as exc:
        # E.g. a PyTorch model, which an identity does not contain: opening needs extractor=.
        report.notes.append(f"{CATALOG_FILENAME}: opening it needs its extractor passed in ({exc})")
        return
    if not same_identity(extractor.identity(), ident):
        report.problems.append(
            f"{CATALOG_FILENAME}: features were computed by {shown(name)} version {ident['version']}; this draqcore "
            f"computes version {extractor.identity()['version']}: queries would not be comparable (re-index)"
        )


def _check(root: Path, catalog: Catalog, report: CheckReport) -> None:
    problems, notes = report.problems, report.notes
    problems.extend(catalog.verify())
    _check_extractor(catalog, report)
    dim = catalog.feature_dim
    try:
        records = catalog.records()
    except ValueError as exc:
        problems.append(str(exc))
        return
    ok = [r for r in records if r.ok]
    report.catalog_read = True
    report.videos_ok, report.videos_failed = len(ok), len(records) - len(ok)
    rows = catalog.feature_rows()
    report.feature_rows = rows
    gone = [r for r in records if not os.path.lexists(r.path) or not os.path.exists(r.path)]
    report.sources_missing = len(gone)
    if gone:
        notes.append(
            f"{len(gone)} indexed source file(s) no longer exist: {_names(gone)}; their features stay searchable "
            f"until `draq prune {shown(root)}` removes them"
        )

    # -- the feature files ---------------------------------------------------------------------
    means: dict[int, np.ndarray] = {}
    try:
        shard_rows = catalog.shard_rows
        dtype = catalog.feature_dtype
    except ValueError as exc:
        problems.append(str(exc))
        return
    base = root / (FEATURES_FILENAME if shard_rows is None else FEATURES_DIRNAME)
    try:
        store = FeatureStore(base, dim, 0, readonly=True, dtype=dtype, shard_rows=shard_rows)
    except ValueError as exc:
        problems.append(str(exc))
        return
    row_bytes = store.row_bytes
    files = store.shards_for(rows)
    short: set[int] = set()
    for k, f in enumerate(files):
        name = f.relative_to(root).as_posix()
        want = max(0, min(store.shard_rows or rows, rows - k * (store.shard_rows or rows)))
        if not f.exists():
            problems.append(f"{name}: missing, but the catalog references {want} rows in it")
            short.add(k)
            continue
        if not f.is_file():
            problems.append(f"{name}: is not a regular file")
            short.add(k)
            continue
        size = f.stat().st_size
        if size < want * row_bytes:
            first = k * (store.shard_rows or 0) + size // row_bytes
            beyond = [r for r in ok if r.row_offset + r.num_frames > first]
            problems.append(
                f"{name}: holds {size // row_bytes} rows of dimension {dim} ({size} bytes), but the "
                f"catalog references {want}: the file was cut short or belongs to another collection"
                + (f"; videos beyond its end: {_names(beyond)}" if beyond else "")
            )
            short.add(k)
    store._rows = rows  # check every committed row (this store only reads)
    extra = store.orphan_bytes()
    if extra:
        notes.append(
            f"{_rel(store, root, rows)}: {extra} bytes beyond the {rows} committed rows "
            "(appended by an interrupted write, never committed; the next writer cuts them off)"
        )
    not_finite: list[VideoRecord] = []
    changed: list[VideoRecord] = []
    unreadable: list[VideoRecord] = []
    stored_means = _stored_means(catalog, dim)
    win_means: dict[int, np.ndarray] = {}  # window vectors of long videos, from their features
    fps = catalog.sample_fps
    win_len = window_frames(fps)[0]
    mean_differs: list[VideoRecord] = []
    for r in ok:
        try:
            block = store.read_stored(r.row_offset, r.num_frames)
        except ValueError:
            unreadable.append(r)
            continue
        if r.features_digest is not None and features_digest(block) != r.features_digest:
            changed.append(r)
            continue
        block32 = block.astype(np.float32)
        if not np.isfinite(block32).all():
            not_finite.append(r)
            continue
        means[r.id] = _clip_mean(block32)
        if block32.shape[0] > LONG_WINDOWS * win_len:
            win_means[r.id] = window_means(block32, fps)
        want_mean = stored_means.get(r.id)
        if want_mean is not None and not _means_match(means[r.id], want_mean):
            mean_differs.append(r)
    store.close()
    if unreadable and not short:
        problems.append(f"features: the rows of videos {_names(unreadable)} cannot be read in full (videos beyond its end)")
    if changed:
        problems.append(
            f"features: the stored features of videos {_names(changed)} do not match their recorded checksum "
            "(a feature file was modified or damaged)"
        )
    if not_finite:
        problems.append(f"features: NaN/Inf features of videos {_names(not_finite)}")
    if mean_differs:
        problems.append(
            f"{CATALOG_FILENAME}: the clip vectors of videos {_names(mean_differs)} differ from the mean of their "
            "features (the catalog or the feature files were modified)"
        )

    _check_windows(root, ok, win_means, report)

    # -- the index -------------------------------------------------------------------------------
    index = _load_index(root, report)
    if index is None:
        if ok and not any(p.startswith(f"{INDEX_DIRNAME}/") for p in problems):
            notes.append(
                f"{INDEX_DIRNAME}/: no saved index (the next writer builds it; searches build one in memory)"
            )
        return
    if index.dim != dim:
        problems.append(f"{INDEX_DIRNAME}/: has dimension {index.dim}, the features have {dim}")
        return
    by_id = {r.id: r for r in ok}
    in_index = set(index.ids.tolist())
    unknown = [v for v in in_index if v not in by_id]
    missing = [r for r in ok if r.id not in in_index]
    if unknown or missing:
        notes.append(
            f"{INDEX_DIRNAME}/: stale: holds {index.count} videos, the catalog {len(ok)} ok "
            f"({len(missing)} not indexed yet, {len(unknown)} no longer ok); the next writer rebuilds it, "
            "searches build an up-to-date one in memory"
        )
    differ = []
    for slot, vid in enumerate(index.ids.tolist()):
        got = means.get(vid)
        if got is not None and not _means_match(got, index.clip_means[slot]):
            differ.append(by_id[vid])
    if differ:
        problems.append(
            f"{INDEX_DIRNAME}/ and the feature files disagree: the clip vectors of videos {_names(differ)} "
            "differ from the mean of their features (the feature file or the catalog's row ranges were "
            "modified, or the index belongs to another collection)"
        )
    if index.row_data is not None:
        slots = [slot for slot, vid in enumerate(index.ids.tolist()) if vid in by_id]
        held = [by_id[int(index.ids[slot])] for slot in slots]
        want = pack_locations(np.array([[r.row_offset, r.num_frames] for r in held], dtype=np.int64).reshape(-1, 2),
                              [r.features_digest for r in held])
        wrong = [held[k] for k in np.flatnonzero((index.row_data[slots] != want).any(axis=1)).tolist()]
        if wrong:
            problems.append(
                f"{INDEX_DIRNAME}/: the feature locations it keeps for videos {_names(wrong)} differ from their catalog "
                "rows (the index was modified or belongs to another collection)"
            )


def _check_windows(root: Path, ok: list[VideoRecord], win_means: dict[int, np.ndarray], report: CheckReport) -> None:
    """The window index (``index/windows/``): valid on its own (manifest, checksums, graph
    vectors), and every window vector the mean of its video's features in that window."""
    where = f"{INDEX_DIRNAME}/{WINDOWS_DIRNAME}"
    win = _load_index(root, report, sub=WINDOWS_DIRNAME)
    if win is None:
        if win_means and not any(p.startswith(f"{where}/") for p in report.problems):
            report.notes.append(f"{where}/: no saved window index (the next writer builds it; searches compute windows)")
        return
    by_id = {r.id: r for r in ok}
    vids, wins = label_video(win.ids), label_window(win.ids)
    differ: dict[int, VideoRecord] = {}
    for slot in range(win.count):
        v, w = int(vids[slot]), int(wins[slot])
        if v not in by_id:
            continue  # no longer ok: stale, searches skip it
        got = win_means.get(v)
        if got is None or w >= got.shape[0] or not _means_match(got[w], win.clip_means[slot]):
            differ[v] = by_id[v]
    if differ:
        report.problems.append(
            f"{where}/ and the feature files disagree: the window vectors of videos {_names(list(differ.values()))} "
            "are not the means of their features in those windows (forged, or the index belongs to another collection)"
        )
    held = set(vids.tolist())
    pending = [v for v in win_means if v not in held]
    if pending:
        report.notes.append(
            f"{where}/: {len(pending)} long video(s) not in the window index yet (searches compute their windows)"
        )


def _load_index(root: Path, report: CheckReport, sub: Optional[str] = None) -> Optional[AnnIndex]:
    """The saved index (or the one in ``index/<sub>``), or None (missing, or damaged: then
    reported as a problem)."""
    index_dir = root / INDEX_DIRNAME if sub is None else root / INDEX_DIRNAME / sub
    name = INDEX_DIRNAME if sub is None else f"{INDEX_DIRNAME}/{sub}"
    manifest = index_dir / MANIFEST_FILENAME
    for _attempt in range(5):
        try:
            before = manifest.read_bytes()
        except OSError:
            before = None
        try:
            index = AnnIndex.load(index_dir, full=True)  # never trusts a remembered verdict
        except FileNotFoundError:
            index = None
        except Exception as exc:  # ValueError (damage) or anything hnswlib/numpy raise
            try:
                after: Optional[bytes] = manifest.read_bytes()
            except OSError:
                after = None
            if after != before:  # replaced by a writer while we read it
                continue
            report.problems.append(f"{name}/: {exc}")
            return None
        for stray in leftovers(index_dir):
            report.notes.append(
                f"{name}/{stray.name}: left by an interrupted index save (removed by the next save)"
            )
        if sub is None:
            report.indexed = None if index is None else index.count
        return index
    report.notes.append(f"{name}/: replaced repeatedly while being checked (a writer is saving it)")
    return None


def _check_index_alone(root: Path, report: CheckReport) -> None:
    """Without a catalog, the index can still be checked against its own manifest."""
    try:
        _load_index(root, report)
    except Exception as exc:
        report.problems.append(f"{INDEX_DIRNAME}/: unexpected {type(exc).__name__}: {exc}")


def _rel(store: FeatureStore, root: Path, rows: int) -> str:
    """How to name the feature file(s) in a note."""
    if store.shard_rows is None:
        return store.path.relative_to(root).as_posix()
    files = store.shards_for(rows) or [store.shard_path(0)]
    return files[-1].relative_to(root).as_posix()


def _stored_means(catalog: Catalog, dim: int) -> dict[int, np.ndarray]:
    ids, means, _ = catalog.clip_means(0)
    return {int(v): means[i] for i, v in enumerate(ids) if not np.isnan(means[i, 0])}

"""End-to-end tests of Collection on a small generated dataset of real video files."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import draqcore
from draqcore.collection import AddReport, Collection, SearchHit
from draqcore.features import default_extractor
from draqcore.features.base import make_identity
from draqcore.labels import read_labels
from draqcore.store.ann_index import AnnIndex, standardization_stats
from draqcore.synthetic import generate_dataset
from draqcore.video import iter_sampled_frames

CLASSES = 3


class Dataset:
    """Three classes x (3 aligned + 1 shuffled) clips; aligned_000 of every class is held out."""

    def __init__(self, root: Path, truths: list[Any]) -> None:
        self.root = root
        self.labels = {p: lab.class_name for p, lab in read_labels(root / "labels.json").items()}
        self.queries = {t.class_name: Path(t.path) for t in truths if Path(t.path).name == "aligned_000.mp4"}
        self.indexed = [Path(t.path) for t in truths if Path(t.path) not in self.queries.values()]
        self.kind = {Path(t.path).resolve(): t.kind for t in truths}
        self.class_of = {Path(t.path).resolve(): t.class_name for t in truths}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("videos")
    truths = generate_dataset(root, classes=CLASSES, clips_per_class=3, hard_negatives_per_class=1, seed=3,
                              size=(96, 72), frames=(40, 60))
    assert len(truths) == CLASSES * 4
    return Dataset(root, truths)


@pytest.fixture(scope="module")
def built(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collection of the 9 indexed clips (closed; tests open it read-only)."""
    directory = tmp_path_factory.mktemp("built") / "collection"
    with Collection.create(directory) as coll:
        report = coll.add(data.indexed, labels=data.labels)
        assert sorted(report.added) == sorted(str(p.resolve()) for p in data.indexed)
        assert report.skipped == [] and report.failed == [] and report.replaced == []
    return directory


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def _dicts(hits: Iterable[SearchHit]) -> list[dict[str, Any]]:
    return [h.to_dict() for h in hits]


# -- searching ---------------------------------------------------------------------------------------


def test_search_ranks_the_query_class_first(data: Dataset, built: Path) -> None:
    with Collection.open(built) as coll:
        assert len(coll) == 9
        for class_name, query in data.queries.items():
            hits = coll.search(query, top=9, candidates=9)
            assert [h.rank for h in hits] == list(range(1, 10))
            draq = np.array([h.draq for h in hits])
            assert np.all(np.diff(draq) >= 0), "hits must be sorted by DRAQ ascending"
            # The two aligned clips of the query's class are the most alignable; its shuffled
            # hard negative (same appearance, wrong order) ranks below them.
            top2 = [Path(h.path) for h in hits[:2]]
            assert all(data.class_of[p] == class_name and data.kind[p] == "aligned" for p in top2), \
                f"query {class_name}: top hits {[(data.class_of[p], data.kind[p]) for p in top2]}"
            shuffled = next(h for h in hits if data.class_of[Path(h.path)] == class_name
                            and data.kind[Path(h.path)] == "shuffled")
            assert shuffled.rank > 2
            assert all(h.class_name == data.class_of[Path(h.path)] for h in hits)  # labels stored


def test_hits_match_an_independent_computation(data: Dataset, built: Path) -> None:
    query = data.queries["action01"]
    with Collection.open(built) as coll:
        hits = coll.search(query, top=4, candidates=6)
        frames = list(iter_sampled_frames(query, coll.sample_fps))
        q_feats = coll.extractor.extract(f.image for f in frames)
        q_times = np.array([f.time for f in frames])
        records = [r for r in coll.videos() if r.ok]
        means = np.stack([coll.features(r).mean(axis=0, dtype=np.float64) for r in records])
        mu, sd = standardization_stats(means.astype(np.float32))
        for h in hits:
            feats = coll.features(h.path)
            cost = draqcore.cost_matrix(draqcore.contextualize(q_feats), draqcore.contextualize(feats))
            ref = draqcore.dtw(cost)
            assert h.dtw_cost == pytest.approx(ref.cost, rel=1e-5)
            assert h.random_cost == pytest.approx(draqcore.expected_random_cost(cost), rel=1e-5)
            assert h.draq == pytest.approx(h.dtw_cost / h.random_cost, rel=1e-9)
            np.testing.assert_array_equal(h.alignment, draqcore.warp(ref.path, keep=0))
            assert h.alignment.shape == (len(q_feats),) and h.alignment.dtype == np.int64
            assert h.alignment.max() < len(feats) and np.all(np.diff(h.alignment) >= 0)
            np.testing.assert_allclose(h.query_times, q_times)
            np.testing.assert_array_equal(h.hit_times, coll.frame_times(h.path))
            assert h.hit_times.shape == (len(feats),)
            # Retrieval similarity: cosine of the standardised clip vectors.
            zq = (q_feats.mean(axis=0, dtype=np.float64).astype(np.float32) - mu) / sd
            zh = (feats.mean(axis=0, dtype=np.float64).astype(np.float32) - mu) / sd
            cos = zq @ zh / (np.linalg.norm(zq) * np.linalg.norm(zh))
            assert h.similarity == pytest.approx(cos, abs=1e-4)
            with pytest.raises(ValueError):
                h.alignment[0] = 1  # read-only
        json.dumps(_dicts(hits))


def test_reopen_gives_identical_results(data: Dataset, built: Path) -> None:
    with Collection.open(built) as coll:
        first = {c: _dicts(coll.search(q, top=5, method="sampled", k=20, seed=4)) for c, q in data.queries.items()}
    with Collection.open(built, extractor=default_extractor()) as coll:
        again = {c: _dicts(coll.search(q, top=5, method="sampled", k=20, seed=4)) for c, q in data.queries.items()}
    assert first == again


def test_query_as_feature_array(data: Dataset, built: Path) -> None:
    with Collection.open(built) as coll:
        member = data.indexed[4]
        by_path = coll.search(member, top=3)
        assert Path(by_path[0].path) == member.resolve() and by_path[0].draq == pytest.approx(0.0, abs=1e-6)
        feats = coll.features(member)
        times = coll.frame_times(member)
        by_array = coll.search(feats, top=3, query_times=times)
        assert _dicts(by_array) == _dicts(by_path)
        default_times = coll.search(feats, top=1)[0].query_times
        np.testing.assert_allclose(default_times, np.arange(len(feats)) / coll.sample_fps)


def test_top_larger_than_the_collection_returns_what_exists(data: Dataset, built: Path) -> None:
    with Collection.open(built) as coll:
        hits = coll.search(data.queries["action00"], top=50, candidates=500)
        assert len(hits) == len(coll) == 9
        assert len({h.path for h in hits}) == 9


def test_search_arguments_are_validated(data: Dataset, built: Path, tmp_path: Path) -> None:
    query = data.queries["action00"]
    with Collection.open(built) as coll:
        with pytest.raises(ValueError, match="top: must be at least 1"):
            coll.search(query, top=0)
        with pytest.raises(ValueError, match=r"candidates: must be >= top \(5\)"):
            coll.search(query, top=5, candidates=4)
        with pytest.raises(ValueError, match="method"):
            coll.search(query, method="fast")
        with pytest.raises(ValueError, match="k: must be at least 1"):
            coll.search(query, method="sampled", k=0)
        with pytest.raises(ValueError, match="band"):
            coll.search(query, band=-1)
        with pytest.raises(TypeError, match="top"):
            coll.search(query, top=2.5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=rf"query: expected frame features of shape \(T, {coll.dim}\)"):
            coll.search(np.zeros((5, coll.dim + 1), dtype=np.float32))
        with pytest.raises(ValueError, match="NaN"):
            coll.search(np.full((5, coll.dim), np.nan))
        with pytest.raises(ValueError, match="query_times: expected shape"):
            coll.search(np.ones((5, coll.dim)), query_times=np.arange(4.0))
        for times in ([0.0, 0.1, 0.1, 0.3, 0.4], [0.0, 0.2, 0.1, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1, 0.0]):
            with pytest.raises(ValueError, match="query_times: must strictly increase"):
                coll.search(np.ones((5, coll.dim)), query_times=np.array(times))
        with pytest.raises(ValueError, match="query_times: expected shape"):
            coll.search(np.ones((1, coll.dim)), query_times=np.float64(0.0))  # a 0-d scalar is not a sequence
        with pytest.raises(ValueError, match="query_times: only for"):
            coll.search(query, query_times=np.arange(4.0))
        with pytest.raises(FileNotFoundError, match="query"):
            coll.search(tmp_path / "missing.mp4")
    with Collection.create(tmp_path / "empty") as empty:
        with pytest.raises(ValueError, match="is empty"):
            empty.search(query)
    coll = Collection.open(built)
    coll.close()
    with pytest.raises(ValueError, match="closed"):
        coll.search(query)


# -- adding ------------------------------------------------------------------------------------------


def test_add_more_videos_later(data: Dataset, tmp_path: Path) -> None:
    directory = tmp_path / "coll"
    first, later = data.indexed[:5], data.indexed[5:]
    with Collection.create(directory) as coll:
        assert len(coll.add(first, labels=data.labels).added) == 5
        manifest = json.loads((directory / "index" / "ann.json").read_text())
        assert manifest["count"] == 5
        mean_before = AnnIndex.load(directory / "index").mean.copy()
    with Collection.open(directory) as coll:  # reopen, then add
        report = coll.add(later + first[:2], labels=data.labels)
        assert sorted(report.added) == sorted(str(p.resolve()) for p in later)
        assert sorted(report.skipped) == sorted(str(p.resolve()) for p in first[:2])
        assert len(coll) == 9
        index = AnnIndex.load(directory / "index")
        assert index.count == 9 and not np.allclose(index.mean, mean_before)  # statistics rebuilt
        hits = coll.search(data.queries["action02"], top=9)
        assert {Path(h.path) for h in hits} == {p.resolve() for p in data.indexed}
    with Collection.create(tmp_path / "all-at-once") as reference:
        reference.add(first + later, labels=data.labels)
        want = reference.search(data.queries["action02"], top=9)
    with Collection.open(directory) as coll:
        got = coll.search(data.queries["action02"], top=9)
    # Added in two steps or at once: the same scores.
    assert [(h.path, h.draq) for h in got] == [(h.path, h.draq) for h in want]


def test_unchanged_files_are_skipped_and_changed_files_reindexed(data: Dataset, tmp_path: Path) -> None:
    clip = _copy(data.indexed[0], tmp_path / "in" / "clip.mp4")
    with Collection.create(tmp_path / "coll") as coll:
        assert coll.add([clip]).added == [str(clip.resolve())]
        before = coll.features(clip)
        old_id = coll.videos()[0].id
        report = coll.add([clip, str(clip)], labels={clip: "relabelled"})
        assert report.added == [] and report.skipped == [str(clip.resolve())] * 2
        assert coll.videos()[0].class_name == "relabelled"  # a label update needs no re-indexing
        _copy(data.indexed[6], clip)  # same path, other content
        report = coll.add([clip])
        assert report.added == [str(clip.resolve())] and report.replaced == [str(clip.resolve())]
        (record,) = coll.videos()
        assert record.id != old_id and record.class_name == "relabelled"
        after = coll.features(clip)
        assert after.shape != before.shape or not np.array_equal(after, before)
        np.testing.assert_array_equal(after, coll.features(record.id))
        assert len(coll) == 1 and AnnIndex.load(tmp_path / "coll" / "index").ids.tolist() == [record.id]


def test_corrupt_and_missing_files_are_recorded_as_failed(data: Dataset, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    garbage = tmp_path / "in" / "garbage.mp4"
    garbage.parent.mkdir()
    garbage.write_bytes(rng.bytes(20_000))
    truncated = tmp_path / "in" / "truncated.mp4"
    truncated.write_bytes(data.indexed[0].read_bytes()[:600])
    missing = tmp_path / "in" / "missing.mp4"
    good = data.indexed[1]
    with Collection.create(tmp_path / "coll") as coll:
        report = coll.add([garbage, good, truncated, missing])
        assert report.added == [str(good.resolve())]
        failed = dict(report.failed)
        assert set(failed) == {str(garbage), str(truncated), str(missing)}
        assert "garbage.mp4" in failed[str(garbage)]
        assert "truncated.mp4" in failed[str(truncated)]
        assert "cannot read file" in failed[str(missing)]
        assert len(coll) == 1
        statuses = {Path(r.path).name: (r.status, r.reason) for r in coll.videos()}
        assert statuses["garbage.mp4"] == ("failed", failed[str(garbage)])
        assert statuses["missing.mp4"][0] == "failed" and statuses["garbage.mp4"][1]
        with pytest.raises(ValueError, match="failed to index"):
            coll.features(garbage)
        with pytest.raises(KeyError):
            coll.features(tmp_path / "never-added.mp4")
        # A failed file that was fixed is indexed on the next add.
        _copy(data.indexed[2], garbage)
        report = coll.add([garbage])
        assert report.added == [str(garbage)] and report.replaced == [str(garbage)]
        assert len(coll) == 2
    assert "2 added" not in str(AddReport()) and isinstance(report.to_dict()["failed"], list)


# -- identity, layout and recovery --------------------------------------------------------------------


class MeanColour:
    """A tiny extractor: the mean BGR colour of each frame (d = 3)."""

    name = "test-mean-colour"
    params: dict[str, Any] = {}
    dim = 3

    def identity(self) -> dict[str, Any]:
        return make_identity(self.name, self.params, "1", self.dim)

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        rows = [f.reshape(-1, 3).mean(axis=0) for f in frames]
        if not rows:
            raise ValueError("no frames")
        return np.asarray(rows, dtype=np.float32)


def test_extractor_mismatch_is_refused(data: Dataset, built: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refusing extractor") as info:
        Collection.open(built, extractor=MeanColour())  # type: ignore[arg-type]
    assert "test-mean-colour" in str(info.value) and default_extractor().name in str(info.value)
    with pytest.raises(ValueError, match="refusing extractor"):
        Collection.create(built, exist_ok=True, extractor=MeanColour())  # type: ignore[arg-type]
    with Collection.create(tmp_path / "custom", extractor=MeanColour()) as coll:  # type: ignore[arg-type]
        coll.add(data.indexed[:3])
        assert coll.dim == 3 and coll.features(data.indexed[0]).shape[1] == 3
        assert coll.search(data.queries["action00"], top=2)[0].path in {str(p.resolve()) for p in data.indexed[:3]}
    with pytest.raises(ValueError, match="pass extractor="):
        Collection.open(tmp_path / "custom")  # not a built-in: cannot be rebuilt from the identity
    with Collection.open(tmp_path / "custom", extractor=MeanColour()) as coll:  # type: ignore[arg-type]
        assert len(coll) == 3


def test_create_and_open_errors(built: Path, tmp_path: Path) -> None:
    with pytest.raises(FileExistsError, match="exist_ok"):
        Collection.create(built)
    with Collection.create(built, exist_ok=True) as coll:
        assert len(coll) == 9
    with pytest.raises(ValueError, match="fps"):
        Collection.create(built, exist_ok=True, sample_fps=3.0)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("hello")
    with pytest.raises(FileExistsError, match="not empty"):
        Collection.create(tmp_path / "busy")
    with pytest.raises(FileNotFoundError, match="not a draqcore collection"):
        Collection.open(tmp_path / "busy")
    with pytest.raises(ValueError, match="sample_fps"):
        Collection.create(tmp_path / "c", sample_fps=0)
    with Collection.create(tmp_path / "fps", sample_fps=4) as coll:
        assert coll.sample_fps == 4.0
    with Collection.open(tmp_path / "fps") as coll:
        assert coll.sample_fps == 4.0 and len(coll) == 0 and coll.videos() == []


def test_on_disk_layout(built: Path) -> None:
    names = sorted(p.name for p in built.iterdir())
    assert names == [".lock", "catalog.sqlite", "features", "index"]  # .lock: the writer lock
    manifest = json.loads((built / "index" / "ann.json").read_text())
    assert sorted(p.name for p in (built / "index" / manifest["directory"]).iterdir()) == sorted(manifest["files"])
    with Collection.open(built) as coll:
        rows = sum(r.num_frames for r in coll.videos() if r.ok)
        assert (built / "features/000000.f32").stat().st_size == rows * coll.dim * 4
        for r in coll.videos():
            assert Path(r.path).is_absolute() and len(r.sha256 or "") == 64
            assert r.sample_fps == coll.sample_fps and r.native_fps and r.duration
            assert r.num_frames == len(coll.frame_times(r)) == len(coll.frame_indices(r))
        feats = coll.features(coll.videos()[0])
        feats[:] = 0  # a copy: the store is unaffected
        assert np.any(coll.features(coll.videos()[0]) != 0)


def test_a_stale_index_is_rebuilt_from_the_catalog(data: Dataset, tmp_path: Path) -> None:
    directory = tmp_path / "coll"
    with Collection.create(directory) as coll:
        coll.add(data.indexed[:4])
    saved = tmp_path / "old-index"
    shutil.copytree(directory / "index", saved)
    with Collection.open(directory) as coll:
        coll.add(data.indexed[4:6])
        want = _dicts(coll.search(data.queries["action01"], top=6))
    # As after a crash between committing catalog rows and saving the index: an older index.
    shutil.rmtree(directory / "index")
    shutil.copytree(saved, directory / "index")
    with Collection.open(directory) as coll:  # a reader builds the index in memory, saves nothing
        got = _dicts(coll.search(data.queries["action01"], top=6))
    assert AnnIndex.load(directory / "index").count == 4
    assert [(h["path"], h["draq"]) for h in got] == [(h["path"], h["draq"]) for h in want]
    with Collection.open(directory, write=True) as coll:  # a writer rebuilds and saves it
        got = _dicts(coll.search(data.queries["action01"], top=6))
    assert AnnIndex.load(directory / "index").count == 6
    assert [(h["path"], h["draq"]) for h in got] == [(h["path"], h["draq"]) for h in want]
    # A missing index is rebuilt too.
    shutil.rmtree(directory / "index")
    with Collection.open(directory) as coll:
        assert [(h["path"], h["draq"]) for h in _dicts(coll.search(data.queries["action01"], top=6))] == \
            [(h["path"], h["draq"]) for h in want]
    assert not (directory / "index").exists()
    with Collection.open(directory) as coll:
        coll.add([])  # the first write takes the lock and saves the missing index
        assert coll.writer
    assert AnnIndex.load(directory / "index").count == 6


def test_a_tampered_index_is_refused_with_a_remedy(data: Dataset, tmp_path: Path) -> None:
    directory = tmp_path / "coll"
    with Collection.create(directory) as coll:
        coll.add(data.indexed[:3])
    manifest = directory / "index" / "ann.json"
    meta = json.loads(manifest.read_text())
    meta["dim"] = meta["dim"] + 1
    manifest.write_text(json.dumps(meta))
    with Collection.open(directory) as coll:  # opening reads no index: the first search does
        with pytest.raises(ValueError, match="delete .*index and reopen") as info:
            coll.search(data.queries["action00"], top=3)
    assert "ann.json" in str(info.value)
    shutil.rmtree(directory / "index")
    with Collection.open(directory) as coll:
        assert len(coll.search(data.queries["action00"], top=3)) == 3


def test_orphan_feature_rows_are_ignored_and_overwritten(data: Dataset, tmp_path: Path) -> None:
    directory = tmp_path / "coll"
    with Collection.create(directory) as coll:
        coll.add(data.indexed[:2])
        dim = coll.dim
    size = (directory / "features/000000.f32").stat().st_size
    with open(directory / "features/000000.f32", "ab") as fh:  # a crash after appending, before the commit
        fh.write(np.ones((7, dim), dtype="<f4").tobytes() + b"\x00\x01")
    with Collection.open(directory) as coll:
        hits = coll.search(data.indexed[0], top=2)
        assert Path(hits[0].path) == data.indexed[0].resolve()
        coll.add(data.indexed[2:3])
        rows = sum(r.num_frames for r in coll.videos())
    assert (directory / "features/000000.f32").stat().st_size == rows * dim * 4 > size
    with Collection.open(directory) as coll:
        np.testing.assert_array_equal(coll.features(data.indexed[2]),
                                      np.fromfile(directory / "features/000000.f32", dtype="<f4").reshape(-1, dim)[-len(coll.frame_times(data.indexed[2])):])

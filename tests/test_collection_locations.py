"""Searches of a large collection read no catalog row for their candidates: where each clip's
features are comes from the clip index's row data and "still ok" from the removal log; the
returned hits' rows are read and checked against both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from draqcore import Collection
from draqcore.collection import maintenance
from draqcore.features import Precomputed
from draqcore.store.ann_index import AnnIndex
from draqcore.store.catalog import Catalog
from draqcore.store.integrity import check_collection

D = 16


def _clips(rng: np.random.Generator, n: int, classes: int = 6) -> list[tuple[str, np.ndarray]]:
    protos = [np.cumsum(np.random.default_rng(200 + c).normal(size=(40, D)), axis=0) for c in range(classes)]
    out = []
    for i in range(n):
        t = int(rng.integers(24, 36))
        idx = np.sort(rng.choice(40, size=t, replace=False))
        out.append((f"clip{i:04d}", protos[i % classes][idx] + 0.3 * rng.normal(size=(t, D))))
    return out


@pytest.fixture()
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Collections of more than 20 clips are searched through the graph (as at a million)."""
    monkeypatch.setattr(maintenance, "REBUILD_MAX", 20)
    monkeypatch.setattr(maintenance, "TAIL_MAX", 10)


class _RowReads:
    """Records the ids of every Catalog.get_many call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[int]] = []
        real = Catalog.get_many

        def spy(cat: Catalog, ids):  # type: ignore[no-untyped-def]
            self.calls.append([int(v) for v in ids])
            return real(cat, ids)

        monkeypatch.setattr(Catalog, "get_many", spy)


def _create(path: Path) -> Collection:
    return Collection.create(path, extractor=Precomputed(dim=D, name="t"), sample_fps=2.0)


def _made(path: Path, clips: list[tuple[str, np.ndarray]]) -> Path:
    with _create(path) as coll:
        coll.add_features_batch(clips)
    return path


def _hits(coll: Collection, q: np.ndarray, **kw) -> list[tuple]:
    return [(h.path, h.video_id, round(h.draq, 9), h.start, h.end, h.alignment.tolist()) for h in coll.search(q, **kw)]


def test_candidates_are_read_without_their_catalog_rows_and_results_are_unchanged(
        tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, large: None) -> None:
    clips = _clips(rng, 64)
    path = tmp_path / "c"
    with _create(path) as coll:
        coll.add_features_batch(clips[:60])  # 60 in the graph (+ 4 pending below)
        coll.add_features_batch(clips[60:])
    index = AnnIndex.load(path / "index")
    assert index.count == 60 and index.row_data is not None
    queries = [clips[i][1] + 0.1 * rng.normal(size=clips[i][1].shape) for i in (3, 17, 41, 62)]
    reads = _RowReads(monkeypatch)
    with Collection.open(path) as reader:
        got = [_hits(reader, q, top=5, candidates=30) for q in queries]
    # Only the returned hits' rows were read (5 per search), never the 30 candidates'.
    assert reads.calls and all(len(c) <= 5 for c in reads.calls)
    for q, hits, i in zip(queries, got, (3, 17, 41, 62)):
        assert hits[0][0] == clips[i][0]
    # The same collection with an index saved without row data (as before they existed): every
    # candidate's row is read, and the results are the same.
    AnnIndex.build(index.ids, index.clip_means, index.params, threads=1).save(path / "index")
    reads.calls.clear()
    with Collection.open(path) as reader:
        assert [_hits(reader, q, top=5, candidates=30) for q in queries] == got
    assert any(len(c) >= 30 for c in reads.calls)
    assert check_collection(path).ok


def test_removed_and_replaced_graph_clips_are_never_returned(tmp_path: Path, rng: np.random.Generator,
                                                            large: None) -> None:
    clips = _clips(rng, 40)
    path = tmp_path / "c"
    with _create(path) as coll:
        coll.add_features_batch(clips)
        reader = Collection.open(path)  # another handle, loaded before the changes
        assert reader.search(clips[5][1], top=1, candidates=10)[0].path == clips[5][0]
        coll.remove([clips[5][0]])  # stays in the graph, logged as removed
        coll.add_features(clips[11][0], clips[12][1])  # replaced: the old id logged, a new one pending
        for c in (coll, reader):
            paths = [h.path for h in c.search(clips[5][1], top=39, candidates=39)]
            assert clips[5][0] not in paths
            hits = c.search(clips[12][1], top=39, candidates=39)
            names = [h.path for h in hits]
            assert names.count(clips[11][0]) == 1
            np.testing.assert_array_equal(c.features(clips[11][0]), clips[12][1].astype(np.float32))
        reader.close()
    assert check_collection(path).ok


def test_a_modified_location_or_an_incomplete_removal_log_is_refused(tmp_path: Path, rng: np.random.Generator,
                                                                     large: None) -> None:
    clips = _clips(rng, 40)
    path = _made(tmp_path / "c", clips)
    # Without its trigger the log is not trusted: searches check rows as before it existed.
    db = sqlite3.connect(path / "catalog.sqlite")
    victim = db.execute("SELECT id FROM videos WHERE path = ?", (clips[7][0],)).fetchone()[0]
    db.executescript(f"DROP TRIGGER videos_removal_log; DELETE FROM videos WHERE id = {victim};")
    with Collection.open(path) as reader:
        assert clips[7][0] not in [h.path for h in reader.search(clips[7][1], top=10, candidates=10)]
    assert any("removal log is damaged" in p for p in check_collection(path).problems)
    # The trigger back, the deletion unlogged: the search that would return the clip refuses.
    db.execute("CREATE TRIGGER videos_removal_log AFTER DELETE ON videos BEGIN "
               "INSERT OR IGNORE INTO removed_ids(id) VALUES (old.id); END")
    db.commit()
    db.close()
    with Collection.open(path) as reader:
        with pytest.raises(ValueError, match="removal log is incomplete"):
            reader.search(clips[7][1], top=3, candidates=10)
    assert any("lacks the deleted video ids" in p for p in check_collection(path).problems)
    # A location pointing at another clip's rows (with that clip's checksum): refused by the
    # search (the features no longer give the stored clip vector) and by draq check.
    path2 = _made(tmp_path / "d", clips)
    index = AnnIndex.load(path2 / "index")
    rows = index.row_data.copy()
    a, b = int(index.rows_of([3])[0]), int(index.rows_of([4])[0])
    rows[[a, b]] = rows[[b, a]]
    AnnIndex.build(index.ids, index.clip_means, index.params, threads=1, row_data=rows).save(path2 / "index")
    with Collection.open(path2) as reader:
        with pytest.raises(ValueError, match="was modified"):
            reader.search(clips[2][1], top=3, candidates=10)
    report = check_collection(path2)
    assert any("feature locations it keeps for videos" in p for p in report.problems)

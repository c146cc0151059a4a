"""Collections of precomputed features: add_features(_batch), shards, float16, checksums, the
incremental index and ``draq index --features``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import draqcore
from draqcore import Collection
from draqcore.cli import main
from draqcore.collection import maintenance
from draqcore.features import Precomputed, extractor_from_identity
from draqcore.store.ann_index import AnnIndex, standardization_stats
from draqcore.store.integrity import check_collection

D = 16


def _clips(rng: np.random.Generator, n: int, start: int = 0, classes: int = 5) -> list[tuple[str, np.ndarray]]:
    """Clustered clips: each class has a prototype sequence, clips are noisy, re-timed copies."""
    protos = [np.cumsum(np.random.default_rng(100 + c).normal(size=(40, D)), axis=0) for c in range(classes)]
    out = []
    for i in range(start, start + n):
        c = i % classes
        t = int(rng.integers(24, 36))  # within 1.5x of each other: end-to-end DRAQ, not segment matching
        idx = np.sort(rng.choice(40, size=t, replace=False))
        out.append((f"clip{i:05d}", protos[c][idx] + 0.3 * rng.normal(size=(t, D))))
    return out


def _create(path: Path, **kw) -> Collection:
    return Collection.create(path, extractor=Precomputed(dim=D, name="test-backbone"), sample_fps=2.0, **kw)


def test_precomputed_identity_round_trips_and_refuses_frames() -> None:
    ext = Precomputed(dim=512, name="nms-r50")
    assert ext.identity()["name"] == "precomputed" and ext.identity()["dim"] == 512
    again = extractor_from_identity(ext.identity())
    assert isinstance(again, Precomputed) and again.features_name == "nms-r50" and again.dim == 512
    with pytest.raises(ValueError, match="computed outside draqcore"):
        ext.extract([np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="name"):
        Precomputed(dim=3, name="")
    with pytest.raises(TypeError):
        Precomputed(dim=3.0, name="x")  # type: ignore[arg-type]


def test_add_features_search_and_read_back(tmp_path: Path, rng: np.random.Generator) -> None:
    clips = _clips(rng, 40)
    with _create(tmp_path / "c") as coll:
        given = [(n, f.astype(np.float64)) for n, f in clips]
        copies = [f.copy() for _, f in given]
        report = coll.add_features_batch(given)
        assert report.added == [n for n, _ in clips] and not report.skipped
        for (_, f), c in zip(given, copies):
            np.testing.assert_array_equal(f, c)  # caller arrays untouched
        times = np.linspace(0.0, 3.0, 20)
        coll.add_features("timed", clips[0][1][:20].T.copy().T, times=times, label="walk")  # non-contiguous input
        np.testing.assert_array_equal(coll.frame_times("timed"), times)
        np.testing.assert_allclose(coll.frame_times(clips[1][0]), np.arange(len(clips[1][1])) / 2.0)
        np.testing.assert_array_equal(coll.features(clips[3][0]), clips[3][1].astype(np.float32))
        hits = coll.search(clips[7][1], top=5, candidates=20)
        assert hits[0].path == clips[7][0] and hits[0].draq == pytest.approx(0.0, abs=1e-6)
        # Retrieval finds the clip's own class first (clusters of 5 classes).
        assert {int(h.path[4:]) % 5 for h in hits[:3]} == {7 % 5}
        assert [h.path for h in coll.search(clips[7][0], top=5, candidates=20)] == [h.path for h in hits]
    # Another backbone's features are refused.
    with pytest.raises(ValueError, match="refusing extractor"):
        Collection.open(tmp_path / "c", extractor=Precomputed(dim=D, name="other-backbone"))
    with Collection.open(tmp_path / "c") as coll:  # identity rebuilt from the catalog
        assert isinstance(coll.extractor, Precomputed) and len(coll) == 41
        with pytest.raises(ValueError, match="names no clip"):
            coll.search("no-such-clip")
        # A query .npy file is read header first: a forged header is refused before allocating.
        np.save(tmp_path / "q.npy", np.asfortranarray(clips[7][1]))  # stored in Fortran order
        assert [h.path for h in coll.search(tmp_path / "q.npy", top=1, candidates=20)] == [clips[7][0]]
        import struct
        header = ("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, %d), }" % D).ljust(118) + "\n"
        (tmp_path / "forged.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        with pytest.raises(ValueError, match=r"query: .*forged.npy: declares a float32 array of shape \(100000000000, 16\)"):
            coll.search(tmp_path / "forged.npy")
        with pytest.raises(FileNotFoundError, match="query: no such file"):
            coll.search(tmp_path / "missing.npy")


def test_batches_are_idempotent_resumable_and_replace_changed_clips(tmp_path: Path, rng: np.random.Generator) -> None:
    clips = _clips(rng, 30)
    bad = clips[:20] + [("broken", np.full((5, D), np.nan))] + clips[20:]
    with _create(tmp_path / "c") as coll:
        with pytest.raises(ValueError, match=r"clips\[20\] \('broken'\).*NaN"):
            coll.add_features_batch(iter(bad))
        assert len(coll) == 20  # everything before the bad clip is committed
    with Collection.open(tmp_path / "c") as coll:
        report = coll.add_features_batch(clips)  # the rerun resumes
        assert report.skipped == [n for n, _ in clips[:20]] and report.added == [n for n, _ in clips[20:]]
        changed = clips[4][1] + 1.0
        report = coll.add_features_batch([(clips[4][0], changed, None, "jump"), clips[5]])
        assert report.added == report.replaced == [clips[4][0]] and report.skipped == [clips[5][0]]
        np.testing.assert_allclose(coll.features(clips[4][0]), changed.astype(np.float32))
        assert {r.path: r.class_name for r in coll.videos()}[clips[4][0]] == "jump"
        assert len(coll) == 30
        with pytest.raises(ValueError, match=r"expected shape \(T, 16\)"):
            coll.add_features("x", np.zeros((3, D + 1)))
        with pytest.raises(TypeError, match="clips\\[0\\]"):
            coll.add_features_batch([("only-a-name",)])
    assert check_collection(tmp_path / "c").ok


def test_float16_shards_straddling_videos_and_disk(tmp_path: Path, rng: np.random.Generator) -> None:
    clips = _clips(rng, 25)
    rows = sum(len(f) for _, f in clips)
    with _create(tmp_path / "h", feature_dtype="float16", shard_bytes=300 * D * 2) as coll:
        coll.add_features_batch(clips)
        for name, f in clips:  # several videos straddle two shards of 300 rows
            np.testing.assert_array_equal(coll.features(name), f.astype(np.float16).astype(np.float32))
        with pytest.raises(ValueError, match="too large for float16"):
            coll.add_features("huge", np.full((3, D), 1e6))
    shards = sorted((tmp_path / "h" / "features").iterdir())
    assert [s.name for s in shards] == [f"{k:06d}.f16" for k in range(len(shards))] and len(shards) == -(-rows // 300)
    assert sum(s.stat().st_size for s in shards) == rows * D * 2
    assert check_collection(tmp_path / "h").ok


def test_any_change_of_stored_features_is_detected(tmp_path: Path, rng: np.random.Generator) -> None:
    clips = _clips(rng, 12)
    with _create(tmp_path / "c") as coll:
        coll.add_features_batch(clips)
        rec = {r.path: r for r in coll.videos()}[clips[3][0]]
    shard = tmp_path / "c" / "features" / "000000.f32"
    pristine = shard.read_bytes()

    def damaged(change) -> None:
        data = np.frombuffer(pristine, dtype="<f4").reshape(-1, D).copy()
        change(data[rec.row_offset : rec.row_offset + rec.num_frames])
        shard.write_bytes(data.tobytes())
        report = check_collection(tmp_path / "c")
        assert not report.ok and any("recorded checksum" in p and clips[3][0] in p for p in report.problems)
        with Collection.open(tmp_path / "c") as coll, pytest.raises(ValueError, match="recorded checksum"):
            coll.features(clips[3][0])
        with Collection.open(tmp_path / "c") as coll, pytest.raises(ValueError, match="recorded checksum"):
            coll.search(clips[3][1], top=12, candidates=12)

    damaged(lambda v: v.__setitem__(slice(None), v[::-1].copy()))  # same clip mean, frames reversed
    damaged(lambda v: v.__setitem__((0, 0), v[0, 0] + 1e-3))
    shard.write_bytes(pristine)
    assert check_collection(tmp_path / "c").ok


def test_a_shard_cut_under_a_live_reader_is_an_error_not_a_signal(tmp_path: Path, rng: np.random.Generator) -> None:
    clips = _clips(rng, 10)
    with _create(tmp_path / "c") as coll:
        coll.add_features_batch(clips)
    shard = tmp_path / "c" / "features" / "000000.f32"
    with Collection.open(tmp_path / "c") as reader:
        reader.search(clips[0][1], top=10, candidates=10)
        os.truncate(shard, shard.stat().st_size // 3)
        with pytest.raises(ValueError, match="000000.f32: holds fewer rows|cut short"):
            reader.search(clips[0][1], top=10, candidates=10)
        with pytest.raises(ValueError, match="000000.f32"):
            reader.features(clips[-1][0])


def test_the_index_grows_incrementally_with_frozen_statistics(tmp_path: Path, rng: np.random.Generator,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maintenance, "REBUILD_MAX", 30)
    monkeypatch.setattr(maintenance, "TAIL_MAX", 10)
    clips = _clips(rng, 70)
    path = tmp_path / "c"
    with _create(path) as coll:
        coll.add_features_batch(clips[:25])  # small: rebuilt with fresh statistics
        first = AnnIndex.load(path / "index")
        assert first.count == 25
        coll.add_features_batch(clips[25:40])  # 40 > REBUILD_MAX: the first graph beyond it
        built = AnnIndex.load(path / "index")
        assert built.count == 40
        mean40, scale40 = built.mean.copy(), built.scale.copy()
        coll.add_features_batch(clips[40:45])  # 5 pending < TAIL_MAX: searched exhaustively
        assert AnnIndex.load(path / "index").count == 40
        hits = coll.search(clips[43][1], top=3, candidates=10)
        assert hits[0].path == clips[43][0]
        coll.add_features_batch(clips[45:70])  # 30 pending >= TAIL_MAX: inserted, statistics frozen
        grown = AnnIndex.load(path / "index")
        assert grown.count == 70
        np.testing.assert_array_equal(grown.mean, mean40)
        np.testing.assert_array_equal(grown.scale, scale40)
        for name, f in clips[::7]:
            assert coll.search(f, top=1, candidates=10)[0].path == name
        coll.rebuild_index()  # draq reindex: fresh statistics of all 70
        fresh = AnnIndex.load(path / "index")
        means = np.stack([f.astype(np.float32).mean(axis=0) for _, f in clips])
        want_mean, want_scale = standardization_stats(means)
        np.testing.assert_allclose(fresh.mean, want_mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fresh.scale, want_scale, rtol=1e-5)
        # A replaced clip stays in the graph until a rebuild but is never returned twice or stale.
        coll.add_features(clips[0][0], clips[1][1])
        paths = [h.path for h in coll.search(clips[1][1], top=5, candidates=10)]
        assert len(paths) == len(set(paths)) and clips[0][0] in paths[:2]
    assert check_collection(path).ok


def test_searches_see_every_change_of_the_pending_tail(tmp_path: Path, rng: np.random.Generator,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The pending tail (clips above the graph's largest id) is kept between searches while the
    # catalog's count and largest id of those rows stay the same; every add, removal and
    # replacement must still show in the very next search, also one made by another process's
    # handle (a reader that did not write).
    monkeypatch.setattr(maintenance, "REBUILD_MAX", 20)
    monkeypatch.setattr(maintenance, "TAIL_MAX", 1000)
    clips = _clips(rng, 40)
    path = tmp_path / "c"
    with _create(path) as coll:
        coll.add_features_batch(clips[:25])  # a graph of 25
        coll.add_features_batch(clips[25:30])  # 5 pending
        reader = Collection.open(path)
        for c in (coll, reader):
            assert c.search(clips[27][1], top=1, candidates=10)[0].path == clips[27][0]
        calls = []
        real = coll._cat.clip_means
        def spy(*a, **k):  # the tail read is clip_means(after); single candidates pass (id - 1, id)
            if len(a) == 1 and not k:
                calls.append(a)
            return real(*a, **k)

        monkeypatch.setattr(coll._cat, "clip_means", spy)
        coll.search(clips[28][1], top=1, candidates=10)
        assert calls == []  # unchanged tail: not read again
        coll.add_features(clips[30][0], clips[30][1])  # added to the tail
        for c in (coll, reader):
            assert c.search(clips[30][1], top=1, candidates=10)[0].path == clips[30][0]
        assert calls  # the changed tail was read again
        coll.remove([clips[30][0]])  # removed from the tail (rebuilds: the tail may be empty now)
        coll.add_features_batch(clips[31:34])
        coll.remove([clips[32][0]])  # removed from a pending tail
        for c in (coll, reader):
            assert clips[32][0] not in [h.path for h in c.search(clips[32][1], top=40, candidates=40)]
        coll.add_features(clips[33][0], clips[35][1])  # replaced: a new id, the old row gone
        for c in (coll, reader):
            hits = [h.path for h in c.search(clips[35][1], top=40, candidates=40)]
            assert hits.count(clips[33][0]) == 1 and hits[0] == clips[33][0]
        reader.close()


def test_draq_index_features_cli(tmp_path: Path, rng: np.random.Generator, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "feats"
    folder.mkdir()
    clips = _clips(rng, 12)
    for name, f in clips:
        np.save(folder / f"{name}.npy", f.astype(np.float32))
    times = np.linspace(0, 5, len(clips[2][1]))
    np.save(folder / f"{clips[2][0]}.times.npy", times)
    coll = tmp_path / "coll"
    assert main(["index", "--features", str(folder), "--collection", str(coll), "--quiet"]) == 1
    assert "--features-name" in capsys.readouterr().err
    args = ["index", "--features", str(folder), "--collection", str(coll), "--quiet", "--features-name", "r50"]
    assert main(args + ["--feature-dtype", "float16"]) == 0
    assert "indexed 12 new" in capsys.readouterr().out
    assert main(args) == 0
    assert "skipped 12 unchanged" in capsys.readouterr().out
    assert main(["index", "--features", str(folder), "--collection", str(coll), "--features-name", "vit"]) == 1
    assert "not --features-name 'vit'" in capsys.readouterr().err
    with Collection.open(coll) as c:
        np.testing.assert_array_equal(c.frame_times(clips[2][0]), times)
        assert c.extractor.features_name == "r50" and len(c) == 12
    assert main(["search", str(folder / f"{clips[5][0]}.npy"), "--collection", str(coll), "--top", "2"]) == 0
    assert clips[5][0] in capsys.readouterr().out.splitlines()[2]
    assert main(["search", "--batch", str(folder), "--collection", str(coll), "--top", "1", "--json"]) == 0
    import json

    batch = json.loads(capsys.readouterr().out)
    assert batch["collection"] == str(coll.resolve()) and batch["sample_fps"] > 0
    assert [b["hits"][0]["path"] for b in batch["queries"]] == [n for n, _ in clips]
    assert main(["reindex", str(coll)]) == 0 and "rebuilt the index of 12 clips" in capsys.readouterr().out
    assert main(["check", str(coll)]) == 0


def test_unchanged_videos_are_not_rehashed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from draqcore.collection import ingest

    pytest.importorskip("cv2")
    video = tmp_path / "v.mp4"
    _write_tiny_video(video)
    calls = []
    real = ingest._content_hash
    monkeypatch.setattr(ingest, "_content_hash", lambda p: calls.append(p) or real(p))
    with Collection.create(tmp_path / "c") as coll:
        assert coll.add([video]).added and len(calls) == 1
        assert coll.add([video]).skipped and len(calls) == 1  # size, mtime, inode unchanged: not read
        os.utime(video, ns=(1_000_000_000, 1_000_000_000))
        assert coll.add([video]).skipped and len(calls) == 2  # re-hashed, same content: skipped


def _write_tiny_video(path: Path) -> None:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for i in range(20):
        frame = np.full((48, 64, 3), (i * 12) % 255, np.uint8)
        frame[10:20, i : i + 10] = 255
        w.write(frame)
    w.release()


def test_public_names() -> None:
    assert draqcore.Collection is Collection
    assert hasattr(Collection, "add_features") and hasattr(Collection, "add_features_batch")


def test_a_schema_1_collection_is_upgraded_by_its_first_writer(tmp_path: Path, rng: np.random.Generator) -> None:
    import sqlite3

    clips = _clips(rng, 8)
    path = tmp_path / "old"
    with _create(path) as coll:
        coll.add_features_batch(clips[:6])
    # Make it look like a collection of the previous draqcore: one features.f32, schema 1.
    (path / "features" / "000000.f32").rename(path / "features.f32")
    (path / "features").rmdir()
    db = sqlite3.connect(path / "catalog.sqlite")
    db.executescript(
        "DROP INDEX videos_status; ALTER TABLE videos DROP COLUMN features_digest; "
        "ALTER TABLE videos DROP COLUMN clip_mean; ALTER TABLE videos DROP COLUMN file_stat; "
        "DELETE FROM meta WHERE key IN ('feature_dtype', 'shard_rows'); "
        "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
    )
    db.close()
    old = AnnIndex.load(path / "index")  # and its index as that draqcore saved it: without row data
    AnnIndex.build(old.ids, old.clip_means, old.params).save(path / "index")
    with pytest.raises(ValueError, match="open it once for writing"):
        Collection.open(path)
    with Collection.open(path, write=True) as coll:  # upgrades the catalog in place
        assert coll.search(clips[2][1], top=1, candidates=6)[0].path == clips[2][0]
        coll.add_features_batch(clips[6:])  # appended to the old single file
        np.testing.assert_array_equal(coll.features(clips[7][0]), clips[7][1].astype(np.float32))
    assert (path / "features.f32").is_file() and not (path / "features").exists()
    with Collection.open(path) as coll:
        assert len(coll) == 8 and coll.search(clips[7][1], top=1, candidates=8)[0].path == clips[7][0]
    assert check_collection(path).ok


def test_index_of_real_features_with_near_constant_dimensions_opens(tmp_path: Path, footage) -> None:
    """Real footage features: three clips of one short video, so many dimensions barely vary
    between the clip means (spread down to ~1e-6). The index's load-time vector check once
    recomputed the standardisation in float32 and refused this valid index as 'modified'."""
    from draqcore.features import default_extractor
    from draqcore.video import read_sampled

    frames = read_sampled(footage("carphone"), sample_fps=None).frames
    f = default_extractor().extract(frames[::3])
    coll = Collection.create(tmp_path / "c", extractor=Precomputed(dim=f.shape[1], name="opencv-default"), sample_fps=10.0)
    coll.add_features_batch([("whole", f), ("start", f[:20]), ("end", f[-20:])])
    coll.close()
    with Collection.open(tmp_path / "c") as reopened:
        hits = reopened.search(f[5:30], top=3)
    assert hits[0].path == "whole" and check_collection(tmp_path / "c").ok

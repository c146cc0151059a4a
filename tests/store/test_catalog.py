"""Catalog (SQLite) round trips, replacement semantics and damaged-meta errors."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from draqcore.store.catalog import SCHEMA_VERSION, Catalog

IDENTITY = {"name": "test-features", "params": {"bins": [4, 8]}, "version": "1", "dim": 6}


def _new(tmp_path: Path) -> Catalog:
    return Catalog.create(tmp_path / "catalog.sqlite", extractor_identity=IDENTITY, feature_dim=6, sample_fps=2.5)


def _add(cat: Catalog, path: str, offset: int, t: int, rng: np.random.Generator, **kw: object):
    times = np.sort(rng.uniform(0, 10, size=t))
    idx = np.arange(t, dtype=np.int64) * 3 + 1
    rec = cat.add_ok(path, sha256=kw.get("sha256", "ab" * 32), class_name=kw.get("class_name"),  # type: ignore[arg-type]
                     native_fps=30.0, duration=t / 2.5, sample_fps=2.5, row_offset=offset,
                     frame_times=times, frame_indices=idx)
    return rec, times, idx


def test_meta_round_trip_and_reopen(tmp_path: Path) -> None:
    with _new(tmp_path) as cat:
        assert cat.extractor_identity == IDENTITY
        assert cat.feature_dim == 6
        assert cat.sample_fps == 2.5
        assert cat.schema_version == SCHEMA_VERSION
        created = cat.created
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:
        assert cat.extractor_identity == IDENTITY
        assert cat.created == created
        assert cat.count() == 0 and cat.rows_end() == 0 and cat.ok_ids().shape == (0,)


def test_rows_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    with _new(tmp_path) as cat:
        a, times_a, idx_a = _add(cat, "/videos/a.mp4", 0, 7, rng, class_name="jump")
        b, times_b, idx_b = _add(cat, "/videos/b.mp4", 7, 4, rng)
        f = cat.add_failed("/videos/c.mp4", sha256=None, reason="cannot decode", class_name="jump", sample_fps=2.5)
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:
        assert [r.path for r in cat.records()] == ["/videos/a.mp4", "/videos/b.mp4", "/videos/c.mp4"]
        assert cat.records("ok") == [a, b]
        assert cat.records("failed") == [f]
        assert cat.count("ok") == 2 and cat.count("failed") == 1 and cat.count(None) == 3
        assert cat.rows_end() == 11
        assert list(cat.ok_ids()) == [a.id, b.id]
        got = cat.find("/videos/a.mp4")
        assert got == a and got.class_name == "jump" and got.num_frames == 7 and got.row_offset == 0
        assert got.native_fps == 30.0 and got.sha256 == "ab" * 32 and got.ok
        times, idx = cat.frames(a.id)
        assert times.dtype == np.float64 and idx.dtype == np.int64
        np.testing.assert_array_equal(times, times_a)
        np.testing.assert_array_equal(idx, idx_a)
        np.testing.assert_array_equal(cat.frames(b.id)[0], times_b)
        failed = cat.get(f.id)
        assert failed is not None and failed.status == "failed" and failed.reason == "cannot decode"
        assert failed.num_frames == 0 and not failed.ok
        with pytest.raises(ValueError, match="status 'failed'"):
            cat.frames(f.id)
        with pytest.raises(KeyError):
            cat.frames(12345)
        assert cat.get(12345) is None and cat.find("/nope") is None
        json.dumps(a.to_dict())  # JSON-serialisable


def test_replacing_a_path_gives_a_new_id(tmp_path: Path, rng: np.random.Generator) -> None:
    with _new(tmp_path) as cat:
        old, _, _ = _add(cat, "/v/a.mp4", 0, 3, rng, class_name="x")
        new, _, _ = _add(cat, "/v/a.mp4", 3, 5, rng, sha256="cd" * 32)
        assert new.id > old.id
        assert cat.get(old.id) is None
        assert cat.count(None) == 1 and cat.rows_end() == 8
        failed = cat.add_failed("/v/a.mp4", sha256="ef" * 32, reason="broken", class_name=None, sample_fps=2.5)
        assert failed.id > new.id and cat.count("ok") == 0 and cat.rows_end() == 0
        cat.set_class_name(failed.id, "y")
        assert cat.get(failed.id).class_name == "y"  # type: ignore[union-attr]
        with pytest.raises(KeyError):
            cat.set_class_name(999, "z")


def test_invalid_rows_are_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    with _new(tmp_path) as cat:
        with pytest.raises(ValueError, match="frame_times/frame_indices"):
            cat.add_ok("/v/a.mp4", sha256="0", class_name=None, native_fps=30.0, duration=1.0, sample_fps=2.5,
                       row_offset=0, frame_times=np.zeros(3), frame_indices=np.zeros(2, dtype=np.int64))
        with pytest.raises(ValueError, match="frame_times/frame_indices"):
            cat.add_ok("/v/a.mp4", sha256="0", class_name=None, native_fps=30.0, duration=1.0, sample_fps=2.5,
                       row_offset=0, frame_times=np.zeros(0), frame_indices=np.zeros(0, dtype=np.int64))
        with pytest.raises(ValueError, match="native_fps"):
            cat.add_ok("/v/a.mp4", sha256="0", class_name=None, native_fps=float("nan"), duration=1.0,
                       sample_fps=2.5, row_offset=0, frame_times=np.zeros(1), frame_indices=np.zeros(1, dtype=np.int64))
        with pytest.raises(ValueError, match="reason"):
            cat.add_failed("/v/a.mp4", sha256=None, reason="", class_name=None, sample_fps=2.5)
        assert cat.count(None) == 0


def test_create_refuses_existing_file_and_bad_meta(tmp_path: Path) -> None:
    _new(tmp_path).close()
    with pytest.raises(FileExistsError):
        _new(tmp_path)
    with pytest.raises(ValueError, match="feature_dim"):
        Catalog.create(tmp_path / "b.sqlite", extractor_identity=IDENTITY, feature_dim=0, sample_fps=1.0)
    with pytest.raises(ValueError, match="sample_fps"):
        Catalog.create(tmp_path / "c.sqlite", extractor_identity=IDENTITY, feature_dim=3, sample_fps=0.0)
    with pytest.raises(ValueError, match="JSON"):
        Catalog.create(tmp_path / "d.sqlite", extractor_identity={"x": object()}, feature_dim=3, sample_fps=1.0)
    with pytest.raises(FileNotFoundError):
        Catalog.open(tmp_path / "missing.sqlite")


def _tamper(path: Path, key: str, value: str) -> None:
    db = sqlite3.connect(str(path))
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("extractor", '{"name": "test-features", "params": ', "meta 'extractor' is not valid JSON"),
        ("extractor", "[1, 2]", "must be a JSON object"),
        ("schema_version", "99", "schema version '99'"),
        ("feature_dim", "six", "meta 'feature_dim'"),
        ("sample_fps", "-1", "meta 'sample_fps'"),
    ],
)
def test_tampered_meta_is_reported_on_open(tmp_path: Path, key: str, value: str, message: str) -> None:
    _new(tmp_path).close()
    _tamper(tmp_path / "catalog.sqlite", key, value)
    with pytest.raises(ValueError, match=message) as info:
        Catalog.open(tmp_path / "catalog.sqlite")
    assert "catalog.sqlite" in str(info.value)


def test_a_file_that_is_not_a_catalog(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="junk.sqlite"):
        Catalog.open(junk)
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(str(other))
    db.execute("CREATE TABLE t (x)")
    db.close()
    with pytest.raises(ValueError, match="not a draqcore catalog"):
        Catalog.open(other)


def test_wal_mode_and_read_only_readers(tmp_path: Path, rng: np.random.Generator) -> None:
    with _new(tmp_path) as cat:
        assert cat._one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
        _add(cat, "/v/a.mp4", 0, 3, rng)
        with Catalog.open(tmp_path / "catalog.sqlite", readonly=True) as reader:
            assert reader.readonly and reader.count() == 1
            with reader.snapshot():  # a read transaction: the writer is not blocked...
                before = reader.count()
                _add(cat, "/v/b.mp4", 3, 2, rng)
                assert reader.count() == before == 1  # ...and the snapshot does not move
            assert reader.count() == 2  # the next read sees the commit
            with pytest.raises(ValueError, match="read-only"):
                reader.add_failed("/v/c.mp4", sha256=None, reason="x", class_name=None, sample_fps=2.5)
            with pytest.raises(ValueError, match="read-only"):
                reader.set_class_name(1, "y")


def test_feature_rows_is_a_high_water_mark(tmp_path: Path, rng: np.random.Generator) -> None:
    with _new(tmp_path) as cat:
        assert cat.feature_rows() == 0
        _add(cat, "/v/a.mp4", 0, 3, rng)
        _add(cat, "/v/b.mp4", 3, 4, rng)
        assert cat.feature_rows() == cat.rows_end() == 7
        # The last video is replaced by a failure: its rows stay committed (a reader may map
        # them), they are dead space, not orphans.
        cat.add_failed("/v/b.mp4", sha256=None, reason="gone", class_name=None, sample_fps=2.5)
        assert cat.rows_end() == 3 and cat.feature_rows() == 7
    # A catalog of an older draqcore has no mark: the referenced rows count.
    _tamper_delete(tmp_path / "catalog.sqlite", "feature_rows")
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:
        assert cat.feature_rows() == 3
        _add(cat, "/v/c.mp4", 3, 2, rng)
        assert cat.feature_rows() == 5


def _tamper_delete(path: Path, key: str) -> None:
    db = sqlite3.connect(str(path))
    with db:
        db.execute("DELETE FROM meta WHERE key = ?", (key,))
    db.close()


def test_sqlite_errors_are_value_errors_naming_the_file(tmp_path: Path, rng: np.random.Generator) -> None:
    with _new(tmp_path) as cat:
        rec, _, _ = _add(cat, "/v/a.mp4", 0, 3, rng)
    db = sqlite3.connect(str(tmp_path / "catalog.sqlite"))
    db.executescript(
        "CREATE TABLE v2 AS SELECT id, path, sha256, status, reason, class_name, native_fps, duration, "
        "sample_fps, row_offset, row_count, frame_times, added, features_digest, clip_mean, file_stat FROM videos; "
        "DROP TABLE videos; ALTER TABLE v2 RENAME TO videos;"
    )
    db.close()
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:
        with pytest.raises(ValueError, match="catalog.sqlite.*no such column: frame_indices"):
            cat.frames(rec.id)
        with pytest.raises(ValueError, match="catalog.sqlite"):
            _add(cat, "/v/b.mp4", 3, 1, rng)
        assert cat.count(None) == 1  # rolled back
        assert any("no such column" in p for p in cat.verify())
    db = sqlite3.connect(str(tmp_path / "catalog.sqlite"))
    db.execute("DROP TABLE videos")
    db.close()
    with pytest.raises(ValueError, match="catalog.sqlite.*no such table: videos"):
        Catalog.open(tmp_path / "catalog.sqlite")


def test_create_is_atomic_and_names_survive(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(ValueError):
        Catalog.create(tmp_path / "catalog.sqlite", extractor_identity={"x": float("nan")}, feature_dim=3,
                       sample_fps=1.0)
    assert list(tmp_path.iterdir()) == []  # nothing half-made
    with _new(tmp_path) as cat:
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["catalog.sqlite"]
        # Undecodable bytes of file names (lone surrogates) in free text are escaped...
        rec = cat.add_failed("/v/caf\\xe9.mp4", sha256=None, reason="cannot read /v/caf\udce9.mp4",
                             class_name="caf\udce9", sample_fps=2.5)
        assert rec.reason == "cannot read /v/caf\\xe9.mp4" and rec.class_name == "caf\\xe9"
        assert cat.verify() == []
        # ...but a path is a key: the caller must escape it (draqcore.collection does).
        with pytest.raises(ValueError, match="not valid UTF-8"):
            cat.add_failed("/v/caf\udce9.mp4", sha256=None, reason="x", class_name=None, sample_fps=2.5)
        with pytest.raises(ValueError, match="not valid UTF-8"):
            cat.find("/v/caf\udce9.mp4")


def test_a_read_only_copy_of_a_closed_collection_can_be_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read-only media or another user's folder: a reader that cannot create catalog.sqlite-shm
    opens the catalog immutable (checked by hand as user nobody: plain mode=ro fails there with
    "attempt to write a readonly database"); a copy with pending -wal commits is refused."""
    import shutil

    import draqcore.store.catalog as catalog_module
    from draqcore.collection import Collection
    from draqcore.synthetic import generate_dataset

    truths = generate_dataset(tmp_path / "v", classes=2, clips_per_class=2, hard_negatives_per_class=0, seed=6,
                              phase_count=3, size=(48, 32), frames=(20, 24), threads=1)
    with Collection.create(tmp_path / "coll") as coll:
        coll.add([Path(t.path) for t in truths])
        want = [h.video_id for h in coll.search(coll.features(coll.videos()[0].id), top=2)]
    ro = Path(shutil.copytree(tmp_path / "coll", tmp_path / "ro"))
    assert not (ro / "catalog.sqlite-wal").exists() or (ro / "catalog.sqlite-wal").stat().st_size == 0
    real_access = os.access
    monkeypatch.setattr(catalog_module.os, "access",
                        lambda p, mode: False if mode == os.W_OK and str(p).startswith(str(ro)) else real_access(p, mode))
    connects: list[str] = []
    real_connect = catalog_module.sqlite3.connect
    monkeypatch.setattr(catalog_module.sqlite3, "connect", lambda target, **kw: connects.append(target) or real_connect(target, **kw))
    with Collection.open(ro) as c:
        assert [h.video_id for h in c.search(c.features(c.videos()[0].id), top=2)] == want
    assert connects and all("immutable=1" in u for u in connects if str(ro) in u)
    assert not (ro / "catalog.sqlite-shm").exists()
    (ro / "catalog.sqlite-wal").write_bytes(b"\0" * 4096)  # commits a writer had not folded in yet
    with pytest.raises(ValueError, match="holds commits not yet written into the catalog"):
        Collection.open(ro)


def test_lookup_and_add_many_of_new_rows_keep_input_order(tmp_path: Path, rng: np.random.Generator) -> None:
    cat = _new(tmp_path)
    old, _, _ = _add(cat, "/v/b", 0, 3, rng)
    assert cat.lookup([]) == {}
    assert cat.lookup(["/v/a", "/v/b"]) == {"/v/b": (old.id, old.sha256, "ok", old.class_name)}

    def values(offset: int) -> dict:
        return Catalog.ok_values(sha256="0" * 64, class_name="x", native_fps=None, duration=1.0, sample_fps=2.5,
                                 row_offset=offset, row_count=2, frame_times=None, frame_indices=None)

    names = [f"/v/n{i:04d}" for i in range(1200)]  # more than one 500-name lookup statement
    rows = [(p, values(3 + 2 * i)) for i, p in enumerate(names[:600])] + [("/v/b", values(1300))] + \
           [(p, values(1400 + 2 * i)) for i, p in enumerate(names[600:])]
    new = [p != "/v/b" for p, _ in rows]
    ids = cat.add_many(rows, new=new)
    assert ids.count(-1) == 1200 and ids[600] > old.id
    found = cat.lookup(names + ["/v/b"])
    assert len(found) == 1201 and found["/v/b"][0] == ids[600]
    order = [found[p][0] for p, _ in rows]
    assert order == sorted(order)  # ids given in input order, around the replaced row
    assert cat.find("/v/b").row_offset == 1300 and cat.feature_rows() == 1400 + 2 * 599 + 2
    with pytest.raises(ValueError, match="new: expected"):
        cat.add_many(rows[:2], new=[True])


def test_every_deletion_is_logged_and_a_writer_starts_the_log_of_an_older_catalog(tmp_path: Path,
                                                                                rng: np.random.Generator) -> None:
    with _new(tmp_path) as cat:
        assert cat.logs_removals  # a new catalog has its removal log from the start
        recs = [_add(cat, f"/v/{i}.mp4", 10 * i, 4, rng)[0] for i in range(6)]
        ids = [r.id for r in recs]
        cat.remove([ids[1]])
        again = _add(cat, "/v/2.mp4", 100, 4, rng, sha256="cd" * 32)[0]  # replaced: the old id is deleted
        assert again.id not in ids
        assert cat.removed_among(ids + [again.id]) == {ids[1], ids[2]}
        assert cat.verify() == []
    # An older catalog: no log, and rows deleted meanwhile (ids 4 and 5 of the 6 + 1 assigned).
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    db.executescript("DROP TRIGGER videos_removal_log; DROP TABLE removed_ids; DELETE FROM videos WHERE id IN (4, 5);")
    db.close()
    with Catalog.open(tmp_path / "catalog.sqlite", readonly=True) as reader:
        assert not reader.logs_removals  # a reader changes nothing
        assert reader.verify() == []  # no log yet is no problem
    with Catalog.open(tmp_path / "catalog.sqlite") as cat:  # a writer: log started, gaps logged
        assert cat.logs_removals
        assert cat.removed_among(range(1, 10)) == {ids[1], ids[2], 4, 5}
        assert cat.verify() == []
    # Rows deleted behind the log's back (trigger dropped) are reported by verify.
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    db.executescript("DROP TRIGGER videos_removal_log; DELETE FROM videos WHERE id = 1;")
    db.close()
    with Catalog.open(tmp_path / "catalog.sqlite", readonly=True) as reader:
        assert any("only 'removed_ids' exists" in p for p in reader.verify())
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    db.execute("CREATE TRIGGER videos_removal_log AFTER DELETE ON videos BEGIN "
               "INSERT OR IGNORE INTO removed_ids(id) VALUES (old.id); END")
    db.commit()
    db.close()
    with Catalog.open(tmp_path / "catalog.sqlite", readonly=True) as reader:
        assert reader.logs_removals
        assert any("lacks the deleted video ids 1" in p for p in reader.verify())

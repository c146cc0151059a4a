"""Catalog (SQLite) round trips, replacement semantics and damaged-meta errors."""

from __future__ import annotations

import json
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

"""Packed float32 feature file: append, memory-mapped reads, reopen, orphan rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from draqcore.store.feature_store import FeatureStore


def test_append_read_and_reopen(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "features.f32"
    store = FeatureStore(path, dim=5)
    videos = [rng.normal(size=(t, 5)) for t in (3, 1, 8)]  # float64 input, converted to float32
    originals = [v.copy() for v in videos]
    offsets = [store.append(v) for v in videos]
    assert offsets == [0, 3, 4] and store.rows == 12
    for v, orig in zip(videos, originals):
        np.testing.assert_array_equal(v, orig)  # caller arrays untouched
    assert path.stat().st_size == 12 * 5 * 4
    raw = np.fromfile(path, dtype="<f4").reshape(12, 5)
    np.testing.assert_array_equal(raw[4:12], videos[2].astype(np.float32))

    view = store.read(3, 1)
    assert view.dtype == np.float32 and view.shape == (1, 5)
    assert not view.flags.writeable and view.flags.c_contiguous
    with pytest.raises(ValueError):
        view[0, 0] = 1.0
    store.close()

    reopened = FeatureStore(path, dim=5, rows=12)
    for off, v in zip(offsets, videos):
        np.testing.assert_array_equal(reopened.read(off, len(v)), v.astype(np.float32))
    reopened.close()


def test_memmap_is_refreshed_after_append(tmp_path: Path, rng: np.random.Generator) -> None:
    store = FeatureStore(tmp_path / "f.f32", dim=2)
    a = rng.normal(size=(4, 2)).astype(np.float32)
    store.append(a)
    first = store.read(0, 4)
    b = rng.normal(size=(2, 2)).astype(np.float32)
    store.append(b)
    np.testing.assert_array_equal(store.read(4, 2), b)
    np.testing.assert_array_equal(first, a)  # old views stay valid


def test_orphan_and_partial_rows_are_ignored_then_cut(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "features.f32"
    store = FeatureStore(path, dim=3)
    a = rng.normal(size=(2, 3)).astype(np.float32)
    store.append(a)
    store.append(rng.normal(size=(5, 3)))  # never committed to the catalog: an orphan
    with open(path, "ab") as fh:
        fh.write(b"\x01\x02\x03")  # a partial row from a crash mid-write
    # The catalog references only the first video's 2 rows.
    store = FeatureStore(path, dim=3, rows=2)
    assert store.rows == 2
    with pytest.raises(ValueError, match="outside the 2 valid rows"):
        store.read(1, 2)
    c = rng.normal(size=(1, 3)).astype(np.float32)
    assert store.append(c) == 2
    assert path.stat().st_size == 3 * 3 * 4
    np.testing.assert_array_equal(store.read(0, 2), a)
    np.testing.assert_array_equal(store.read(2, 1), c)


def test_a_short_file_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "features.f32"
    FeatureStore(path, dim=4).append(rng.normal(size=(3, 4)))
    with pytest.raises(ValueError, match="references 4"):
        FeatureStore(path, dim=4, rows=4)
    with pytest.raises(ValueError, match="missing"):
        FeatureStore(tmp_path / "absent.f32", dim=4, rows=1)


@pytest.mark.parametrize(
    ("features", "error", "message"),
    [
        (np.zeros((3, 4)), ValueError, r"expected shape \(T, 3\)"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.zeros(3), ValueError, r"expected shape \(T, 3\)"),
        (np.array([[0.0, np.nan, 1.0]]), ValueError, "NaN"),
        (np.array([[1e300, 0.0, 0.0]]), ValueError, "NaN/Inf"),
        (np.array([["a", "b", "c"]]), ValueError, "real numeric"),
    ],
)
def test_bad_appends_are_refused(tmp_path: Path, features: np.ndarray, error: type, message: str) -> None:
    store = FeatureStore(tmp_path / "f.f32", dim=3)
    with pytest.raises(error, match=message):
        store.append(features)
    assert store.rows == 0 and (tmp_path / "f.f32").stat().st_size == 0


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="dim"):
        FeatureStore(tmp_path / "f.f32", dim=0)
    with pytest.raises(TypeError, match="dim"):
        FeatureStore(tmp_path / "f.f32", dim=2.5)  # type: ignore[arg-type]
    store = FeatureStore(tmp_path / "f.f32", dim=2)
    store.append(np.ones((2, 2)))
    with pytest.raises(ValueError, match="count"):
        store.read(0, 0)
    with pytest.raises(ValueError, match="offset"):
        store.read(-1, 1)


def test_a_reader_store_never_writes(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "features.f32"
    FeatureStore(tmp_path / "absent.f32", dim=3, readonly=True)
    assert not (tmp_path / "absent.f32").exists()  # not created
    writer = FeatureStore(path, dim=3)
    a = rng.normal(size=(2, 3)).astype(np.float32)
    writer.append(a)
    reader = FeatureStore(path, dim=3, rows=2, readonly=True)
    assert reader.readonly
    with pytest.raises(ValueError, match="read-only"):
        reader.append(a)
    with pytest.raises(ValueError, match="read-only"):
        reader.truncate_orphans()
    b = rng.normal(size=(4, 3)).astype(np.float32)
    writer.append(b)  # a writer commits more; the reader extends its valid rows
    with pytest.raises(ValueError, match="outside the 2 valid rows"):
        reader.read(2, 4)
    reader.extend(6)
    np.testing.assert_array_equal(reader.read(2, 4), b)
    with pytest.raises(ValueError, match="references 7"):
        reader.extend(7)


def test_orphans_are_cut_by_truncate_orphans(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "features.f32"
    FeatureStore(path, dim=2).append(rng.normal(size=(3, 2)))
    with open(path, "ab") as fh:
        fh.write(b"\x00" * 13)
    store = FeatureStore(path, dim=2, rows=3)
    assert store.orphan_bytes() == 13
    assert store.truncate_orphans() == 13
    assert path.stat().st_size == 3 * 2 * 4 and store.orphan_bytes() == 0 and store.truncate_orphans() == 0


def test_prefetch_is_advisory_and_changes_no_read(tmp_path: Path, rng: np.random.Generator) -> None:
    store = FeatureStore(tmp_path / "features", dim=4, shard_rows=5)
    videos = [rng.normal(size=(t, 4)) for t in (3, 4, 6)]  # the last straddles shards
    offsets = [store.append(v) for v in videos]
    store.prefetch([(o, len(v)) for o, v in zip(offsets, videos)] + [(-1, 2), (0, 0), (10, 100)])
    for o, v in zip(offsets, videos):
        np.testing.assert_array_equal(store.read(o, len(v)), v.astype(np.float32))
    store.close()

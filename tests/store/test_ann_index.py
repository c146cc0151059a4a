"""hnswlib cosine index of standardised clip vectors: build, query, save/load, verification."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from draqcore.store.ann_index import STD_FLOOR, AnnIndex, AnnParams, standardization_stats


def _data(rng: np.random.Generator, n: int = 60, d: int = 12) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.permutation(np.arange(10, 10 + 3 * n, 3))[:n].astype(np.int64)
    means = rng.normal(loc=5.0, scale=rng.uniform(0.1, 3.0, size=d), size=(n, d))
    return ids, means


def _brute_force(ids: np.ndarray, means: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = means.mean(axis=0)
    sd = means.std(axis=0)
    z = (means - mu) / sd
    zq = (q - mu) / sd
    sim = z @ zq / (np.linalg.norm(z, axis=1) * np.linalg.norm(zq))
    order = np.argsort(-sim)
    return ids[order], sim[order]


def test_build_standardises_and_finds_exact_neighbours(rng: np.random.Generator) -> None:
    ids, means = _data(rng)
    ids_copy, means_copy = ids.copy(), means.copy()
    index = AnnIndex.build(ids, means, AnnParams(ef=200), threads=1)
    np.testing.assert_array_equal(ids, ids_copy)
    np.testing.assert_array_equal(means, means_copy)
    assert index.count == len(index) == 60 and index.dim == 12
    np.testing.assert_array_equal(index.ids, np.sort(ids))
    m32 = means.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(index.mean, m32.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(index.scale, m32.std(axis=0), rtol=1e-12)
    order = np.argsort(ids)
    np.testing.assert_array_equal(index.clip_means, means[order].astype(np.float32))
    for q in (means[7], rng.normal(loc=5.0, size=12)):
        got_ids, got_sim = index.query(q, 10)
        want_ids, want_sim = _brute_force(ids, means.astype(np.float32).astype(np.float64), q.astype(np.float32))
        np.testing.assert_array_equal(got_ids, want_ids[:10])
        np.testing.assert_allclose(got_sim, want_sim[:10], atol=1e-5)
    top, sim = index.query(means[7], 1)
    assert top[0] == ids[7] and sim[0] == pytest.approx(1.0, abs=1e-5)


def test_k_larger_than_the_index_returns_everything(rng: np.random.Generator) -> None:
    ids, means = _data(rng, n=4)
    index = AnnIndex.build(ids, means, threads=1)
    got, sim = index.query(means[0], 1000)
    assert sorted(got.tolist()) == sorted(ids.tolist()) and sim.shape == (4,)
    assert np.all(np.diff(sim) <= 1e-6)  # most similar first


def test_std_floor_keeps_constant_dimensions_finite(rng: np.random.Generator) -> None:
    means = rng.normal(size=(5, 3))
    means[:, 1] = 0.1  # constant: std 0 (or rounding noise) -> divided by 1
    mean, scale = standardization_stats(means)
    assert scale[1] == 1.0 and scale[0] != 1.0 and STD_FLOOR > 0
    index = AnnIndex.build(np.arange(5), means, threads=1)
    z = index.standardize(means)
    assert np.isfinite(z).all() and np.abs(z[:, 1]).max() < 1e-6
    single = AnnIndex.build([3], means[:1], threads=1)  # one clip: every dimension is constant
    ids, sim = single.query(means[2], 5)
    assert ids.tolist() == [3] and np.isfinite(sim).all()


def test_save_load_round_trip_and_generations(tmp_path: Path, rng: np.random.Generator) -> None:
    ids, means = _data(rng)
    params = AnnParams(M=8, ef_construction=50, ef=40, seed=7)
    index = AnnIndex.build(ids, means, params, threads=1)
    manifest = index.save(tmp_path / "index")
    assert manifest.name == "ann.json"
    meta = json.loads(manifest.read_text())
    assert meta["space"] == "cosine" and meta["dim"] == 12 and meta["count"] == 60
    assert (meta["M"], meta["ef_construction"], meta["ef"]) == (8, 50, 40)
    first_gen = tmp_path / "index" / meta["directory"]
    assert sorted(p.name for p in first_gen.iterdir()) == sorted(meta["files"])

    loaded = AnnIndex.load(tmp_path / "index")
    assert loaded.params == params
    np.testing.assert_array_equal(loaded.ids, index.ids)
    np.testing.assert_array_equal(loaded.clip_means, index.clip_means)
    np.testing.assert_array_equal(loaded.mean, index.mean)
    np.testing.assert_array_equal(loaded.scale, index.scale)
    for q in means[:5]:
        a, sa = index.query(q, 7)
        b, sb = loaded.query(q, 7)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)

    loaded.save(tmp_path / "index")  # a second save: new generation, the old one removed
    meta2 = json.loads(manifest.read_text())
    assert meta2["generation"] == meta["generation"] + 1
    assert not first_gen.exists() and (tmp_path / "index" / meta2["directory"]).is_dir()
    AnnIndex.load(tmp_path / "index")


def test_an_unfinished_save_leaves_the_previous_index(tmp_path: Path, rng: np.random.Generator) -> None:
    ids, means = _data(rng)
    AnnIndex.build(ids, means, threads=1).save(tmp_path / "index")
    meta = json.loads((tmp_path / "index" / "ann.json").read_text())
    # A crash after writing some files of the next generation but before the manifest.
    stray = tmp_path / "index" / "g000099"
    shutil.copytree(tmp_path / "index" / meta["directory"], stray)
    (stray / "clip_ids.npy").write_bytes(b"half")
    loaded = AnnIndex.load(tmp_path / "index")
    np.testing.assert_array_equal(loaded.ids, np.sort(ids))


def _saved(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict, Path]:
    ids, means = _data(rng, n=20, d=6)
    manifest = AnnIndex.build(ids, means, threads=1).save(tmp_path / "index")
    meta = json.loads(manifest.read_text())
    return manifest, meta, tmp_path / "index" / meta["directory"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("dim", 7, r"clip_means.npy is float32 \(20, 6\), expected float32 \(20, 7\)"),
        ("count", 21, r"expected float32 \(21, 6\)"),
        ("space", "l2", "space 'l2'"),
        ("M", 32, "M=16"),
        ("format", "other", "not a draqcore ANN manifest"),
        ("format_version", 9, "format version 9"),
        ("std_floor", 0.5, "std_floor"),
        ("generation", 5, "does not match generation"),
        ("count", "twenty", "damaged entry"),
    ],
)
def test_tampered_manifest_is_refused(tmp_path: Path, rng: np.random.Generator, key: str, value: object,
                                      message: str) -> None:
    manifest, meta, _ = _saved(tmp_path, rng)
    meta[key] = value
    manifest.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message) as info:
        AnnIndex.load(tmp_path / "index")
    assert "ann.json" in str(info.value)


def test_manifest_that_is_not_json(tmp_path: Path, rng: np.random.Generator) -> None:
    manifest, _, _ = _saved(tmp_path, rng)
    manifest.write_text('{"format": "draqcore-ann", ')
    with pytest.raises(ValueError, match="not valid JSON"):
        AnnIndex.load(tmp_path / "index")
    manifest.unlink()
    with pytest.raises(FileNotFoundError):
        AnnIndex.load(tmp_path / "index")


def test_modified_files_are_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    manifest, meta, gen = _saved(tmp_path, rng)
    mean = np.load(gen / "std_mean.npy")
    np.save(gen / "std_mean.npy", mean + 1.0, allow_pickle=False)
    with pytest.raises(ValueError, match="std_mean.npy does not match its recorded SHA-256"):
        AnnIndex.load(tmp_path / "index")
    # Even with a matching checksum, statistics that cannot standardise are refused (frozen
    # statistics may legitimately differ from those of the stored clip means: AnnIndex.add).
    import hashlib

    np.save(gen / "std_mean.npy", np.full_like(mean, np.nan), allow_pickle=False)
    meta["files"]["std_mean.npy"]["sha256"] = hashlib.sha256((gen / "std_mean.npy").read_bytes()).hexdigest()
    meta["files"]["std_mean.npy"]["bytes"] = (gen / "std_mean.npy").stat().st_size
    manifest.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="must be finite"):
        AnnIndex.load(tmp_path / "index")
    (gen / "ann.hnsw").unlink()
    with pytest.raises(ValueError, match="ann.hnsw is missing"):
        AnnIndex.load(tmp_path / "index")


def test_invalid_builds(rng: np.random.Generator) -> None:
    means = rng.normal(size=(3, 4))
    with pytest.raises(ValueError, match="duplicates"):
        AnnIndex.build([1, 2, 1], means)
    with pytest.raises(ValueError, match="3 rows but ids has 2"):
        AnnIndex.build([1, 2], means)
    with pytest.raises(ValueError, match="zero clips"):
        AnnIndex.build(np.zeros(0, dtype=np.int64), np.zeros((0, 4)))
    bad = means.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN/Inf"):
        AnnIndex.build([1, 2, 3], bad)
    with pytest.raises(ValueError, match="non-negative"):
        AnnIndex.build([1, -2, 3], means)
    with pytest.raises(ValueError, match="M"):
        AnnParams(M=1)
    index = AnnIndex.build([1, 2, 3], means, threads=1)
    with pytest.raises(ValueError, match=r"clip_vector: expected shape \(4,\)"):
        index.query(np.zeros(5), 1)
    with pytest.raises(ValueError, match="k"):
        index.query(np.zeros(4), 0)


def test_thread_requests_are_checked_before_anything_changes(rng: np.random.Generator) -> None:
    """hnswlib starts as many threads as asked and takes a C int: absurd requests are refused
    with a message naming ``threads`` (not a pybind11 signature dump, not a million threads), and
    a refused ``add`` leaves the index as it was."""
    means = rng.normal(size=(4, 3))
    for bad, err in ((2**40, ValueError), (10**6, ValueError), (0, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(err, match="threads"):
            AnnIndex.build([1, 2, 3, 4], means, threads=bad)
    index = AnnIndex.build([1, 2, 3], means[:3], threads=2)
    capacity = index._index.get_max_elements()
    with pytest.raises(ValueError, match="threads"):
        index.add([4], means[3:], threads=2**40)
    assert index.count == 3 and index._index.get_max_elements() == capacity
    grown = index.add([4], means[3:], threads=1)
    assert grown.count == 4 and list(grown.query(grown.clip_means[3], 1)[0]) == [4]


class _Payload:
    """Unpickling this object creates a file: proof that a pickle was run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_a_pickled_array_is_never_loaded(tmp_path: Path, rng: np.random.Generator) -> None:
    """Even with a manifest that vouches for it (checksum updated), an object array is refused
    without being unpickled: every .npy is read with allow_pickle=False."""
    import hashlib

    marker = tmp_path / "unpickled"
    manifest, meta, gen = _saved(tmp_path, rng)
    evil = np.empty(meta["count"], dtype=object)
    evil[:] = [_Payload(marker) for _ in range(meta["count"])]
    with open(gen / "clip_ids.npy", "wb") as fh:
        np.lib.format.write_array(fh, evil, allow_pickle=True)
    np.load(gen / "clip_ids.npy", allow_pickle=True)  # the payload works...
    assert marker.exists()
    marker.unlink()
    data = (gen / "clip_ids.npy").read_bytes()
    meta["files"]["clip_ids.npy"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    manifest.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"clip_ids.npy is object \(20,\), expected int64"):
        AnnIndex.load(tmp_path / "index")
    assert not marker.exists()  # ...but loading the index never ran it


def test_every_numpy_load_in_the_store_refuses_pickles() -> None:
    import re

    import draqcore

    package = Path(draqcore.__file__).parent
    sources = [*sorted((package / "collection").glob("*.py")), *sorted((package / "store").glob("*.py"))]
    text = {f: f.read_text() for f in sources}
    calls = [(f.name, m.group(0)) for f, t in text.items() for m in re.finditer(r"np\.load\([^)]*\)", t)]
    assert all("allow_pickle=False" in call for _, call in calls), calls
    # The index parses its arrays with npy_from_bytes (the bytes it hashed), which checks the header
    # like read_npy and never unpickles.
    assert "npy_from_bytes(" in text[package / "store" / "ann_index.py"]
    assert not any("pickle" in line and "import" in line for t in text.values() for line in t.splitlines())


def test_leftovers_of_interrupted_saves(tmp_path: Path, rng: np.random.Generator) -> None:
    from draqcore.store.ann_index import leftovers, remove_leftovers

    manifest, meta, gen = _saved(tmp_path, rng)
    root = tmp_path / "index"
    assert leftovers(root) == []
    (root / "g000099").mkdir()
    (root / "ann.json.abc123.tmp").write_text("{")
    assert [p.name for p in leftovers(root)] == ["g000099", "ann.json.abc123.tmp"]
    assert remove_leftovers(root) == 2 and leftovers(root) == []
    AnnIndex.load(root)  # the current generation is untouched
    (root / "g000100").mkdir()
    ids, means = _data(rng)
    AnnIndex.build(ids, means).save(root)  # a save removes them too
    assert leftovers(root) == []
    (root / "ann.json").write_text("{damaged")  # which generation is current is unknown: keep all
    assert leftovers(root) == [] and len([p for p in root.iterdir() if p.is_dir()]) == 1


def test_deeply_nested_or_non_utf8_manifest_is_a_clear_error(tmp_path: Path, rng: np.random.Generator) -> None:
    from draqcore.store.ann_index import leftovers

    manifest, _, _ = _saved(tmp_path, rng)
    manifest.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match="ann.json: not a valid document .*nested too deeply"):
        AnnIndex.load(tmp_path / "index")
    assert leftovers(tmp_path / "index") == []
    manifest.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(ValueError, match="ann.json: not UTF-8"):
        AnnIndex.load(tmp_path / "index")


def test_every_index_file_has_the_permissions_of_other_new_files(tmp_path: Path, rng: np.random.Generator) -> None:
    import os

    old = os.umask(0o022)
    try:
        manifest, meta, gen = _saved(tmp_path, rng)
        probe = tmp_path / "probe"
        probe.write_text("x")
        want = probe.stat().st_mode & 0o777
        assert want == 0o644
        for f in [manifest, *gen.iterdir()]:
            assert f.stat().st_mode & 0o777 == want, f
    finally:
        os.umask(old)


def test_clips_outside_the_graph_component_are_merged_exactly(rng: np.random.Generator) -> None:
    """A graph whose search may miss a few clips (outside its strongly connected component) answers
    with the graph plus an exact comparison against those clips, as an exhaustive search would."""
    means = rng.normal(size=(300, 12)).astype(np.float32)
    ids = np.arange(5, 305)
    built = AnnIndex.build(ids, means)
    outside = np.array([3, 50, 299])
    mixed = AnnIndex(built._index, built.ids, built.clip_means, built.mean, built.scale, built.params,
                     exhaustive=True, outside=outside)
    full = AnnIndex(built._index, built.ids, built.clip_means, built.mean, built.scale, built.params,
                    exhaustive=True, outside=np.arange(300))  # too many: answered exactly
    for _ in range(20):
        q = rng.normal(size=12)
        want_ids, want_sims = full.query(q, 10)
        got_ids, got_sims = mixed.query(q, 10)
        assert got_ids.tolist() == want_ids.tolist()
        np.testing.assert_allclose(got_sims, want_sims, atol=1e-5)
    # The outside clips are found even when they are the nearest neighbours.
    for row in outside:
        assert mixed.query(means[row], 1)[0][0] == ids[row]


# -- memory: clip means read on demand, hnswlib reading the verified graph file itself -----------


@pytest.fixture()
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled at once (instead of RACY_NS after their last change)."""
    from draqcore.store import verdicts

    monkeypatch.setattr(verdicts, "RACY_NS", 0)


def _means_file(index_dir: Path) -> Path:
    return index_dir / json.loads((index_dir / "ann.json").read_text())["directory"] / "clip_means.npy"


def test_a_loaded_index_reads_clip_means_on_demand(tmp_path: Path, rng: np.random.Generator, settled: None) -> None:
    ids, means = _data(rng, n=300, d=9)
    built = AnnIndex.build(ids, means, threads=1)
    built.save(tmp_path / "index")
    loaded = AnnIndex.load(tmp_path / "index")
    assert not isinstance(loaded._clip_means, np.ndarray)  # nothing of clip_means.npy held
    on_disk = np.load(_means_file(tmp_path / "index"), allow_pickle=False)
    for rows in ([5], [299, 0, 7, 8, 9, 7], rng.integers(0, 300, size=40), []):
        got = loaded.clip_mean_rows(rows)
        assert got.shape == (len(rows), 9) and got.dtype == np.float32
        np.testing.assert_array_equal(got, on_disk[np.asarray(rows, dtype=np.int64)])
        np.testing.assert_array_equal(got, built.clip_mean_rows(rows))
    with pytest.raises(IndexError, match="rows outside 0..299"):
        loaded.clip_mean_rows([300])
    with pytest.raises(IndexError, match="rows outside 0..299"):
        built.clip_mean_rows([-1])
    np.testing.assert_array_equal(loaded.rows_of([ids[4], 999_999, ids[0]]),
                                  [np.searchsorted(loaded.ids, ids[4]), -1, np.searchsorted(loaded.ids, ids[0])])
    loaded.prefetch_clip_means([0, 1, 2, 200, -1, 10**9])  # advisory: out-of-range rows are ignored
    np.testing.assert_array_equal(loaded.clip_mean_rows([200, 2]), on_disk[[200, 2]])
    np.testing.assert_array_equal(loaded.clip_means, built.clip_means)  # read whole on first access
    assert isinstance(loaded._clip_means, np.ndarray) and not loaded.clip_means.flags.writeable


def test_fresh_files_are_held_in_memory(tmp_path: Path, rng: np.random.Generator,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Files changed within RACY_NS of loading could change again unnoticed (same ctime tick):
    their verified bytes are kept and handed to hnswlib, nothing is read from them later."""
    from draqcore.store import verdicts

    monkeypatch.setattr(verdicts, "RACY_NS", 3600 * 10**9)
    ids, means = _data(rng)
    AnnIndex.build(ids, means, threads=1).save(tmp_path / "index")
    loaded = AnnIndex.load(tmp_path / "index")
    assert isinstance(loaded._clip_means, np.ndarray) and not loaded._unseeded


def test_a_clip_means_file_changed_after_loading_is_refused(tmp_path: Path, rng: np.random.Generator,
                                                            settled: None) -> None:
    ids, means = _data(rng)
    AnnIndex.build(ids, means, threads=1).save(tmp_path / "index")
    loaded = AnnIndex.load(tmp_path / "index")
    f = _means_file(tmp_path / "index")
    data = bytearray(f.read_bytes())
    data[-1] ^= 0x01
    st = f.stat()
    with open(f, "r+b") as fh:  # in place, same size, the mtime put back
        fh.write(bytes(data))
    import os

    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(ValueError, match="clip_means.npy: changed since it was verified"):
        loaded.clip_mean_rows([3])
    with pytest.raises(ValueError, match="changed since it was verified"):
        loaded.clip_means  # noqa: B018
    with pytest.raises(ValueError, match="clip_means.npy does not match its recorded SHA-256"):
        AnnIndex.load(tmp_path / "index")  # ... and a new load refuses the file itself
    data[-1] ^= 0x01
    f.write_bytes(bytes(data))
    loaded = AnnIndex.load(tmp_path / "index")
    os.truncate(f, len(data) // 2)  # truncated under a loaded index: an error, never SIGBUS
    with pytest.raises(ValueError, match="changed since it was verified"):
        loaded.clip_mean_rows([59])


def test_a_removed_generation_still_answers(tmp_path: Path, rng: np.random.Generator, settled: None) -> None:
    """A writer's save removes the generation a reader loaded: the reader keeps answering from it."""
    ids, means = _data(rng)
    built = AnnIndex.build(ids, means, threads=1)
    built.save(tmp_path / "index")
    loaded = AnnIndex.load(tmp_path / "index")
    built.save(tmp_path / "index")  # a new generation; the loaded one is deleted
    assert not loaded._clip_means.pinned.path.exists()
    np.testing.assert_array_equal(loaded.clip_mean_rows([0, 59]), built.clip_means[[0, 59]])
    assert loaded.query(means[4], 3)[0][0] == ids[4]


def _graph_bytes(index_dir: Path) -> bytes:
    return (_means_file(index_dir).parent / "ann.hnsw").read_bytes()


@pytest.mark.parametrize("verdict", [False, True])
def test_hnswlib_reading_the_graph_file_itself_gives_the_same_index(
        tmp_path: Path, rng: np.random.Generator, settled: None, monkeypatch: pytest.MonkeyPatch,
        verdict: bool) -> None:
    """Loaded by hnswlib from the verified file or handed the verified bytes (the way for files
    others can write): the same ef, the same answers, and growing it gives the same graph (the
    level generator is seeded with the manifest's seed either way)."""
    from draqcore.store import ann_index, verdicts

    if verdict:
        monkeypatch.setenv("DRAQ_INDEX_CACHE", str(tmp_path / "verdicts"))
        monkeypatch.setattr(verdicts, "VERDICT_MIN_CLIPS", 1)
    else:
        monkeypatch.setenv("DRAQ_INDEX_CACHE", "off")
    ids, means = _data(rng, n=400, d=10)
    params = AnnParams(M=4, ef_construction=30, ef=25, seed=11)
    AnnIndex.build(ids, means, params, threads=1).save(tmp_path / "index")
    by_path = AnnIndex.load(tmp_path / "index")
    with monkeypatch.context() as m:
        m.setattr(ann_index, "_can_load_by_path", lambda graph_file: False)
        by_copy = AnnIndex.load(tmp_path / "index")
    assert by_path._unseeded and not by_copy._unseeded
    assert by_path._index.ef == by_copy._index.ef == 25
    for q in rng.normal(loc=5.0, size=(30, 10)):
        a_ids, a_sims = by_path.query(q, 9)
        b_ids, b_sims = by_copy.query(q, 9)
        np.testing.assert_array_equal(a_ids, b_ids)
        np.testing.assert_array_equal(a_sims, b_sims)
    new_ids = np.arange(2000, 2300)
    new_means = rng.normal(loc=5.0, size=(300, 10))
    by_path.add(new_ids, new_means, threads=1).save(tmp_path / "a")
    by_copy.add(new_ids, new_means, threads=1).save(tmp_path / "b")
    assert _graph_bytes(tmp_path / "a") == _graph_bytes(tmp_path / "b")


def test_a_graph_file_others_can_write_is_handed_to_hnswlib_as_verified_bytes(
        tmp_path: Path, rng: np.random.Generator, settled: None) -> None:
    ids, means = _data(rng)
    AnnIndex.build(ids, means, threads=1).save(tmp_path / "index")
    graph = _means_file(tmp_path / "index").parent / "ann.hnsw"
    assert AnnIndex.load(tmp_path / "index")._unseeded
    graph.chmod(0o666)
    loaded = AnnIndex.load(tmp_path / "index")
    assert not loaded._unseeded and loaded.query(means[2], 1)[0][0] == ids[2]


def test_a_graph_file_changed_while_hnswlib_reads_it_is_verified_again(
        tmp_path: Path, rng: np.random.Generator, settled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file changes between its verification and hnswlib's read: what hnswlib read is
    discarded and the file verified again (refused if its bytes changed, loaded from the bytes
    verified if only its attributes did)."""
    import os

    from draqcore.store import ann_index, hnsw_graph

    ids, means = _data(rng)
    AnnIndex.build(ids, means, threads=1).save(tmp_path / "index")
    graph = _means_file(tmp_path / "index").parent / "ann.hnsw"
    original = graph.read_bytes()
    calls = []

    def touched(path: str, **kwargs):
        calls.append(path)
        os.utime(graph)  # new mtime and ctime, same bytes
        return hnsw_graph.load_graph_file(path, **kwargs)

    monkeypatch.setattr(ann_index, "load_graph_file", touched)
    loaded = AnnIndex.load(tmp_path / "index")
    assert len(calls) == 1 and not loaded._unseeded  # the second verification handed over its bytes
    assert loaded.query(means[5], 1)[0][0] == ids[5]

    def rewritten(path: str, **kwargs):
        forged = bytearray(original)
        forged[hnsw_graph.HEADER_BYTES + 4 : hnsw_graph.HEADER_BYTES + 8] = (10**6).to_bytes(4, "little")
        with open(graph, "r+b") as fh:
            fh.write(bytes(forged))
        return hnsw_graph.load_graph_file(path, **kwargs)

    monkeypatch.setattr(ann_index, "load_graph_file", rewritten)
    with pytest.raises(ValueError, match="ann.hnsw does not match its recorded SHA-256"):
        AnnIndex.load(tmp_path / "index")

    def truncated(path: str, **kwargs):
        os.truncate(graph, len(original) // 2)  # hnswlib refuses it, or reads what is left
        return hnsw_graph.load_graph_file(path, **kwargs)

    graph.write_bytes(original)
    monkeypatch.setattr(ann_index, "load_graph_file", truncated)
    with pytest.raises(ValueError, match="ann.hnsw has .* bytes, manifest says"):
        AnnIndex.load(tmp_path / "index")


@pytest.mark.parametrize("remembered", [False, True])
def test_row_data_is_kept_in_id_order_saved_grown_and_checked(tmp_path: Path, rng: np.random.Generator,
                                                              monkeypatch: pytest.MonkeyPatch, remembered: bool) -> None:
    import hashlib

    from draqcore.store import verdicts

    # remembered: loaded through a verdict of an earlier full verification (row data still read).
    monkeypatch.setenv("DRAQ_INDEX_CACHE", str(tmp_path / "verdicts") if remembered else "off")
    monkeypatch.setattr(verdicts, "VERDICT_MIN_CLIPS", 1)
    ids, means = _data(rng, n=30, d=6)
    data = np.stack([ids * 7, ids + 1], axis=1).astype(np.int32)  # any integer dtype
    index = AnnIndex.build(ids, means, threads=1, row_data=data)
    np.testing.assert_array_equal(index.row_data, np.stack([index.ids * 7, index.ids + 1], axis=1))
    assert index.row_data.dtype == np.int64 and not index.row_data.flags.writeable
    manifest = index.save(tmp_path / "index")
    for _ in range(2):  # the second load finds the verdict when one is remembered
        loaded = AnnIndex.load(tmp_path / "index")
        np.testing.assert_array_equal(loaded.row_data, index.row_data)
    more = np.arange(1000, 1005)
    grown = loaded.add(more, rng.normal(size=(5, 6)), threads=1, row_data=np.stack([more * 7, more + 1], axis=1))
    np.testing.assert_array_equal(grown.row_data, np.stack([grown.ids * 7, grown.ids + 1], axis=1))
    grown.save(tmp_path / "index")
    np.testing.assert_array_equal(AnnIndex.load(tmp_path / "index").row_data[-5:, 0], more * 7)
    # Grown without row data for the new rows: the index has none (never rows without data).
    assert AnnIndex.load(tmp_path / "index").add([2000], rng.normal(size=(1, 6)), threads=1).row_data is None
    with pytest.raises(ValueError, match=r"row_data: expected 2 columns"):
        AnnIndex.load(tmp_path / "index").add([2000], rng.normal(size=(1, 6)), threads=1, row_data=[[1, 2, 3]])
    with pytest.raises(ValueError, match=r"row_data: expected an integer array of shape \(30, w >= 1\)"):
        AnnIndex.build(ids, means, row_data=data[:-1])
    with pytest.raises(ValueError, match="row_data: expected an integer"):
        AnnIndex.build(ids, means, row_data=data.astype(np.float64))
    # A changed row data file is refused like any other file of the index.
    meta = json.loads(manifest.read_text())
    gen = tmp_path / "index" / meta["directory"]
    rows = np.load(gen / "row_data.npy")
    rows[0, 0] += 1
    np.save(gen / "row_data.npy", rows, allow_pickle=False)
    with pytest.raises(ValueError, match="row_data.npy does not match its recorded SHA-256"):
        AnnIndex.load(tmp_path / "index")
    meta["files"]["row_data.npy"]["sha256"] = hashlib.sha256((gen / "row_data.npy").read_bytes()).hexdigest()
    meta["row_data_width"] = 3
    manifest.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"row_data.npy is int64 \(35, 2\), expected int64 \(35, 3\)"):
        AnnIndex.load(tmp_path / "index")
    del meta["files"]["row_data.npy"]
    manifest.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="'row_data_width' without 'row_data.npy'"):
        AnnIndex.load(tmp_path / "index")


def test_all_cores_means_the_cores_of_this_process_also_for_a_loaded_index() -> None:
    # hnswlib's own default (-1) is the index's thread count, which is 1 for a loaded index:
    # threads=None must name the cores itself.
    import os

    from draqcore.store import ann_index

    assert ann_index._hnsw_threads(None) == len(os.sched_getaffinity(0))
    assert ann_index._hnsw_threads(3) == 3

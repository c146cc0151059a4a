"""Window retrieval of long videos (issue 9): a short excerpt of a long real recording is
retrieved through the long video's window vectors although its whole-video clip vector loses
to more distractors than ``candidates``; the window index is incremental, checkable, refuses
forged vectors, and old collections without it keep working."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from draqcore.collection import Collection
from draqcore.collection.state import extract_video
from draqcore.features import default_extractor
from draqcore.features.precomputed import Precomputed
from draqcore.store.ann_index import AnnIndex
from draqcore.store.hnsw_graph import _HEADER, HEADER_BYTES
from draqcore.store.integrity import check_collection
from draqcore.store.windows import label_video

FPS = 5.0
SOURCES = ["bikes", "cup", "pexels_face", "box", "sports2d_demo"]  # real footage, concatenated
SHORT = ["carphone", "pose2sim_cam1", "pose2sim_cam2", "pose2sim_cam3", "pose2sim_cam4", "pose2sim_multi"]


@pytest.fixture(scope="module")
def real_features(footage) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    ext = default_extractor()
    dim = ext.identity()["dim"]
    return {n: extract_video(ext, footage(n), FPS, dim)[0] for n in SOURCES + SHORT}


@pytest.fixture(scope="module")
def scene(real_features: dict[str, np.ndarray]) -> dict:
    """A long recording (five real clips, the last third of pexels_face in the middle), two
    distractors showing the first two thirds of that same face recording, and six short real
    clips: eight distractors, more than ``candidates``. The query is a 1.25x faster replay of
    most of the face third inside the long video."""
    face = real_features["pexels_face"]
    k = face.shape[0] // 3
    parts = [real_features["bikes"], real_features["cup"], face[2 * k :], real_features["box"],
             real_features["sports2d_demo"]]
    long = np.concatenate(parts)
    q0 = parts[0].shape[0] + parts[1].shape[0] + 2
    q1 = q0 + (face.shape[0] - 2 * k) - 4  # frames [q0, q1) of the long video
    idx = np.round(np.linspace(q0, q1 - 1, int(round((q1 - q0) / 1.25)))).astype(int)
    distractors = [("face_part1", face[:k]), ("face_part2", face[k : 2 * k])]
    distractors += [(n, real_features[n]) for n in SHORT]
    return {"long": long, "query": long[idx], "truth": (q0 / FPS, (q1 - 1) / FPS), "distractors": distractors}


def _create(path: Path, dim: int) -> Collection:
    return Collection.create(path, extractor=Precomputed(dim=dim, name="opencv-hog-color-flow"), sample_fps=FPS)


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, scene: dict) -> Path:
    root = tmp_path_factory.mktemp("windows") / "coll"
    with _create(root, scene["long"].shape[1]) as coll:
        for name, f in scene["distractors"]:
            coll.add_features(name, f)
        coll.add_features("long", scene["long"])
    return root


def _long_hit(hits: list) -> list:
    return [h for h in hits if h.path == "long"]


def test_excerpt_of_a_long_video_needs_windows(built: Path, scene: dict) -> None:
    assert len(scene["distractors"]) > 3
    with Collection.open(built) as coll:
        # Whole-video retrieval: the two other thirds of the face recording are closer to the
        # query's clip vector than the long video's mean is, so two candidates miss it.
        missed = coll.search(scene["query"], top=2, candidates=2, windows=False)
        assert not _long_hit(missed), [(h.path, h.similarity) for h in missed]
        hits = coll.search(scene["query"], top=2, candidates=2)
        found = _long_hit(hits)
        assert len(found) == 1 and found[0].rank == 1 and found[0].subsequence, [(h.path, h.draq) for h in hits]
        assert _iou((found[0].start, found[0].end), scene["truth"]) >= 0.7, (found[0].start, found[0].end)
        assert found[0].similarity > max(h.similarity for h in missed)
        # candidates counts videos, not windows: the long video's many windows take one slot.
        assert len({h.path for h in coll.search(scene["query"], top=3, candidates=3)}) == 3


def test_window_index_is_saved_incremental_and_checked(built: Path, scene: dict, tmp_path: Path) -> None:
    coll_dir = Path(shutil.copytree(built, tmp_path / "coll"))
    win_dir = coll_dir / "index" / "windows"
    before = AnnIndex.load(win_dir)
    assert set(label_video(before.ids).tolist()) == {len(scene["distractors"]) + 1}  # only the long video
    report = check_collection(coll_dir)
    assert report.ok, report.lines()
    gen = json.loads((win_dir / "ann.json").read_text())["generation"]
    with Collection.open(coll_dir) as coll:
        coll.add_features("long2", scene["long"][::-1].copy())
        coll.add_features("short", scene["distractors"][3][1])  # short: adds no windows
    after = AnnIndex.load(win_dir)
    assert np.array_equal(after.ids[: before.count], before.ids)  # grown, earlier labels kept
    assert after.count > before.count and json.loads((win_dir / "ann.json").read_text())["generation"] > gen
    np.testing.assert_array_equal(after.mean, before.mean)  # frozen statistics: no rebuild
    assert check_collection(coll_dir).ok


def test_old_collection_without_windows_keeps_working(built: Path, scene: dict, tmp_path: Path) -> None:
    coll_dir = Path(shutil.copytree(built, tmp_path / "coll"))
    shutil.rmtree(coll_dir / "index" / "windows")  # as made before window retrieval existed
    assert check_collection(coll_dir).ok
    with Collection.open(coll_dir) as reader:  # a reader: cannot save, computes the windows
        hits = reader.search(scene["query"], top=2, candidates=2)  # windows computed from the features
        assert _long_hit(hits) and _iou((_long_hit(hits)[0].start, _long_hit(hits)[0].end), scene["truth"]) >= 0.7
    with Collection.open(coll_dir) as coll:
        coll.add_features("short", scene["distractors"][3][1])  # the first write builds the window index
    assert (coll_dir / "index" / "windows" / "ann.json").is_file()
    assert check_collection(coll_dir).ok


def _forge_windows(index_dir: Path, video: int) -> None:
    """Roll one video's window vectors by one window, consistently in clip_means.npy and the
    graph, and reseal the manifest: only recomputing them from the features can tell."""
    man = json.loads((index_dir / "ann.json").read_text())
    gen = index_dir / man["directory"]
    ids = np.load(gen / "clip_ids.npy")
    means = np.load(gen / "clip_means.npy")
    rows = np.flatnonzero(label_video(ids) == video)
    forged = means.copy()
    forged[rows] = means[np.roll(rows, 1)]
    np.save(gen / "clip_means.npy", forged)
    mean, scale = np.load(gen / "std_mean.npy"), np.load(gen / "std_scale.npy")
    data = bytearray((gen / "ann.hnsw").read_bytes())
    head = np.frombuffer(bytes(data[:HEADER_BYTES]), dtype=_HEADER)[0]
    per, lo, hi = int(head["size_data_per_element"]), int(head["offset_data"]), int(head["label_offset"])
    for e in range(int(head["cur_element_count"])):
        base = HEADER_BYTES + e * per
        label = int.from_bytes(data[base + hi : base + hi + 8], "little")
        z = ((forged[int(np.searchsorted(ids, label))].astype(np.float64) - mean) / scale).astype(np.float32)
        z = z.astype(np.float64)
        data[base + lo : base + hi] = (z / (np.sqrt((z * z).sum()) + 1e-30)).astype("<f4").tobytes()
    (gen / "ann.hnsw").write_bytes(bytes(data))
    for name in man["files"]:
        blob = (gen / name).read_bytes()
        man["files"][name] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    (index_dir / "ann.json").write_text(json.dumps(man))


def test_forged_window_vectors_are_refused(built: Path, scene: dict, tmp_path: Path) -> None:
    coll_dir = Path(shutil.copytree(built, tmp_path / "coll"))
    long_id = len(scene["distractors"]) + 1
    _forge_windows(coll_dir / "index" / "windows", long_id)
    AnnIndex.load(coll_dir / "index" / "windows")  # self-consistent: the manifest check passes
    report = check_collection(coll_dir)
    assert not report.ok and any("window vectors of videos" in p and f"{long_id} (long)" in p for p in report.problems)
    with Collection.open(coll_dir) as coll:
        with pytest.raises(ValueError, match="window vector stored .* is not the mean of its features"):
            coll.search(scene["query"], top=2, candidates=2)
        hits = coll.search(scene["query"], top=2, candidates=2, windows=False)  # clip stage untouched
        assert not _long_hit(hits)


def test_cli_search_no_windows(built: Path, scene: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from draqcore.cli import main

    q = tmp_path / "excerpt.npy"
    np.save(q, scene["query"])
    paths = {}
    for flag in ([], ["--no-windows"]):
        assert main(["search", str(q), "--collection", str(built), "--top", "2", "--candidates", "2", "--json"] + flag) == 0
        paths[bool(flag)] = [h["path"] for h in json.loads(capsys.readouterr().out)["hits"]]
    assert paths[False][0] == "long" and "long" not in paths[True], paths


def test_large_window_index_graph_and_pending_windows(built: Path, scene: dict, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Past REBUILD_MAX windows the window graph answers (frozen statistics), and windows of
    videos added since are pending until TAIL_MAX of them: searches compute them meanwhile."""
    import draqcore.collection.window_index as wi

    coll_dir = Path(shutil.copytree(built, tmp_path / "coll"))
    win_dir = coll_dir / "index" / "windows"
    count = AnnIndex.load(win_dir).count
    monkeypatch.setattr(wi, "REBUILD_MAX", 3)
    monkeypatch.setattr(wi, "TAIL_MAX", 10_000)
    with Collection.open(coll_dir) as coll:
        coll.add_features("long_copy", scene["long"])
        assert AnnIndex.load(win_dir).count == count  # pending, not saved yet
        with Collection.open(coll_dir) as reader:
            for c in (coll, reader):  # the writer and a reader
                hits = c.search(scene["query"], top=2, candidates=2)
                assert {h.path for h in hits} == {"long", "long_copy"}, [(h.path, h.similarity) for h in hits]
                assert all(_iou((h.start, h.end), scene["truth"]) >= 0.7 for h in hits)
        monkeypatch.setattr(wi, "TAIL_MAX", 1)
        coll.add_features("short", scene["distractors"][3][1])  # a write: the pending windows are inserted
    assert AnnIndex.load(win_dir).count == 2 * count
    assert check_collection(coll_dir).ok


def test_collection_without_long_videos_scans_nothing_again(scene: dict, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer records up to which id it looked for long videos (``scanned.json``), so readers
    (and later writers) of a collection with no long video scan only ids added since."""
    from draqcore.store.catalog import Catalog

    root = tmp_path / "coll"
    with _create(root, scene["long"].shape[1]) as coll:
        for name, f in scene["distractors"]:
            coll.add_features(name, f)
    win_dir = root / "index" / "windows"
    assert not (win_dir / "ann.json").exists()
    assert json.loads((win_dir / "scanned.json").read_text())["scanned_id"] == len(scene["distractors"])
    seen: list[int] = []
    real = Catalog.long_videos

    def spy(self, after_id, min_frames):  # type: ignore[no-untyped-def]
        seen.append(int(after_id))
        return real(self, after_id, min_frames)

    monkeypatch.setattr(Catalog, "long_videos", spy)
    with Collection.open(root) as reader:
        reader.search(scene["query"], top=2, candidates=2)
    assert seen == [len(scene["distractors"])]  # only ids above the scanned mark
    with Collection.open(root) as coll:
        coll.add_features("long", scene["long"])
        hits = coll.search(scene["query"], top=2, candidates=2)
    assert hits[0].path == "long" and (win_dir / "ann.json").is_file()
    assert check_collection(root).ok


def test_reindex_rebuilds_the_window_index(built: Path, scene: dict, tmp_path: Path) -> None:
    coll_dir = Path(shutil.copytree(built, tmp_path / "coll"))
    before = AnnIndex.load(coll_dir / "index" / "windows")
    with Collection.open(coll_dir) as coll:
        coll.remove(["face_part1"])
        coll.rebuild_index()
        clip = AnnIndex.load(coll_dir / "index")
        after = AnnIndex.load(coll_dir / "index" / "windows")
        np.testing.assert_array_equal(after.ids, before.ids)
        np.testing.assert_array_equal(after.mean, clip.mean)  # refreshed with the clip statistics
        hits = coll.search(scene["query"], top=1, candidates=1)
        assert hits[0].path == "long" and _iou((hits[0].start, hits[0].end), scene["truth"]) >= 0.7
    assert check_collection(coll_dir).ok


def test_writes_that_add_no_windows_do_not_load_the_window_index(built: Path, scene: dict, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a large saved window index took 4-6 s of every add_features at a million clips:
    a write that adds no long video, or whose long videos' windows stay pending, leaves it on
    disk; searches still find the pending windows and the first write that inserts them loads it."""
    import draqcore.collection.window_index as wi

    coll_dir = Path(shutil.copytree(built, tmp_path / "coll"))
    win_dir = coll_dir / "index" / "windows"
    count = AnnIndex.load(win_dir).count
    loads: list[Path] = []
    real = AnnIndex.load

    def spy(directory, *args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(Path(directory))
        return real(directory, *args, **kwargs)

    monkeypatch.setattr(AnnIndex, "load", staticmethod(spy))
    monkeypatch.setattr(wi, "REBUILD_MAX", 3)
    monkeypatch.setattr(wi, "TAIL_MAX", 10_000)
    with Collection.open(coll_dir) as coll:
        coll.add_features("short", scene["distractors"][3][1])  # no long video
        coll.add_features("long_copy", scene["long"])  # its windows stay pending
        assert win_dir not in loads, loads
        scanned = json.loads((win_dir / "scanned.json").read_text())["scanned_id"]
        assert scanned == len(scene["distractors"]) + 2  # moved past "short", not past the pending one
        hits = coll.search(scene["query"], top=2, candidates=2)
        assert {h.path for h in hits} == {"long", "long_copy"}, [(h.path, h.similarity) for h in hits]
        monkeypatch.setattr(wi, "TAIL_MAX", 1)
        coll.add_features("short2", scene["distractors"][4][1])  # now the pending windows go in
    assert real(win_dir).count == 2 * count
    assert check_collection(coll_dir).ok


@pytest.mark.parametrize("settled", [True, False])
def test_searches_read_stored_vectors_on_demand(built: Path, scene: dict, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, settled: bool) -> None:
    """A reader whose index files are settled holds neither index's clip means (it reads the rows
    of its candidates) and hnswlib read both graphs from their files; just-written files are
    held as verified. The answers, and the refusal of forged stored vectors, are the same."""
    import draqcore.collection.maintenance as maintenance
    import draqcore.collection.window_index as wi
    from draqcore.store import verdicts

    monkeypatch.setattr(verdicts, "RACY_NS", 0 if settled else 3600 * 10**9)
    monkeypatch.setattr(wi, "REBUILD_MAX", 3)  # both stages through their graphs
    monkeypatch.setattr(maintenance, "REBUILD_MAX", 3)
    coll_dir = Path(shutil.copytree(built, tmp_path / "coll"))
    with Collection.open(coll_dir) as coll:
        hits = coll.search(scene["query"], top=2, candidates=2)
        found = _long_hit(hits)
        assert found and found[0].rank == 1 and _iou((found[0].start, found[0].end), scene["truth"]) >= 0.7
        for index in (coll._index, coll._win):
            assert isinstance(index._clip_means, np.ndarray) is not settled
            assert index._unseeded is settled
    _forge_windows(coll_dir / "index" / "windows", len(scene["distractors"]) + 1)
    with Collection.open(coll_dir) as coll:
        with pytest.raises(ValueError, match="window vector stored .* is not the mean of its features"):
            coll.search(scene["query"], top=2, candidates=2)

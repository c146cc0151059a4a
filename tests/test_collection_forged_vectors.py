"""Forged stored clip vectors (issue 13, item 7): swapped or made equal between two videos, in
the catalog or in the saved index (manifest resealed, graph made consistent). Retrieval would
silently return the wrong videos; instead search refuses every candidate whose stored vector is
not the mean of its features, and ``draq check`` (which reads every feature) reports it."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from draqcore.collection import Collection
from draqcore.store.hnsw_graph import _HEADER, HEADER_BYTES
from draqcore.store.integrity import check_collection
from draqcore.synthetic import generate_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forged")
    truths = generate_dataset(root / "videos", classes=3, clips_per_class=2, hard_negatives_per_class=0, seed=9,
                              phase_count=3, size=(48, 32), frames=(20, 26), threads=1)
    with Collection.create(root / "coll") as coll:
        coll.add([Path(t.path) for t in truths])
    return root / "coll"


def _swap_catalog(d: Path, a: int, b: int, equal: bool) -> None:
    db = sqlite3.connect(str(d / "catalog.sqlite"))
    va = db.execute("SELECT clip_mean FROM videos WHERE id = ?", (a,)).fetchone()[0]
    vb = db.execute("SELECT clip_mean FROM videos WHERE id = ?", (b,)).fetchone()[0]
    with db:
        db.execute("UPDATE videos SET clip_mean = ? WHERE id = ?", (vb, a))
        if not equal:
            db.execute("UPDATE videos SET clip_mean = ? WHERE id = ?", (va, b))
    db.close()


def _swap_index(d: Path, a: int, b: int, equal: bool) -> None:
    """Forge clip_means.npy and the graph's vectors consistently, then reseal the manifest."""
    index_dir = d / "index"
    man = json.loads((index_dir / "ann.json").read_text())
    gen = index_dir / man["directory"]
    ids = np.load(gen / "clip_ids.npy")
    means = np.load(gen / "clip_means.npy")
    ra, rb = int(np.searchsorted(ids, a)), int(np.searchsorted(ids, b))
    forged = means.copy()
    forged[ra] = means[rb]
    if not equal:
        forged[rb] = means[ra]
    np.save(gen / "clip_means.npy", forged)
    mean = forged.astype(np.float64).mean(axis=0)
    std = forged.astype(np.float64).std(axis=0)
    scale = np.where(std < 1e-6, 1.0, std)
    np.save(gen / "std_mean.npy", mean)
    np.save(gen / "std_scale.npy", scale)
    data = bytearray((gen / "ann.hnsw").read_bytes())
    head = np.frombuffer(bytes(data[:HEADER_BYTES]), dtype=_HEADER)[0]
    per, lo, hi = int(head["size_data_per_element"]), int(head["offset_data"]), int(head["label_offset"])
    n = int(head["cur_element_count"])
    for e in range(n):
        base = HEADER_BYTES + e * per
        label = int.from_bytes(data[base + hi : base + hi + 8], "little")
        z = ((forged[int(np.searchsorted(ids, label))].astype(np.float64) - mean) / scale).astype(np.float32)
        z = z.astype(np.float64)
        z = (z / (np.sqrt((z * z).sum()) + 1e-30)).astype("<f4")
        data[base + lo : base + hi] = z.tobytes()
    (gen / "ann.hnsw").write_bytes(bytes(data))
    for name in man["files"]:
        blob = (gen / name).read_bytes()
        man["files"][name] = {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    (index_dir / "ann.json").write_text(json.dumps(man))


@pytest.mark.parametrize("where", ["catalog", "index"])
@pytest.mark.parametrize("equal", [False, True], ids=["swapped", "equal"])
def test_forged_clip_vectors_never_give_a_silent_answer(built: Path, tmp_path: Path, where: str, equal: bool) -> None:
    coll = Path(shutil.copytree(built, tmp_path / "coll"))
    with Collection.open(coll) as c:
        vids = [r.id for r in c.videos()]
        queries = {v: np.array(c.features(v)) for v in vids}
        before = {v: [h.video_id for h in c.search(queries[v], top=1, candidates=2)] for v in vids}
    a, b = vids[0], vids[3]
    (_swap_catalog if where == "catalog" else _swap_index)(coll, a, b, equal)
    if where == "catalog":
        shutil.rmtree(coll / "index")  # retrieval then reads the catalog's vectors
    report = check_collection(coll)
    assert not report.ok, report.lines()
    assert any("clip vectors of videos" in p and f"{a} (" in p for p in report.problems), report.problems
    with Collection.open(coll) as c:
        for v in vids:
            try:
                got = [h.video_id for h in c.search(queries[v], top=1, candidates=2)]
            except ValueError as exc:
                assert "is not the mean of its features" in str(exc) and "draq check" in str(exc)
                continue
            if equal and before[v] == [a]:
                # a's vector now equals b's: a can only be *missed* (search cannot see a forged
                # vector it does not retrieve without reading every feature: draq check does),
                # never returned with someone else's vector.
                assert a not in got
            else:
                assert got == before[v], (v, got, before[v])  # any answer given is the right one

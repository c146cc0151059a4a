"""Forged hnswlib graph files: every header field and a sample of link-list entries are mutated,
the manifest is resealed (its SHA-256 and size recomputed, as a forger would), and the index is
loaded and searched.

Each forged file must either be refused with a ``ValueError`` naming ``ann.hnsw`` or, where the
bytes still describe a valid graph (e.g. an unused neighbour slot), load and answer with valid
ids. A crash (SIGSEGV inside hnswlib) is the bug this guards against, so the loads run in a child
process that prints each mutation before trying it: a dead child names the mutation that killed it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from draqcore.store.ann_index import AnnIndex, AnnParams
from draqcore.store.hnsw_graph import _HEADER, HEADER_BYTES, GraphError, level0_strongly_connected, parse_graph

N, DIM, M = 60, 8, 4


def _build(tmp_path: Path) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(5)
    means = rng.standard_normal((N, DIM)).astype(np.float32)
    ids = np.arange(N) * 3 + 2
    AnnIndex.build(ids, means, AnnParams(M=M, ef_construction=40, ef=20), threads=1).save(tmp_path / "index")
    return tmp_path / "index", means


def _graph_file(index_dir: Path) -> Path:
    man = json.loads((index_dir / "ann.json").read_text())
    return index_dir / man["directory"] / "ann.hnsw"


def _reseal(index_dir: Path) -> None:
    """Recompute the manifest's record of ann.hnsw, as someone forging the file would."""
    manifest = index_dir / "ann.json"
    man = json.loads(manifest.read_text())
    data = _graph_file(index_dir).read_bytes()
    man["files"]["ann.hnsw"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    manifest.write_text(json.dumps(man))


def _layout(data: bytes) -> dict[str, int]:
    head = np.frombuffer(data[:HEADER_BYTES], dtype=_HEADER)[0]
    return {name: int(head[name]) if name != "mult" else 0 for name in _HEADER.names}


def _mutations(data: bytes, rng: np.random.Generator) -> list[tuple[str, int, bytes]]:
    """(description, offset, new bytes) for every header field and sampled link-list entries."""
    out: list[tuple[str, int, bytes]] = []
    lay = _layout(data)
    for name in _HEADER.names:
        off = _HEADER.fields[name][1]
        dt = _HEADER.fields[name][0]
        old = np.frombuffer(data[off : off + dt.itemsize], dtype=dt)[0]
        if dt.kind == "f":
            values = [0.0, -1.0, float(old) * 2, 1e300, float("nan"), float("inf")]
        else:
            info = np.iinfo(dt)
            values = [0, 1, int(old) - 1, int(old) + 1, 50, 2**31 - 1, info.max, info.min]
            if dt.itemsize == 8:
                values.append(2**40)
        for v in values:
            if dt.kind != "f" and not info.min <= v <= info.max:
                continue
            new = np.array([v], dtype=dt).tobytes()
            if new != data[off : off + dt.itemsize]:
                out.append((f"header {name}={v}", off, new))
    per = lay["size_data_per_element"]
    max_m0, max_m = lay["max_M0"], lay["max_M"]
    n = lay["cur_element_count"]
    # Level 0: the count word, neighbour ids (used and unused slots), the label, a vector component.
    for e in rng.choice(n, size=12, replace=False).tolist():
        base = HEADER_BYTES + e * per
        for v in (max_m0 + 1, 0xFFFF, 1 << 16, 1 << 24, 0):
            out.append((f"element {e} level-0 count={v}", base, int(v).to_bytes(4, "little")))
        for slot in (0, max_m0 - 1):
            for v in (n, 2**32 - 1, 2**31, (e + 1) % n):
                out.append((f"element {e} level-0 slot {slot}={v}", base + 4 + 4 * slot, int(v).to_bytes(4, "little")))
        label = base + lay["label_offset"]
        for v in (2**40, 2**64 - 1, 2):
            out.append((f"element {e} label={v}", label, int(v).to_bytes(8, "little")))
        vec = base + lay["offset_data"]
        for v in (float("nan"), 1e30, 0.5):
            out.append((f"element {e} vector[0]={v}", vec, np.array([v], dtype="<f4").tobytes()))
    # Upper levels: walk the size prefixes; mutate sizes, counts and ids.
    pos = HEADER_BYTES + n * per
    links_per = 4 + 4 * max_m
    upper: list[tuple[int, int, int]] = []  # (element, offset of size prefix, level)
    for e in range(n):
        size = int.from_bytes(data[pos : pos + 4], "little")
        upper.append((e, pos, size // links_per))
        pos += 4 + size
    with_levels = [u for u in upper if u[2] > 0]
    assert with_levels, "the test graph should have upper levels"
    for e, off, lvl in with_levels[:6] + [upper[0], upper[-1]]:
        for v in (links_per * 50, links_per * (lvl + 1), 1, 2**32 - 1, 0):
            out.append((f"element {e} link-list size={v}", off, int(v).to_bytes(4, "little")))
        if lvl:
            first = off + 4
            for v in (max_m + 1, 0xFFFF, 0):
                out.append((f"element {e} level-1 count={v}", first, int(v).to_bytes(4, "little")))
            for v in (n, 2**32 - 1, 0):
                out.append((f"element {e} level-1 slot 0={v}", first + 4, int(v).to_bytes(4, "little")))
    return out


_CHILD = textwrap.dedent(
    """
    import json, shutil, sys
    from pathlib import Path
    import numpy as np
    from draqcore.store.ann_index import AnnIndex

    index_dir = Path(sys.argv[1]); work = Path(sys.argv[2])
    cases = json.loads(Path(sys.argv[3]).read_text())
    man = json.loads((index_dir / "ann.json").read_text())
    rel = man["directory"] + "/ann.hnsw"
    original = (index_dir / rel).read_bytes()
    import hashlib
    results = []
    for desc, off, hexbytes in cases:
        print("TRY", desc, flush=True)
        data = bytearray(original)
        new = bytes.fromhex(hexbytes)
        data[off : off + len(new)] = new
        target = work / "index"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(index_dir, target)
        (target / rel).write_bytes(bytes(data))
        m = json.loads((target / "ann.json").read_text())
        m["files"]["ann.hnsw"] = {"sha256": hashlib.sha256(bytes(data)).hexdigest(), "bytes": len(data)}
        (target / "ann.json").write_text(json.dumps(m))
        try:
            index = AnnIndex.load(target)
        except ValueError as exc:
            results.append([desc, "refused", str(exc)])
            continue
        rng = np.random.default_rng(0)
        answers = []
        for k in (1, 5, index.count):
            ids, sims = index.query(rng.standard_normal(index.dim), k)
            answers.append([ids.tolist(), sims.tolist()])
        results.append([desc, "loaded", answers])
    print("RESULTS", json.dumps(results), flush=True)
    """
)


def test_every_forged_header_field_and_link_entry_is_refused_or_harmless(tmp_path: Path) -> None:
    index_dir, _ = _build(tmp_path)
    data = _graph_file(index_dir).read_bytes()
    cases = _mutations(data, np.random.default_rng(11))
    assert len(cases) > 150
    (tmp_path / "cases.json").write_text(json.dumps([[d, o, b.hex()] for d, o, b in cases]))
    (tmp_path / "work").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(index_dir), str(tmp_path / "work"), str(tmp_path / "cases.json")],
        capture_output=True, text=True, timeout=600,
    )
    tried = [line[4:] for line in proc.stdout.splitlines() if line.startswith("TRY ")]
    assert proc.returncode == 0, f"the child died (status {proc.returncode}) on: {tried[-1] if tried else '?'}\n{proc.stderr[-3000:]}"
    results = json.loads(proc.stdout.split("RESULTS ", 1)[1])
    assert len(results) == len(cases)
    original = AnnIndex.load(index_dir)
    valid = set(original.ids.tolist())
    refused = 0
    for desc, outcome, detail in results:
        if outcome == "refused":
            refused += 1
            assert "ann.hnsw" in detail, (desc, detail)
            assert "Traceback" not in detail
            continue
        for (ids, sims), k in zip(detail, (1, 5, N)):
            assert len(ids) == k and len(set(ids)) == k and set(ids) <= valid, desc
            assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in sims), desc
    # Everything but a few harmless edits (unused slots, a neighbour swapped for another valid one)
    # must be refused; header fields never load changed.
    header_loaded = [d for d, o, _ in results if o == "loaded" and d.startswith("header ")]
    assert header_loaded == []
    assert refused >= 0.8 * len(results), [d for d, o, _ in results if o == "loaded"]


def test_forged_graph_is_reported_by_check_and_refused_by_search(tmp_path: Path) -> None:
    """At the collection level: ``draq check`` names the graph file, search and index fail cleanly."""
    from draqcore.cli import main
    from draqcore.collection import Collection
    from draqcore.store.integrity import check_collection
    from draqcore.synthetic import generate_dataset

    truths = generate_dataset(tmp_path / "videos", classes=2, clips_per_class=2, hard_negatives_per_class=0, seed=3,
                              phase_count=3, size=(48, 32), frames=(20, 24), threads=1)
    with Collection.create(tmp_path / "coll") as coll:
        coll.add([Path(t.path) for t in truths])
    index_dir = tmp_path / "coll" / "index"
    graph = _graph_file(index_dir)
    data = bytearray(graph.read_bytes())
    off = _HEADER.fields["label_offset"][1]
    data[off : off + 8] = (2**40).to_bytes(8, "little")  # SIGSEGV in hnswlib before this fix
    graph.write_bytes(bytes(data))
    _reseal(index_dir)
    report = check_collection(tmp_path / "coll")
    assert not report.ok
    assert any("ann.hnsw" in p and "label_offset" in p for p in report.problems), report.problems
    assert main(["check", str(tmp_path / "coll")]) == 1
    code = main(["search", str(truths[0].path), "--collection", str(tmp_path / "coll")])
    assert code == 1
    with Collection.open(tmp_path / "coll") as coll:  # the index is read by the first search, not by open
        with pytest.raises(ValueError, match="ann.hnsw"):
            coll.search(truths[0].path)


def _swap_vectors(data: bytearray, a: int, b: int) -> None:
    lay = _layout(bytes(data))
    per, lo, hi = lay["size_data_per_element"], lay["offset_data"], lay["label_offset"]
    ra = slice(HEADER_BYTES + a * per + lo, HEADER_BYTES + a * per + hi)
    rb = slice(HEADER_BYTES + b * per + lo, HEADER_BYTES + b * per + hi)
    data[ra], data[rb] = bytes(data[rb]), bytes(data[ra])


@pytest.mark.parametrize("forgery", ["swap", "equal", "labels"])
def test_forged_stored_vectors_are_refused(tmp_path: Path, forgery: str) -> None:
    """Vectors swapped between two elements, made equal, or labels swapped: every query would
    silently find the wrong video, so the index refuses to load."""
    index_dir, _ = _build(tmp_path)
    graph = _graph_file(index_dir)
    data = bytearray(graph.read_bytes())
    lay = _layout(bytes(data))
    per = lay["size_data_per_element"]
    if forgery == "swap":
        _swap_vectors(data, 3, 17)
    elif forgery == "equal":
        lo, hi = lay["offset_data"], lay["label_offset"]
        data[HEADER_BYTES + 17 * per + lo : HEADER_BYTES + 17 * per + hi] = data[HEADER_BYTES + 3 * per + lo : HEADER_BYTES + 3 * per + hi]
    else:
        la = HEADER_BYTES + 3 * per + lay["label_offset"]
        lb = HEADER_BYTES + 17 * per + lay["label_offset"]
        data[la : la + 8], data[lb : lb + 8] = bytes(data[lb : lb + 8]), bytes(data[la : la + 8])
    graph.write_bytes(bytes(data))
    _reseal(index_dir)
    with pytest.raises(ValueError, match="not the standardised clip vectors"):
        AnnIndex.load(index_dir)


def test_parsed_graph_answers_like_hnswlib_itself(tmp_path: Path) -> None:
    import hnswlib

    index_dir, means = _build(tmp_path)
    loaded = AnnIndex.load(index_dir)
    assert not loaded.exhaustive
    direct = hnswlib.Index(space="cosine", dim=DIM)
    direct.load_index(str(_graph_file(index_dir)))
    direct.set_ef(20)
    rng = np.random.default_rng(1)
    for _ in range(20):
        q = rng.standard_normal(DIM)
        ids, sims = loaded.query(q, 5)
        want_ids, want_dist = direct.knn_query(loaded.standardize(q).reshape(1, -1), k=5)
        assert ids.tolist() == want_ids[0].astype(np.int64).tolist()
        np.testing.assert_allclose(sims, 1.0 - want_dist[0], rtol=0, atol=1e-6)


def test_a_graph_that_cannot_reach_every_clip_is_answered_exactly(tmp_path: Path) -> None:
    """Emptied level-0 link lists (structurally valid) leave clips unreachable: the index answers
    by comparing with every clip vector instead of missing them."""
    index_dir, means = _build(tmp_path)
    graph = _graph_file(index_dir)
    data = bytearray(graph.read_bytes())
    lay = _layout(bytes(data))
    for e in range(N):
        off = HEADER_BYTES + e * lay["size_data_per_element"]
        data[off : off + 4] = (0).to_bytes(4, "little")
    graph.write_bytes(bytes(data))
    _reseal(index_dir)
    loaded = AnnIndex.load(index_dir)
    assert loaded.exhaustive
    rng = np.random.default_rng(2)
    z = loaded.standardize(loaded.clip_means).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    for _ in range(10):
        q = rng.standard_normal(DIM)
        qz = loaded.standardize(q).astype(np.float64)
        want = loaded.ids[np.argsort(-(z @ (qz / np.linalg.norm(qz))), kind="stable")[:7]]
        ids, sims = loaded.query(q, 7)
        assert ids.tolist() == want.tolist()


def test_strong_connectivity_on_hand_made_graphs() -> None:
    from draqcore.store.hnsw_graph import HnswGraph

    def graph(nbrs: list[list[int]]) -> HnswGraph:
        width = max(len(r) for r in nbrs)
        arr = np.full((len(nbrs), width), -1, dtype=np.int64)
        for i, r in enumerate(nbrs):
            arr[i, : len(r)] = r
        z = np.zeros(len(nbrs))
        return HnswGraph(labels=z, levels=z, vectors=z, neighbours0=arr, _params={})

    assert level0_strongly_connected(graph([[1], [2], [0]]))           # a cycle
    assert not level0_strongly_connected(graph([[1], [2], [1]]))       # 0 unreachable from 1
    assert not level0_strongly_connected(graph([[1], [0], [0]]))       # 2 unreachable
    assert level0_strongly_connected(graph([[1, 2], [0], [1]]))
    assert level0_strongly_connected(graph([[]]))


def test_parse_graph_refuses_short_and_foreign_files() -> None:
    with pytest.raises(GraphError, match="fewer than the 96-byte header"):
        parse_graph(b"\0" * 10, dim=4, count=2, M=4, ef_construction=10)
    with pytest.raises(GraphError, match="header field"):
        parse_graph(b"\0" * 400, dim=4, count=2, M=4, ef_construction=10)

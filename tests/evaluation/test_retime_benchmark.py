"""draq eval retime on real footage (draqcore.evaluation.retime_benchmark)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from draqcore.cli import main
from draqcore.evaluation.retime_benchmark import evaluate_retiming
from draqcore.evaluation.retime_warps import render_warp, standard_warps, time_errors
from draqcore.video import native_timeline


def test_alignment_beats_a_uniform_stretch_on_real_footage(footage, tmp_path):
    src = footage("carphone")
    report = evaluate_retiming([src], tmp_path, warps=["freeze", "mix"])
    assert [r.warp for r in report.rows] == ["freeze", "mix"]
    tl = native_timeline(src)
    for row in report.rows:
        # baseline: map A onto B by stretching A's duration uniformly (no alignment at all)
        warp = standard_warps(float(tl[0]), float(tl[-1]))[row.warp]
        retimed = render_warp(src, tmp_path / f"base_{row.warp}.mp4", warp)
        ta = retimed.frame_times
        stretch = tl[0] + (ta - ta[0]) * (tl[-1] - tl[0]) / (ta[-1] - ta[0])
        base = time_errors(retimed, ta, stretch, source_timeline=tl)
        assert row.frames == ta.size and 0 <= row.mean <= row.p90 <= row.max
        assert row.mean < 0.5 * base.mean
    assert set(report.pooled) == {"freeze", "mix", "all"}
    assert not list(tmp_path.glob("**/freeze.mp4"))  # copies removed unless keep_videos


def test_cli_retime_json_and_errors(footage, tmp_path, capsys):
    src = footage("carphone")
    assert main(["eval", "retime", str(src), "--warps", "speed2", "--out", str(tmp_path / "o"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"][0]["warp"] == "speed2" and doc["pooled"]["all"]["frames"] == doc["rows"][0]["frames"]
    assert doc["rows"][0]["warp_knots"]["name"] == "speed2" and doc["refined"] is True
    assert main(["eval", "retime", str(src), "--warps", "speed2", "--out", str(tmp_path / "n"), "--json", "--no-refine", "--no-context"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert raw["refined"] is False and raw["contextualized"] is False and raw["rows"][0]["frames"] == doc["rows"][0]["frames"]
    assert (tmp_path / "o" / "retime.md").exists()
    assert main(["eval", "retime", "--out", str(tmp_path / "p")]) == 1
    assert "at least one video" in capsys.readouterr().err
    assert main(["eval", "retime", str(src), "--warps", "wobble", "--out", str(tmp_path / "q")]) == 1
    assert "unknown warp" in capsys.readouterr().err
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert main(["eval", "retime", str(broken), "--out", str(tmp_path / "r"), "--quiet"]) == 1

from __future__ import annotations

import csv
import json

import numpy as np
from outputs_media import decode_audio, decode_video

import draqcore
from draqcore.cli import main
from draqcore.outputs.timemap import TimeMap


def test_align_out_writes_json_that_explains_the_csv(warped_pair, tmp_path, capsys):
    out = tmp_path / "aligned"
    assert main(["align", str(warped_pair.a), str(warped_pair.b), "--out", str(out), "--height", "100", "--quiet"]) == 0
    summary = json.loads((out / "alignment.json").read_text(encoding="utf-8"))
    assert summary["draqcore_version"] == draqcore.__version__
    assert summary["draq"] == summary["dtw_cost"] / summary["random_cost"]
    assert summary["sample_fps"] == 10.0
    assert summary["a"]["file"] == "bikes_a.mp4" and summary["b"]["file"] == "bikes_b.mp4"
    assert summary["a"]["native_frames"] == 100
    assert summary["segment"] is None
    path = np.asarray(summary["path"])
    assert path[0].tolist() == [0, 0]
    assert path[-1].tolist() == [len(summary["a"]["sampled_times"]) - 1, len(summary["b"]["sampled_times"]) - 1]
    assert set(summary["files"].values()) >= {"alignment.csv", "side_by_side.mp4", "cost_matrix.png", "alignment.json", "timeline.otio"}
    # The JSON alone reproduces the CSV: its time map, evaluated at A's frame times, lands on the
    # CSV's B frame (nearest decoded frame of B, 25 fps: within half a frame).
    tm = TimeMap(summary["time_map"]["time_a"], summary["time_map"]["time_b"])
    with (out / "alignment.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 100
    ta = np.array([float(r["time_a"]) for r in rows])
    tb = np.array([float(r["time_b"]) for r in rows])
    assert np.abs(tm(ta) - tb).max() <= 0.5 / 25 + 1e-6
    # The side-by-side video: H.264, A's frames at A's rate, --height, A's audio.
    frames, _, info = decode_video(out / "side_by_side.mp4")
    assert info["codec"] == "h264" and info["height"] == 100 and len(frames) == 100
    assert decode_audio(out / "side_by_side.mp4") is not None


def test_json_keeps_non_ascii_names(warped_pair, warped_alignment, tmp_path):
    from draqcore.outputs.alignment_json import write_alignment_json

    p = write_alignment_json(warped_alignment, tmp_path / "ä.json", files={"csv": tmp_path / "Überblick.csv"})
    assert "Überblick.csv" in p.read_text(encoding="utf-8")

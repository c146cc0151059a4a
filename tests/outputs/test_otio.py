from __future__ import annotations

import csv

import numpy as np
import opentimelineio as otio
import pytest

from draqcore.outputs.otio import B_TRACK, build_timeline, evaluate_timeline, write_timeline
from draqcore.outputs.timemap import TimeMap
from draqcore.video import native_fps, native_timeline


def test_timeline_round_trips_and_reproduces_the_csv(warped_alignment, tmp_path):
    al = warped_alignment
    path = write_timeline(al, tmp_path / "timeline.otio")
    back = otio.adapters.read_from_file(str(path))
    assert otio.adapters.write_to_string(back) == path.read_text()
    assert back.is_equivalent_to(otio.adapters.read_from_string(otio.adapters.write_to_string(back)))
    assert [t.name for t in back.tracks] == ["A", B_TRACK]
    assert back.tracks[0].duration().to_seconds() == pytest.approx(4.0)
    assert back.tracks[1].duration().to_seconds() == pytest.approx(4.0)
    effects = [type(e).__name__ for c in back.tracks[1] for e in c.effects]
    assert "LinearTimeWarp" in effects  # B runs at other speeds than A
    assert back.tracks[1][0].media_reference.target_url.endswith("bikes_b.mp4")

    csv_path = al.native_mapping().write_csv(tmp_path / "alignment.csv")
    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    ta = np.array([float(r["time_a"]) for r in rows])
    tb = np.array([float(r["time_b"]) for r in rows])
    # The CSV holds B's decoded frame nearest to the map: within one frame of B (25 fps).
    got = evaluate_timeline(back, ta)
    assert np.abs(got - tb).max() <= 1 / native_fps(al.b.path) + 1e-6
    # (+ 0.1 ms: clip starts are stored to a thousandth of a frame)
    assert np.abs(got - TimeMap.from_alignment(al)(ta)).max() <= 0.45 / native_fps(al.b.path) + 1e-4
    # B was made from two constant speeds: a handful of clips, not one per frame of A.
    assert len(back.tracks[1]) <= 12, len(back.tracks[1])


def test_freeze_and_speed_pieces():
    tm = TimeMap([0.0, 1.0, 2.0, 3.0], [0.0, 2.0, 2.0, 2.5])  # x2, freeze, x0.5
    tl = build_timeline(tm, "a.mp4", "b.mp4", fps_a=30, fps_b=24, frames_a=100, frames_b=80)
    clips = list(tl.tracks[1])
    assert [type(c.effects[0]).__name__ if c.effects else None for c in clips] == [
        "LinearTimeWarp", "FreezeFrame", "LinearTimeWarp", "FreezeFrame"
    ]
    assert [c.effects[0].time_scalar for c in clips] == [2.0, 0.0, 0.5, 0.0]
    assert [c.source_range.duration.value for c in clips] == [30, 30, 30, 10]  # A's frames
    t = np.arange(100) / 30
    assert np.allclose(evaluate_timeline(tl, t), tm(t), atol=1e-9)


def test_a_missing_track_is_an_error():
    with pytest.raises(ValueError, match="re-timed"):
        evaluate_timeline(otio.schema.Timeline(), [0.0])


def test_simplified_map_stays_within_tolerance(rng):
    ta = np.arange(500) / 25.0
    tb = np.cumsum(rng.uniform(0.0, 0.08, 500))
    tm = TimeMap(ta, tb)
    for tol in (0.0, 0.01, 0.05):
        simple = tm.simplified(tol)
        assert simple.time_a[0] == ta[0] and simple.time_a[-1] == ta[-1]
        assert np.abs(simple(ta) - tb).max() <= tol + 1e-9
    assert len(tm.simplified(0.05).time_a) < len(tm.simplified(0.01).time_a) < 500
    line = TimeMap(ta, 2.0 * ta + 1.0)
    assert len(line.simplified(0.0).time_a) == 2

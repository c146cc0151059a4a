"""Subsequence alignment: a re-timed excerpt found inside a longer real video, and segment hits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from draqcore.align import align_videos
from draqcore.cli import main
from draqcore.collection import Collection
from draqcore.evaluation.retime_warps import concatenate, render_warp, standard_warps, time_errors
from draqcore.segments import open_end_path


def _reference_subsequence_cost(c: np.ndarray) -> float:
    """Open-begin, open-end DTW by the textbook recurrence (slow, obviously correct)."""
    n, m = c.shape
    d = np.full((n, m), np.inf)
    d[0] = c[0]
    for i in range(1, n):
        for j in range(m):
            best = d[i - 1, j]
            if j > 0:
                best = min(best, d[i - 1, j - 1], d[i, j - 1])
            d[i, j] = c[i, j] + best
    return float(d[-1].min())


def test_open_end_path_is_an_optimal_subsequence_path(rng):
    for _ in range(100):
        n, m = int(rng.integers(1, 7)), int(rng.integers(1, 10))
        c = rng.random((n, m)).astype(np.float32)
        p = open_end_path(c)
        assert p[0, 0] == 0 and p[-1, 0] == n - 1
        steps = np.diff(p, axis=0)
        assert np.all((steps >= 0) & (steps <= 1)) and np.all(steps.sum(axis=1) >= 1)
        assert c[p[:, 0], p[:, 1]].astype(np.float64).sum() == pytest.approx(_reference_subsequence_cost(c), abs=1e-5)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory, footage):
    root = tmp_path_factory.mktemp("segments")
    cat = concatenate([footage("carphone"), footage("bikes"), footage("carphone")], root / "long.mp4", fps=25.0,
                      size=(176, 144))
    return root, cat


def test_excerpt_is_found_inside_the_long_video(long_video):
    root, cat = long_video
    s0 = cat.parts[1][1] + 3.0  # 3 s into the bikes part
    warp = standard_warps(s0, s0 + 4.0)["mix"]
    excerpt = render_warp(cat.path, root / "excerpt.mp4", warp)
    al = align_videos(excerpt.path, cat.path, subsequence=True)
    seg = al.segment
    assert seg is not None
    assert abs(seg.start - warp.source_span[0]) <= 0.25 and abs(seg.end - warp.source_span[1]) <= 0.25
    m = al.native_mapping()
    assert len(m.time_a) == len(excerpt.frame_times)
    assert time_errors(excerpt, m.time_a, m.time_b).mean <= 0.06
    np.testing.assert_array_equal(al.match(keep=0)[[0, -1]], al.path[[0, -1], 1])


def test_cli_align_subsequence_writes_the_segment(long_video, capsys):
    root, cat = long_video
    s0 = cat.parts[1][1] + 2.0
    excerpt = render_warp(cat.path, root / "cli_excerpt.mp4", standard_warps(s0, s0 + 3.0)["speed2"])
    out = root / "aligned"
    assert main(["align", str(excerpt.path), str(cat.path), "--subsequence", "--out", str(out), "--quiet"]) == 0
    assert "segment of B:" in capsys.readouterr().out
    summary = json.loads((out / "alignment.json").read_text())
    assert abs(summary["segment"]["start"] - s0) <= 0.25 and abs(summary["segment"]["end"] - (s0 + 3.0)) <= 0.25
    rows = (out / "alignment.csv").read_text().splitlines()
    assert rows[0] == "frame_a,time_a,frame_b,time_b" and len(rows) == len(excerpt.frame_times) + 1


def test_search_returns_the_segment_of_the_long_video(long_video, footage, tmp_path):
    root, cat = long_video
    s0 = cat.parts[1][1] + 4.0
    excerpt = render_warp(cat.path, root / "query.mp4", standard_warps(s0, s0 + 3.0)["freeze"])
    with Collection.create(tmp_path / "coll") as coll:
        coll.add([cat.path, footage("pexels_face"), footage("cup")])
        hits = coll.search(excerpt.path, top=5)
    best = hits[0]
    assert best.path.endswith("long.mp4") and best.subsequence
    inter = max(0.0, min(best.end, s0 + 3.0) - max(best.start, s0))
    union = max(best.end, s0 + 3.0) - min(best.start, s0)
    assert inter / union >= 0.7
    # several hits of the long video never overlap
    same = sorted((h.start, h.end) for h in hits if h.video_id == best.video_id)
    assert all(a[1] < b[0] for a, b in zip(same, same[1:]))
    d = best.to_dict()
    assert d["start"] == best.start and d["end"] == best.end


def test_ease_out_end_is_found_past_a_late_coarse_end(tmp_path, footage):
    # Real footage (box, 3-13 s of its part) re-timed with the ease warp: its last second shows
    # almost one frame. The sampled subsequence path, whose features include optical flow (near
    # zero in the excerpt's end, not in the source there), ends 0.7 s late on the still frames
    # after it -- further than the 0.5 s refinement corridor. The open-ended corridor
    # (refine.open_end_corridor) lets native-rate refinement bring the end back.
    cat = concatenate([footage("bikes"), footage("pexels_face"), footage("box")], tmp_path / "long.mp4", fps=25.0,
                      size=(176, 144))
    s0 = cat.parts[2][1] + 3.0
    warp = standard_warps(s0, s0 + 10.0)["ease"]
    excerpt = render_warp(cat.path, tmp_path / "ease.mp4", warp)
    al = align_videos(excerpt.path, cat.path, subsequence=True)
    assert al.b.times[al.segment.span[1]] - warp.source_span[1] > 0.5  # the coarse end is late
    assert abs(al.segment.start - warp.source_span[0]) <= 0.1 and abs(al.segment.end - warp.source_span[1]) <= 0.1
    m = al.native_mapping()
    err = time_errors(excerpt, m.time_a, m.time_b)
    assert err.mean <= 0.03 and err.max <= 0.1

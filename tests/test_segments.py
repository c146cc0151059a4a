"""Subsequence alignment: a re-timed excerpt found inside a longer real video, and segment hits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from draqcore.align import align_videos
from draqcore.cli import main
from draqcore.collection import Collection
from draqcore.evaluation.retime_warps import concatenate, render_warp, standard_warps, time_errors
from draqcore.segments import match_segments, open_end_path


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


def test_band_applies_to_the_segment_scoring_only(rng):
    # A smooth trajectory (like a video's frame features) and a query that is frames 200..259 of it.
    steps = np.cumsum(rng.standard_normal((400, 16)), axis=0).astype(np.float32)
    query = steps[200:260] + 0.05 * rng.standard_normal((60, 16)).astype(np.float32)
    free = match_segments(query, [steps])[0]
    banded = match_segments(query, [steps], band=3)[0]  # a band cannot apply to open ends: stage 1 is unbanded
    assert free.span == banded.span and abs(free.span[0] - 200) <= 2 and abs(free.span[1] - 259) <= 2
    assert banded.dtw_cost >= free.dtw_cost - 1e-4  # a banded path is never cheaper


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
    late = al.b.times[al.segment.span[1]] - warp.source_span[1]
    assert late > 0.5, f"the sampled end is only {late:.2f} s late: this test no longer exercises the widened ends"
    assert abs(al.segment.start - warp.source_span[0]) <= 0.1 and abs(al.segment.end - warp.source_span[1]) <= 0.1
    m = al.native_mapping()
    err = time_errors(excerpt, m.time_a, m.time_b)
    assert err.mean <= 0.03 and err.max <= 0.1


@pytest.fixture(scope="module")
def padded_and_slow(tmp_path_factory, footage):
    """Real footage (bikes, 10 s) re-timed into two candidates shorter than SUBSEQUENCE_RATIO
    times the query, and one longer: ``padded``: 1.44 s of other footage (carphone), then bikes
    with its first half at 2x and its second at 0.5x (13.9 s, 1.4x the query); ``slow``: all of
    bikes at 0.6x (16.5 s, 1.67x: alignable end to end); ``slower``: all of bikes at 0.8x."""
    from draqcore.evaluation.retime_warps import constant_speed, piecewise_speed
    from draqcore.video import native_timeline

    root = tmp_path_factory.mktemp("probe")
    src = footage("bikes")
    d = float(native_timeline(src)[-1])
    pad = render_warp(footage("carphone"), root / "pad.mp4", constant_speed(1.0, 0.5, 2.0)).path
    mixed = render_warp(src, root / "mixed.mp4", piecewise_speed([(d / 2, 2.0), (d / 2, 0.5)])).path
    padded = concatenate([pad, mixed], root / "padded.mp4", fps=25.0, size=(176, 144))
    slow = render_warp(src, root / "slow.mp4", constant_speed(0.6, 0.0, d))
    slower = render_warp(src, root / "slower.mp4", constant_speed(0.8, 0.0, d))
    # all of bikes: 1 s at 0.5x, 4 s at 2x, the rest at 1x (d - 1 s long): subsequence DTW, which
    # minimises a sum of costs, prefers to skip the slow start, but that start is the query's own
    slow_start = render_warp(src, root / "slow_start.mp4", piecewise_speed([(1.0, 0.5), (4.0, 2.0), (d - 5.0, 1.0)]))
    return src, padded, slow, slower, slow_start


def _search(root, videos, query, **kw):
    """Top hits of ``query`` with ``subsequence=None`` (default) and forced ``False``."""
    with Collection.create(root) as coll:
        coll.add(list(videos))
        return coll.search(query, top=3, **kw), coll.search(query, top=3, subsequence=False, **kw)


def test_search_finds_the_query_after_padding_in_a_short_candidate(padded_and_slow, footage, tmp_path):
    src, padded, _, _, _ = padded_and_slow
    true0, true1 = padded.parts[1][1], padded.parts[1][2]
    hits, whole = _search(tmp_path / "c", [padded.path, footage("cup"), footage("carphone")], src)
    best = hits[0]
    assert best.path.endswith("padded.mp4") and best.subsequence
    inter = max(0.0, min(best.end, true1) - max(best.start, true0))
    assert inter / (max(best.end, true1) - min(best.start, true0)) >= 0.85
    assert abs(best.start - true0) <= 0.25  # not pinned to the padding's first frame
    # end to end (the paper's re-ranking, forced) pins the query's first frame to the padding
    assert whole[0].path == best.path and whole[0].start == 0.0 and best.draq < whole[0].draq


def test_search_keeps_whole_matches_of_candidates_that_hold_only_the_query(padded_and_slow, footage, tmp_path):
    src, _, slow, slower, slow_start = padded_and_slow
    hits, whole = _search(tmp_path / "c", [slow.path, slower.path, footage("cup")], src)
    by_name = {h.path.rsplit("/", 1)[-1]: h for h in hits}
    whole_by_name = {h.path.rsplit("/", 1)[-1]: h for h in whole}
    assert {h.path.rsplit("/", 1)[-1] for h in hits[:2]} == {"slow.mp4", "slower.mp4"}
    # 1.67x the query (matched by segment): the segment is the whole video, DRAQ as end to end
    long, long_whole = by_name["slow.mp4"], whole_by_name["slow.mp4"]
    assert long.subsequence and long.start <= 0.3 and long.end >= long_whole.end - 0.3
    assert abs(long.draq - long_whole.draq) <= 0.02
    # 1.25x (below the ratio): the probe finds nothing outside the query, the match stays whole
    short = by_name["slower.mp4"]
    assert not short.subsequence and short.start == 0.0 and short.draq == whole_by_name["slower.mp4"].draq
    # shorter than the query, its slow start left out by the best segment, but matched by the
    # query's first second: not foreign footage, the match stays whole
    hits, whole = _search(tmp_path / "s", [slow_start.path, footage("cup")], src)
    assert hits[0].path.endswith("slow_start.mp4") and not hits[0].subsequence and hits[0].start == 0.0
    assert hits[0].draq == whole[0].draq

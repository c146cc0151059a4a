"""Known monotone warps of real footage and their exact time maps."""

from __future__ import annotations

import numpy as np
import pytest

from draqcore import video
from draqcore.evaluation.retime_warps import (
    TimeWarp,
    concatenate,
    constant_speed,
    ease_in_out,
    piecewise_speed,
    render_warp,
    standard_warps,
    time_errors,
    with_freezes,
)


def test_piecewise_speed_knots_by_hand():
    w = piecewise_speed([(2.0, 1.0), (1.0, 0.5), (0.5, 0.0), (2.0, 2.0)], start=3.0)
    np.testing.assert_allclose(w.out_knots, [0.0, 2.0, 4.0, 4.5, 5.5])
    np.testing.assert_allclose(w.src_knots, [3.0, 5.0, 6.0, 6.0, 8.0])
    assert w.duration == 5.5 and w.source_span == (3.0, 8.0)
    np.testing.assert_allclose(w.source_time([0.0, 1.0, 3.0, 4.2, 5.0, 99.0]), [3.0, 4.0, 5.5, 6.0, 7.0, 8.0])


def test_builders_are_monotone_and_cover_the_interval():
    for w in standard_warps(1.0, 9.0).values():
        assert w.source_span == pytest.approx((1.0, 9.0))
        assert np.all(np.diff(w.source_time(np.linspace(0, w.duration, 1000))) >= 0)
    assert constant_speed(2.0, 0.0, 4.0).duration == pytest.approx(2.0)
    assert with_freezes(0.0, 4.0, [1.0, 3.0], 0.5).duration == pytest.approx(5.0)
    e = ease_in_out(0.0, 4.0, 8.0)
    assert e.source_time(4.0) == pytest.approx(2.0)  # half way at half time
    assert e.source_time(0.8) < 0.1  # slow start


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: TimeWarp("x", np.array([0.0, 1.0]), np.array([1.0, 0.5])), "non-decreasing"),
        (lambda: TimeWarp("x", np.array([0.5, 1.0]), np.array([0.0, 1.0])), "start at 0"),
        (lambda: TimeWarp("x", np.array([0.0]), np.array([0.0])), "length >= 2"),
        (lambda: piecewise_speed([(1.0, -1.0)]), "speed"),
        (lambda: constant_speed(1.0, 2.0, 1.0), "exceed"),
        (lambda: with_freezes(0.0, 2.0, [3.0]), "inside"),
    ],
)
def test_bad_warps_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_knots_are_copied_not_aliased():
    t = np.array([0.0, 1.0])
    w = TimeWarp("x", t, np.array([0.0, 2.0]))
    t[1] = 5.0
    assert w.duration == 1.0


def _frame_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


@pytest.mark.parametrize("name", ["speed2", "freeze", "mix"])
def test_render_copies_the_nearest_source_frame(tmp_path, footage, name):
    src = footage("carphone")
    timeline = video.native_timeline(src)
    warp = standard_warps(0.0, float(timeline[-1]))[name]
    out = render_warp(src, tmp_path / f"{name}.mp4", warp)
    fps = video.native_fps(src)
    assert len(out.frame_times) == int(np.floor(warp.duration * fps + 1e-9)) + 1
    np.testing.assert_allclose(out.frame_times, np.arange(len(out.frame_times)) / fps, atol=2e-3)
    np.testing.assert_allclose(out.source_times, warp.source_time(out.frame_times))
    # the copied frame is the one nearest in time ...
    nearest = np.abs(timeline[out.source_frames] - out.source_times)
    assert np.all(nearest <= 0.5 / fps + 1e-3)
    # ... and the written picture really is that frame (lossy codec: closest among its neighbours)
    source = video.read_sampled(src, None).frames
    written = video.read_sampled(out.path, None).frames
    for k in range(0, len(written), 7):
        f = int(out.source_frames[k])
        own = _frame_distance(written[k], source[f])
        others = [_frame_distance(written[k], source[g]) for g in (f - 2, f + 2) if 0 <= g < len(source)]
        assert own < min(others)
    csv = out.write_csv(tmp_path / "truth.csv").read_text().splitlines()
    assert csv[0] == "frame,time,source_time,source_frame" and len(csv) == len(written) + 1


def test_time_errors_scores_exact_and_shifted_maps(tmp_path, footage):
    src = footage("carphone")
    warp = constant_speed(0.5, 1.0, 3.0)
    out = render_warp(src, tmp_path / "slow.mp4", warp)
    exact = time_errors(out, out.frame_times, out.source_times)
    assert exact.mean == 0.0 and exact.max == 0.0
    shifted = time_errors(out, out.frame_times, out.source_times + 0.1)
    assert shifted.mean == pytest.approx(0.1) and shifted.p90 == pytest.approx(0.1)
    # a 2x slow-down forces about every other row to repeat a source frame
    assert 0.4 <= exact.repeated_b_truth <= 0.6
    with pytest.raises(ValueError, match="rows"):
        time_errors(out, out.frame_times[:-1], out.source_times[:-1])


def test_warp_beyond_the_source_is_refused(tmp_path, footage):
    src = footage("carphone")
    with pytest.raises(ValueError, match="ends at"):
        render_warp(src, tmp_path / "x.mp4", constant_speed(1.0, 0.0, 60.0))


def test_concatenate_reports_where_each_part_lies(tmp_path, footage):
    a, b = footage("carphone"), footage("bikes")
    cat = concatenate([a, b, a], tmp_path / "long.mp4", fps=25.0, size=(176, 144))
    total = video.native_timeline(cat.path)
    (pa, s0, e0), (pb, s1, e1), (_, s2, e2) = cat.parts
    assert s0 == 0.0 and pa == a and pb == b
    assert s1 == pytest.approx(e0 + 0.04) and s2 == pytest.approx(e1 + 0.04)
    assert e0 == pytest.approx(video.native_timeline(a)[-1], abs=0.04)
    assert e2 == pytest.approx(total[-1])

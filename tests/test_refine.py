"""Native-rate refinement: frame-accurate time maps on real footage re-timed with known warps."""

from __future__ import annotations

import numpy as np
import pytest

from draqcore import video
from draqcore.align import align_videos
from draqcore.evaluation.retime_warps import render_warp, standard_warps, time_errors
from draqcore.features import default_extractor
from draqcore.refine import appearance_features, corridor, open_end_corridor


@pytest.fixture(scope="module")
def carphone_warps(tmp_path_factory, footage):
    src = footage("carphone")
    end = float(video.native_timeline(src)[-1])
    root = tmp_path_factory.mktemp("refine")
    warps = standard_warps(0.0, end)
    return src, {n: render_warp(src, root / f"{n}.mp4", warps[n]) for n in ("speed2", "freeze", "mix")}


@pytest.mark.parametrize("name", ["speed2", "freeze", "mix"])
def test_default_alignment_follows_the_true_speed_curve(carphone_warps, name):
    src, retimed = carphone_warps
    out = retimed[name]
    mapping = align_videos(out.path, src).native_mapping()
    assert len(mapping.frame_a) == len(out.frame_times)
    assert (np.diff(mapping.frame_b) >= 0).all()
    err = time_errors(out, mapping.time_a, mapping.time_b)
    assert err.mean <= 0.04 and err.p90 <= 0.10
    # frames of b repeat only as often as the warp itself makes them (freezes, slow parts)
    assert err.repeated_b <= err.repeated_b_truth + 0.05


def test_refinement_beats_interpolating_the_sampled_path(carphone_warps):
    src, retimed = carphone_warps
    out = retimed["speed2"]
    fine = align_videos(out.path, src).native_mapping()
    coarse = align_videos(out.path, src, refine=False).native_mapping()
    e_fine = time_errors(out, fine.time_a, fine.time_b)
    e_coarse = time_errors(out, coarse.time_a, coarse.time_b)
    assert e_fine.mean < 0.5 * e_coarse.mean


def test_corridor_by_hand():
    path = np.array([[0, 0], [1, 1], [1, 2], [2, 3]])
    times_a = np.array([0.0, 0.1, 0.2])
    times_b = np.array([0.0, 0.1, 0.2, 0.3])
    lo, hi = corridor(path, times_a, times_b, np.array([0.0, 0.05, 0.1, 0.15, 0.2]), 0.05)
    # native 0.05 lies between samples 0 (b 0.0) and 1 (b 0.1..0.2)
    np.testing.assert_allclose(lo, [-0.05, -0.05, 0.05, 0.05, 0.25])
    np.testing.assert_allclose(hi, [0.25, 0.25, 0.35, 0.35, 0.35])


def test_open_end_corridor_by_hand():
    ta = np.arange(0.0, 3.01, 0.5)  # 7 native frames of a, 0.5 s apart
    lo = np.array([1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    hi = lo + 1.0
    lo_in, hi_in = lo.copy(), hi.copy()
    new_lo, new_hi = open_end_corridor(lo, hi, ta, slack=1.0)
    # first second (rows 0-2): lo lowered by 1 s, hi held at its value at 1 s (row 2)
    # last second (rows 4-6): lo held at its value 1 s before the end (row 4), hi raised by 1 s
    np.testing.assert_allclose(new_lo, [0.0, 0.0, 0.0, 2.5, 3.0, 3.0, 3.0])
    np.testing.assert_allclose(new_hi, [3.0, 3.0, 3.0, 3.5, 6.0, 6.0, 6.0])
    assert np.all(np.diff(new_lo) >= 0) and np.all(np.diff(new_hi) >= 0) and np.all(new_lo <= new_hi)
    np.testing.assert_array_equal(lo, lo_in)  # inputs untouched
    np.testing.assert_array_equal(hi, hi_in)
    same_lo, same_hi = open_end_corridor(lo, hi, ta, slack=0.0)
    np.testing.assert_array_equal(same_lo, lo)
    np.testing.assert_array_equal(same_hi, hi)


def test_appearance_features_drop_the_motion_block(rng):
    ex = default_extractor()
    f = rng.standard_normal((5, ex.dim)).astype(np.float32)
    before = f.copy()
    g = appearance_features(f, ex)
    flow = ex.block_slices["flow"]
    assert g.shape == (5, ex.dim - (flow.stop - flow.start))
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(f, before)

    class Plain:
        pass

    assert appearance_features(f, Plain()) is not None
    np.testing.assert_array_equal(appearance_features(f, Plain()), f)


def test_time_window_of_a_decode(footage):
    src = footage("carphone")
    every = video.native_timeline(src)
    part = list(video.iter_sampled_frames(src, None, start=1.0, end=2.0))
    times = np.array([f.time for f in part])
    np.testing.assert_array_equal(times, every[(every >= 1.0) & (every <= 2.0)])
    assert part[0].index == int(np.searchsorted(every, 1.0))
    with pytest.raises(ValueError, match="before start"):
        video.iter_sampled_frames(src, None, start=2.0, end=1.0)
    with pytest.raises(ValueError, match="start"):
        video.iter_sampled_frames(src, None, start=-1.0)


def test_segment_ends_ignore_a_stuck_first_rows():
    from draqcore.refine import segment_ends

    ta = np.arange(100) / 25.0  # 4 s of a at 25 fps
    tb = 10.0 + 2.0 * ta  # b played twice as fast, starting at 10 s
    stuck = tb.copy()
    stuck[:5] = tb[5]  # the first 5 rows matched late (static first frames)
    start, end = segment_ends(ta, stuck)
    assert start == pytest.approx(10.0, abs=1e-9) and end == pytest.approx(tb[-1], abs=1e-9)
    # a mapping that really starts with a freeze keeps it
    frozen = np.where(ta < 0.5, 10.0, 10.0 + 2.0 * (ta - 0.5))
    assert segment_ends(ta, frozen)[0] == pytest.approx(10.0, abs=0.05)

"""Aligning real video files: a clip against a re-timed copy of itself recovers the warp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from draqcore.align import align_videos, nearest_sorted
from draqcore.synthetic import make_action_classes, render_clip, retime_clip
from draqcore.video import VideoReadError, native_timeline


@pytest.fixture(scope="module")
def clip_and_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("align")
    action = make_action_classes(1, seed=3)[0]
    source = render_clip(action, root / "source.mp4", seed=11, frames=60)
    copy = retime_clip(source, root / "retimed.mp4", seed=5)
    return source, copy


def test_retimed_copy_recovers_the_known_warp(clip_and_copy):
    source, copy = clip_and_copy
    alignment = align_videos(copy.truth.path, source.path, sample_fps=None)
    mapping = alignment.native_mapping()
    assert len(mapping.frame_a) == len(copy.source_index)
    # Compare in canonical time: static lead-in/tail frames are identical, so any frame of
    # them is a correct match; canonical time is the same for all of them.
    got = source.canonical_time[mapping.frame_b]
    want = copy.truth.canonical_time
    assert np.abs(got - want).mean() < 0.02
    assert np.abs(got - want).max() < 0.1
    assert (np.diff(mapping.frame_b) >= 0).all()
    assert alignment.draq < 0.5


def test_alignment_csv_has_one_row_per_decoded_frame(clip_and_copy, tmp_path):
    source, copy = clip_and_copy
    alignment = align_videos(source.path, copy.truth.path)
    out = alignment.native_mapping().write_csv(tmp_path / "alignment.csv")
    lines = out.read_text().splitlines()
    assert lines[0] == "frame_a,time_a,frame_b,time_b"
    rows = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
    timeline_a = native_timeline(source.path)
    timeline_b = native_timeline(copy.truth.path)
    assert len(rows) == len(timeline_a)
    np.testing.assert_array_equal(rows[:, 0], np.arange(len(timeline_a)))
    np.testing.assert_allclose(rows[:, 1], timeline_a, atol=1e-6)
    np.testing.assert_allclose(rows[:, 3], timeline_b[rows[:, 2].astype(int)], atol=1e-6)
    assert (np.diff(rows[:, 2]) >= 0).all()


def test_contextualization_can_be_switched_off(clip_and_copy):
    source, copy = clip_and_copy
    with_context = align_videos(source.path, copy.truth.path)
    without = align_videos(source.path, copy.truth.path, contextualize=False)
    assert with_context.contextualized and not without.contextualized
    assert with_context.cost.shape == without.cost.shape
    assert not np.array_equal(with_context.cost, without.cost)


def test_unreadable_video_is_named(tmp_path, clip_and_copy):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        align_videos(clip_and_copy[0].path, bad)


def test_nearest_sorted():
    values = np.array([0.0, 1.0, 2.0, 4.0])
    np.testing.assert_array_equal(nearest_sorted(values, np.array([-1, 0.4, 0.5, 0.6, 3.1, 9])), [0, 0, 0, 1, 3, 3])
    np.testing.assert_array_equal(nearest_sorted(np.array([5.0]), np.array([0.0, 9.0])), [0, 0])

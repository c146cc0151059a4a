"""Window definitions of long videos (draqcore.store.windows): bounds, means, labels."""

from __future__ import annotations

import numpy as np
import pytest

from draqcore.store.windows import (LABEL_BITS, LONG_WINDOWS, label_video, label_window, window_bounds, window_counts,
                                    window_frames, window_labels, window_means)


def test_window_frames_follow_seconds() -> None:
    assert window_frames(10.0) == (80, 40)
    assert window_frames(5.0) == (40, 20)
    assert window_frames(0.01) == (1, 1)
    with pytest.raises(ValueError, match="sample_fps"):
        window_frames(0.0)
    with pytest.raises(ValueError, match="sample_fps"):
        window_frames(float("nan"))


@pytest.mark.parametrize("frames", [81, 100, 119, 120, 121, 333, 1000])
def test_windows_cover_every_frame_with_full_length(frames: int) -> None:
    length, stride = window_frames(5.0)
    b = window_bounds(frames, 5.0)
    assert b.dtype == np.int64 and b.shape[1] == 2 and b.shape[0] >= 3
    assert ((b[:, 1] - b[:, 0]) == length).all()
    assert b[0, 0] == 0 and b[-1, 1] == frames
    assert (np.diff(b[:, 0]) > 0).all() and (np.diff(b[:, 0]) <= stride).all()
    covered = np.zeros(frames, dtype=bool)
    for lo, hi in b:
        covered[lo:hi] = True
    assert covered.all()


def test_short_videos_have_no_windows() -> None:
    length, _ = window_frames(5.0)
    assert window_bounds(int(LONG_WINDOWS * length), 5.0).shape == (0, 2)
    assert window_bounds(int(LONG_WINDOWS * length) + 1, 5.0).shape[0] > 0
    assert window_means(np.ones((10, 3)), 5.0).shape == (0, 3)


def test_window_means_equal_plain_means_for_any_input(rng: np.random.Generator) -> None:
    f = rng.normal(size=(130, 7))
    want = np.stack([f[lo:hi].mean(axis=0) for lo, hi in window_bounds(130, 5.0)])
    for given in (f, f.astype(np.float16), np.asfortranarray(f), (f * 100).astype(np.int32)):
        copy = given.copy()
        got = window_means(given, 5.0)
        ref = np.stack([given[lo:hi].astype(np.float64).mean(axis=0) for lo, hi in window_bounds(130, 5.0)])
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(given, copy)  # caller's array untouched
    with pytest.raises(ValueError, match="shape"):
        window_means(np.ones(5), 5.0)


def test_labels_round_trip() -> None:
    labels = window_labels(12345, 7)
    assert (np.diff(labels) > 0).all()
    np.testing.assert_array_equal(label_video(labels), 12345)
    np.testing.assert_array_equal(label_window(labels), np.arange(7))
    assert window_labels(12346, 1)[0] > labels[-1]  # a later video's windows sort after
    assert label_video(np.int64((5 << LABEL_BITS) | 3)) == 5


@pytest.mark.parametrize("fps", [0.5, 1.0, 2.0, 2.5, 4.0, 7.0, 10.0, 29.97])
def test_window_counts_equal_the_bounds_of_every_length(fps):
    frames = np.arange(0, 2000)
    want = [window_bounds(int(t), fps).shape[0] for t in frames]
    np.testing.assert_array_equal(window_counts(frames, fps), want)
    assert window_counts(np.array([], dtype=np.int64), fps).shape == (0,)


def test_window_counts_refuse_what_labels_cannot_hold():
    length, stride = window_frames(1.0)
    too_many = (1 << LABEL_BITS) * stride + length
    with pytest.raises(ValueError, match="windows, more than"):
        window_counts(np.array([10, too_many]), 1.0)

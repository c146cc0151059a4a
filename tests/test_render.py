from __future__ import annotations

import cv2
import numpy as np
import pytest

from draqcore.align import align_videos
from draqcore.render import write_cost_plot, write_side_by_side
from draqcore.synthetic import make_action_classes, render_clip
from draqcore.video import native_fps, native_timeline


@pytest.fixture(scope="module")
def alignment(tmp_path_factory):
    root = tmp_path_factory.mktemp("render")
    a, b = make_action_classes(2, seed=1)[:1] * 2
    clip_a = render_clip(a, root / "a.mp4", seed=1, frames=40)
    clip_b = render_clip(b, root / "b.avi", seed=2, frames=55, size=(200, 150))
    return align_videos(clip_a.path, clip_b.path)


def test_side_by_side_has_query_frames_at_query_rate(alignment, tmp_path):
    out = write_side_by_side(alignment, tmp_path / "sbs.mp4")
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert len(frames) == len(native_timeline(alignment.a.path))
    assert fps == pytest.approx(native_fps(alignment.a.path), rel=1e-3)
    h = frames[0].shape[0]
    assert h == 120  # the query's height; the 150-pixel-high second clip is scaled to it
    assert frames[0].shape[1] == 160 + round(200 * 120 / 150)


def test_cost_plot_is_a_png_of_the_matrix(alignment, tmp_path):
    out = write_cost_plot(alignment, tmp_path / "cost.png", random_paths=3)
    image = cv2.imread(str(out))
    assert image is not None and image.ndim == 3
    n, m = alignment.cost.shape
    assert image.shape[0] >= n and image.shape[1] >= m
    # The DTW path is drawn in white: there are white pixels inside the matrix area.
    assert (image.reshape(-1, 3) == 255).all(axis=1).sum() > n

from __future__ import annotations

import cv2
import numpy as np
import pytest
from matplotlib.figure import Figure

from draqcore.dtw import dtw
from draqcore.outputs.plots import plot_cost_matrix, write_cost_plot


def test_cost_plot_png(warped_alignment, tmp_path):
    out = write_cost_plot(warped_alignment, tmp_path / "cost.png", size=(6, 4), dpi=100)
    image = cv2.imread(str(out))
    assert image.shape[:2] == (400, 600)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # a picture, not a blank canvas


@pytest.mark.parametrize("shape", [(57, 1816), (1816, 57), (40, 40)])
def test_axes_in_seconds_at_any_aspect_ratio(rng, shape):
    n, m = shape
    cost = rng.random(shape).astype(np.float32)
    ta, tb = np.arange(n) / 10.0, np.arange(m) / 10.0
    fig = Figure(figsize=(8, 6), layout="constrained")
    ax = plot_cost_matrix(cost, ta, tb, dtw(cost).path, random_paths=2, ax=fig.add_subplot())
    fig.canvas.draw()
    # The matrix fills most of the figure whatever its shape: both axes at least 40 % of it.
    box = ax.get_window_extent()
    assert box.width > 0.4 * fig.bbox.width and box.height > 0.4 * fig.bbox.height
    assert ax.get_xlim() == pytest.approx((-0.05, tb[-1] + 0.05))
    assert ax.get_ylim() == pytest.approx((ta[-1] + 0.05, -0.05))
    assert "time (s)" in ax.get_xlabel() and "time (s)" in ax.get_ylabel()
    assert len(fig.axes) == 2  # the colour bar


def test_shape_mismatch_is_an_error(rng):
    with pytest.raises(ValueError, match="does not match"):
        plot_cost_matrix(rng.random((3, 4)), np.arange(4.0), np.arange(4.0))

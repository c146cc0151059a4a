"""Plots with matplotlib: the cost matrix with the DTW path and random paths, axes in seconds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

__all__ = ["plot_cost_matrix", "write_cost_plot"]

PathLike = Union[str, "os.PathLike[str]"]


def _edges(times: np.ndarray) -> np.ndarray:
    """Cell edges (seconds) around sample times: midpoints, half a step beyond both ends."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 1:
        return np.array([t[0] - 0.05, t[0] + 0.05])
    mid = (t[1:] + t[:-1]) / 2
    return np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])


def plot_cost_matrix(
    cost: np.ndarray,
    times_a: np.ndarray,
    times_b: np.ndarray,
    path: Optional[np.ndarray] = None,
    *,
    random_paths: int = 5,
    seed: int = 0,
    name_a: str = "A",
    name_b: str = "B",
    draq: Optional[float] = None,
    ax=None,
):
    """Draw a cost matrix (rows: sampled frames of A, columns: of B) on a matplotlib axes.

    x axis: B's time, y axis: A's time, both in seconds (cells sized by the real sample
    spacing); ``viridis`` colours with a colour bar (dark = low cost, cosine cost of Eq. 4); the
    DTW path (Eq. 5) in white; ``random_paths`` of DRAQ's random-path baseline (Sec. 3) in
    magenta. The axes fill the figure whatever the matrix's aspect ratio (a 57 x 1816 matrix is
    drawn as readable as a square one).

    Parameters
    ----------
    cost : ndarray of shape (n, m)
    times_a : ndarray of shape (n,), seconds
    times_b : ndarray of shape (m,), seconds
    path : ndarray of shape (L, 2), int, optional
        ``(i, j)`` pairs, any order.
    ax : matplotlib Axes, optional
        A new figure when omitted.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.figure import Figure

    from ..random_paths import random_path

    c = np.asarray(cost, dtype=np.float64)
    ta, tb = np.asarray(times_a, np.float64), np.asarray(times_b, np.float64)
    if c.ndim != 2 or c.shape != (ta.size, tb.size):
        raise ValueError(f"cost of shape {c.shape} does not match {ta.size} times of A and {tb.size} of B")
    if ax is None:
        ax = Figure(figsize=(8, 6), layout="constrained").add_subplot()
    ea, eb = _edges(ta), _edges(tb)
    mesh = ax.pcolormesh(eb, ea, c, cmap="viridis", shading="flat", rasterized=True)
    ax.figure.colorbar(mesh, ax=ax, label="cost (cosine, Eq. 4)")
    n, m = c.shape
    for index in range(random_paths):
        rp = random_path((n, m), seed=seed, index=index)
        ax.plot(tb[rp[:, 1]], ta[rp[:, 0]], color="magenta", lw=0.8, alpha=0.7, label="random paths" if index == 0 else None)
    if path is not None:
        p = np.asarray(path, dtype=np.int64)
        ax.plot(tb[p[:, 1]], ta[p[:, 0]], color="white", lw=2.0, label="DTW path")
    ax.set_xlim(eb[0], eb[-1])
    ax.set_ylim(ea[-1], ea[0])  # A's time runs downwards, as the matrix's rows
    ax.set_xlabel(f"B: {name_b} — time (s)")
    ax.set_ylabel(f"A: {name_a} — time (s)")
    title = "Cost matrix and DTW path"
    if draq is not None:
        title += f" — DRAQ {draq:.3f}"
    ax.set_title(title)
    if path is not None or random_paths:
        leg = ax.legend(loc="lower left", fontsize="small", framealpha=0.8)
        leg.get_frame().set_facecolor("0.2")
        for text in leg.get_texts():
            text.set_color("white")
    return ax


def write_cost_plot(
    alignment,
    out_path: PathLike,
    *,
    random_paths: int = 5,
    seed: int = 0,
    size: tuple[float, float] = (8.0, 6.0),
    dpi: int = 120,
) -> Path:
    """PNG of an alignment's cost matrix with the DTW path and random paths
    (:func:`plot_cost_matrix`), titled with DRAQ = DTW / E[random] (Eq. 6).

    Parameters
    ----------
    alignment : draqcore.Alignment
    out_path : path
        ``.png`` (or any format matplotlib writes, by suffix).
    size : (width, height), inches
    dpi : int
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    out = Path(out_path)
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    plot_cost_matrix(
        alignment.cost,
        alignment.a.times,
        alignment.b.times,
        alignment.path,
        random_paths=random_paths,
        seed=seed,
        name_a=Path(alignment.a.path).name,
        name_b=Path(alignment.b.path).name,
        ax=ax,
    )
    ax.set_title(
        f"DRAQ {alignment.draq:.3f} = DTW {alignment.dtw_cost:.2f} / E[random] {alignment.random_cost:.2f}"
    )
    fig.savefig(out, dpi=dpi)
    return out

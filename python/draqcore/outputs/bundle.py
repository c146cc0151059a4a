"""Everything ``draq align --out DIR`` writes, in one call."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

__all__ = ["write_alignment_outputs"]

PathLike = Union[str, "os.PathLike[str]"]


def write_alignment_outputs(
    alignment,
    out_dir: PathLike,
    *,
    video: bool = True,
    plot: bool = True,
    timeline: bool = True,
    viewer: bool = True,
    height: Optional[int] = None,
    sample_fps: Optional[float] = None,
    progress: bool = False,
) -> dict[str, Path]:
    """Write the outputs of one alignment into ``out_dir`` (created if missing).

    ``alignment.csv`` (always: one row per decoded frame of A), ``alignment.json``
    (:func:`~draqcore.outputs.alignment_json.alignment_summary`), and unless switched off
    ``side_by_side.mp4`` (H.264/AAC, labelled, A's audio), ``cost_matrix.png``, ``timeline.otio``
    (OpenTimelineIO, :mod:`draqcore.outputs.otio`) and ``viewer.html`` (:mod:`draqcore.outputs.viewer`,
    with ``media/`` copies of videos a browser cannot play).

    Returns
    -------
    dict of str to Path
        Keys ``csv``, ``json`` and ``video``, ``plot``, ``timeline``, ``viewer`` when written.
    """
    from ..video import native_timeline
    from .alignment_json import write_alignment_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timeline_a = native_timeline(alignment.a.path)
    timeline_b = native_timeline(alignment.b.path)
    mapping = alignment.native_mapping(timeline_a=timeline_a, timeline_b=timeline_b)
    written: dict[str, Path] = {"csv": mapping.write_csv(out / "alignment.csv")}
    if plot:
        from .plots import write_cost_plot

        written["plot"] = write_cost_plot(alignment, out / "cost_matrix.png")
    if video:
        from .side_by_side import write_side_by_side

        written["video"] = write_side_by_side(alignment, out / "side_by_side.mp4", mapping, height=height, progress=progress)
    if timeline:
        from .otio import write_timeline

        written["timeline"] = write_timeline(alignment, out / "timeline.otio", timeline_a=timeline_a, timeline_b=timeline_b)
    if viewer:
        from .viewer import write_viewer

        written["viewer"] = write_viewer(alignment, out / "viewer.html", plot=written.get("plot"), progress=progress)
    path = out / "alignment.json"
    files = dict(written)
    files["json"] = path
    written["json"] = write_alignment_json(
        alignment, path, sample_fps=sample_fps, files=files, native_times=(timeline_a, timeline_b)
    )
    return written

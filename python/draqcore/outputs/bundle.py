"""Everything ``draq align --out DIR`` writes, in one call."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable
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
    written: dict[str, Path] = {"csv": _named(out / "alignment.csv", lambda p: mapping.write_csv(p))}
    if plot:
        from .plots import write_cost_plot

        written["plot"] = _named(out / "cost_matrix.png", lambda p: write_cost_plot(alignment, p))
    if video:
        from .side_by_side import write_side_by_side

        written["video"] = _named(out / "side_by_side.mp4",
                                  lambda p: write_side_by_side(alignment, p, mapping, height=height, progress=progress))
    if timeline:
        from .otio import write_timeline

        written["timeline"] = _named(out / "timeline.otio",
                                     lambda p: write_timeline(alignment, p, timeline_a=timeline_a, timeline_b=timeline_b))
    if viewer:
        from .viewer import write_viewer

        written["viewer"] = _named(out / "viewer.html",
                                   lambda p: write_viewer(alignment, p, plot=written.get("plot"), progress=progress))
    path = out / "alignment.json"
    files = dict(written)
    files["json"] = path
    written["json"] = _named(path, lambda p: write_alignment_json(
        alignment, p, sample_fps=sample_fps, files=files, native_times=(timeline_a, timeline_b)
    ))
    return written


def _named(path: Path, write: Callable[[Path], Path]) -> Path:
    """``write(path)``; a write error that names no file (disk full, a file-size limit: the
    writing library's ``OSError`` carries none) is re-raised naming ``path``. Either way the
    command fails: a broken output is never reported as written."""
    try:
        return write(path)
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, f"{exc.strerror or exc} (writing this output)", str(path)) from None

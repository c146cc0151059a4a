"""An OpenTimelineIO timeline of an alignment: B cut into re-timed segments on A's timeline.

Editors that import OpenTimelineIO (DaVinci Resolve, Premiere and Final Cut through OTIO's
adapters, Avid through AAF) see two video tracks of A's length: ``A`` (the reference, uncut) and
``B re-timed``, where B's media is cut at the knots of the time map and each piece carries
``LinearTimeWarp`` (speed = the map's slope) or ``FreezeFrame`` (slope 0; B holds a frame).

Conventions (those OTIO's own adapters use): a clip's ``source_range.start_time`` is where it
starts in B's media, in B's frames; ``source_range.duration`` is its length **on the timeline**,
in A's frames; the media it consumes is that duration times the warp's ``time_scalar``.
:func:`evaluate_timeline` applies exactly this rule.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .timemap import TimeMap

__all__ = ["B_TRACK", "build_timeline", "editor_rate", "evaluate_timeline", "write_timeline"]

PathLike = Union[str, "os.PathLike[str]"]

# Clips follow a simplified map, within this many frames of B of the alignment's map (the CSV
# rounds to the nearest frame: 0.5 + 0.45 < 1 frame).
_TOLERANCE_FRAMES = 0.45

B_TRACK = "B re-timed"
"""Name of the track that holds B's re-timed segments."""


_STANDARD_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0, 120.0)


def editor_rate(fps: float) -> float:
    """``fps`` snapped to the standard editing rate within 0.5 % of it (23.976, 24, 25, 29.97,
    30, 48, 50, 59.94, 60, 120), else ``fps`` itself."""
    for rate in _STANDARD_RATES:
        if abs(fps / rate - 1.0) <= 0.005:
            return rate
    return float(fps)


def _reference(path: Path, frames: int, fps: float):
    import opentimelineio as otio

    return otio.schema.ExternalReference(
        target_url=path.resolve().as_uri(),
        available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, fps), otio.opentime.RationalTime(frames, fps)),
    )


def build_timeline(
    time_map: TimeMap,
    a: PathLike,
    b: PathLike,
    *,
    fps_a: float,
    fps_b: float,
    frames_a: int,
    frames_b: int,
    name: Optional[str] = None,
):
    """The timeline of ``time_map`` (A-time to B-time).

    The map is simplified to few linear pieces that stay within 0.45 frame of B of it
    (:meth:`TimeMap.simplified`, greedy; a refined alignment has a knot at every frame of A) and
    each piece becomes a clip; piece boundaries are rounded to A's frames (B's start of each piece
    is kept exact, in fractional frames of B). Evaluating the timeline at a frame of A is then
    within 0.45 frame of B of the map, and within one frame of ``alignment.csv``. Before the first
    and after the last knot the map is flat: a freeze.

    Returns
    -------
    opentimelineio.schema.Timeline
        Tracks ``A`` and :data:`B_TRACK`, both ``frames_a / fps_a`` seconds long.
    """
    import opentimelineio as otio

    pa, pb = Path(a), Path(b)
    rt = otio.opentime.RationalTime
    tl = otio.schema.Timeline(name=name or f"{pb.name} re-timed onto {pa.name}")
    tl.global_start_time = rt(0, fps_a)
    track_a = otio.schema.Track(name="A", kind=otio.schema.TrackKind.Video)
    track_a.append(
        otio.schema.Clip(
            name=pa.name,
            media_reference=_reference(pa, frames_a, fps_a),
            source_range=otio.opentime.TimeRange(rt(0, fps_a), rt(frames_a, fps_a)),
        )
    )
    track_b = otio.schema.Track(name=B_TRACK, kind=otio.schema.TrackKind.Video)

    # Pieces as (first A frame, last A frame, B time at start, slope), covering [0, frames_a).
    pieces: list[tuple[int, int, float, float]] = []
    cursor = 0

    def add(end_frame: int, b_start: float, slope: float) -> None:
        nonlocal cursor
        end_frame = min(end_frame, frames_a)
        if end_frame > cursor:
            if pieces and pieces[-1][3] == slope and abs(pieces[-1][2] + slope * (cursor - pieces[-1][0]) / fps_a - b_start) < 1e-9:
                pieces[-1] = (pieces[-1][0], end_frame, pieces[-1][2], slope)
            else:
                pieces.append((cursor, end_frame, b_start, slope))
            cursor = end_frame

    time_map = time_map.simplified(_TOLERANCE_FRAMES / fps_b)
    add(int(round(time_map.time_a[0] * fps_a)), float(time_map.time_b[0]), 0.0)
    for a0, a1, b0, b1 in time_map.segments():
        slope = (b1 - b0) / (a1 - a0)
        start = cursor / fps_a
        add(int(round(a1 * fps_a)), float(time_map(start)), slope)
    add(frames_a, float(time_map(cursor / fps_a)), 0.0)

    media_b = _reference(pb, frames_b, fps_b)
    for index, (f0, f1, b_start, slope) in enumerate(pieces):
        clip = otio.schema.Clip(
            name=f"{pb.name} #{index}",
            media_reference=media_b.clone(),
            source_range=otio.opentime.TimeRange(rt(round(b_start * fps_b, 3), fps_b), rt(f1 - f0, fps_a)),
        )
        if slope == 0.0:
            clip.effects.append(otio.schema.FreezeFrame())
        elif slope != 1.0:
            clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=round(float(slope), 9)))
        track_b.append(clip)
    tl.tracks.append(track_a)
    tl.tracks.append(track_b)
    return tl


def evaluate_timeline(timeline, t_a) -> np.ndarray:
    """B's media time, seconds, that the timeline's :data:`B_TRACK` shows at A-time(s) ``t_a``.

    For the clip under ``t`` (starting at ``s`` on the track, source start ``b0``, warp scalar
    ``k``: 1 without an effect, 0 for ``FreezeFrame``): ``b0 + k * (t - s)``. Times past the end
    use the last clip.

    Raises
    ------
    ValueError
        The timeline has no :data:`B_TRACK` track or it is empty.
    """
    import opentimelineio as otio

    tracks = [t for t in timeline.tracks if t.name == B_TRACK]
    if not tracks or not len(tracks[0]):
        raise ValueError(f"timeline has no non-empty {B_TRACK!r} track")
    track = tracks[0]
    starts, b0, scalar = [], [], []
    for i, clip in enumerate(track):
        starts.append(track.range_of_child_at_index(i).start_time.to_seconds())
        b0.append(clip.source_range.start_time.to_seconds())
        k = 1.0
        for effect in clip.effects:
            if isinstance(effect, otio.schema.LinearTimeWarp):  # FreezeFrame is one, scalar 0
                k *= float(effect.time_scalar)
        scalar.append(k)
    starts_arr, b0_arr, k_arr = np.array(starts), np.array(b0), np.array(scalar)
    t = np.asarray(t_a, dtype=np.float64)
    idx = np.clip(np.searchsorted(starts_arr, t + 1e-9, side="right") - 1, 0, len(starts_arr) - 1)
    return b0_arr[idx] + k_arr[idx] * (t - starts_arr[idx])


def write_timeline(
    alignment,
    out_path: PathLike,
    *,
    timeline_a: Optional[np.ndarray] = None,
    timeline_b: Optional[np.ndarray] = None,
) -> Path:
    """Write :func:`build_timeline` of an alignment as ``.otio`` (JSON) with OTIO's own writer.

    Parameters
    ----------
    alignment : draqcore.Alignment
    out_path : path
        Usually ``timeline.otio``; any suffix OTIO has an adapter for.
    timeline_a, timeline_b : ndarray, optional
        Decoded frame times (:func:`draqcore.video.native_timeline`), decoded when omitted.
    """
    import opentimelineio as otio

    from ..video import native_timeline
    from .media import average_rate

    ta = native_timeline(alignment.a.path) if timeline_a is None else timeline_a
    tb = native_timeline(alignment.b.path) if timeline_b is None else timeline_b
    tl = build_timeline(
        TimeMap.from_alignment(alignment),
        alignment.a.path,
        alignment.b.path,
        fps_a=editor_rate(average_rate(ta)),
        fps_b=editor_rate(average_rate(tb)),
        frames_a=len(ta),
        frames_b=len(tb),
    )
    # Rounded: OTIO writes doubles with 12 significant digits, so the file reads back identically.
    tl.metadata["draqcore"] = {k: round(float(getattr(alignment, k)), 9) for k in ("draq", "dtw_cost", "random_cost")}
    out = Path(out_path)
    # Serialised here and written by Python: OTIO's own file writer ignores write errors (a full
    # disk leaves a truncated .otio and no error), Python's raises them.
    text = otio.adapters.write_to_string(tl, "otio_json")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(text)
    return out

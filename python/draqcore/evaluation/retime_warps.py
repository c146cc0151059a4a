"""Re-timing real footage with known monotone warps, and the exact time maps that come with it.

A :class:`TimeWarp` says, for every instant ``t`` of a re-timed video (output seconds from its
first frame), which instant ``s = w(t)`` of the source it shows (source seconds, the source's own
timestamps). ``w`` is continuous, piecewise linear and non-decreasing: slope 1 plays at normal
speed, 0.5 is a 2x slow-down, 2 a 2x speed-up, 0 a freeze. A warp may cover only part of the
source (an excerpt starts at ``w(0) > 0``).

:func:`render_warp` writes the re-timed video: output frame ``k`` is shown at ``k / fps`` and is a
copy of the decoded source frame whose timestamp is nearest to ``w(k / fps)`` (frame repetition
and dropping, as an editor re-times without optical-flow interpolation; a freeze therefore
really holds one frame still, and a 2x slow-down repeats every source frame about twice). The
source is decoded once, sequentially, one frame at a time, so hours-long sources need no more
memory than a frame. :func:`concatenate` joins several sources (resized, re-sampled to one frame
rate) into one long video and says where each part starts, which is how long real recordings are
built from short real clips.

The ground truth of a re-timed video is :class:`RetimedVideo`: for every output frame its time,
the continuous source time ``w(t)`` and the source frame that was copied. An aligner that maps
the re-timed video ``A`` onto its source ``B`` (``draq align A B``, one row per frame of ``A``)
should give ``time_b ≈ w(time_a)``; :func:`time_errors` measures exactly that.

The standard warps used in ``docs/results.md`` come from :func:`standard_warps`; every one is
written out there (knots in seconds) and in ``warp.to_dict()``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .. import video

__all__ = [
    "Concatenation",
    "RetimedVideo",
    "TimeErrors",
    "TimeWarp",
    "concatenate",
    "constant_speed",
    "ease_in_out",
    "piecewise_speed",
    "render_warp",
    "standard_warps",
    "time_errors",
    "with_freezes",
]

PathLike = Union[str, "os.PathLike[str]"]

_FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
# An eased warp is tabulated at this many knots (piecewise linear between them): the largest
# deviation from the smooth curve is then far below a millisecond for clips of minutes.
_EASE_KNOTS = 257


@dataclass(frozen=True)
class TimeWarp:
    """A continuous, non-decreasing, piecewise-linear map from output time to source time.

    Attributes
    ----------
    name : str
        Short label (``"speed0.5"``, ``"freeze"``...).
    out_knots : ndarray of shape (K,), float64
        Output instants in seconds, strictly increasing, ``out_knots[0] == 0``.
    src_knots : ndarray of shape (K,), float64
        Source instants in seconds, non-decreasing; ``w`` is linear between knots.
    """

    name: str
    out_knots: np.ndarray
    src_knots: np.ndarray

    def __post_init__(self) -> None:
        t = np.array(self.out_knots, dtype=np.float64)
        s = np.array(self.src_knots, dtype=np.float64)
        if t.ndim != 1 or t.shape != s.shape or t.size < 2:
            raise ValueError(
                f"TimeWarp {self.name!r}: out_knots and src_knots must be 1-D of one length >= 2, "
                f"got shapes {t.shape} and {s.shape}"
            )
        if not (np.isfinite(t).all() and np.isfinite(s).all()):
            raise ValueError(f"TimeWarp {self.name!r}: knots must be finite")
        if t[0] != 0.0 or np.any(np.diff(t) <= 0.0):
            raise ValueError(f"TimeWarp {self.name!r}: out_knots must start at 0 and increase")
        if s[0] < 0.0 or np.any(np.diff(s) < 0.0):
            raise ValueError(f"TimeWarp {self.name!r}: src_knots must be >= 0 and non-decreasing")
        t.setflags(write=False)
        s.setflags(write=False)
        object.__setattr__(self, "out_knots", t)
        object.__setattr__(self, "src_knots", s)

    @property
    def duration(self) -> float:
        """Length of the re-timed video's timeline, seconds (``out_knots[-1]``)."""
        return float(self.out_knots[-1])

    @property
    def source_span(self) -> Tuple[float, float]:
        """``(w(0), w(duration))``: the part of the source that is shown, seconds."""
        return float(self.src_knots[0]), float(self.src_knots[-1])

    def source_time(self, t: Any) -> np.ndarray:
        """``w(t)`` in seconds for output times ``t`` (clamped to ``[0, duration]``)."""
        return np.interp(np.asarray(t, dtype=np.float64), self.out_knots, self.src_knots)

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready description: name and knots (seconds, rounded to microseconds)."""
        return {
            "name": self.name,
            "out_knots": [round(float(v), 6) for v in self.out_knots],
            "src_knots": [round(float(v), 6) for v in self.src_knots],
        }

    def describe(self) -> str:
        """One line a person can read: the speed of each linear piece and its output interval."""
        parts = []
        slopes = np.diff(self.src_knots) / np.diff(self.out_knots)
        if self.out_knots.size > 8:  # tabulated smooth curve
            return (
                f"{self.name}: smooth, source {self.source_span[0]:.2f}-{self.source_span[1]:.2f} s "
                f"over {self.duration:.2f} s, speed {slopes.min():.2f}x-{slopes.max():.2f}x"
            )
        for k, v in enumerate(slopes):
            parts.append(f"{self.out_knots[k]:.2f}-{self.out_knots[k + 1]:.2f} s at {v:.2f}x")
        return f"{self.name}: source from {self.source_span[0]:.2f} s; " + ", ".join(parts)


# --------------------------------------------------------------------------------------------
# warp builders


def _as_seconds(value: Any, name: str, *, positive: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number of seconds, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (positive and v == 0.0):
        raise ValueError(f"{name}: expected a finite number of seconds {'> 0' if positive else '>= 0'}, got {value!r}")
    return v


def piecewise_speed(
    pieces: Sequence[Tuple[float, float]], *, start: float = 0.0, name: str = "piecewise"
) -> TimeWarp:
    """A warp from ``(source_seconds, speed)`` pieces played one after the other.

    Parameters
    ----------
    pieces : sequence of (float, float)
        Each piece covers ``source_seconds >= 0`` of the source at ``speed`` (> 0; output length
        ``source_seconds / speed``), or is a freeze of ``source_seconds`` *output* seconds when
        ``speed == 0``.
    start : float, default 0
        Source time of the first output frame, seconds.
    name : str

    Returns
    -------
    TimeWarp
    """
    t, s = [0.0], [_as_seconds(start, "start")]
    for k, (length, speed) in enumerate(pieces):
        length = _as_seconds(length, f"pieces[{k}] length", positive=True)
        speed = _as_seconds(speed, f"pieces[{k}] speed")
        if speed == 0.0:
            t.append(t[-1] + length)
            s.append(s[-1])
        else:
            t.append(t[-1] + length / speed)
            s.append(s[-1] + length)
    return TimeWarp(name, np.array(t), np.array(s))


def constant_speed(speed: float, source_start: float, source_end: float, *, name: Optional[str] = None) -> TimeWarp:
    """Play source ``[source_start, source_end]`` seconds at a constant ``speed`` (2 = twice as fast)."""
    length = _as_seconds(source_end, "source_end") - _as_seconds(source_start, "source_start")
    if length <= 0.0:
        raise ValueError(f"source_end must exceed source_start, got {source_start!r}, {source_end!r}")
    return piecewise_speed([(length, speed)], start=source_start, name=name or f"speed{speed:g}")


def with_freezes(
    source_start: float,
    source_end: float,
    at: Sequence[float],
    hold: float = 0.5,
    *,
    name: str = "freeze",
) -> TimeWarp:
    """Normal speed with the picture frozen for ``hold`` output seconds at each source instant in ``at``."""
    cuts = sorted(_as_seconds(a, "at") for a in at)
    if any(not source_start < c < source_end for c in cuts):
        raise ValueError(f"at: every freeze must lie inside ({source_start}, {source_end}), got {list(at)!r}")
    pieces: List[Tuple[float, float]] = []
    prev = float(source_start)
    for c in cuts:
        pieces += [(c - prev, 1.0), (hold, 0.0)]
        prev = c
    pieces.append((source_end - prev, 1.0))
    return piecewise_speed(pieces, start=source_start, name=name)


def ease_in_out(source_start: float, source_end: float, duration: float, *, name: str = "ease") -> TimeWarp:
    """Smooth ease-in/ease-out: ``w(t) = s0 + (s1 - s0) * (1 - cos(pi t / T)) / 2``.

    Speed rises from 0 at the start to ``pi/2 * (s1 - s0) / T`` in the middle and falls back to 0
    at the end (tabulated at 257 knots).
    """
    s0, s1 = _as_seconds(source_start, "source_start"), _as_seconds(source_end, "source_end")
    dur = _as_seconds(duration, "duration", positive=True)
    if s1 <= s0:
        raise ValueError("source_end must exceed source_start")
    t = np.linspace(0.0, dur, _EASE_KNOTS)
    return TimeWarp(name, t, s0 + (s1 - s0) * (1.0 - np.cos(np.pi * t / dur)) / 2.0)


def standard_warps(source_start: float, source_end: float) -> Dict[str, TimeWarp]:
    """The named warps of ``docs/results.md`` for the source interval ``[source_start, source_end]``.

    ``speed0.5`` (2x slower), ``speed2`` (2x faster), ``freeze`` (0.5 s freezes at 1/3 and 2/3
    of the interval), ``ease`` (ease-in/out over the interval's own length), and ``mix``
    (first quarter at 1x, next quarter at 0.5x, a 0.5 s freeze, third quarter at 2x, last quarter
    at 1.5x).
    """
    s0, s1 = float(source_start), float(source_end)
    d = s1 - s0
    if d <= 0.0:
        raise ValueError(f"source_end must exceed source_start, got {source_start!r}, {source_end!r}")
    q = d / 4.0
    return {
        "speed0.5": constant_speed(0.5, s0, s1),
        "speed2": constant_speed(2.0, s0, s1),
        "freeze": with_freezes(s0, s1, [s0 + d / 3.0, s0 + 2.0 * d / 3.0], 0.5),
        "ease": ease_in_out(s0, s1, d),
        "mix": piecewise_speed([(q, 1.0), (q, 0.5), (0.5, 0.0), (q, 2.0), (q, 1.5)], start=s0, name="mix"),
    }


# --------------------------------------------------------------------------------------------
# rendering


@dataclass(frozen=True)
class RetimedVideo:
    """A written re-timed video and its exact time map.

    Attributes
    ----------
    path : Path
        The re-timed video.
    source : Path
        The video it was made from.
    warp : TimeWarp
    fps : float
        Output frame rate, frames per second.
    frame_times : ndarray of shape (M,), float64
        Decoded timestamp of every output frame, seconds.
    source_times : ndarray of shape (M,), float64
        ``w(frame_times)``: the exact source instant each output frame stands for, seconds.
    source_frames : ndarray of shape (M,), int64
        Native index of the source frame copied into each output frame (nearest to
        ``source_times``).
    """

    path: Path
    source: Path
    warp: TimeWarp
    fps: float
    frame_times: np.ndarray
    source_times: np.ndarray
    source_frames: np.ndarray

    def write_csv(self, path: PathLike) -> Path:
        """``frame,time,source_time,source_frame``: one row per output frame, with a header."""
        out = Path(path)
        with out.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write("frame,time,source_time,source_frame\n")
            for k, (t, s, f) in enumerate(zip(self.frame_times, self.source_times, self.source_frames)):
                fh.write(f"{k},{t:.6f},{s:.6f},{int(f)}\n")
        return out

    def write_json(self, path: PathLike) -> Path:
        """The warp (knots), the files and the frame rate, to reproduce this video."""
        out = Path(path)
        out.write_text(
            json.dumps(
                {"path": str(self.path), "source": str(self.source), "fps": self.fps, "warp": self.warp.to_dict()},
                indent=2,
            )
        )
        return out


class _Writer:
    def __init__(self, path: Path, fps: float, size: Tuple[int, int]) -> None:
        suffix = path.suffix.lower()
        if suffix not in _FOURCC:
            raise ValueError(f"{path}: unsupported suffix {path.suffix!r}; use one of {sorted(_FOURCC)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.size = size
        self.count = 0
        self._w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*_FOURCC[suffix]), fps, size)
        if not self._w.isOpened():
            raise OSError(f"{path}: OpenCV cannot write {_FOURCC[suffix]!r} video here")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        self._w.write(frame)
        self.count += 1

    def close(self) -> None:
        self._w.release()


def _check_fps(fps: Any) -> float:
    if isinstance(fps, (bool, np.bool_)) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise TypeError(f"fps: expected a number of frames per second, got {fps!r}")
    if not math.isfinite(float(fps)) or not 1.0 <= float(fps) <= 240.0:
        raise ValueError(f"fps: expected 1..240 frames per second, got {fps!r}")
    return float(fps)


def _even_size(size: Tuple[int, int]) -> Tuple[int, int]:
    return (int(size[0]) // 2 * 2, int(size[1]) // 2 * 2)


def _stream_warped(
    source: PathLike, warp: TimeWarp, fps: float, timeline: np.ndarray
) -> Iterator[Tuple[int, np.ndarray]]:
    """Yield ``(source_frame, image)`` for every output frame, decoding ``source`` once."""
    m = int(math.floor(warp.duration * fps + 1e-9)) + 1
    wanted = _nearest(timeline, warp.source_time(np.arange(m) / fps))
    frames = video.iter_sampled_frames(source, None)
    current = next(frames)
    for idx in wanted:
        while current.index < idx:
            current = next(frames)
        yield int(idx), current.image


def _nearest(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    hi = np.searchsorted(sorted_values, queries, side="left").clip(1, max(len(sorted_values) - 1, 1))
    if len(sorted_values) == 1:
        return np.zeros(len(queries), dtype=np.int64)
    lo = hi - 1
    take_hi = np.abs(sorted_values[hi] - queries) < np.abs(queries - sorted_values[lo])
    return np.where(take_hi, hi, lo).astype(np.int64)


def render_warp(
    source: PathLike,
    out: PathLike,
    warp: TimeWarp,
    *,
    fps: Optional[float] = None,
    size: Optional[Tuple[int, int]] = None,
) -> RetimedVideo:
    """Write ``source`` re-timed by ``warp`` to ``out`` and return its exact time map.

    Output frame ``k`` is shown at ``k / fps`` seconds and copies the decoded source frame whose
    timestamp is nearest to ``warp.source_time(k / fps)``; there are
    ``floor(warp.duration * fps) + 1`` output frames.

    Parameters
    ----------
    source : str or os.PathLike
        Any video :mod:`draqcore.video` reads.
    out : str or os.PathLike
        ``.mp4`` (MPEG-4 part 2), ``.avi`` or ``.mkv`` (Motion JPEG).
    warp : TimeWarp
        Must stay inside the source: ``warp.source_span[1] <=`` the last frame's time + 1 frame.
    fps : float, optional
        Output frame rate; default the source's (:func:`draqcore.video.native_fps`).
    size : (width, height), optional
        Output size in pixels (rounded down to even numbers); default the source's.

    Returns
    -------
    RetimedVideo
        ``frame_times`` are the written file's decoded timestamps.

    Raises
    ------
    ValueError
        The warp leaves the source, bad ``fps`` or suffix.
    draqcore.video.VideoReadError
        The source cannot be read.
    OSError
        The output cannot be written, or does not decode back to the frames written.
    """
    if not isinstance(warp, TimeWarp):
        raise TypeError(f"warp: expected a TimeWarp, got {type(warp).__name__}")
    timeline = video.native_timeline(source)
    rate = video.native_fps(source) if fps is None else _check_fps(fps)
    step = float(np.median(np.diff(timeline))) if len(timeline) > 1 else 1.0 / rate
    if warp.source_span[1] > timeline[-1] + step + 1e-6:
        raise ValueError(
            f"warp {warp.name!r} reaches source time {warp.source_span[1]:.3f} s but {source} ends at "
            f"{timeline[-1]:.3f} s"
        )
    out_path = Path(out)
    writer: Optional[_Writer] = None
    copied: List[int] = []
    try:
        for idx, image in _stream_warped(source, warp, rate, timeline):
            if writer is None:
                writer = _Writer(out_path, rate, _even_size(size or (image.shape[1], image.shape[0])))
            writer.write(image)
            copied.append(idx)
    finally:
        if writer is not None:
            writer.close()
    return _finish(out_path, Path(source), warp, rate, np.asarray(copied, dtype=np.int64))


def _finish(out: Path, source: Path, warp: TimeWarp, fps: float, copied: np.ndarray) -> RetimedVideo:
    times = video.native_timeline(out)
    if len(times) != len(copied):
        raise OSError(f"{out}: wrote {len(copied)} frames but it decodes to {len(times)}")
    for a in (times, copied):
        a.setflags(write=False)
    st = warp.source_time(times)
    st.setflags(write=False)
    return RetimedVideo(path=out, source=source, warp=warp, fps=fps, frame_times=times, source_times=st, source_frames=copied)


@dataclass(frozen=True)
class Concatenation:
    """Where each input of :func:`concatenate` lies in the joined video.

    Attributes
    ----------
    path : Path
    parts : list of (Path, float, float)
        ``(input, start, end)``: the input's first and last frame times in the joined video, s.
    fps : float
    """

    path: Path
    parts: List[Tuple[Path, float, float]] = field(default_factory=list)
    fps: float = 0.0


def concatenate(
    inputs: Sequence[PathLike], out: PathLike, *, fps: float, size: Tuple[int, int]
) -> Concatenation:
    """Join videos end to end at one frame rate and size (each resampled by nearest frame).

    Input ``i`` starts right after the previous one ends (one output frame period later); each
    is played at normal speed (:func:`constant_speed` 1.0 over its whole timeline) and resized
    to ``size`` (``INTER_AREA``; aspect ratio not kept).

    Returns
    -------
    Concatenation
        With each part's start and end time in the joined video.
    """
    rate = _check_fps(fps)
    out_path = Path(out)
    writer = _Writer(out_path, rate, _even_size(size))
    parts: List[Tuple[Path, float, float]] = []
    try:
        for src in inputs:
            timeline = video.native_timeline(src)
            # native_timeline may not start at 0; the warp is defined in the source's own times.
            warp = TimeWarp("part", np.array([0.0, timeline[-1] - timeline[0] + 1e-9]), np.array([timeline[0], timeline[-1]]))
            first = writer.count
            for _idx, image in _stream_warped(src, warp, rate, timeline):
                writer.write(image)
            parts.append((Path(src), first / rate, (writer.count - 1) / rate))
    finally:
        writer.close()
    decoded = video.native_timeline(out_path)
    if len(decoded) != writer.count:
        raise OSError(f"{out_path}: wrote {writer.count} frames but it decodes to {len(decoded)}")
    # report the decoded times of each part's first and last frame
    starts = [int(round(p[1] * rate)) for p in parts]
    ends = [int(round(p[2] * rate)) for p in parts]
    parts = [(p[0], float(decoded[s]), float(decoded[e])) for p, s, e in zip(parts, starts, ends)]
    return Concatenation(path=out_path, parts=parts, fps=rate)


# --------------------------------------------------------------------------------------------
# scoring an alignment against the truth


@dataclass(frozen=True)
class TimeErrors:
    """Time-map errors of an alignment of a re-timed video (``a``) onto its source (``b``).

    Attributes
    ----------
    errors : ndarray of shape (M,), float64
        ``|time_b - w(time_a)|`` for every frame of ``a``, seconds.
    mean, p90, max : float
        Summary of ``errors``, seconds.
    repeated_b : float
        Fraction of rows whose ``frame_b`` repeats the previous row's.
    repeated_b_truth : float
        The same fraction for the ideal answer (nearest source frame to ``w(time_a)``): repeats
        that the warp itself forces (slow-downs, freezes).
    """

    errors: np.ndarray
    mean: float
    p90: float
    max: float
    repeated_b: float
    repeated_b_truth: float


def time_errors(
    retimed: RetimedVideo, time_a: Any, time_b: Any, *, source_timeline: Optional[np.ndarray] = None
) -> TimeErrors:
    """Score a mapping of the re-timed video onto its source against the exact warp.

    Parameters
    ----------
    retimed : RetimedVideo
        Ground truth (``a`` is ``retimed.path``, ``b`` is ``retimed.source``).
    time_a, time_b : array_like of shape (M,)
        The mapping: for every decoded frame of ``a`` (in order), its time and the matched time
        in ``b``, seconds (columns of ``alignment.csv``).
    source_timeline : ndarray, optional
        Decoded times of the source (for the ideal repeats); decoded when omitted.

    Raises
    ------
    ValueError
        The mapping does not have one row per frame of the re-timed video.
    """
    ta = np.asarray(time_a, dtype=np.float64)
    tb = np.asarray(time_b, dtype=np.float64)
    if ta.shape != retimed.frame_times.shape or tb.shape != ta.shape:
        raise ValueError(
            f"mapping has {ta.shape} / {tb.shape} rows, the re-timed video {retimed.frame_times.shape[0]} frames"
        )
    err = np.abs(tb - retimed.warp.source_time(ta))
    tl = video.native_timeline(retimed.source) if source_timeline is None else source_timeline
    ideal = _nearest(tl, retimed.source_times)
    rep = float(np.mean(np.diff(tb) == 0.0)) if tb.size > 1 else 0.0
    rep_truth = float(np.mean(np.diff(ideal) == 0)) if ideal.size > 1 else 0.0
    err.setflags(write=False)
    return TimeErrors(
        errors=err,
        mean=float(err.mean()),
        p90=float(np.percentile(err, 90)),
        max=float(err.max()),
        repeated_b=rep,
        repeated_b_truth=rep_truth,
    )

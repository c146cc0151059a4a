"""How well ``draq align`` recovers known re-timings of any real footage (``draq eval retime``).

For every video and every named warp of :func:`~draqcore.evaluation.retime_warps.standard_warps`
(2x slower, 2x faster, two 0.5 s freezes, ease-in/out, and a mix of these), the video is
re-timed with :func:`~draqcore.evaluation.retime_warps.render_warp` -- which knows the exact
source instant ``w(t)`` every output frame stands for -- and the re-timed copy ``A`` is aligned
to the original ``B`` exactly as ``draq align A B`` does it (:func:`draqcore.align_videos`, then
:meth:`~draqcore.align.Alignment.native_mapping`: one matched time of ``B`` per decoded frame of
``A``). The error of a frame is ``|time_b - w(time_a)|`` in seconds
(:func:`~draqcore.evaluation.retime_warps.time_errors`); we report its mean, 90th percentile and
maximum per video and warp, and pooled over all frames of a warp.

Anyone can run this on their own footage; no labels are needed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .. import video
from ..align import align_videos
from ..features import FrameFeatureExtractor
from .retime_warps import render_warp, standard_warps, time_errors
from .runner import EvaluationRunner, SerialRunner

__all__ = ["RetimeReport", "RetimeRow", "evaluate_retiming"]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class RetimeRow:
    """Errors of one video under one warp.

    Attributes
    ----------
    video : str
        The source video.
    warp : str
        Warp name (a key of ``standard_warps``).
    warp_knots : dict
        The warp written out (``TimeWarp.to_dict()``), to reproduce it.
    frames : int
        Decoded frames of the re-timed copy (rows scored).
    mean, p90, max : float
        Time error over those frames, seconds.
    draq : float
        DRAQ of the alignment (lower = more alignable).
    """

    video: str
    warp: str
    warp_knots: dict[str, Any]
    frames: int
    mean: float
    p90: float
    max: float
    draq: float


@dataclass
class RetimeReport:
    """Every row, and pooled summaries per warp."""

    rows: list[RetimeRow] = field(default_factory=list)
    pooled: dict[str, dict[str, float]] = field(default_factory=dict)
    sample_fps: Optional[float] = None
    contextualized: bool = True
    features: str = "default"
    refined: bool = True
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``rows`` (one per video and warp), ``pooled[warp]`` and the settings."""
        return {
            "sample_fps": self.sample_fps,
            "contextualized": self.contextualized,
            "features": self.features,
            "refined": self.refined,
            "rows": [r.__dict__ for r in self.rows],
            "pooled": self.pooled,
            "failed": [list(f) for f in self.failed],
        }

    def markdown(self) -> str:
        """The per-video table and the pooled table, in milliseconds."""
        lines = [
            f"**Re-timing recovered by `draq align`** ({self.features} features, sampling {self.sample_fps} fps, "
            f"{'with' if self.contextualized else 'without'} contextualization"
            f"{'' if self.refined else ', sampled DTW path only (no native-rate refinement)'}; time error "
            "|time_b − w(time_a)| over every decoded frame of the re-timed copy, milliseconds)",
            "",
            "| video | warp | frames | mean ms | p90 ms | max ms | DRAQ |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            lines.append(
                f"| {Path(r.video).name} | {r.warp} | {r.frames} | {1000 * r.mean:.0f} | {1000 * r.p90:.0f} | "
                f"{1000 * r.max:.0f} | {r.draq:.3f} |"
            )
        lines += ["", "| warp (all videos pooled) | frames | mean ms | p90 ms |", "|---|---:|---:|---:|"]
        for name, m in self.pooled.items():
            lines.append(f"| {name} | {int(m['frames'])} | {1000 * m['mean']:.0f} | {1000 * m['p90']:.0f} |")
        if self.failed:
            lines += ["", "Not evaluated: " + "; ".join(f"{p} ({why})" for p, why in self.failed)]
        return "\n".join(lines) + "\n"


def evaluate_retiming(
    videos: Sequence[PathLike],
    work_dir: PathLike,
    *,
    warps: Optional[Sequence[str]] = None,
    sample_fps: Optional[float] = video.DEFAULT_SAMPLE_FPS,
    contextualize: bool = True,
    band: Optional[int] = None,
    extractor: Optional[FrameFeatureExtractor] = None,
    keep_videos: bool = False,
    progress: bool = False,
    feature_name: str = "default",
    refine: bool = True,
) -> RetimeReport:
    """Re-time every video with every warp, align it back, and measure the time error.

    Parameters
    ----------
    videos : sequence of path
        Real footage (anything :mod:`draqcore.video` reads). Not modified.
    work_dir : path
        Re-timed copies are written to ``work_dir/<video stem>/<warp>.mp4`` (removed after
        scoring unless ``keep_videos``).
    warps : sequence of str, optional
        Names from ``standard_warps`` (default: all of them: ``speed0.5``, ``speed2``, ``freeze``,
        ``ease``, ``mix``).
    sample_fps, contextualize, band, extractor
        As for :func:`draqcore.align_videos` (defaults are those of ``draq align``).
    keep_videos : bool
        Keep the re-timed copies.
    progress : bool
        A progress bar on stderr.
    feature_name : str
        Name of the features in the report.
    refine : bool, default True
        As for :func:`draqcore.align_videos` (``draq align`` always refines). ``False`` scores
        the DTW path over sampled frames alone, interpolated to the native frames.

    Returns
    -------
    RetimeReport

    Raises
    ------
    ValueError
        No videos, or an unknown warp name. A video that cannot be read, or is too short for a
        warp, is recorded in ``failed`` and the others go on.
    """
    return _evaluate_retiming(
        videos, work_dir, SerialRunner(), warps=warps, sample_fps=sample_fps, contextualize=contextualize, band=band,
        extractor=extractor, keep_videos=keep_videos, progress=progress, feature_name=feature_name, refine=refine,
    )


@dataclass(frozen=True)
class _RetimeContext:
    """Settings shared by every (video, warp) job of a run."""

    work: Path
    extractor: Optional[FrameFeatureExtractor]
    sample_fps: Optional[float]
    contextualize: bool
    band: Optional[int]
    refine: bool
    keep_videos: bool


def _retime_jobs(coll: Any, ctx: _RetimeContext, jobs: list) -> list:
    """Unit: re-time, align back and score jobs ``(source, timeline, warp name, warp)``;
    ``(RetimeRow, errors, None)`` or ``(None, None, reason)`` each."""
    return [_retime_job(ctx, *job) for job in jobs]


def _retime_job(ctx: _RetimeContext, src: Path, timeline: np.ndarray, name: str, warp: Any) -> tuple:
    folder = ctx.work / src.stem
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.mp4"
    try:
        retimed = render_warp(src, out, warp)
        alignment = align_videos(
            out, src, extractor=ctx.extractor, sample_fps=ctx.sample_fps, contextualize=ctx.contextualize,
            band=ctx.band, refine=ctx.refine,
        )
        mapping = alignment.native_mapping(timeline_a=retimed.frame_times, timeline_b=timeline)
        err = time_errors(retimed, mapping.time_a, mapping.time_b, source_timeline=timeline)
    except (ValueError, OSError, video.VideoReadError) as exc:
        return None, None, str(exc)
    finally:
        if not ctx.keep_videos and out.exists():
            out.unlink()
    row = RetimeRow(
        video=str(src), warp=name, warp_knots=warp.to_dict(), frames=int(err.errors.size),
        mean=err.mean, p90=err.p90, max=err.max, draq=float(alignment.draq),
    )
    return row, err.errors, None


def _evaluate_retiming(
    videos: Sequence[PathLike],
    work_dir: PathLike,
    runner: EvaluationRunner,
    *,
    warps: Optional[Sequence[str]],
    sample_fps: Optional[float],
    contextualize: bool,
    band: Optional[int],
    extractor: Optional[FrameFeatureExtractor],
    keep_videos: bool,
    progress: bool,
    feature_name: str,
    refine: bool,
) -> RetimeReport:
    """:func:`evaluate_retiming` with every (video, warp) job run by ``runner``; rows and pooled
    errors are gathered here in job order, whoever runs the jobs."""
    if not videos:
        raise ValueError("videos: need at least one video to re-time")
    names = None if warps is None else list(warps)
    known = list(standard_warps(0.0, 1.0))
    for n in names or []:
        if n not in known:
            raise ValueError(f"warps: unknown warp {n!r}; known: {known}")
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    report = RetimeReport(sample_fps=sample_fps, contextualized=contextualize, features=feature_name, refined=refine)
    pooled: dict[str, list[np.ndarray]] = {}
    jobs = []
    for v in videos:
        try:
            timeline = video.native_timeline(v)
        except (video.VideoReadError, ValueError, OSError) as exc:
            report.failed.append((str(v), str(exc)))
            continue
        if len(timeline) < 4:
            report.failed.append((str(v), f"only {len(timeline)} decoded frames"))
            continue
        all_warps = standard_warps(float(timeline[0]), float(timeline[-1]))
        for n in names or known:
            jobs.append((Path(v), timeline, n, all_warps[n]))
    ctx = _RetimeContext(work=work, extractor=extractor, sample_fps=sample_fps, contextualize=contextualize, band=band,
                         refine=refine, keep_videos=keep_videos)
    results = runner.map(_retime_jobs, ctx, jobs, desc="re-timed copies", progress=progress)
    for (src, _, name, _), (row, errors, failure) in zip(jobs, results):
        if failure is not None:
            report.failed.append((f"{src} [{name}]", failure))
            continue
        report.rows.append(row)
        pooled.setdefault(name, []).append(errors)
    for name, errs in pooled.items():
        e = np.concatenate(errs)
        report.pooled[name] = {"frames": int(e.size), "mean": float(e.mean()), "p90": float(np.percentile(e, 90))}
    if pooled:
        e = np.concatenate([x for errs in pooled.values() for x in errs])
        report.pooled["all"] = {"frames": int(e.size), "mean": float(e.mean()), "p90": float(np.percentile(e, 90))}
    if not keep_videos:
        for folder in {work / s.stem for s, *_ in jobs}:
            if folder.exists() and not any(folder.iterdir()):
                shutil.rmtree(folder, ignore_errors=True)
    return report

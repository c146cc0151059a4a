"""Aligning two videos (paper Sec. 3, stage 3): DTW on contextualized frame features."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from .context import contextualize as contextualize_features
from .cost import cost_matrix
from .draq import Method, draq_batch
from .dtw import warp
from .features import FrameFeatureExtractor, default_extractor
from .refine import refine_mapping, segment_ends
from .sequence import FeatureSequence, load_sequence
from .video import DEFAULT_SAMPLE_FPS, native_timeline

__all__ = ["Alignment", "NativeMapping", "Segment", "align_sequences", "align_videos"]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class NativeMapping:
    """For every decoded frame of video ``a`` (native rate), the matched decoded frame of ``b``.

    Attributes
    ----------
    frame_a, frame_b : ndarray of shape (N_a,), int64
    time_a, time_b : ndarray of shape (N_a,), float64 (seconds)
    exact_time_b : ndarray of shape (N_a,), float64, or None
        The continuous matched time in ``b`` before rounding to a decoded frame (seconds), when
        the mapping comes from native-rate refinement (:mod:`draqcore.refine`).
    """

    frame_a: np.ndarray
    time_a: np.ndarray
    frame_b: np.ndarray
    time_b: np.ndarray
    exact_time_b: Optional[np.ndarray] = None

    def write_csv(self, path: PathLike) -> Path:
        """Write ``frame_a,time_a,frame_b,time_b`` with a header, one row per frame of ``a``."""
        out = Path(path)
        with out.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write("frame_a,time_a,frame_b,time_b\n")
            for fa, ta, fb, tb in zip(self.frame_a, self.time_a, self.frame_b, self.time_b):
                fh.write(f"{int(fa)},{ta:.6f},{int(fb)},{tb:.6f}\n")
        return out


@dataclass(frozen=True)
class Segment:
    """The part of ``b`` that the whole of ``a`` matches (subsequence alignment).

    Attributes
    ----------
    start, end : float
        Where ``a``'s first and last frames lie in ``b``, seconds. Refined alignments (the
        default): from :func:`draqcore.refine.segment_ends` (a robust line through the first and
        last second of the native-rate mapping); otherwise the times of the sampled frames of
        ``b`` matched to them.
    start_frame, end_frame : int
        The same two frames as native frame indices of ``b``.
    span : tuple of (int, int)
        ``(j0, j1)``: the sampled frames of ``b`` the sampled DTW path spans (inclusive), as
        :func:`draqcore.dtw` ``.span``.
    """

    start: float
    end: float
    start_frame: int
    end_frame: int
    span: Tuple[int, int]

    def to_dict(self) -> dict:
        """JSON-ready: ``start``, ``end`` (s), ``start_frame``, ``end_frame``, ``span``."""
        return {
            "start": round(float(self.start), 6),
            "end": round(float(self.end), 6),
            "start_frame": int(self.start_frame),
            "end_frame": int(self.end_frame),
            "span": [int(self.span[0]), int(self.span[1])],
        }


@dataclass(frozen=True)
class Alignment:
    """The DTW alignment of two videos' sampled frames.

    Attributes
    ----------
    a, b : FeatureSequence
        The two videos (``a`` is the query / reference timeline).
    cost : ndarray of shape (T_a, T_b), float32
        Cosine cost matrix (Eq. 4) of the (contextualized) features.
    path : ndarray of shape (L, 2), int64
        Optimal DTW path over sampled frames, from (0, 0).
    dtw_cost, random_cost, draq : float
        ``D(n, m)``, the exact expected random-path cost (or sampled mean) and their ratio (Eq. 6).
    contextualized : bool
        Whether Eq. 2-3 were applied before the cost matrix.
    refined : NativeMapping or None
        The native-rate mapping of :func:`draqcore.refine.refine_mapping` (frame-accurate), when
        :func:`align_videos` refined the alignment; :meth:`native_mapping` returns it.
    segment : Segment or None
        For a subsequence alignment (``subsequence=True``): where in ``b`` the whole of ``a``
        lies. ``None`` when ``a`` and ``b`` were aligned end to end.
    """

    a: FeatureSequence
    b: FeatureSequence
    cost: np.ndarray
    path: np.ndarray
    dtw_cost: float
    random_cost: float
    draq: float
    contextualized: bool
    refined: Optional[NativeMapping] = None
    segment: Optional[Segment] = None

    def match(self, keep: int = 0) -> np.ndarray:
        """Keep sequence ``keep`` unwarped: for each of its sampled frames, the matched sampled
        frame of the other (see :func:`draqcore.warp`)."""
        p = np.asarray(self.path, dtype=np.int64)
        origin = p[0].copy()  # (0, j0) for a subsequence path
        return warp(p - origin, keep=keep) + origin[1 - keep]

    def native_mapping(
        self, timeline_a: Optional[np.ndarray] = None, timeline_b: Optional[np.ndarray] = None
    ) -> NativeMapping:
        """Map every decoded frame of ``a`` (its native rate) to a decoded frame of ``b``.

        When the alignment was refined at the native rate (``refined``, the default of
        :func:`align_videos`), that mapping is returned (the timelines are not needed). Otherwise
        the warp over sampled frames (``a`` kept unwarped) gives, for each sampled time of ``a``,
        the time of the matched sampled frame of ``b``; between samples this time is linearly
        interpolated (flat before the first and after the last sample), and the decoded frame of
        ``b`` nearest to it is chosen. The result is non-decreasing in ``frame_b``.

        Parameters
        ----------
        timeline_a, timeline_b : ndarray of shape (N,), float64, optional
            Times of every decoded frame (:func:`draqcore.video.native_timeline`); decoded from
            the files when omitted.
        """
        if self.refined is not None:
            return self.refined
        ta = native_timeline(self.a.path) if timeline_a is None else np.asarray(timeline_a, dtype=np.float64)
        tb = native_timeline(self.b.path) if timeline_b is None else np.asarray(timeline_b, dtype=np.float64)
        matched_b_times = self.b.times[self.match(keep=0)]
        target = np.interp(ta, self.a.times, matched_b_times)
        frame_b = nearest_sorted(tb, target)
        return NativeMapping(
            frame_a=np.arange(len(ta), dtype=np.int64), time_a=ta, frame_b=frame_b, time_b=tb[frame_b]
        )


def nearest_sorted(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the nearest entry of the ascending ``sorted_values`` for every query (ties go to
    the earlier entry); non-decreasing when ``queries`` is."""
    hi = np.searchsorted(sorted_values, queries, side="left").clip(1, len(sorted_values) - 1)
    lo = hi - 1
    if len(sorted_values) == 1:
        return np.zeros(len(queries), dtype=np.int64)
    take_hi = np.abs(sorted_values[hi] - queries) < np.abs(queries - sorted_values[lo])
    return np.where(take_hi, hi, lo).astype(np.int64)


def align_sequences(
    a: FeatureSequence,
    b: FeatureSequence,
    *,
    contextualize: bool = True,
    band: Optional[int] = None,
    method: Method = "exact",
    k: int = 100,
    seed: int = 0,
    subsequence: bool = False,
) -> Alignment:
    """Align two feature sequences: contextualize (Eq. 2-3), cosine cost (Eq. 4), DTW (Eq. 5)
    and DRAQ (Eq. 6), through one :func:`draqcore.draq_batch` call.

    With ``subsequence=True`` the whole of ``a`` is matched to the best contiguous part of ``b``
    (:mod:`draqcore.segments`: subsequence DTW on plain features finds the part, which is then
    scored as a clip of its own); ``segment`` says where it lies, ``cost`` is the plain-feature
    cost matrix against all of ``b`` and ``path`` runs from ``(0, j0)`` to ``(n-1, j1)``."""
    if subsequence:
        return _align_segment(a, b, contextualize=contextualize, band=band, method=method, k=k, seed=seed)
    fa = contextualize_features(a.features) if contextualize else a.features
    fb = contextualize_features(b.features) if contextualize else b.features
    res = draq_batch(fa, [fb], method=method, k=k, seed=seed, band=band, return_paths=True)
    assert res.paths is not None
    segment = None
    return Alignment(
        a=a,
        b=b,
        cost=cost_matrix(fa, fb),
        path=res.paths[0],
        dtw_cost=float(res.dtw_cost[0]),
        random_cost=float(res.random_cost[0]),
        draq=float(res.draq[0]),
        contextualized=contextualize,
        segment=segment,
    )


def _frame_near(t: float, frame_b: np.ndarray, time_b: np.ndarray) -> int:
    """Native frame of ``b`` nearest to time ``t``, read off a mapping's own (frame, time) pairs
    and extended by ``b``'s mean frame period where ``t`` lies outside them (never below 0)."""
    k = int(np.argmin(np.abs(time_b - t)))
    frames = int(frame_b[-1] - frame_b[0])
    if frames <= 0:
        return int(frame_b[k])
    period = float(time_b[-1] - time_b[0]) / frames
    return max(0, int(frame_b[k]) + int(round((t - float(time_b[k])) / period)))


def _align_segment(
    a: FeatureSequence, b: FeatureSequence, *, contextualize: bool, band: Optional[int], method: Method, k: int,
    seed: int,
) -> Alignment:
    from .segments import match_segments

    m = match_segments(a.features, [b.features], contextualize=contextualize, method=method, k=k, seed=seed, band=band)[0]
    j0, j1 = m.span
    segment = Segment(
        start=float(b.times[j0]), end=float(b.times[j1]), start_frame=int(b.indices[j0]), end_frame=int(b.indices[j1]),
        span=(j0, j1),
    )
    return Alignment(
        a=a, b=b, cost=cost_matrix(a.features, b.features), path=m.path, dtw_cost=m.dtw_cost,
        random_cost=m.random_cost, draq=m.draq, contextualized=contextualize, segment=segment,
    )


def align_videos(
    a: PathLike,
    b: PathLike,
    *,
    extractor: Optional[FrameFeatureExtractor] = None,
    sample_fps: Optional[float] = DEFAULT_SAMPLE_FPS,
    contextualize: bool = True,
    band: Optional[int] = None,
    method: Method = "exact",
    k: int = 100,
    seed: int = 0,
    refine: bool = True,
    subsequence: bool = False,
) -> Alignment:
    """Decode two videos, extract frame features and align them with DTW.

    Parameters
    ----------
    a, b : path
        Video files (anything OpenCV reads) or folders of numbered images. ``a`` is the
        reference: :meth:`Alignment.native_mapping` keeps it unwarped.
    extractor : FrameFeatureExtractor, optional
        Defaults to :func:`draqcore.features.default_extractor` (no model weights).
    sample_fps : float or None
        Frames per second sampled for features (``None``: every decoded frame).
    contextualize : bool
        Apply paper Eq. 2-3 before the cost matrix (default, as in the paper).
    band : int, optional
        Sakoe-Chiba radius in sampled frames (see :func:`draqcore.dtw`).
    method, k, seed
        How DRAQ's random cost is computed (see :func:`draqcore.draq`).
    refine : bool, default True
        Re-align every decoded frame at the native rate inside a 0.5 s corridor around the
        sampled path (:mod:`draqcore.refine`), so that :meth:`Alignment.native_mapping` follows
        the true speed curve to about a frame. Decodes both videos a second time. ``False``
        interpolates the sampled path instead.
    subsequence : bool, default False
        Match the whole of ``a`` (the query) to the best-matching contiguous part of ``b`` (a
        longer video) instead of end to end: open begin and end in ``b`` (subsequence DTW,
        :func:`draqcore.dtw`), DRAQ of the spanned columns. The found part is
        ``Alignment.segment`` (start and end times in ``b``); refinement then decodes only that
        part of ``b`` (plus 1.5 s on either side) at the native rate.

    Returns
    -------
    Alignment

    Raises
    ------
    draqcore.video.VideoReadError
        A video cannot be decoded (the message names it).
    """
    extractor = extractor if extractor is not None else default_extractor()
    seq_a = load_sequence(a, extractor, sample_fps)
    seq_b = load_sequence(b, extractor, sample_fps)
    alignment = align_sequences(
        seq_a, seq_b, contextualize=contextualize, band=band, method=method, k=k, seed=seed, subsequence=subsequence
    )
    if not refine:
        return alignment
    native_a = seq_a if sample_fps is None else None
    ta, frame_b, time_b, exact = refine_mapping(
        alignment.path, seq_a, seq_b, extractor, native_a=native_a, open_ends=subsequence
    )
    mapping = NativeMapping(
        frame_a=np.arange(len(frame_b), dtype=np.int64), time_a=ta, frame_b=frame_b, time_b=time_b, exact_time_b=exact
    )
    segment = alignment.segment
    if segment is not None:
        start, end = segment_ends(ta, exact)
        segment = replace(
            segment, start=start, end=end, start_frame=_frame_near(start, frame_b, time_b),
            end_frame=_frame_near(end, frame_b, time_b),
        )
    return replace(alignment, refined=mapping, segment=segment)

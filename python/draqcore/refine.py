"""Frame-accurate time maps: refine a sampled alignment at the videos' native frame rate.

The alignment of :func:`draqcore.align_videos` runs on frames sampled at 10 per second, on
contextualized features (paper Eq. 2-5): that finds *which* moments correspond robustly and
gives DRAQ, but its path moves in steps of 0.1 s, and DTW paths over sampled frames are
staircases (runs where one side holds still while the other moves). Interpolating such a path
recovers a 2x speed-up only to about 0.1 s.

:func:`refine_mapping` re-aligns at the native rate, inside a corridor around the sampled path:

1. Every decoded frame of ``a``, and of ``b`` inside the part the sampled path covers (plus the
   corridor radius), is described with *appearance* features: the extractor's features without
   their motion block. The OpenCV descriptor's optical-flow block measures motion per decoded
   frame, which scales with playback speed (a 2x speed-up doubles it), so it would pull a native
   path away from the true speed; HOG and colour layout do not depend on speed. Extractors
   without named blocks are used whole. No contextualization: Eq. 2-3 average over the whole
   video and blur the frame-level detail this step is for.
2. Cosine cost (Eq. 4) at native rate; cells farther than ``radius`` seconds (default 0.5 s, five
   sampled frames) outside the sampled path's span of ``b`` times for that instant of ``a`` are
   made unreachable (cost 1e3).
3. DTW through that matrix (Eq. 5), in chunks of ``a`` of at most 30 s with 3 s of overlap on
   each side (discarded), so memory stays bounded for long videos. For a whole-video alignment
   each chunk's path runs between the corners of its part of the corridor (for the first and
   last chunk: the first and last frames of both videos, which DTW pins together); for a
   subsequence alignment every chunk has open begin and end in ``b``
   (:func:`draqcore.segments.open_end_path`), and the corridor is widened in the first and last
   :data:`END_SLACK_S` seconds of ``a`` (:func:`open_end_corridor`): the sampled ends are the
   least certain part of a subsequence path. Open ends everywhere were tried for whole videos
   and were worse: near-static first or last frames then match a range of ``b`` and the ends
   drift (``box``, a 2x speed-up: mean error 0.057 s instead of 0.016 s).
4. Each frame of ``a`` maps to the mean ``b`` time of the path cells in its row (the centre of
   the run of ``b`` frames it matches, not the first one), averaged with its two neighbours
   (this turns the one-frame steps of a slow-down into a line), then to the nearest decoded
   frame of ``b``. A constant slow-down therefore maps to a straight line and a freeze to a flat step;
   ``frame_b`` repeats only where ``b`` moves slower than ``a`` (fewer frames per second of
   content) or really holds still.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from .cost import cost_matrix
from .features import FrameFeatureExtractor
from .dtw import dtw
from .segments import open_end_path
from .sequence import FeatureSequence, load_sequence

__all__ = [
    "END_SLACK_S",
    "REFINE_RADIUS_S",
    "appearance_features",
    "corridor",
    "open_end_corridor",
    "refine_mapping",
    "segment_ends",
]

REFINE_RADIUS_S: float = 0.5
"""Half-width of the native-rate corridor around the sampled path, seconds (five samples at the
default 10 fps: covers the sampled path's own quantisation and staircase errors with margin)."""

END_SLACK_S: float = 1.0
"""Seconds at each end of ``a`` over which a subsequence refinement may leave the coarse path's
corridor (:func:`open_end_corridor`), and seconds of ``b`` added beyond the coarse ends."""

_CHUNK_S = 30.0  # seconds of ``a`` aligned per native DTW (bounds memory on long videos)
_OVERLAP_S = 3.0  # context on each side of a chunk, discarded (bigger than the corridor)
_OUTSIDE = 1.0e3
_END_WINDOW_S = 1.0  # seconds of ``a`` fitted at each end by :func:`segment_ends`
_FREEZE_S = 0.3  # a flat run this long at an end of the mapping is a freeze, not a stuck row
_FLAT_TOL_S = 0.02  # "flat": matched times within this many seconds  # cost of a cell outside the corridor: never taken while a corridor path exists


def appearance_features(features: np.ndarray, extractor: FrameFeatureExtractor) -> np.ndarray:
    """The extractor's features without their motion block, rows re-normalised.

    Parameters
    ----------
    features : ndarray of shape (T, d)
    extractor : FrameFeatureExtractor
        When it names blocks (``block_slices``, as the OpenCV descriptor does) and one is
        ``"flow"``, that block is dropped; otherwise ``features`` are returned unchanged.

    Returns
    -------
    ndarray of shape (T, d'), float32
    """
    slices = getattr(extractor, "block_slices", None)
    f = np.asarray(features, dtype=np.float32)
    if not slices or "flow" not in slices:
        return f
    keep = np.ones(f.shape[1], dtype=bool)
    keep[slices["flow"]] = False
    out = f[:, keep]
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norm, 1e-12)


def corridor(
    path: np.ndarray, times_a: np.ndarray, times_b: np.ndarray, native_a: np.ndarray, radius: float
) -> Tuple[np.ndarray, np.ndarray]:
    """Range of ``b`` times allowed for every native frame of ``a`` around a sampled path.

    Parameters
    ----------
    path : ndarray of shape (L, 2), int64
        Sampled DTW path (rows index ``times_a``, columns ``times_b``).
    times_a, times_b : ndarray, float64
        Times of the sampled frames, seconds.
    native_a : ndarray of shape (N,), float64
        Times of the native frames of ``a``.
    radius : float
        Seconds added on both sides.

    Returns
    -------
    lo, hi : ndarray of shape (N,), float64
        Non-decreasing bounds, seconds: the smallest and largest ``b`` time the path matches to
        the sampled frames of ``a`` around each native frame, widened by ``radius``.
    """
    rows = path[:, 0]
    n = len(times_a)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, rows, times_b[path[:, 1]])
    np.maximum.at(last, rows, times_b[path[:, 1]])
    # Between two samples of a, b may be anywhere between the earlier one's first match and the
    # later one's last match: take the envelope of the neighbouring samples.
    k = np.searchsorted(times_a, native_a, side="right") - 1
    k0 = np.clip(k, 0, n - 1)
    k1 = np.clip(k + 1, 0, n - 1)
    lo = first[k0] - radius
    hi = last[k1] + radius
    return np.maximum.accumulate(lo), np.maximum.accumulate(hi)


def open_end_corridor(
    lo: np.ndarray, hi: np.ndarray, native_a: np.ndarray, slack: float = END_SLACK_S
) -> Tuple[np.ndarray, np.ndarray]:
    """Widen a corridor at both ends of ``a`` for an open-ended (subsequence) alignment.

    The ends of a sampled subsequence path are its least certain part: nothing after (before) the
    last (first) row pins it, and where ``a`` slows down to a near standstill at an end (an
    ease-out), the sampled features' motion block (near zero in ``a``, not in ``b`` at the true
    end) pulls the open end onto some other slow part of ``b``, further than the corridor radius
    (measured on tuning footage: 0.72 s past the true end). So, in the first and last ``slack``
    seconds of ``a``, any ``b`` time between the corridor at ``slack`` seconds inside and the
    coarse end widened by ``slack`` is allowed:

    - last ``slack`` s: ``lo`` is held at its value ``slack`` s before the end (``a`` may stand
      still there), ``hi`` is raised by ``slack`` (``b`` may run on);
    - first ``slack`` s: mirrored (``hi`` held at its value ``slack`` s after the start, ``lo``
      lowered by ``slack``).

    Parameters
    ----------
    lo, hi : ndarray of shape (N,), float64
        Non-decreasing corridor bounds from :func:`corridor`, seconds of ``b``.
    native_a : ndarray of shape (N,), float64
        Times of the native frames of ``a``, increasing.
    slack : float, default END_SLACK_S
        Seconds of ``a`` at each end, and seconds of ``b`` added outward (>= 0).

    Returns
    -------
    lo, hi : ndarray of shape (N,), float64
        New non-decreasing bounds, ``lo <= hi``; the inputs are not modified.
    """
    ta = np.asarray(native_a, dtype=np.float64)
    lo = np.array(lo, dtype=np.float64)
    hi = np.array(hi, dtype=np.float64)
    if ta.size == 0 or slack <= 0.0:
        return lo, hi
    head = ta <= ta[0] + slack
    tail = ta >= ta[-1] - slack
    h = int(np.flatnonzero(head)[-1])  # last row of the first `slack` seconds
    t = int(np.flatnonzero(tail)[0])  # first row of the last `slack` seconds
    lo_head, hi_head = lo[0] - slack, hi[h]
    lo_tail, hi_tail = lo[t], hi[-1] + slack
    lo[head] = lo_head
    hi[head] = np.maximum(hi[head], hi_head)
    lo[tail] = np.minimum(lo[tail], lo_tail)
    hi[tail] = hi_tail
    return np.maximum.accumulate(lo), np.maximum.accumulate(hi)


def refine_mapping(
    path: np.ndarray,
    a: FeatureSequence,
    b: FeatureSequence,
    extractor: FrameFeatureExtractor,
    *,
    radius: float = REFINE_RADIUS_S,
    native_a: Optional[FeatureSequence] = None,
    open_ends: bool = False,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Native-rate matches of every decoded frame of ``a`` (module notes, steps 1-4).

    Parameters
    ----------
    path : ndarray of shape (L, 2), int64
        The DTW path over the sampled frames of ``a`` and ``b``.
    a, b : FeatureSequence
        The sampled sequences (their ``path`` attributes name the videos; ``times`` are used).
    extractor : FrameFeatureExtractor
        Describes the native frames (see :func:`appearance_features`).
    radius : float, default REFINE_RADIUS_S
        Corridor half-width, seconds (> 0).
    native_a : FeatureSequence, optional
        Native-rate features of ``a`` when already computed.
    open_ends : bool, default False
        Match every chunk with open begin and end in ``b`` (subsequence DTW): for a subsequence
        alignment, where ``a`` starts and ends somewhere inside ``b``. Otherwise each chunk's DTW
        is pinned to the corners of its part of the corridor, which for the first and last
        chunk are ``b``'s first and last frame (both videos start and end together).

    Returns
    -------
    time_a : ndarray of shape (N_a,), float64
        Time of every decoded frame of ``a``, seconds.
    frame_b : ndarray of shape (N_a,), int64
        Native index in ``b`` of the match of every decoded frame of ``a``, non-decreasing.
    time_b : ndarray of shape (N_a,), float64
        Its time, seconds.
    exact_time_b : ndarray of shape (N_a,), float64
        The continuous matched time before rounding to a frame of ``b``, seconds,
        non-decreasing (``frame_b`` is the decoded frame nearest to it).
    """
    if not (isinstance(radius, (int, float)) and radius > 0):
        raise ValueError(f"radius: expected seconds > 0, got {radius!r}")
    p = np.asarray(path, dtype=np.int64)
    na = native_a if native_a is not None else load_sequence(a.path, extractor, None)
    lo, hi = corridor(p, a.times, b.times, na.times, float(radius))
    if open_ends:
        lo, hi = open_end_corridor(lo, hi, na.times)
    nb = load_sequence(b.path, extractor, None, start=max(0.0, float(lo.min())), end=float(hi.max()))
    fa = appearance_features(na.features, extractor)
    fb = appearance_features(nb.features, extractor)
    tb = nb.times
    mean_tb = np.empty(len(na.times), dtype=np.float64)
    fps_a = (len(na.times) - 1) / max(na.times[-1] - na.times[0], 1e-9) if len(na.times) > 1 else 1.0
    chunk = max(int(_CHUNK_S * fps_a), 1)
    overlap = int(_OVERLAP_S * fps_a)
    start = 0
    while start < len(na.times):
        stop = min(start + chunk, len(na.times))
        r0, r1 = max(0, start - overlap), min(len(na.times), stop + overlap)
        c0 = int(np.searchsorted(tb, lo[r0], side="left"))
        c1 = max(int(np.searchsorted(tb, hi[r1 - 1], side="right")), c0 + 1)
        c0 = min(c0, len(tb) - 1)
        c1 = min(max(c1, c0 + 1), len(tb))
        cost = cost_matrix(fa[r0:r1], fb[c0:c1])
        cols = tb[c0:c1]
        outside = (cols[None, :] < lo[r0:r1, None]) | (cols[None, :] > hi[r0:r1, None])
        cost[outside] = _OUTSIDE
        chunk_path = open_end_path(cost) if open_ends else dtw(cost).path
        sums = np.bincount(chunk_path[:, 0], weights=cols[chunk_path[:, 1]], minlength=r1 - r0)
        counts = np.bincount(chunk_path[:, 0], minlength=r1 - r0)
        mean_tb[start:stop] = (sums / counts)[start - r0 : stop - r0]
        start = stop
    smooth = np.maximum.accumulate(_smooth3(mean_tb))  # chunks meet monotonically
    frame_pos = _nearest_sorted(tb, smooth)
    return na.times, nb.indices[frame_pos], tb[frame_pos], smooth


def segment_ends(time_a: np.ndarray, time_b: np.ndarray, window: float = _END_WINDOW_S) -> Tuple[float, float]:
    """Where a mapping starts and ends in ``b``, robust to near-static first and last frames.

    The first (last) ``window`` seconds of the mapping are fitted with a Theil-Sen line (median
    of pairwise slopes, then median intercept), which is evaluated at ``a``'s first (last)
    frame. A video's first or last frames often change little and then match a range of frames
    of ``b`` equally well, so the mapping of the very first row alone can sit anywhere in that
    range; the line through the following rows (up to 29 % of them may be off) pins it down.
    A mapping that stays flat for at least 0.3 s at an end is a freeze (``a`` holds still
    there) and keeps its first (last) row: a stuck first row rarely lasts that long, a freeze
    that short cannot be told from one.

    Parameters
    ----------
    time_a, time_b : ndarray of shape (N,), float64
        A mapping: times of the frames of ``a`` and their matched (continuous) times in ``b``.
    window : float
        Seconds of ``a`` fitted at each end.

    Returns
    -------
    start, end : float
        Seconds in ``b``; ``start <= end``.
    """
    ta = np.asarray(time_a, dtype=np.float64)
    tb = np.asarray(time_b, dtype=np.float64)

    def at(edge: float, sel: np.ndarray) -> float:
        x, y = ta[sel], tb[sel]
        if x.size < 3:
            return float(tb[0] if edge == ta[0] else tb[-1])
        i, j = np.triu_indices(x.size, k=1)
        dx = x[j] - x[i]
        slope = float(np.median((y[j] - y[i])[dx > 0] / dx[dx > 0]))
        slope = max(slope, 0.0)
        return float(np.median(y - slope * (x - edge)))

    def flat(values: np.ndarray, times: np.ndarray) -> float:
        """Seconds of ``a`` over which ``values`` stay within _FLAT_TOL_S of the first one."""
        moved = np.flatnonzero(np.abs(values - values[0]) > _FLAT_TOL_S)
        last = moved[0] - 1 if moved.size else len(values) - 1
        return float(abs(times[last] - times[0]))

    start = float(tb[0]) if flat(tb, ta) >= _FREEZE_S else at(ta[0], ta <= ta[0] + window)
    end = float(tb[-1]) if flat(tb[::-1], ta[::-1]) >= _FREEZE_S else at(ta[-1], ta >= ta[-1] - window)
    lo, hi = float(tb.min()), float(tb.max())
    start = min(max(start, lo - window), hi)
    end = max(min(end, hi + window), start)
    return start, end


def _smooth3(x: np.ndarray) -> np.ndarray:
    """Mean over each value and its two neighbours (ends: the two available). Turns the 1-frame
    steps of run centres (a 2x slow-down matches frames k, k, k+1, k+1...) into a straight line,
    and blurs a freeze's corners by one frame only."""
    if len(x) < 3:
        return x.copy()
    out = np.empty_like(x)
    out[1:-1] = (x[:-2] + x[1:-1] + x[2:]) / 3.0
    out[0] = (x[0] + x[1]) / 2.0
    out[-1] = (x[-2] + x[-1]) / 2.0
    return out


def _nearest_sorted(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    if len(sorted_values) == 1:
        return np.zeros(len(queries), dtype=np.int64)
    hi = np.searchsorted(sorted_values, queries, side="left").clip(1, len(sorted_values) - 1)
    lo = hi - 1
    take_hi = np.abs(sorted_values[hi] - queries) < np.abs(queries - sorted_values[lo])
    return np.where(take_hi, hi, lo).astype(np.int64)

"""The time map of an alignment: for every time of video A, the matched time of video B.

All outputs (re-timed video, side-by-side video, ``alignment.csv``, ``alignment.json``, the
OpenTimelineIO timeline, the browser viewer) use this one map, so they agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TimeMap"]


@dataclass(frozen=True)
class TimeMap:
    """A non-decreasing, piecewise-linear map from A's time to B's time.

    The knots are the sampled frames of A and the times of the sampled frames of B that DTW
    matches to them (``warp(path, keep=0)``, A unwarped). Between knots the map is linear; before
    the first and after the last knot it is flat — the same rule as
    :meth:`draqcore.Alignment.native_mapping`, so ``time_b`` of ``alignment.csv`` is the decoded
    frame of B nearest to ``TimeMap(t_a)``.

    Attributes
    ----------
    time_a : ndarray of shape (K,), float64
        Knot times in A, seconds, strictly increasing.
    time_b : ndarray of shape (K,), float64
        Matched times in B, seconds, non-decreasing.
    """

    time_a: np.ndarray
    time_b: np.ndarray

    def __post_init__(self) -> None:
        ta = np.array(self.time_a, dtype=np.float64, copy=True).reshape(-1)
        tb = np.array(self.time_b, dtype=np.float64, copy=True).reshape(-1)
        if ta.shape != tb.shape or ta.size == 0:
            raise ValueError(f"time_a and time_b must be non-empty and equally long, got {ta.size} and {tb.size}")
        if not (np.isfinite(ta).all() and np.isfinite(tb).all()):
            raise ValueError("time map knots must be finite")
        if np.any(np.diff(ta) <= 0):
            raise ValueError("time_a must be strictly increasing")
        if np.any(np.diff(tb) < 0):
            raise ValueError("time_b must be non-decreasing")
        ta.setflags(write=False)
        tb.setflags(write=False)
        object.__setattr__(self, "time_a", ta)
        object.__setattr__(self, "time_b", tb)

    @classmethod
    def from_alignment(cls, alignment) -> "TimeMap":
        """The map of a :class:`draqcore.Alignment` (A = ``alignment.a``, B = ``alignment.b``).

        A refined alignment (``alignment.refined``, :mod:`draqcore.refine`) has a knot at every
        decoded frame of A: the continuous matched time of the native-rate refinement, whose
        nearest decoded frame of B is the row of ``alignment.csv``."""
        refined = getattr(alignment, "refined", None)
        if refined is not None and getattr(refined, "exact_time_b", None) is not None:
            return cls(refined.time_a, refined.exact_time_b)
        return cls(alignment.a.times, alignment.b.times[alignment.match(keep=0)])

    @classmethod
    def from_hit(cls, hit) -> "TimeMap":
        """The map of a :class:`draqcore.SearchHit` (A = the query, B = the hit)."""
        return cls(hit.query_times, hit.hit_times[np.asarray(hit.alignment, dtype=np.int64)])

    def __call__(self, t_a) -> np.ndarray:
        """B's time, seconds, for A's time(s) ``t_a`` (seconds); same shape as ``t_a``."""
        return np.interp(np.asarray(t_a, dtype=np.float64), self.time_a, self.time_b)

    def segments(self) -> list[tuple[float, float, float, float]]:
        """Maximal linear pieces ``(a0, a1, b0, b1)`` between knots, consecutive pieces of equal
        slope merged (relative tolerance 1e-9); covers ``[time_a[0], time_a[-1]]``."""
        ta, tb = self.time_a, self.time_b
        if ta.size == 1:
            return []
        slopes = np.diff(tb) / np.diff(ta)
        out: list[tuple[float, float, float, float]] = []
        start = 0
        for i in range(1, slopes.size + 1):
            if i == slopes.size or not np.isclose(slopes[i], slopes[start], rtol=1e-9, atol=1e-12):
                out.append((float(ta[start]), float(ta[i]), float(tb[start]), float(tb[i])))
                start = i
        return out

    def simplified(self, tolerance_s: float) -> "TimeMap":
        """A map with fewer knots that stays within ``tolerance_s`` seconds of this one at every
        knot (greedy: each piece is extended while all knots it spans lie within the tolerance of
        its chord). Used to cut as few timeline clips as the accuracy allows; the first and last
        knots are kept."""
        if not tolerance_s >= 0:
            raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s!r}")
        ta, tb = self.time_a, self.time_b
        n = ta.size
        if n <= 2:
            return self
        keep = [0]
        i = 0
        while i < n - 1:
            # grow the piece i -> j by doubling, then binary-search the longest valid one
            def ok(j: int) -> bool:
                seg_t = ta[i : j + 1]
                chord = tb[i] + (tb[j] - tb[i]) * (seg_t - ta[i]) / (ta[j] - ta[i])
                return bool(np.all(np.abs(chord - tb[i : j + 1]) <= tolerance_s + 1e-9))  # + rounding

            step = 1
            good = i + 1
            while good + step < n and ok(good + step):
                good += step
                step *= 2
            lo, hi = good, min(n - 1, good + step)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if ok(mid):
                    lo = mid
                else:
                    hi = mid
            if hi != lo and ok(hi):
                lo = hi
            keep.append(lo)
            i = lo
        idx = np.asarray(keep)
        return TimeMap(ta[idx], tb[idx])

    def smoothed(self, window_s: float) -> "TimeMap":
        """The map averaged over a sliding window of ``window_s`` seconds of A (knots resampled
        every 10 ms), kept non-decreasing.

        DTW's map is a staircase at the sampling rate (slopes jump between 0, 1, 2, ...); audio
        carried through it would stutter. The smoothed map differs from the map by at most half
        the largest step inside one window.
        """
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if self.time_a.size < 2:
            return self
        step = 0.01
        grid = np.arange(self.time_a[0], self.time_a[-1] + step / 2, step)
        values = self(grid)
        half = max(1, int(round(window_s / step / 2)))
        padded = np.concatenate([np.full(half, values[0]), values, np.full(half, values[-1])])
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        smooth = np.convolve(padded, kernel, mode="valid")
        smooth = np.maximum.accumulate(smooth)
        return TimeMap(grid, smooth)

    def to_dict(self) -> dict:
        """``{"time_a": [...], "time_b": [...]}`` (JSON-ready)."""
        return {"time_a": self.time_a.tolist(), "time_b": self.time_b.tolist()}

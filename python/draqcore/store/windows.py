"""Overlapping windows of long videos for retrieval (issue 9, long videos).

A whole-video clip vector (the mean of all frame features) of a long recording is unlike the
clip vector of a short excerpt of it, so the first (ANN) stage would never retrieve the long
video for a short query. Long videos therefore also contribute *window vectors*: the mean of
the frame features of each overlapping window, standardised and searched like clip vectors.

Windows are defined on the sampled frames alone (never on stored vectors), so every window
vector can be recomputed from the stored features and checked (``draq check``; a search
recomputes those of the videos it retrieved and refuses forged ones):

* window length ``L = round(WINDOW_SECONDS * sample_fps)`` and stride
  ``S = round(STRIDE_SECONDS * sample_fps)`` sampled frames (at least 1 each);
* a video of ``T`` sampled frames is *long* when ``T > LONG_WINDOWS * L``;
* window ``w`` covers frames ``[w S, w S + L)``; after the last full stride one more window
  ``[T - L, T)`` is added when the strides do not reach the end, so every frame is covered.

Why 8 s windows with a 4 s stride: queries of the paper's kind are actions of a few seconds to
about ten; a window of 8 s is as long as a typical query, so its mean is close to the mean of a
query that covers most of it, and a 50 % overlap guarantees that any query of at least
``L + S = 12 s`` contains a whole window and any query of at least 4 s overlaps some window by
at least half of that window. Halving the stride doubles the window count (index size) for
little gain at these lengths. A video shorter than two windows gains little: its clip mean is
already mostly the query's.

Window labels in the window index are ``video_id << LABEL_BITS | w`` (so ``label >> LABEL_BITS``
is the video id): labels of a later video are larger, so adding videos keeps them ascending and
the index grows incrementally.
"""

from __future__ import annotations

import numpy as np

__all__ = ["WINDOW_SECONDS", "STRIDE_SECONDS", "LONG_WINDOWS", "LABEL_BITS", "WINDOWS_DIRNAME",
           "window_frames", "window_bounds", "window_counts", "window_means", "window_labels", "label_video",
           "label_window"]

#: Window length, seconds.
WINDOW_SECONDS: float = 8.0
#: Step between window starts, seconds.
STRIDE_SECONDS: float = 4.0
#: A video with more than this many window lengths of sampled frames contributes windows.
LONG_WINDOWS: float = 2.0
#: Bits of a window label that hold the window number (at most 2**20 windows per video:
#: 48 days of video at a 4 s stride).
LABEL_BITS: int = 20
#: Sub-directory of the collection's index directory that holds the window index.
WINDOWS_DIRNAME: str = "windows"


def window_frames(sample_fps: float) -> tuple[int, int]:
    """Window length and stride in sampled frames at ``sample_fps`` (each at least 1)."""
    fps = float(sample_fps)
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"sample_fps: expected a positive finite number, got {sample_fps!r}")
    return max(1, int(round(WINDOW_SECONDS * fps))), max(1, int(round(STRIDE_SECONDS * fps)))


def window_bounds(num_frames: int, sample_fps: float) -> np.ndarray:
    """Frame ranges ``[lo, hi)`` of the windows of a video of ``num_frames`` sampled frames.

    Returns
    -------
    ndarray of shape (n, 2), int64
        Empty (0, 2) when the video is not long (``num_frames <= LONG_WINDOWS * L``).
    """
    length, stride = window_frames(sample_fps)
    t = int(num_frames)
    if t <= LONG_WINDOWS * length:
        return np.empty((0, 2), dtype=np.int64)
    starts = list(range(0, t - length + 1, stride))
    if starts[-1] + length < t:
        starts.append(t - length)
    lo = np.asarray(starts, dtype=np.int64)
    if lo.size >= (1 << LABEL_BITS):
        raise ValueError(f"a video of {t} frames has {lo.size} windows, more than {1 << LABEL_BITS}")
    return np.stack([lo, lo + length], axis=1)


def window_counts(num_frames: np.ndarray, sample_fps: float) -> np.ndarray:
    """Number of :func:`window_bounds` windows of videos of ``num_frames`` sampled frames each,
    computed at once (a writer counts the windows of every pending long video on each add).

    Parameters
    ----------
    num_frames : array-like of int, shape (k,)
    sample_fps : float

    Returns
    -------
    ndarray of shape (k,), int64
        ``window_bounds(t, sample_fps).shape[0]`` for every ``t`` (0 for videos that are not long).
    """
    length, stride = window_frames(sample_fps)
    t = np.asarray(num_frames, dtype=np.int64).reshape(-1)
    full = (t - length) // stride + 1  # windows starting at 0, stride, ... that fit
    last_end = (full - 1) * stride + length
    n = np.where(t <= LONG_WINDOWS * length, 0, full + (last_end < t))
    if n.size and int(n.max()) >= (1 << LABEL_BITS):
        raise ValueError(f"a video of {int(t[np.argmax(n)])} frames has {int(n.max())} windows, more than {1 << LABEL_BITS}")
    return n.astype(np.int64)


def window_means(features: np.ndarray, sample_fps: float) -> np.ndarray:
    """Window vectors of one video: the mean of its frame features in each window.

    Parameters
    ----------
    features : ndarray of shape (T, d)
        Frame features (any real dtype; not modified).
    sample_fps : float
        The collection's sampling rate (defines the window length in frames).

    Returns
    -------
    ndarray of shape (n, d), float32
        One row per :func:`window_bounds` window (float64 accumulation, as clip means).
    """
    f = np.asarray(features)
    if f.ndim != 2:
        raise ValueError(f"features: expected shape (T, d), got {f.shape}")
    bounds = window_bounds(f.shape[0], sample_fps)
    if bounds.shape[0] == 0:
        return np.empty((0, f.shape[1]), dtype=np.float32)
    csum = np.zeros((f.shape[0] + 1, f.shape[1]), dtype=np.float64)
    np.cumsum(f, axis=0, dtype=np.float64, out=csum[1:])
    sums = csum[bounds[:, 1]] - csum[bounds[:, 0]]
    return (sums / (bounds[:, 1] - bounds[:, 0])[:, None]).astype(np.float32)


def window_labels(video_id: int, count: int) -> np.ndarray:
    """Labels of a video's ``count`` windows, ascending: ndarray of shape (count,), int64."""
    return (np.int64(video_id) << LABEL_BITS) | np.arange(int(count), dtype=np.int64)


def label_video(labels: np.ndarray) -> np.ndarray:
    """Video id of each window label."""
    return np.asarray(labels, dtype=np.int64) >> LABEL_BITS


def label_window(labels: np.ndarray) -> np.ndarray:
    """Window number of each window label."""
    return np.asarray(labels, dtype=np.int64) & ((1 << LABEL_BITS) - 1)

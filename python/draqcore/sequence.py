"""A decoded video as a feature sequence: sampled frame times, native indices and features."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .features import FrameFeatureExtractor, default_extractor
from .video import DEFAULT_SAMPLE_FPS, VideoReadError, process_sampled_frames

__all__ = ["FeatureSequence", "load_sequence"]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class FeatureSequence:
    """Frame features of one video with the timing of every sampled frame.

    Attributes
    ----------
    path : Path
        The video file or image folder.
    times : ndarray of shape (T,), float64
        Seconds from the start of the video of each sampled frame.
    indices : ndarray of shape (T,), int64
        Index of each sampled frame among the video's decoded frames (native rate).
    features : ndarray of shape (T, d), float32
        Frame features (paper Eq. 1), not contextualized.
    """

    path: Path
    times: np.ndarray
    indices: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


def load_sequence(
    path: PathLike,
    extractor: Optional[FrameFeatureExtractor] = None,
    sample_fps: Optional[float] = DEFAULT_SAMPLE_FPS,
    *,
    start: float = 0.0,
    end: Optional[float] = None,
) -> FeatureSequence:
    """Decode ``path`` sequentially at ``sample_fps`` and extract frame features on the fly.

    Frames stream from the decoder (a background thread,
    :func:`draqcore.video.process_sampled_frames`) into the extractor (this thread), so decoding
    and extraction overlap; memory holds the features and a few frames, not the video.
    ``start``/``end`` (seconds) keep only the frames in that part of the video (see
    :func:`draqcore.video.iter_sampled_frames`); ``indices`` stay native indices of the whole video.

    Raises
    ------
    VideoReadError
        The file is missing, unreadable, corrupt or has no frames (the message names it).
    """
    extractor = extractor if extractor is not None else default_extractor()
    # one decode in a background thread, overlapping the extractor in this one
    done = process_sampled_frames(path, extractor.extract, sample_fps, start=start, end=end)
    features, times, indices = done.result, done.times, done.indices
    if len(times) == 0:
        raise VideoReadError(f"{path}: no frames could be decoded")
    if len(features) != len(times):
        raise ValueError(
            f"{path}: extractor {extractor.name!r} returned {len(features)} rows for {len(times)} frames"
        )
    return FeatureSequence(
        path=Path(path),
        times=times,
        indices=indices,
        features=np.ascontiguousarray(features, dtype=np.float32),
    )

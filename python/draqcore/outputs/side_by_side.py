"""The side-by-side video: A (left) and B re-timed onto A's timeline (right), labelled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from .media import FrameFollower, VideoEncoder, average_rate, check_media_path, even_size, read_audio

__all__ = ["write_side_by_side"]

PathLike = Union[str, "os.PathLike[str]"]

_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)


def _ascii(text: str) -> str:
    # OpenCV's Hershey fonts draw ASCII only.
    return text.encode("ascii", "replace").decode("ascii")


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, align_right: bool = False) -> None:
    """White text on a black box; ``origin`` is the text's bottom-left (or bottom-right) corner."""
    text = _ascii(text)
    thickness = max(1, int(round(scale * 2)))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = origin
    if align_right:
        x -= w
    cv2.rectangle(image, (x - 3, y - h - 3), (x + w + 3, y + base + 1), _BLACK, cv2.FILLED)
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, _WHITE, thickness, cv2.LINE_AA)


def _fit(name: str, max_chars: int) -> str:
    return name if len(name) <= max_chars else "..." + name[-max(1, max_chars - 3):]


def write_side_by_side(
    alignment,
    out_path: PathLike,
    mapping=None,
    *,
    height: Optional[int] = None,
    audio: bool = True,
    progress: bool = False,
) -> Path:
    """Write A (left) and B re-timed onto A's timeline (right), one frame per decoded frame of A
    at that frame's time.

    The right half shows the frame of B that :meth:`draqcore.Alignment.native_mapping` matches
    (the rows of ``alignment.csv``). Each half is labelled with its file name and current time,
    frame index; the bottom line gives the DRAQ score. Both videos are decoded once,
    sequentially; memory holds two frames.

    Parameters
    ----------
    alignment : draqcore.Alignment
    out_path : path
        ``.mp4`` (H.264 + AAC) or ``.webm`` (VP9 + Opus), see :mod:`draqcore.outputs.media`.
    mapping : NativeMapping, optional
        Computed from the files when omitted.
    height : int, optional
        Output height in pixels (default: A's height, rounded to even); both halves are scaled
        to it.
    audio : bool
        Mux A's audio track when A has one.
    progress : bool
        Show a progress bar on stderr.

    Raises
    ------
    ValueError
        Bad suffix or height; A has no frames.
    """
    from ..video import iter_sampled_frames

    out = check_media_path(out_path)
    if height is not None:
        even_size(2, 2, height)
    mapping = mapping if mapping is not None else alignment.native_mapping()
    fps = average_rate(mapping.time_a)
    name_a, name_b = Path(alignment.a.path).name, Path(alignment.b.path).name
    track = read_audio(alignment.a.path) if audio else None
    frames_b = FrameFollower(iter_sampled_frames(alignment.b.path, None))
    frames_a = iter_sampled_frames(alignment.a.path, None)
    if progress:
        from tqdm import tqdm

        frames_a = tqdm(frames_a, total=len(mapping.frame_b), desc="side-by-side", unit="frame", leave=False)
    encoder: Optional[VideoEncoder] = None
    try:
        for frame_a in frames_a:
            if frame_a.index >= len(mapping.frame_b):
                break
            current_b = frames_b.at(int(mapping.frame_b[frame_a.index]))
            left = frame_a.image
            h = height if height is not None else left.shape[0] + left.shape[0] % 2
            lw, _ = even_size(left.shape[1], left.shape[0], h)
            rw, _ = even_size(current_b.image.shape[1], current_b.image.shape[0], h)
            canvas = np.concatenate(
                [cv2.resize(left, (lw, h), interpolation=cv2.INTER_AREA), cv2.resize(current_b.image, (rw, h), interpolation=cv2.INTER_AREA)],
                axis=1,
            )
            scale = max(0.3, h / 720.0)
            line = int(round(22 * scale / 0.5))
            chars = max(6, int(lw / (11 * scale / 0.5)) - 14)
            _label(canvas, f"A {_fit(name_a, chars)}", (4, line), scale)
            _label(canvas, f"{frame_a.time:6.2f}s #{frame_a.index}", (4, 2 * line + 2), scale)
            _label(canvas, f"B {_fit(name_b, chars)}", (lw + 4, line), scale)
            _label(canvas, f"{current_b.time:6.2f}s #{current_b.index}", (lw + 4, 2 * line + 2), scale)
            _label(canvas, f"DRAQ {alignment.draq:.3f}", (canvas.shape[1] - 4, h - 6), scale, align_right=True)
            if encoder is None:
                encoder = VideoEncoder(out, fps, (canvas.shape[1], canvas.shape[0]), audio=track)
            encoder.write(canvas, time_s=frame_a.time)
    except BaseException:
        if encoder is not None:
            encoder.abort()
        raise
    if encoder is None:
        raise ValueError(f"{alignment.a.path}: no frames to write")
    return encoder.close()

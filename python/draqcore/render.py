"""Outputs a person looks at: the side-by-side re-timed video and the cost-matrix plot."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Union

import cv2
import numpy as np

from .align import Alignment, NativeMapping
from .random_paths import random_path
from .video import SampledFrame, iter_sampled_frames, native_fps

__all__ = ["write_side_by_side", "write_cost_plot"]

PathLike = Union[str, Path]

_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.4) -> None:
    """White text on a dark box; ``origin`` is the text's bottom-left corner."""
    thickness = 1
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = origin
    cv2.rectangle(image, (x - 2, y - h - 2), (x + w + 2, y + base), _BLACK, cv2.FILLED)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, _WHITE, thickness, cv2.LINE_AA)


def _open_writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot open a video writer for this file type")
    return writer


def write_side_by_side(
    alignment: Alignment,
    out_path: PathLike,
    mapping: Optional[NativeMapping] = None,
    *,
    height: Optional[int] = None,
) -> Path:
    """Write the query (left) and the second video re-timed onto the query's timeline (right).

    One output frame per decoded frame of ``alignment.a``, at ``a``'s native frame rate; the
    right half shows the frame of ``b`` that :meth:`Alignment.native_mapping` matches to it.
    Both videos are decoded once, sequentially (the mapping is non-decreasing, so ``b`` is read
    forwards); memory holds two frames.

    Parameters
    ----------
    alignment : Alignment
    out_path : path
        ``.mp4`` (mp4v) or ``.avi`` (MJPG).
    mapping : NativeMapping, optional
        Computed from the files when omitted.
    height : int, optional
        Output height in pixels (default: ``a``'s height); both halves are scaled to it.
    """
    out = Path(out_path)
    mapping = mapping if mapping is not None else alignment.native_mapping()
    fps = native_fps(alignment.a.path)
    frames_b: Iterator[SampledFrame] = iter_sampled_frames(alignment.b.path, None)
    current_b = next(frames_b)
    writer: Optional[cv2.VideoWriter] = None
    try:
        for frame_a in iter_sampled_frames(alignment.a.path, None):
            if frame_a.index >= len(mapping.frame_b):
                break
            want = int(mapping.frame_b[frame_a.index])
            while current_b.index < want:
                nxt = next(frames_b, None)
                if nxt is None:
                    break
                current_b = nxt
            left = frame_a.image
            h = height or left.shape[0]
            left = cv2.resize(left, (max(1, round(left.shape[1] * h / left.shape[0])), h))
            right = cv2.resize(current_b.image, (max(1, round(current_b.image.shape[1] * h / current_b.image.shape[0])), h))
            canvas = np.concatenate([left, right], axis=1)
            scale = max(0.35, h / 480.0)
            margin = int(14 * scale / 0.35)
            _label(canvas, f"query {frame_a.time:.2f}s #{frame_a.index}", (4, margin), scale)
            _label(canvas, f"aligned {current_b.time:.2f}s #{current_b.index}", (left.shape[1] + 4, margin), scale)
            if writer is None:
                writer = _open_writer(out, fps, (canvas.shape[1], canvas.shape[0]))
            writer.write(canvas)
    finally:
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError(f"{alignment.a.path}: no frames to write")
    return out


def write_cost_plot(
    alignment: Alignment,
    out_path: PathLike,
    *,
    random_paths: int = 5,
    seed: int = 0,
    min_size: int = 480,
) -> Path:
    """PNG of the cost matrix (rows: frames of ``a``, columns: frames of ``b``) with the DTW path
    (white), ``random_paths`` sampled random paths of DRAQ's baseline (magenta) and the scores.

    Dark = low cost (viridis colour map, scaled to the matrix's min..max).
    """
    out = Path(out_path)
    cost = alignment.cost
    n, m = cost.shape
    lo, hi = float(cost.min()), float(cost.max())
    norm = ((cost - lo) / (hi - lo if hi > lo else 1.0) * 255).astype(np.uint8)
    cell = max(1, int(np.ceil(min_size / max(n, m))))
    image = cv2.applyColorMap(norm, cv2.COLORMAP_VIRIDIS)
    image = cv2.resize(image, (m * cell, n * cell), interpolation=cv2.INTER_NEAREST)
    pad_top, pad_left = 48, 8
    width = max(image.shape[1] + pad_left + 8, 560)
    canvas = np.full((image.shape[0] + pad_top + 8, width, 3), 32, np.uint8)
    canvas[pad_top : pad_top + image.shape[0], pad_left : pad_left + image.shape[1]] = image

    def to_points(path: np.ndarray) -> np.ndarray:
        pts = np.stack([pad_left + path[:, 1] * cell + cell // 2, pad_top + path[:, 0] * cell + cell // 2], axis=1)
        return pts.astype(np.int32).reshape(-1, 1, 2)

    for index in range(random_paths):
        rp = random_path((n, m), seed=seed, index=index)
        cv2.polylines(canvas, [to_points(rp)], False, (255, 0, 255), 1, cv2.LINE_AA)
    cv2.polylines(canvas, [to_points(alignment.path)], False, _WHITE, 2, cv2.LINE_AA)
    _label(canvas, f"DRAQ {alignment.draq:.3f}  = DTW {alignment.dtw_cost:.2f} / E[random] {alignment.random_cost:.2f}", (8, 18), 0.45)
    _label(canvas, f"rows: {alignment.a.path.name} ({n})  cols: {alignment.b.path.name} ({m})  white: DTW, magenta: random", (8, 40), 0.38)
    if not cv2.imwrite(str(out), canvas):
        raise OSError(f"{out}: could not write the PNG")
    return out

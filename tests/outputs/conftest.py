"""Fixtures for the output tests: real footage re-cut with a known time warp, real audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from outputs_media import A_FRAMES, FPS, SOURCE_FRAMES, TONE_A_HZ, TONE_B_HZ, b_source_time, write_clip


@dataclass(frozen=True)
class WarpedPair:
    a: Path  # source frames 0..99 at 25 fps, tone 330 Hz
    b: Path  # the source under b_source_time, tone 440 Hz
    a_frames: list


@pytest.fixture(scope="session")
def warped_pair(tmp_path_factory, footage) -> WarpedPair:
    src = footage("bikes")
    with av.open(str(src)) as c:
        source = []
        for f in c.decode(video=0):
            source.append(f.to_ndarray(format="bgr24")[::2, ::2])  # 320 x 136
            if len(source) == SOURCE_FRAMES:
                break
    root = tmp_path_factory.mktemp("warped")
    a_frames = source[:A_FRAMES]
    n_b = int(3.5 * FPS)
    b_idx = np.clip(np.round(b_source_time(np.arange(n_b) / FPS) * FPS).astype(int), 0, SOURCE_FRAMES - 1)
    b_frames = [source[i] for i in b_idx]
    return WarpedPair(
        a=write_clip(root / "bikes_a.mp4", a_frames, TONE_A_HZ),
        b=write_clip(root / "bikes_b.mp4", b_frames, TONE_B_HZ),
        a_frames=a_frames,
    )


@pytest.fixture(scope="session")
def warped_alignment(warped_pair):
    from draqcore.align import align_videos

    return align_videos(warped_pair.a, warped_pair.b)


def _bikes(footage, frames: int) -> list:
    with av.open(str(footage("bikes"))) as c:
        source = []
        for f in c.decode(video=0):
            source.append(f.to_ndarray(format="bgr24")[::2, ::2])  # 320 x 136
            if len(source) == frames:
                break
    return source


def long_b_source_time(t_b):
    """Source seconds B shows at B-time: half speed for 2 s, double for 2 s, then normal speed."""
    t_b = np.asarray(t_b, dtype=np.float64)
    return np.where(t_b < 2.0, 0.5 * t_b, np.where(t_b < 4.0, 1.0 + 2.0 * (t_b - 2.0), 5.0 + (t_b - 4.0)))


@pytest.fixture(scope="session")
def long_pair(tmp_path_factory, footage) -> tuple[Path, Path]:
    """8 s of real footage (A, H.264 MP4 with audio) and a 7 s warped version (B) stored as
    Motion-JPEG AVI, which browsers do not play (the viewer must make a copy)."""
    import cv2

    source = _bikes(footage, 200)
    root = tmp_path_factory.mktemp("long")
    a = write_clip(root / "street_a.mp4", source, TONE_A_HZ)
    idx = np.clip(np.round(long_b_source_time(np.arange(7 * FPS) / FPS) * FPS).astype(int), 0, len(source) - 1)
    b = root / "street_b.avi"
    h, w = source[0].shape[:2]
    writer = cv2.VideoWriter(str(b), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (w, h))
    for i in idx:
        writer.write(source[i])
    writer.release()
    return a, b

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

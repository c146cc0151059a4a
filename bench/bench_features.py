"""Speed of the default frame-feature extractor (frames per second on one core).

Inputs: seeded synthetic videos (a smooth random texture panning under a moving square, plus
sensor noise) of 200 frames at 160 x 120 and 320 x 240. OpenCV is limited to one thread for
the duration (``cv2.setNumThreads(1)``), so the numbers are per core. Peer in the same run: the
resize + Farneback optical flow alone (the extractor's largest cost), as a floor.
Run: python -m pytest bench/bench_features.py --benchmark-only
Frames per second land in each benchmark's ``extra_info`` and in docs/features.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np
import pytest

from draqcore.features import default_extractor

N_FRAMES = 200
SIZES = {"160x120": (160, 120), "320x240": (320, 240)}


def _video(width: int, height: int, n: int = N_FRAMES, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    margin = 2 * n + 8
    noise = rng.random((height + margin, width + margin, 3)).astype(np.float32)
    tex = cv2.GaussianBlur(noise, (0, 0), 3.0)
    tex = ((tex - tex.min()) / (tex.max() - tex.min()) * 255).astype(np.uint8)
    frames = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        f = tex[t : t + height, t // 2 : t // 2 + width].copy()
        x = int((0.5 + 0.3 * np.sin(t / 10)) * width)
        top_left, bottom_right = (x - width // 10, height // 3), (x + width // 10, 2 * height // 3)
        cv2.rectangle(f, top_left, bottom_right, (255, 255, 255), -1)
        frames[t] = np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8)
    return frames


@pytest.fixture(scope="module", params=list(SIZES), ids=list(SIZES))
def video(request: pytest.FixtureRequest) -> tuple[str, np.ndarray]:
    width, height = SIZES[request.param]
    return request.param, _video(width, height)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(before)


def _record_fps(benchmark: Any, size: str) -> None:
    """Store frames per second (from the median and the fastest round) in ``extra_info``."""
    if benchmark.stats is None:  # --benchmark-disable: the function ran once, untimed
        return
    stats = benchmark.stats.stats
    benchmark.extra_info["frames"] = N_FRAMES
    benchmark.extra_info["size"] = size
    benchmark.extra_info["fps_median"] = round(N_FRAMES / stats.median, 1)
    benchmark.extra_info["fps_min_time"] = round(N_FRAMES / stats.min, 1)


def test_default_extractor(benchmark: Any, video: tuple[str, np.ndarray]) -> None:
    size, frames = video
    benchmark.group = f"features-{size}"
    ex = default_extractor()
    out = benchmark.pedantic(ex.extract, args=(frames,), rounds=5, iterations=1, warmup_rounds=1)
    assert out.shape == (N_FRAMES, ex.dim) and np.isfinite(out).all()
    _record_fps(benchmark, size)


def test_resize_and_flow_floor(benchmark: Any, video: tuple[str, np.ndarray]) -> None:
    size, frames = video
    benchmark.group = f"features-{size}"

    def flow_only() -> None:
        prev = None
        for f in frames:
            g = cv2.cvtColor(cv2.resize(f, (64, 48), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
            if prev is not None:
                cv2.calcOpticalFlowFarneback(prev, g, None, 0.5, 3, 9, 3, 5, 1.1, 0)
            prev = g

    benchmark.pedantic(flow_only, rounds=5, iterations=1, warmup_rounds=1)
    _record_fps(benchmark, size)

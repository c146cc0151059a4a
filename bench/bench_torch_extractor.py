"""Frames per second of TorchImageExtractor on the CPU and, when there is one, on CUDA.

Model: a small seeded ResNet-style stack (4 stride-2 3x3 convolutions, 32-256 channels, global
average pooling; torchvision is not needed) at 224 x 224, batch 32, on 128 seeded 320 x 240
frames. Peers in the same run: CPU float32 and, with CUDA, CUDA float32 (unpinned) and the
default CUDA path (pinned staging, precision="auto"). Without a GPU the CUDA rows are skipped.
Run: python -m pytest bench/bench_torch_extractor.py --benchmark-only
Frames per second land in each benchmark's ``extra_info``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from draqcore.features import TorchImageExtractor  # noqa: E402

N_FRAMES = 128


class _Backbone(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        layers: list[torch.nn.Module] = []
        cin = 3
        for cout in (32, 64, 128, 256):
            layers += [torch.nn.Conv2d(cin, cout, 3, stride=2, padding=1), torch.nn.BatchNorm2d(cout), torch.nn.ReLU()]
            cin = cout
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x: Any) -> Any:
        return self.body(x).mean(dim=(2, 3))


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8) for _ in range(N_FRAMES)]


CASES = {
    "cpu-float32": {"device": "cpu", "precision": "float32"},
    "cuda-float32-unpinned": {"device": "cuda", "precision": "float32", "pin_memory": False},
    "cuda-auto-pinned": {"device": "cuda", "precision": "auto"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_torch_image_fps(benchmark: Any, case: str) -> None:
    kwargs = CASES[case]
    if kwargs["device"] == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device in this run")
    ex = TorchImageExtractor(_Backbone(), input_size=(224, 224), batch_size=32, **kwargs)
    frames = _frames()

    def run() -> np.ndarray:
        out = ex.extract(frames)
        if kwargs["device"] == "cuda":
            torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert out.shape == (N_FRAMES, 256)
    if benchmark.stats is not None:
        benchmark.extra_info["frames_per_s"] = N_FRAMES / benchmark.stats.stats.median
        benchmark.extra_info["precision"] = ex.precision
        benchmark.extra_info["pinned"] = ex.pinned

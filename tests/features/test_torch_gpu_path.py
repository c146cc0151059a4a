"""The CUDA path of the torch adapters: device selection, pinned staging, half precision.

No GPU is available where this suite is developed: the CUDA-only pieces are unit-tested on the
CPU through the functions they use (device selection with a mocked ``torch.cuda``, the precision
check with ``device_type="cuda"``, the staging buffers unpinned), and the end-to-end CUDA test is
skipped, saying so, when ``torch.cuda.is_available()`` is False.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from draqcore.features import TorchClipExtractor, TorchImageExtractor  # noqa: E402
from draqcore.features.torch_backbone import (  # noqa: E402
    HALF_MIN_COSINE,
    _choose_precision,
    _Staging,
    select_device,
)

has_cuda = torch.cuda.is_available()


class SmallNet(torch.nn.Module):
    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 16)
        with torch.no_grad():
            self.fc.weight.mul_(scale)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        y = torch.nn.functional.adaptive_avg_pool2d(y, 4)
        return self.fc(y.flatten(1))


def _frames(rng, n=12, h=40, w=56):
    base = rng.integers(0, 256, size=(h, w, 3)).astype(np.float64)
    return [np.clip(base + 10 * t, 0, 255).astype(np.uint8) for t in range(n)]


def _cos(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ----------------------------------------------------------------- device selection


def test_select_device_default_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(torch, None).type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device(torch, None).type == "cuda"


def test_select_device_refuses_cuda_without_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        select_device(torch, "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        TorchImageExtractor(SmallNet(), input_size=(32, 32), device="cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert select_device(torch, "cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match="only 2 CUDA"):
        select_device(torch, "cuda:2")
    with pytest.raises(ValueError, match="not a torch device"):
        select_device(torch, "gpu please")
    assert select_device(torch, "cpu") == torch.device("cpu")


def test_pin_memory_defaults_and_errors():
    ex = TorchImageExtractor(SmallNet(), input_size=(32, 32), device="cpu")
    assert ex.pinned is False and ex.precision == "float32"
    if not has_cuda:
        with pytest.raises(ValueError, match="pin_memory=True needs CUDA"):
            TorchImageExtractor(SmallNet(), input_size=(32, 32), device="cpu", pin_memory=True)
    with pytest.raises(TypeError):
        TorchImageExtractor(SmallNet(), input_size=(32, 32), device="cpu", pin_memory="yes")
    with pytest.raises(ValueError, match="precision"):
        TorchImageExtractor(SmallNet(), input_size=(32, 32), device="cpu", precision="int8")


# ----------------------------------------------------------------- staging buffers


def test_staging_buffers_alternate_and_keep_contents(rng):
    staging = _Staging(torch, torch.device("cpu"), pin=False)
    a, b, c = _frames(rng, 3), _frames(rng, 3), _frames(rng, 2)
    ta = staging.to_device(a)
    tb = staging.to_device(b)
    np.testing.assert_array_equal(ta.numpy(), np.stack(a))  # not overwritten by the second call
    np.testing.assert_array_equal(tb.numpy(), np.stack(b))
    assert ta.data_ptr() != tb.data_ptr()
    tc = staging.to_device(c)  # reuses the first buffer (smaller batch: a prefix of it)
    assert tc.data_ptr() == ta.data_ptr()
    np.testing.assert_array_equal(tc.numpy(), np.stack(c))
    other = staging.to_device([f[:20] for f in a])  # another frame size: a new buffer
    assert other.shape == (3, 20, 56, 3)


# ----------------------------------------------------------------- half precision


def test_bfloat16_on_cpu_is_stable_and_close_to_float32(rng):
    frames = _frames(rng)
    full = TorchImageExtractor(SmallNet(), input_size=(32, 32), device="cpu", batch_size=5)
    low = TorchImageExtractor(SmallNet(), input_size=(32, 32), device="cpu", batch_size=5, precision="bfloat16")
    assert low.precision == "bfloat16" and "cosine" in low.precision_note
    assert low.identity() == full.identity()  # precision is not part of the identity
    f32, f16 = full.extract(frames), low.extract(frames)
    assert f16.dtype == np.float32 and f16.shape == f32.shape
    assert _cos(f32, f16).min() >= HALF_MIN_COSINE
    assert not np.array_equal(f32, f16)  # it really ran in bfloat16


def test_clip_extractor_half_precision_probe(rng):
    class ClipNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.conv = torch.nn.Conv3d(3, 4, (3, 3, 3), padding=1)

        def forward(self, x):
            return torch.relu(self.conv(x)).mean(dim=(3, 4)).flatten(1)

    frames = _frames(rng, n=6, h=24, w=24)
    full = TorchClipExtractor(ClipNet(), window=3, input_size=(16, 16), device="cpu")
    low = TorchClipExtractor(ClipNet(), window=3, input_size=(16, 16), device="cpu", precision="bfloat16")
    assert low.precision == "bfloat16"
    assert _cos(full.extract(frames), low.extract(frames)).min() >= HALF_MIN_COSINE


def test_unstable_half_precision_is_refused_or_falls_back():
    # weights scaled so that activations exceed float16's range (65504): outputs become inf
    net = SmallNet(scale=1e7)
    probe = torch.rand((4, 3, 32, 32), generator=torch.Generator().manual_seed(0))

    def half_factory(dtype):
        import copy

        return copy.deepcopy(net).to(dtype)

    with torch.no_grad():
        out = net(probe)
    assert out.abs().max() > 65504  # the premise of the test
    model, precision, note = _choose_precision(torch, "auto", "cuda", net, half_factory, probe)
    assert model is net and precision == "float32" and "rejected" in note
    with pytest.raises(ValueError, match="not finite|differ|does not run"):
        _choose_precision(torch, "float16", "cpu", net, half_factory, probe)
    # on the CPU, "auto" means float32 without a probe
    model, precision, _ = _choose_precision(torch, "auto", "cpu", net, half_factory, probe)
    assert model is net and precision == "float32"


def test_auto_on_cuda_takes_a_stable_half_model():
    net = SmallNet()
    probe = torch.rand((4, 3, 32, 32), generator=torch.Generator().manual_seed(0))

    def half_factory(dtype):
        import copy

        # float16 kernels may be missing on this CPU; bfloat16 stands in for the CUDA float16 copy
        return copy.deepcopy(net).to(torch.bfloat16).to(dtype) if dtype != torch.float16 else _Bf16(net)

    model, precision, note = _choose_precision(torch, "auto", "cuda", net, half_factory, probe)
    assert precision == "float16" and model is not net and "cosine" in note


class _Bf16(torch.nn.Module):
    """A model that takes float16 input and computes in bfloat16 (stands in for a CUDA fp16 copy)."""

    def __init__(self, net):
        super().__init__()
        import copy

        self.net = copy.deepcopy(net).to(torch.bfloat16)

    def forward(self, x):
        return self.net(x.to(torch.bfloat16)).to(torch.float16)


# ----------------------------------------------------------------- the real CUDA path


@pytest.mark.skipif(not has_cuda, reason="no CUDA device here: the CUDA end-to-end path is not run")
def test_cuda_end_to_end_matches_cpu(rng):  # pragma: no cover - needs a GPU
    frames = _frames(rng, n=40, h=120, w=160)
    cpu = TorchImageExtractor(SmallNet(), input_size=(64, 64), device="cpu", batch_size=16)
    gpu = TorchImageExtractor(SmallNet(), input_size=(64, 64), device="cuda", batch_size=16)
    assert gpu.pinned and gpu.precision in ("float16", "float32")
    assert _cos(cpu.extract(frames), gpu.extract(frames)).min() >= HALF_MIN_COSINE

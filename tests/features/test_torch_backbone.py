"""PyTorch adapters (TorchImageExtractor, TorchClipExtractor) with tiny random networks."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from draqcore.features import (  # noqa: E402  (after the importorskip)
    TorchClipExtractor,
    TorchImageExtractor,
    extractor_from_identity,
    same_identity,
)

SIZE = (24, 32)  # (height, width) the tiny networks see


@contextlib.contextmanager
def _torchscript_deprecations() -> Iterator[None]:
    """Recent torch deprecates TorchScript (torch.jit.trace/save/load warn); these tests
    exercise that format on purpose, so exactly those DeprecationWarnings are allowed."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


def _image_net(seed: int = 0, out: int = 6) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=2),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, out, 3),
        torch.nn.AdaptiveAvgPool2d(2),  # (B, out, 2, 2): flattened to (B, 4 * out)
    )


def _clip_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv3d(3, 5, (3, 3, 3), padding=(1, 0, 0)),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool3d((2, 1, 1)),  # keeps some temporal order: (B, 5, 2, 1, 1)
        torch.nn.Flatten(),
    )


class _TimeFirst(torch.nn.Module):
    """Takes (B, T, C, H, W) and runs a (B, C, T, H, W) network."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.permute(0, 2, 1, 3, 4))


class _NaNOnBright(torch.nn.Module):
    """Finite output except for inputs brighter than mid-grey."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _image_net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x).flatten(1)
        bright = x.mean(dim=(1, 2, 3)) > 1.0
        return torch.where(bright[:, None], torch.full_like(y, float("nan")), y)


class _ExtraRow(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0] + 1, 3)


class _Tuple(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.mean(dim=(2, 3)), x


def _video(rng: np.random.Generator, n: int, height: int = 30, width: int = 40) -> np.ndarray:
    return rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)


def _reference_preprocess(frames: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Independent restatement of the documented preprocessing, (T, 3, h, w)."""
    rgb = np.ascontiguousarray(frames[..., ::-1]).astype(np.float32) / 255.0
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2)
    x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


# ----------------------------------------------------------------------------- image backbone


def test_image_shape_dtype_and_reference(rng: np.random.Generator) -> None:
    net = _image_net()
    ex = TorchImageExtractor(net, input_size=SIZE, batch_size=4, device="cpu")
    assert ex.dim == 24 and ex.device == "cpu" and ex.name == "torch-image"
    frames = _video(rng, 10)
    out = ex.extract(frames)
    assert out.shape == (10, 24) and out.dtype == np.float32 and np.isfinite(out).all()
    with torch.inference_mode():
        expected = net.eval()(_reference_preprocess(frames, SIZE)).flatten(1).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_image_deterministic_and_batch_invariant(rng: np.random.Generator) -> None:
    frames = _video(rng, 13)
    one = TorchImageExtractor(_image_net(), input_size=SIZE, batch_size=1, device="cpu")
    seven = TorchImageExtractor(_image_net(), input_size=SIZE, batch_size=7, device="cpu")
    a = one.extract(frames)
    np.testing.assert_array_equal(one.extract(frames), a)
    np.testing.assert_allclose(seven.extract(iter(list(frames))), a, rtol=1e-4, atol=1e-5)
    assert same_identity(one.identity(), seven.identity())  # batch size is not a parameter


def test_image_mixed_frame_sizes(rng: np.random.Generator) -> None:
    ex = TorchImageExtractor(_image_net(), input_size=SIZE, batch_size=8, device="cpu")
    small, large = _video(rng, 1, 30, 40)[0], _video(rng, 1, 60, 50)[0]
    mixed = ex.extract([small, large, small])
    np.testing.assert_allclose(mixed[0], mixed[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mixed[1], ex.extract([large])[0], rtol=1e-4, atol=1e-5)


def test_caller_model_and_frames_untouched(rng: np.random.Generator) -> None:
    net = _image_net()
    net.train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    frames = _video(rng, 3)
    before = frames.copy()
    frames.setflags(write=False)
    ex = TorchImageExtractor(net, input_size=SIZE, device="cpu")
    ex.extract(frames)
    assert net.training
    np.testing.assert_array_equal(frames, before)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])


def test_identity_tracks_the_weights(rng: np.random.Generator) -> None:
    net = _image_net()
    ex = TorchImageExtractor(net, input_size=SIZE, device="cpu")
    ident = ex.identity()
    assert ident["name"] == "torch-image" and ident["dim"] == 24 and len(ident["params"]["model_sha256"]) == 64
    assert same_identity(TorchImageExtractor(_image_net(), input_size=SIZE, device="cpu").identity(), ident)
    frames = _video(rng, 2)
    before = ex.extract(frames)
    with torch.no_grad():
        net[0].weight[0, 0, 0, 0] += 1e-3
    changed = TorchImageExtractor(net, input_size=SIZE, device="cpu")
    assert not same_identity(changed.identity(), ident)
    assert same_identity(ex.identity(), ident)  # the extractor kept its own copy
    np.testing.assert_array_equal(ex.extract(frames), before)
    others = [
        TorchImageExtractor(_image_net(seed=1), input_size=SIZE, device="cpu"),
        TorchImageExtractor(_image_net(), input_size=(32, 32), device="cpu"),
        TorchImageExtractor(_image_net(), input_size=SIZE, mean=(0.5, 0.5, 0.5), device="cpu"),
    ]
    for other in others:
        assert not same_identity(other.identity(), ident)


def test_identity_cannot_rebuild_a_torch_extractor() -> None:
    ident = TorchImageExtractor(_image_net(), input_size=SIZE, device="cpu").identity()
    with pytest.raises(ValueError, match="build the extractor yourself"):
        extractor_from_identity(ident)


def test_torchscript_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    net = _image_net().eval()
    with _torchscript_deprecations():
        traced = torch.jit.trace(net, torch.zeros(2, 3, *SIZE))
        torch.jit.save(traced, str(tmp_path / "net.pt"))
        torch.jit.save(torch.jit.trace(_image_net(seed=1).eval(), torch.zeros(2, 3, *SIZE)), str(tmp_path / "other.pt"))
        by_str = TorchImageExtractor(str(tmp_path / "net.pt"), input_size=SIZE, batch_size=3, device="cpu")
        by_path = TorchImageExtractor(tmp_path / "net.pt", input_size=SIZE, batch_size=5, device="cpu")
        other = TorchImageExtractor(tmp_path / "other.pt", input_size=SIZE, device="cpu")
    frames = _video(rng, 7)
    expected = TorchImageExtractor(net, input_size=SIZE, device="cpu").extract(frames)
    from_object = TorchImageExtractor(traced, input_size=SIZE, device="cpu")  # a ScriptModule object
    np.testing.assert_allclose(from_object.extract(frames), expected, rtol=1e-4, atol=1e-5)
    assert from_object.identity()["params"]["model_source"].startswith("module:torch.jit")
    np.testing.assert_allclose(by_str.extract(frames), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(by_path.extract(frames), expected, rtol=1e-4, atol=1e-5)
    assert by_path.identity()["params"]["model_source"] == "torchscript-file"
    assert same_identity(by_str.identity(), by_path.identity())
    assert not same_identity(by_path.identity(), other.identity())


def test_given_dim_is_checked(rng: np.random.Generator) -> None:
    ex = TorchImageExtractor(_image_net(), input_size=SIZE, device="cpu", dim=24)
    assert ex.extract(_video(rng, 2)).shape == (2, 24)
    wrong = TorchImageExtractor(_image_net(), input_size=SIZE, device="cpu", dim=10)
    with pytest.raises(ValueError, match="returned 24 features per input, expected dim=10"):
        wrong.extract(_video(rng, 2))


def test_bad_model_outputs(rng: np.random.Generator) -> None:
    ex = TorchImageExtractor(_NaNOnBright(), input_size=SIZE, batch_size=2, device="cpu")
    frames = np.concatenate([np.zeros((3, 8, 8, 3), np.uint8), np.full((1, 8, 8, 3), 255, np.uint8)])
    with pytest.raises(ValueError, match="NaN/Inf features for frame 3"):
        ex.extract(frames)
    with pytest.raises(ValueError, match="one row per input"):
        TorchImageExtractor(_ExtraRow(), input_size=SIZE, device="cpu")
    with pytest.raises(ValueError, match="one row per input"):
        TorchImageExtractor(_ExtraRow(), input_size=SIZE, device="cpu", dim=3).extract(_video(rng, 2))
    with pytest.raises(TypeError, match="returned tuple, expected a tensor"):
        TorchImageExtractor(_Tuple(), input_size=SIZE, device="cpu")


def test_argument_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    with pytest.raises(FileNotFoundError, match="no TorchScript file"):
        TorchImageExtractor(tmp_path / "missing.pt")
    with pytest.raises(TypeError, match="torch.nn.Module or the path"):
        TorchImageExtractor(42)
    with pytest.raises(ValueError, match="input_size"):
        TorchImageExtractor(_image_net(), input_size=(0, 32))
    with pytest.raises(ValueError, match="input_size"):
        TorchImageExtractor(_image_net(), input_size=(32,))
    with pytest.raises(ValueError, match="std"):
        TorchImageExtractor(_image_net(), std=(0.2, 0.0, 0.2))
    with pytest.raises(ValueError, match="mean"):
        TorchImageExtractor(_image_net(), mean=(0.5, 0.5))
    with pytest.raises(TypeError, match="batch_size"):
        TorchImageExtractor(_image_net(), batch_size=2.0)
    ex = TorchImageExtractor(_image_net(), input_size=SIZE, device="cpu")
    with pytest.raises(ValueError, match="no frames"):
        ex.extract([])
    with pytest.raises(TypeError, match="frame 0: expected dtype uint8"):
        ex.extract([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match="frame 1: expected shape"):
        ex.extract([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8)])


# ----------------------------------------------------------------------------- clip backbone


def _reference_clip(net: torch.nn.Module, frames: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Windows built by hand: frame t at position window // 2, indices clamped to the clip."""
    x = _reference_preprocess(frames, SIZE)
    t_len = len(frames)
    rows = []
    with torch.inference_mode():
        for t in range(t_len):
            idx = [min(max(t + (k - window // 2) * stride, 0), t_len - 1) for k in range(window)]
            clip = x[idx].permute(1, 0, 2, 3)[None]  # (1, C, T, H, W)
            rows.append(net.eval()(clip).flatten(1)[0].numpy())
    return np.stack(rows)


@pytest.mark.parametrize(("n", "window", "stride", "batch_size"), [(11, 4, 1, 3), (9, 5, 2, 2), (2, 8, 1, 8), (1, 3, 1, 1)])
def test_clip_windows_match_reference(rng: np.random.Generator, n: int, window: int, stride: int, batch_size: int) -> None:
    net = _clip_net()
    frames = _video(rng, n)
    ex = TorchClipExtractor(net, window=window, stride=stride, input_size=SIZE, batch_size=batch_size, device="cpu")
    out = ex.extract(iter(list(frames)))
    assert out.shape == (n, 10) and out.dtype == np.float32 and ex.dim == 10
    np.testing.assert_allclose(out, _reference_clip(net, frames, window, stride), rtol=1e-4, atol=1e-5)


def test_clip_batch_invariant_and_layouts(rng: np.random.Generator) -> None:
    frames = _video(rng, 10)
    one = TorchClipExtractor(_clip_net(), window=4, input_size=SIZE, batch_size=1, device="cpu")
    seven = TorchClipExtractor(_clip_net(), window=4, input_size=SIZE, batch_size=7, device="cpu")
    time_first = TorchClipExtractor(_TimeFirst(_clip_net()), window=4, layout="BTCHW", input_size=SIZE, device="cpu")
    a = one.extract(frames)
    np.testing.assert_array_equal(one.extract(frames), a)
    np.testing.assert_allclose(seven.extract(frames), a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(time_first.extract(frames), a, rtol=1e-4, atol=1e-5)
    assert same_identity(one.identity(), seven.identity())
    assert not same_identity(one.identity(), time_first.identity())


def test_clip_identity_and_errors(tmp_path: Path, rng: np.random.Generator) -> None:
    base = TorchClipExtractor(_clip_net(), window=4, input_size=SIZE, device="cpu")
    ident = base.identity()
    assert ident["name"] == "torch-clip" and ident["params"]["window"] == 4 and ident["params"]["layout"] == "BCTHW"
    for other in (
        TorchClipExtractor(_clip_net(), window=4, stride=2, input_size=SIZE, device="cpu"),
        TorchClipExtractor(_clip_net(), window=6, input_size=SIZE, device="cpu"),
        TorchClipExtractor(_clip_net(seed=3), window=4, input_size=SIZE, device="cpu"),
    ):
        assert not same_identity(other.identity(), ident)
    with pytest.raises(ValueError, match="build the extractor yourself"):
        extractor_from_identity(ident)
    with pytest.raises(ValueError, match="layout"):
        TorchClipExtractor(_clip_net(), layout="BHWCT")
    with pytest.raises(ValueError, match="window"):
        TorchClipExtractor(_clip_net(), window=0)
    with pytest.raises(ValueError, match="no frames"):
        base.extract([])
    with pytest.raises(ValueError, match="one row per input"):
        TorchClipExtractor(_ExtraRow(), window=2, input_size=SIZE, device="cpu")

    net = _clip_net().eval()
    with _torchscript_deprecations():
        torch.jit.save(torch.jit.trace(net, torch.zeros(2, 3, 4, *SIZE)), str(tmp_path / "clip.pt"))
        scripted = TorchClipExtractor(tmp_path / "clip.pt", window=4, input_size=SIZE, batch_size=3, device="cpu")
    frames = _video(rng, 6)
    np.testing.assert_allclose(scripted.extract(frames), base.extract(frames), rtol=1e-4, atol=1e-5)

"""The extractor protocol, identities, the registry and frame validation (draqcore.features.base)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pytest

from draqcore import features
from draqcore.features import base


class _Constant:
    """A minimal extractor: every frame's feature is its mean BGR colour (d = 3)."""

    name = "test-constant"
    dim = 3

    def __init__(self, scale: float = 1.0) -> None:
        self.params: Mapping[str, Any] = {"scale": scale}

    def identity(self) -> dict[str, Any]:
        return base.make_identity(self.name, self.params, "7", self.dim)

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        rows = [f.reshape(-1, 3).mean(axis=0) * self.params["scale"] for _, f in base.iter_frames(frames)]
        if not rows:
            raise ValueError("no frames")
        return np.asarray(rows, dtype=np.float32)


def test_public_names() -> None:
    for name in features.__all__:
        assert hasattr(features, name), name
    assert features.DEFAULT_EXTRACTOR_NAME == "opencv-hog-color-flow"


def test_default_extractor_satisfies_protocol() -> None:
    ex = features.default_extractor()
    assert isinstance(ex, features.FrameFeatureExtractor)
    assert ex.name == features.DEFAULT_EXTRACTOR_NAME
    ident = ex.identity()
    assert set(ident) == {"name", "params", "version", "dim"}
    assert ident["dim"] == ex.dim
    assert json.loads(json.dumps(ident)) == ident  # JSON-serialisable as is


def test_identity_is_a_fresh_copy() -> None:
    ex = features.default_extractor()
    ident = ex.identity()
    ident["params"]["hog_cell"] = 4
    ident["dim"] = 1
    assert ex.identity()["params"]["hog_cell"] == 8
    assert ex.identity()["dim"] == ex.dim


def test_registry_lists_builtins() -> None:
    names = features.registered_extractors()
    assert {"opencv-hog-color-flow", "torch-image", "torch-clip"} <= set(names)
    assert list(names) == sorted(names)


def test_extractor_from_identity_round_trip() -> None:
    ex = features.OpenCVDescriptorExtractor(flow_grid=(2, 2), color_weight=0.5)
    ident = ex.identity()
    rebuilt = features.extractor_from_identity(json.loads(json.dumps(ident)))
    assert type(rebuilt) is type(ex)
    assert features.same_identity(rebuilt.identity(), ident)
    frames = np.random.default_rng(0).integers(0, 256, (3, 30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(rebuilt.extract(frames), ex.extract(frames))


def test_extractor_from_identity_refuses_other_versions_and_dims() -> None:
    ident = features.default_extractor().identity()
    with pytest.raises(ValueError, match="recompute"):
        features.extractor_from_identity({**ident, "version": "0"})
    with pytest.raises(ValueError, match="recompute"):
        features.extractor_from_identity({**ident, "dim": ident["dim"] + 1})


def test_extractor_from_identity_errors() -> None:
    with pytest.raises(ValueError, match="unknown feature extractor 'nope'"):
        features.extractor_from_identity({"name": "nope", "params": {}, "version": "1", "dim": 3})
    with pytest.raises(ValueError, match="missing key"):
        features.extractor_from_identity({"name": "opencv-hog-color-flow"})
    with pytest.raises(TypeError, match="must be a dict"):
        features.extractor_from_identity("opencv-hog-color-flow")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown parameter"):
        features.extractor_from_identity(
            {"name": "opencv-hog-color-flow", "params": {"bogus": 1}, "version": "1", "dim": 588}
        )


@pytest.mark.parametrize("name", ["torch-image", "torch-clip"])
def test_torch_identities_need_the_model(name: str) -> None:
    ident = {"name": name, "params": {"model_sha256": "ab" * 32}, "version": "1", "dim": 8}
    with pytest.raises(ValueError, match="build the extractor yourself"):
        features.extractor_from_identity(ident)


def test_registry_with_a_custom_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(base._REGISTRY, "test-constant", lambda p: _Constant(**p))
    ex = _Constant(scale=2.0)
    assert isinstance(ex, features.FrameFeatureExtractor)
    rebuilt = features.extractor_from_identity(ex.identity())
    frame = np.full((4, 5, 3), (10, 20, 30), dtype=np.uint8)
    np.testing.assert_allclose(rebuilt.extract([frame]), [[20.0, 40.0, 60.0]])
    with pytest.raises(ValueError, match="already registered"):
        features.register_extractor("test-constant", lambda p: _Constant(**p))
    features.register_extractor("test-constant", lambda p: _Constant(**p), replace=True)


def test_register_extractor_validates() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        features.register_extractor("", lambda p: _Constant())
    with pytest.raises(TypeError, match="callable"):
        features.register_extractor("test-not-callable", 3)  # type: ignore[arg-type]


def test_same_identity() -> None:
    a = {"name": "x", "params": {"size": (64, 48), "w": 1.0}, "version": "1", "dim": 5}
    b = {"dim": 5, "version": "1", "params": {"w": 1.0, "size": [64, 48]}, "name": "x", "note": "ignored"}
    assert features.same_identity(a, b)
    assert not features.same_identity(a, {**b, "dim": 6})
    assert not features.same_identity(a, {**b, "version": "2"})
    assert not features.same_identity(a, {**b, "name": "y"})
    assert not features.same_identity(a, {**b, "params": {"w": 2.0, "size": [64, 48]}})
    with pytest.raises(ValueError, match="missing key"):
        features.same_identity(a, {"name": "x"})
    with pytest.raises(ValueError, match="positive integer"):
        features.same_identity(a, {**b, "dim": 0})


def test_different_parameters_give_different_identities() -> None:
    idents = [
        features.OpenCVDescriptorExtractor().identity(),
        features.OpenCVDescriptorExtractor(flow_static_px=0.5).identity(),
        features.OpenCVDescriptorExtractor(hog_weight=2.0).identity(),
        features.OpenCVDescriptorExtractor(work_size=(128, 96), hog_cell=16).identity(),
    ]
    for i in range(len(idents)):
        for j in range(i + 1, len(idents)):
            assert not features.same_identity(idents[i], idents[j])


def test_canonical_params_rejects_non_json() -> None:
    with pytest.raises(TypeError, match="JSON"):
        base.canonical_params({"a": object()})
    with pytest.raises(ValueError, match="NaN"):
        base.canonical_params({"a": float("nan")})
    with pytest.raises(TypeError, match="mapping"):
        base.canonical_params([1, 2])  # type: ignore[arg-type]


def test_iter_frames_validation() -> None:
    good = np.zeros((4, 6, 3), dtype=np.uint8)
    with pytest.raises(TypeError, match="frame 1: expected dtype uint8"):
        list(base.iter_frames([good, good.astype(np.float32)]))
    with pytest.raises(ValueError, match=r"frame 0: expected shape \(H, W, 3\).*grey frame"):
        list(base.iter_frames([good[..., 0]]))
    with pytest.raises(ValueError, match=r"frame 0: expected shape"):
        list(base.iter_frames([np.zeros((4, 6, 4), dtype=np.uint8)]))
    with pytest.raises(ValueError, match=r"frame 0: expected shape"):
        list(base.iter_frames([np.zeros((0, 6, 3), dtype=np.uint8)]))
    with pytest.raises(TypeError, match="frame 0: expected a numpy array"):
        list(base.iter_frames([[[[0, 0, 0]]]]))
    with pytest.raises(ValueError, match=r"single array must have shape \(T, H, W, 3\)"):
        list(base.iter_frames(good))
    with pytest.raises(TypeError, match="iterable"):
        list(base.iter_frames(3))  # type: ignore[arg-type]


def test_iter_frames_copies_only_non_contiguous_frames() -> None:
    frame = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    flipped = frame[:, ::-1]
    ((_, a), (_, b)) = list(base.iter_frames([frame, flipped]))
    assert a is frame
    assert b.flags.c_contiguous and np.array_equal(b, flipped)


def test_import_without_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import draqcore.features as f\n"
        "ex = f.default_extractor(); assert ex.dim > 0\n"
        "try:\n"
        "    f.TorchImageExtractor('model.pt')\n"
        "except ImportError as e:\n"
        "    assert 'torch' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

"""The fixed-seed random CNN baseline (draqcore.evaluation.random_backbone) and draq eval --torch-model."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# torch 2.13 deprecates TorchScript (jit.load warns); these tests use that file format on purpose.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")

from draqcore.cli import main  # noqa: E402
from draqcore.evaluation.random_backbone import random_cnn, save_random_cnn  # noqa: E402
from draqcore.features import TorchImageExtractor  # noqa: E402


def test_fixed_seed_and_shape(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3, 64, 48)).astype(np.float32))
    with torch.no_grad():
        a, b, c = random_cnn(0)(x), random_cnn(0)(x), random_cnn(1)(x)
    assert a.shape == (2, 1280)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_torchscript_file_runs_in_the_adapter(tmp_path, rng):
    path = save_random_cnn(tmp_path / "cnn.pt", seed=3)
    frames = [rng.integers(0, 256, (40, 60, 3), dtype=np.uint8) for _ in range(3)]
    feats = TorchImageExtractor(path, input_size=(64, 64)).extract(frames)
    with torch.no_grad():
        ref = TorchImageExtractor(random_cnn(3), input_size=(64, 64)).extract(frames)
    np.testing.assert_allclose(feats, ref, rtol=1e-5, atol=1e-6)


def test_eval_synthetic_with_a_torch_model(tmp_path, capsys):
    model = save_random_cnn(tmp_path / "cnn.pt")
    args = ["eval", "synthetic", "--videos", "12", "--classes", "2", "--pairs", "10", "--top", "2", "--recall-depth", "3",
            "--out", str(tmp_path / "e"), "--torch-model", str(model), "--torch-input-size", "48", "--json"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["features"] == "torch:cnn.pt" and doc["frame_features"]["context"]["classification_accuracy"] is not None
    assert main(args[:-1] + ["--extractor", "default", "--force"]) == 1
    assert "--torch-model replaces" in capsys.readouterr().err

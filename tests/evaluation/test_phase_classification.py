"""Phase classification with a linear classifier (draqcore.evaluation.phase_classification)."""

from __future__ import annotations

import numpy as np
import pytest

from draqcore.evaluation import phase_classification


def test_separable_phases_are_classified_perfectly(rng):
    centres = rng.standard_normal((3, 5)) * 10
    labels = [rng.integers(0, 3, 40) for _ in range(4)]
    feats = [centres[lab] + rng.standard_normal((40, 5)) * 0.1 for lab in labels]
    score = phase_classification(feats[:3], labels[:3], feats[3:], labels[3:])
    assert score.accuracy == 1.0
    assert score.classes.tolist() == [0, 1, 2]
    assert score.train_frames == 120


def test_by_hand_one_dimension():
    # 1-D feature, phases 0 at x = -1 and 1 at x = +1, alpha tiny: a threshold at 0
    tr = [np.array([[-1.0], [-1.0], [1.0], [1.0]])]
    lab = [np.array([0, 0, 1, 1])]
    score = phase_classification(tr, lab, [np.array([[-0.2], [0.3], [5.0]])], [np.array([0, 0, 1])], alpha=1e-9)
    np.testing.assert_allclose(score.per_video, [2 / 3])


def test_noise_is_near_chance(rng):
    labels = [rng.integers(0, 4, 50) for _ in range(10)]
    feats = [rng.standard_normal((50, 3)) for _ in labels]
    score = phase_classification(feats[:8], labels[:8], feats[8:], labels[8:])
    assert score.accuracy < 0.45


@pytest.mark.parametrize("d", [4, 200])  # primal (n >= d) and dual (n < d) solutions
def test_matches_scikit_learn_ridge_classifier(rng, d):
    sklearn = pytest.importorskip("sklearn.linear_model")
    labels = [rng.integers(0, 3, 30) for _ in range(5)]
    feats = [rng.standard_normal((30, d)) + lab[:, None] * 0.3 for lab in labels]
    score = phase_classification(feats[:4], labels[:4], feats[4:], labels[4:])
    ref = sklearn.RidgeClassifier(alpha=1.0).fit(np.concatenate(feats[:4]), np.concatenate(labels[:4]))
    assert score.accuracy == pytest.approx(float((ref.predict(feats[4]) == labels[4]).mean()))


def test_errors_and_dtypes(rng):
    f16 = rng.standard_normal((10, 3)).astype(np.float16)
    lab = np.array([0, 1] * 5)
    phase_classification([f16[::-1]], [lab[::-1]], [np.arange(30).reshape(10, 3)], [lab])  # non-contiguous, ints
    with pytest.raises(ValueError, match="at least 2 phases"):
        phase_classification([f16], [np.zeros(10, int)], [f16], [lab])
    with pytest.raises(ValueError, match="alpha"):
        phase_classification([f16], [lab], [f16], [lab], alpha=0)
    with pytest.raises(ValueError, match="NaN"):
        phase_classification([np.full((10, 3), np.nan)], [lab], [f16], [lab])

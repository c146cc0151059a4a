"""Phase progression R² (draqcore.evaluation.phase_progression)."""

from __future__ import annotations

import numpy as np
import pytest

from draqcore.evaluation import phase_progression, progression_targets


def test_targets_by_hand():
    # phases 0 0 1 1 1 2: last frame of phase 0 is 1, of phase 1 is 4; N = 6
    y = progression_targets([0, 0, 1, 1, 1, 2], 3)
    t = np.arange(6.0)
    np.testing.assert_allclose(y[:, 0], (t - 1) / 6)
    np.testing.assert_allclose(y[:, 1], (t - 4) / 6)


@pytest.mark.parametrize(
    "phases, match",
    [([0, 1, 0, 2], "non-decreasing"), ([0, 0, 2, 2], "missing"), ([0, 1, 3], "0..2")],
)
def test_targets_refuse_unordered_or_incomplete(phases, match):
    with pytest.raises(ValueError, match=match):
        progression_targets(phases, 3)


def _video(rng, n, p):
    cuts = np.sort(rng.choice(np.arange(1, n), p - 1, replace=False))
    phases = np.searchsorted(cuts, np.arange(n), side="right")
    return phases


def test_features_that_are_the_targets_score_one(rng):
    vids = [_video(rng, int(rng.integers(20, 40)), 4) for _ in range(6)]
    mix = rng.standard_normal((3, 8))
    feats = [progression_targets(v, 4) @ mix for v in vids]  # one linear image of the targets
    score = phase_progression(feats[:4], vids[:4], feats[4:], vids[4:], 4, alpha=0)
    assert score.r2 == pytest.approx(1.0, abs=1e-9)
    assert phase_progression(feats[:4], vids[:4], feats[4:], vids[4:], 4).r2 > 0.99  # ridge: nearly
    assert score.per_video.shape == (2,)
    assert score.train_frames == sum(len(v) for v in vids[:4])


def test_noise_features_score_at_most_zero_on_average(rng):
    vids = [_video(rng, 30, 3) for _ in range(10)]
    feats = [rng.standard_normal((30, 4)) for _ in vids]
    score = phase_progression(feats[:8], vids[:8], feats[8:], vids[8:], 3)
    assert score.r2 < 0.1


@pytest.mark.parametrize("alpha, d", [(0, 5), (1.0, 5), (1.0, 300), (0.3, 300)])
def test_matches_scikit_learn(rng, alpha, d):
    sklearn = pytest.importorskip("sklearn.linear_model")
    metrics = pytest.importorskip("sklearn.metrics")
    vids = [_video(rng, int(rng.integers(15, 30)), 3) for _ in range(7)]
    feats = [rng.standard_normal((len(v), d)).astype(np.float32) + v[:, None] for v in vids]
    score = phase_progression(feats[:5], vids[:5], feats[5:], vids[5:], 3, alpha=alpha)
    model = (sklearn.Ridge(alpha=alpha) if alpha else sklearn.LinearRegression()).fit(np.concatenate(feats[:5]), np.concatenate([progression_targets(v, 3) for v in vids[:5]]))
    ref = [metrics.r2_score(progression_targets(v, 3), model.predict(f)) for f, v in zip(feats[5:], vids[5:])]
    np.testing.assert_allclose(score.per_video, ref, rtol=1e-5, atol=1e-6)


def test_inputs_untouched_and_errors(rng):
    v = _video(rng, 20, 3)
    f = rng.standard_normal((20, 4))
    f_copy, v_copy = f.copy(), v.copy()
    phase_progression([f, f[::-1]], [v, v], [f], [v], 3)
    np.testing.assert_array_equal(f, f_copy)
    np.testing.assert_array_equal(v, v_copy)
    with pytest.raises(ValueError, match="feature rows"):
        phase_progression([f[:10]], [v], [f], [v], 3)
    with pytest.raises(ValueError, match="d = 4"):
        phase_progression([f], [v], [f[:, :2]], [v], 3)
    with pytest.raises(ValueError, match="alpha"):
        phase_progression([f], [v], [f], [v], 3, alpha=-1)
    with pytest.raises(ValueError, match=r"val_phases\[0\]"):
        phase_progression([f], [v], [f], [v[::-1]], 3)

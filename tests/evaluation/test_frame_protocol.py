"""The field's frame-feature protocol per class (draqcore.evaluation.frame_protocol)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from draqcore.evaluation import FrameVideo, frame_feature_scores, mean_kendall_tau, progression_targets


def _clip(rng, n, p, centres, noise):
    cuts = np.sort(rng.choice(np.arange(1, n), p - 1, replace=False))
    phases = np.searchsorted(cuts, np.arange(n), side="right")
    # phase identity plus the progression targets themselves: good features by construction
    feats = np.hstack([centres[phases], 10 * progression_targets(phases, p)])
    feats += rng.standard_normal(feats.shape) * noise
    return FrameVideo(feats, phases, "a" if p == 3 else "b")


def test_good_features_beat_noise_on_every_score(rng):
    ca, cb = rng.standard_normal((3, 6)) * 3, rng.standard_normal((4, 6)) * 3
    make = lambda noise: [_clip(rng, int(rng.integers(30, 50)), 3, ca, noise) for _ in range(6)] + [
        _clip(rng, int(rng.integers(30, 50)), 4, cb, noise) for _ in range(6)
    ]
    good = make(0.05)
    train, val = good[:4] + good[6:10], good[4:6] + good[10:]
    s = frame_feature_scores(train, val, stride=5)
    assert s.classes == 2 and s.stride == 5
    assert s.tau_pairs == 2 * 2  # two ordered pairs per class
    assert s.kendall_tau > 0.6 and s.progression_r2 > 0.9 and s.classification_accuracy > 0.95
    noise = [FrameVideo(rng.standard_normal(np.shape(v.features)), v.phases, v.class_name) for v in good]
    n = frame_feature_scores(noise[:4] + noise[6:10], noise[4:6] + noise[10:], stride=5)
    assert n.kendall_tau < 0.3 and n.progression_r2 < 0.3 and n.classification_accuracy < 0.7


def test_tau_is_the_class_average_of_ordered_pairs(rng):
    ca = rng.standard_normal((3, 4))
    vids = [_clip(rng, 40, 3, ca, 1.0) for _ in range(3)]
    s = frame_feature_scores(vids, vids, stride=5)
    ref = mean_kendall_tau([(a.features, b.features) for a in vids for b in vids if a is not b], stride=5)
    assert s.kendall_tau == pytest.approx(ref.mean) and s.tau_pairs == 6


def test_unordered_clips_only_leave_progression(rng):
    ca = rng.standard_normal((3, 4)) * 3
    vids = [_clip(rng, 30, 3, ca, 0.1) for _ in range(4)]
    shuffled = [FrameVideo(v.features[::-1], v.phases[::-1], "a") for v in vids]
    s = frame_feature_scores(shuffled, vids[:2], stride=5)
    assert math.isnan(s.progression_r2) and s.progression_videos == 0
    assert s.classification_accuracy > 0.9
    assert s.to_dict()["progression_r2"] is None

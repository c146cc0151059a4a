"""Mirror invariance: the generic construction and the default extractor's feature-space mirror."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from draqcore.features import OpenCVDescriptorExtractor, default_extractor, mirror_invariant_features


def test_invariant_features_of_a_signed_permutation(rng):
    d = 10
    perm = np.array([1, 0, 3, 2, 4, 5, 9, 8, 7, 6])
    sign = np.array([-1, -1, 1, 1, 1, -1, 1, 1, 1, 1], dtype=np.float32)

    def mirror(f):
        return f[:, perm] * sign[perm]

    f = rng.standard_normal((7, d)).astype(np.float32)
    np.testing.assert_allclose(mirror(mirror(f)), f)  # an involution
    g = mirror_invariant_features(f, mirror)
    assert g.shape == (7, 2 * d) and g.dtype == np.float32
    np.testing.assert_allclose(mirror_invariant_features(mirror(f), mirror), g, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), np.linalg.norm(f, axis=1), rtol=1e-5)
    # golden: f = e_0 -> symmetric part (e_0 - e_1) / 2 ... (sign of 1 is -1), antisymmetric |.|
    e0 = np.zeros((1, d), dtype=np.float32)
    e0[0, 0] = 1.0
    np.testing.assert_allclose(
        mirror_invariant_features(e0, mirror)[0, :2], [0.5, -0.5]
    )
    np.testing.assert_allclose(mirror_invariant_features(e0, mirror)[0, d:d + 2], [0.5, 0.5])


def test_invariant_features_errors():
    with pytest.raises(ValueError):
        mirror_invariant_features(np.ones(5), lambda f: f)
    with pytest.raises(ValueError, match="shape"):
        mirror_invariant_features(np.ones((2, 4)), lambda f: f[:, :3])


def test_opencv_mirror_is_a_permutation_and_involution():
    ex = default_extractor()
    perm = ex._mirror_permutation()
    assert sorted(perm.tolist()) == list(range(ex.dim))
    np.testing.assert_array_equal(perm[perm], np.arange(ex.dim))
    with pytest.raises(ValueError, match="even"):
        OpenCVDescriptorExtractor(flow_bins=7, mirror_invariant=True)
    with pytest.raises(ValueError, match="even"):
        odd = OpenCVDescriptorExtractor(flow_bins=7)
        odd.mirror_features(np.zeros((1, odd.dim), dtype=np.float32))


def test_default_identity_unchanged_and_invariant_identity_differs():
    plain = default_extractor().identity()
    assert "mirror_invariant" not in plain["params"] and plain["dim"] == 588
    inv = OpenCVDescriptorExtractor(mirror_invariant=True)
    assert inv.identity()["params"]["mirror_invariant"] is True and inv.dim == 1176
    assert OpenCVDescriptorExtractor.from_params(inv.identity()["params"]).dim == 1176


def _frames(path, step, limit):
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while len(out) < limit:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(frame)
        i += 1
    return out


def test_flipped_real_footage_matches_the_feature_mirror(footage):
    frames = _frames(footage("carphone"), step=3, limit=30)
    flipped = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
    ex = default_extractor()
    f, ff = ex.extract(frames), ex.extract(flipped)
    m = ex.mirror_features(f)
    for block, cols in ex.block_slices.items():
        cos = (ff[:, cols] * m[:, cols]).sum(1) / (
            np.linalg.norm(ff[:, cols], axis=1) * np.linalg.norm(m[:, cols], axis=1)
        )
        assert cos.min() > (0.99 if block == "flow" else 0.999), block
    plain = (ff * f).sum(1)  # unit-norm features: cosine similarity without the mirror
    assert plain.mean() < 0.9
    inv = OpenCVDescriptorExtractor(mirror_invariant=True)
    g, gf = inv.extract(frames), inv.extract(flipped)
    np.testing.assert_allclose(g[:, :588], mirror_invariant_features(f, ex.mirror_features)[:, :588], atol=1e-6)
    cos = (g * gf).sum(1) / np.linalg.norm(g, axis=1) / np.linalg.norm(gf, axis=1)
    assert cos.min() > 0.99
    np.testing.assert_array_equal(inv.mirror_features(g), g)

"""Pose features: the pure feature maths always; the bundled models on real footage when LiteRT is installed."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from draqcore.features import POSE_EXTRACTOR_NAME, extractor_from_identity, registered_extractors, same_identity
from draqcore.features.blazepose import MODEL_DIR, MODEL_FILES, litert_available
from draqcore.features.pose import (
    POSE_MIRROR_PAIRS,
    PoseSequence,
    mirror_pose_features,
    pose_features,
    pose_sequence_features,
)

needs_litert = pytest.mark.skipif(not litert_available(), reason='needs pip install "draqcore[pose]" (ai-edge-litert)')


def _random_pose(rng, t=5):
    lm = rng.uniform(20, 300, size=(t, 33, 3))
    vis = rng.uniform(0, 1, size=(t, 33))
    return lm, vis


def test_golden_two_landmarks_moved():
    # hips at (0, 0) and (2, 0) -> centre (1, 0); shoulders at (0, -4), (2, -4) -> torso 4, size 10
    lm = np.zeros((1, 33, 2))
    lm[0, :] = (1.0, 0.0)  # everything on the hip centre ...
    lm[0, 23], lm[0, 24] = (0.0, 0.0), (2.0, 0.0)
    lm[0, 11], lm[0, 12] = (0.0, -4.0), (2.0, -4.0)
    lm[0, 0] = (1.0, -6.0)  # ... except the nose
    vis = np.ones((1, 33))
    vis[0, 0] = 0.5
    f = pose_features(lm, vis).reshape(33, 2)
    assert f[0] == pytest.approx((0.0, -0.3))  # 0.5 * (0, -6) / 10
    assert f[23] == pytest.approx((-0.1, 0.0))
    assert f[11] == pytest.approx((-0.1, -0.4))
    assert f[5] == pytest.approx((0.0, 0.0))


def test_position_and_scale_invariant_and_visibility_weighted(rng):
    lm, vis = _random_pose(rng)
    f = pose_features(lm, vis)
    moved = lm * 3.5 + np.array([40.0, -7.0, 2.0])
    np.testing.assert_allclose(pose_features(moved, vis), f, atol=1e-6)
    half = pose_features(lm, vis * 0.5)
    np.testing.assert_allclose(half, 0.5 * f, atol=1e-6)
    assert f.shape == (5, 66) and f.dtype == np.float32
    assert np.abs(f).max() <= 1.0 + 1e-6  # every landmark within the normalising size


def test_inputs_any_dtype_noncontiguous_and_not_mutated(rng):
    lm, vis = _random_pose(rng)
    lm_i = np.round(lm).astype(np.int32)
    big = np.zeros((5, 33, 6), dtype=np.float16)
    big[:, :, ::2] = lm_i
    view = big[:, :, ::2]
    before = view.copy()
    f16 = pose_features(view, vis.astype(np.float16))
    f32 = pose_features(lm_i, vis.astype(np.float16))
    np.testing.assert_allclose(f16, f32, atol=2e-3)
    np.testing.assert_array_equal(view, before)


@pytest.mark.parametrize(
    "lm_shape,vis_shape", [((5, 32, 2), (5, 32)), ((5, 33), (5, 33)), ((5, 33, 2), (5, 32)), ((5, 33, 4), (5, 33))]
)
def test_bad_shapes(lm_shape, vis_shape):
    with pytest.raises(ValueError):
        pose_features(np.ones(lm_shape), np.ones(vis_shape))


def test_bad_values(rng):
    lm, vis = _random_pose(rng)
    lm[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        pose_features(lm, vis)
    lm, vis = _random_pose(rng)
    vis[0, 0] = 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pose_features(lm, vis)


def test_mirror_swaps_sides_and_negates_x(rng):
    lm, vis = _random_pose(rng)
    width = 320.0
    flipped = lm.copy()
    flipped[:, :, 0] = width - flipped[:, :, 0]
    swap = np.arange(33)
    for left, right in POSE_MIRROR_PAIRS:
        swap[left], swap[right] = right, left
    flipped, fvis = flipped[:, swap], vis[:, swap]
    f = pose_features(lm, vis)
    np.testing.assert_allclose(pose_features(flipped, fvis), mirror_pose_features(f), atol=1e-5)
    np.testing.assert_array_equal(mirror_pose_features(mirror_pose_features(f)), f)
    assert not np.allclose(mirror_pose_features(f), f)


def test_held_frames_and_no_person(rng):
    lm, vis = _random_pose(rng, t=6)
    found = np.array([False, True, False, False, True, False])
    lm[~found] = np.nan
    vis[~found] = 0.0
    poses = PoseSequence(landmarks=lm.astype(np.float32), visibility=vis.astype(np.float32), found=found)
    f = pose_sequence_features(poses)
    own = pose_features(lm[found].astype(np.float32), vis[found].astype(np.float32))
    np.testing.assert_array_equal(f[[0, 1, 2, 3]], np.repeat(own[:1], 4, axis=0))
    np.testing.assert_array_equal(f[[4, 5]], np.repeat(own[1:], 2, axis=0))
    nobody = PoseSequence(landmarks=lm * np.nan, visibility=vis * 0, found=np.zeros(6, dtype=bool))
    assert not pose_sequence_features(nobody).any()


def test_mirror_invariant_sequence_features(rng):
    lm, vis = _random_pose(rng)
    f = pose_features(lm, vis)
    poses = PoseSequence(landmarks=lm, visibility=vis, found=np.ones(5, dtype=bool))
    g = pose_sequence_features(poses, mirror_invariant=True)
    assert g.shape == (5, 132)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), np.linalg.norm(f, axis=1), rtol=1e-5)
    width = 400.0
    flipped = lm.copy()
    flipped[:, :, 0] = width - flipped[:, :, 0]
    swap = np.arange(33)
    for left, right in POSE_MIRROR_PAIRS:
        swap[left], swap[right] = right, left
    mirrored = PoseSequence(landmarks=flipped[:, swap], visibility=vis[:, swap], found=np.ones(5, dtype=bool))
    np.testing.assert_allclose(pose_sequence_features(mirrored, mirror_invariant=True), g, atol=1e-5)


def test_models_are_bundled_with_licence():
    for name, digest in MODEL_FILES.items():
        assert (MODEL_DIR / name).stat().st_size > 1_000_000
    import hashlib

    for name, digest in MODEL_FILES.items():
        assert hashlib.sha256((MODEL_DIR / name).read_bytes()).hexdigest() == digest
    assert "Apache License" in (MODEL_DIR / "LICENSE").read_text()
    assert POSE_EXTRACTOR_NAME in registered_extractors()


def _frames(path, step=1, limit=None):
    cap = cv2.VideoCapture(str(path))
    out = []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok or (limit is not None and len(out) >= limit):
            break
        if i % step == 0:
            out.append(frame)
        i += 1
    cap.release()
    return out


@needs_litert
def test_real_footage_landmarks(footage):
    from draqcore.features import PoseExtractor

    frames = _frames(footage("carphone"), step=4)
    ex = PoseExtractor()
    poses = ex.poses(frames)
    assert poses.found.all()
    lm, vis = poses.landmarks, poses.visibility
    # a man seen head and shoulders: nose above both shoulders, eyes visible, hips not
    assert (lm[:, 0, 1] < lm[:, 11, 1]).all() and (lm[:, 0, 1] < lm[:, 12, 1]).all()
    assert (vis[:, [0, 2, 5]] > 0.9).all() and (vis[:, [23, 24]] < 0.5).all()
    # his left shoulder (11) is on the right of the image
    assert (lm[:, 11, 0] > lm[:, 12, 0]).all()
    f = ex.extract(frames)
    assert f.shape == (len(frames), 66) and f.dtype == np.float32 and np.isfinite(f).all()
    # mirrored frames give (nearly) the mirrored features
    ff = ex.extract([np.ascontiguousarray(x[:, ::-1]) for x in frames])
    cos = (ff * ex.mirror_features(f)).sum(1) / np.linalg.norm(ff, axis=1) / np.linalg.norm(f, axis=1)
    assert cos.mean() > 0.95


@needs_litert
def test_full_body_footage_and_no_person(footage):
    from draqcore.features import PoseExtractor

    frames = _frames(footage("pose2sim_cam1"), step=10)
    frames = frames + [np.zeros_like(frames[0])] * 2  # no person at the end: held
    ex = PoseExtractor()
    poses = ex.poses(frames)
    assert poses.found[:-2].all() and not poses.found[-2:].any()
    assert (poses.visibility[:-2][:, [23, 24, 27, 28]] > 0.5).mean() > 0.8  # hips and ankles seen
    f = ex.extract(frames)
    np.testing.assert_array_equal(f[-1], f[-3])
    black = ex.extract(np.zeros((3, 64, 48, 3), dtype=np.uint8))
    assert black.shape == (3, 66) and not black.any()


@needs_litert
def test_features_depend_on_the_frame_alone(footage):
    from draqcore.features import PoseExtractor

    frames = _frames(footage("pexels_face"), step=12, limit=12)
    order = [0, 5, 9, 5, 0, 11, 9]  # repeated frames, out of order
    f = PoseExtractor().extract([frames[i] for i in order])
    np.testing.assert_array_equal(f[0], f[4])
    np.testing.assert_array_equal(f[1], f[3])
    np.testing.assert_array_equal(f[2], f[6])
    tracked = PoseExtractor(tracking=True)
    assert tracked.identity()["params"]["tracking"] is True
    g = tracked.extract([frames[i] for i in order])
    assert g.shape == f.shape and np.isfinite(g).all()


@needs_litert
def test_identity_round_trip_and_errors():
    from draqcore.features import PoseExtractor

    ex = PoseExtractor(mirror_invariant=True)
    ident = ex.identity()
    assert ident["dim"] == 132 and json.loads(json.dumps(ident)) == ident
    again = extractor_from_identity(ident)
    assert same_identity(again.identity(), ident)
    assert not same_identity(PoseExtractor().identity(), ident)
    with pytest.raises(ValueError, match="unknown"):
        PoseExtractor.from_params({"bogus": 1})
    with pytest.raises(ValueError):
        PoseExtractor(min_presence=1.0)
    with pytest.raises(TypeError):
        PoseExtractor(mirror_invariant="yes")
    with pytest.raises(TypeError):
        PoseExtractor(tracking=1)
    with pytest.raises(ValueError, match="no frames"):
        ex.extract([])
    with pytest.raises(TypeError):
        ex.extract([np.zeros((8, 8, 3), dtype=np.float32)])

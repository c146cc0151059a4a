from __future__ import annotations

import json
from pathlib import Path
from typing import List

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import draqcore
from draqcore import synthetic
from draqcore.labels import read_labels
from draqcore.synthetic import (
    ActionClass,
    ClipTruth,
    generate_dataset,
    load_dataset,
    make_action_classes,
    render_clip,
    retime_clip,
)
from draqcore.video import native_timeline, read_sampled


def runs(values: np.ndarray) -> List[int]:
    """Run-length distinct values in order: [0, 0, 2, 2, 1] -> [0, 2, 1]."""
    return [int(v) for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def is_subsequence(sub: List[int], seq: List[int]) -> bool:
    it = iter(seq)
    return all(any(x == y for y in it) for x in sub)


# ------------------------------------------------------------------------------------------
# classes and scripts


def test_action_classes_are_deterministic_and_distinct() -> None:
    a = make_action_classes(6, seed=3)
    b = make_action_classes(6, seed=3)
    c = make_action_classes(6, seed=4)
    assert [x.name for x in a] == [f"action{i:02d}" for i in range(6)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.key_poses, y.key_poses)
        np.testing.assert_array_equal(x.colors, y.colors)
        assert x.shapes == y.shapes
    assert not all(np.array_equal(x.key_poses, z.key_poses) for x, z in zip(a, c))
    for x in a:
        p, k, four = x.key_poses.shape
        assert four == 4 and 3 <= p <= 5 and 3 <= k <= 4 and p == x.phase_count
        assert x.colors.shape == (k, 3) and x.colors.dtype == np.uint8
        # Key poses of one class are far apart (mean shape displacement >= 0.2 frame).
        for i in range(p):
            for j in range(i):
                assert synthetic._pose_distance(x.key_poses[i], x.key_poses[j]) >= 0.2
    assert all(x.phase_count == 2 for x in make_action_classes(3, seed=0, phase_count=2))


def test_action_class_validation() -> None:
    good = make_action_classes(1, seed=0)[0]
    with pytest.raises(ValueError, match="phase_count"):
        ActionClass(good.name, good.key_poses, good.shapes, good.colors, good.phase_count + 1)
    with pytest.raises(ValueError, match="shapes"):
        blobs = ("blob",) * len(good.shapes)
        ActionClass(good.name, good.key_poses, blobs, good.colors, good.phase_count)
    with pytest.raises(ValueError, match="count"):
        make_action_classes(0, seed=0)
    with pytest.raises(ValueError, match="phase_count"):
        make_action_classes(2, seed=0, phase_count=9)


@pytest.mark.parametrize("p", [2, 3, 4, 5, 6, 7])
def test_shuffled_and_partial_scripts(p: int) -> None:
    for seed in range(8):
        rng = np.random.default_rng(seed)
        order = synthetic._script(rng, p, "shuffled")
        assert sorted(order.tolist()) == list(range(p))
        assert order[0] != 0 and order[-1] != p - 1
        assert synthetic._longest_increasing_run(order.tolist()) <= max(1, (p + 1) // 2)
        if p >= 3:
            part = synthetic._script(rng, p, "partial").tolist()
            missing = sorted(set(range(p)) - set(part))
            assert part == sorted(part) and 2 <= len(part) <= p - 1
            assert missing == list(range(missing[0], missing[-1] + 1))  # one contiguous block
    assert synthetic._longest_increasing_run([2, 0, 3, 1]) == 2  # hand-checked
    with pytest.raises(ValueError, match="partial"):
        synthetic._script(np.random.default_rng(0), 2, "partial")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400))
def test_warp_is_monotone_from_0_to_1(seed: int, n: int) -> None:
    s = synthetic._monotone_warp(np.random.default_rng(seed), n)
    assert s.shape == (n,) and s[0] == 0.0
    assert np.all(np.diff(s) >= 0.0)
    if n > 1:
        assert s[-1] == 1.0


@settings(max_examples=60, deadline=None)
@given(p=st.integers(2, 7), s=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50))
def test_aligned_labels_match_canonical_time(p: int, s: List[float]) -> None:
    times = np.array(s)
    phases, canonical = synthetic._labels(np.arange(p), p, times)
    np.testing.assert_allclose(canonical, times, atol=1e-12)  # aligned: canonical == script time
    np.testing.assert_array_equal(phases, np.minimum(np.floor(times * p), p - 1).astype(np.int64))


def test_labels_of_a_shuffled_script_by_hand() -> None:
    order = np.array([2, 0, 1])
    s = np.array([0.0, 0.2, 1 / 3, 0.5, 0.9, 1.0])
    phases, canonical = synthetic._labels(order, 3, s)
    np.testing.assert_array_equal(phases, [2, 2, 0, 0, 1, 1])
    # segment k of the script maps to the canonical segment of key pose order[k]
    expected = [2 / 3, (2 + 0.6) / 3, 0.0, 0.5 / 3, (1 + 0.7) / 3, 2 / 3]
    np.testing.assert_allclose(canonical, expected)


# ------------------------------------------------------------------------------------------
# rendered clips


@pytest.fixture(scope="module")
def action() -> ActionClass:
    return make_action_classes(1, seed=11, phase_count=4)[0]


def test_aligned_clip_truth(tmp_path: Path, action: ActionClass) -> None:
    truth = render_clip(action, tmp_path / "a.mp4", seed=5)
    n = len(truth.phases)
    assert 40 <= n <= 90 and truth.kind == "aligned" and truth.fps == 25.0
    assert len(native_timeline(truth.path)) == n  # one label per native decoded frame
    video = read_sampled(truth.path, None)
    assert video.frames.shape == (n, 120, 160, 3)
    assert runs(truth.phases) == [0, 1, 2, 3]
    assert truth.canonical_time[0] == 0.0 and truth.canonical_time[-1] == 1.0
    assert np.all(np.diff(truth.canonical_time) >= 0.0)
    np.testing.assert_array_equal(truth.phase_order, np.arange(4))
    np.testing.assert_array_equal(truth.phases, np.minimum(np.floor(truth.canonical_time * 4), 3))
    assert not truth.phases.flags.writeable


def test_clips_are_deterministic(tmp_path: Path, action: ActionClass) -> None:
    a = render_clip(action, tmp_path / "a.avi", seed=9, kind="shuffled")
    b = render_clip(action, tmp_path / "b.avi", seed=9, kind="shuffled")
    c = render_clip(action, tmp_path / "c.avi", seed=10, kind="shuffled")
    np.testing.assert_array_equal(a.phases, b.phases)
    np.testing.assert_array_equal(a.canonical_time, b.canonical_time)
    same = read_sampled(b.path, None).frames
    np.testing.assert_array_equal(read_sampled(a.path, None).frames, same)
    assert len(c.phases) != len(a.phases) or not np.array_equal(c.canonical_time, a.canonical_time)


def test_hard_negative_truth(tmp_path: Path, action: ActionClass) -> None:
    for seed in range(3):
        sh = render_clip(action, tmp_path / f"s{seed}.mp4", seed=seed, kind="shuffled")
        order = sh.phase_order.tolist()
        assert sh.kind == "shuffled" and sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]
        assert is_subsequence(runs(sh.phases), order)
        assert np.any(np.diff(sh.canonical_time) < 0)  # not monotone: cannot be aligned

        pa = render_clip(action, tmp_path / f"p{seed}.mp4", seed=seed, kind="partial")
        order = pa.phase_order.tolist()
        missing = sorted(set(range(4)) - set(order))
        assert pa.kind == "partial" and order == sorted(order) and missing
        assert is_subsequence(runs(pa.phases), order)
        assert np.all(np.diff(pa.canonical_time) >= 0)
        # no frame falls in the canonical span of the missing block; inside the clip it is a jump
        lo, hi = missing[0] / 4, (missing[-1] + 1) / 4
        assert not np.any((pa.canonical_time > lo + 1e-9) & (pa.canonical_time < hi - 1e-9))
        if 0 < missing[0] and missing[-1] < 3:
            assert np.max(np.diff(pa.canonical_time)) >= hi - lo
        assert len(native_timeline(pa.path)) == len(pa.phases)


def test_excerpt_truth(tmp_path: Path, action: ActionClass) -> None:
    for seed in range(3):
        ex = render_clip(action, tmp_path / f"e{seed}.mp4", seed=seed, kind="excerpt", excerpt_span=(0.4, 0.5))
        c = ex.canonical_time
        assert ex.kind == "excerpt" and ex.phase_order.tolist() == [0, 1, 2, 3]
        assert np.all(np.diff(c) >= 0) and 0.4 - 1e-9 <= c[-1] - c[0] <= 0.5 + 1e-9  # a contiguous stretch
        np.testing.assert_array_equal(ex.phases, np.minimum(np.floor(c * 4), 3))
        assert len(native_timeline(ex.path)) == len(ex.phases)


def test_scene_is_shared_and_only_the_background(tmp_path: Path, action: ActionClass) -> None:
    def still(truth):  # median over time: the static scene without the moving shapes' path
        return np.median(read_sampled(truth.path, None).frames.astype(np.float32), axis=0)

    a = render_clip(action, tmp_path / "a.mp4", seed=1, scene=7)
    b = render_clip(action, tmp_path / "b.mp4", seed=2, scene=7)
    c = render_clip(action, tmp_path / "c.mp4", seed=1, scene=8)
    same, other = np.abs(still(a) - still(b)).mean(), np.abs(still(a) - still(c)).mean()
    assert same < 0.5 * other
    # the scene does not change anything else drawn from the clip's seed
    plain = render_clip(action, tmp_path / "p.mp4", seed=1)
    np.testing.assert_array_equal(plain.canonical_time, a.canonical_time)


def test_dress_and_speed_range(tmp_path: Path, action: ActionClass) -> None:
    other = make_action_classes(3, seed=2, shape_count=len(action.shapes))[2]
    dressed = synthetic.dress(action, other)
    assert dressed.name == action.name and dressed.shapes == other.shapes
    np.testing.assert_array_equal(dressed.key_poses, action.key_poses)
    np.testing.assert_array_equal(dressed.colors, other.colors)
    with pytest.raises(ValueError, match="shapes"):
        synthetic.dress(action, make_action_classes(1, seed=0, shape_count=len(action.shapes) + 1)[0])
    rng = np.random.default_rng(0)
    steps = [np.diff(synthetic._monotone_warp(rng, 400, 1.4)) for _ in range(30)]
    ratio = [d[d > 0].max() / d[d > 0].min() for d in steps]
    assert max(ratio) > 2.2 / 0.45  # wider than the default speed range can produce
    with pytest.raises(ValueError, match="log_speed"):
        render_clip(action, tmp_path / "x.mp4", seed=0, log_speed=5)
    with pytest.raises(ValueError, match="excerpt_span"):
        render_clip(action, tmp_path / "x.mp4", seed=0, kind="excerpt", excerpt_span=(0.7, 0.2))
    with pytest.raises(ValueError, match="actor_scale"):
        render_clip(action, tmp_path / "x.mp4", seed=0, actor_scale=0)


def test_render_errors(tmp_path: Path, action: ActionClass) -> None:
    with pytest.raises(ValueError, match="kind"):
        render_clip(action, tmp_path / "x.mp4", seed=0, kind="reversed")
    with pytest.raises(ValueError, match="suffix"):
        render_clip(action, tmp_path / "x.gif", seed=0)
    with pytest.raises(ValueError, match="action frames"):
        render_clip(action, tmp_path / "x.mp4", seed=0, frames=10)
    with pytest.raises(ValueError, match="even"):
        render_clip(action, tmp_path / "x.mp4", seed=0, size=(161, 120))
    two = make_action_classes(1, seed=0, phase_count=2)[0]
    with pytest.raises(ValueError, match="partial"):
        render_clip(two, tmp_path / "x.mp4", seed=0, kind="partial")


def test_retimed_copy(tmp_path: Path, action: ActionClass) -> None:
    src = render_clip(action, tmp_path / "src.mp4", seed=21, frames=50)
    explicit = [0, 0, 1, 5, 5, 5, 20, 49]
    copy = retime_clip(src, tmp_path / "copy.avi", source_index=explicit)
    np.testing.assert_array_equal(copy.source_index, explicit)
    np.testing.assert_array_equal(copy.truth.phases, src.phases[explicit])
    frames = read_sampled(copy.truth.path, None).frames
    original = read_sampled(src.path, None).frames.astype(np.float64)
    assert frames.shape[0] == len(explicit)
    for j, i in enumerate(explicit):  # each frame of the copy is its source frame (re-encoded)
        err = ((original - frames[j]) ** 2).mean(axis=(1, 2, 3))
        assert err[i] <= err.min() + 1.0

    warped = retime_clip(src, tmp_path / "warped.mp4", seed=3)
    idx = warped.source_index
    assert idx[0] == 0 and idx[-1] == 49 and np.all(np.diff(idx) >= 0)
    assert len(native_timeline(warped.truth.path)) == len(idx)
    np.testing.assert_array_equal(warped.truth.canonical_time, src.canonical_time[idx])
    with pytest.raises(ValueError, match="source_index"):
        retime_clip(src, tmp_path / "bad.mp4", source_index=[3, 2])
    with pytest.raises(ValueError, match="source_index"):
        retime_clip(src, tmp_path / "bad.mp4", source_index=[0, 50])


def thumbnails(path: str) -> np.ndarray:
    """Zero-centred grey 20x15 thumbnails of every frame, one unit-norm row per frame."""
    frames = read_sampled(path, None).frames
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    small = [cv2.resize(g, (20, 15), interpolation=cv2.INTER_AREA).ravel() for g in grey]
    rows = np.stack(small).astype(np.float64)
    rows -= rows.mean(axis=0)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)


def test_dtw_recovers_a_known_warp(tmp_path: Path, action: ActionClass) -> None:
    src = render_clip(action, tmp_path / "src.mp4", seed=4, frames=60)
    copy = retime_clip(src, tmp_path / "copy.mp4", seed=8, frames=80)
    a, b = thumbnails(src.path), thumbnails(copy.truth.path)
    path = draqcore.dtw(draqcore.cost_matrix(a, b)).path
    # Where the path puts copy frame j against source frame i, the action is at the same point.
    err = np.abs(src.canonical_time[path[:, 0]] - copy.truth.canonical_time[path[:, 1]])
    assert np.median(err) < 0.02 and np.mean(err) < 0.05
    assert np.mean(src.phases[path[:, 0]] == copy.truth.phases[path[:, 1]]) > 0.9


# ------------------------------------------------------------------------------------------
# datasets


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("synthetic")
    truths = generate_dataset(
        out, classes=5, clips_per_class=3, hard_negatives_per_class=2, seed=2024
    )
    return out, truths


def test_dataset_files_and_labels(dataset: tuple) -> None:
    out, truths = dataset
    assert len(truths) == 5 * 5
    kinds = [t.kind for t in truths]
    assert [kinds.count(k) for k in ("aligned", "shuffled", "partial")] == [15, 5, 5]
    labels = read_labels(out / "labels.json")
    assert len(labels) == len(truths)
    for t in truths:
        label = labels[Path(t.path).resolve()]
        assert label.class_name == t.class_name
        assert label.phases is not None
        np.testing.assert_array_equal(label.phases, t.phases)
    doc = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    assert all(not Path(v["path"]).is_absolute() for v in doc["videos"])  # portable dataset
    back = load_dataset(out)
    assert [Path(b.path) for b in back] == [Path(t.path).absolute() for t in truths]
    for b, t in zip(back, truths):
        assert isinstance(b, ClipTruth)
        for name in ("class_name", "kind", "seed", "fps", "phase_count"):
            assert getattr(b, name) == getattr(t, name)
        np.testing.assert_array_equal(b.phases, t.phases)
        np.testing.assert_array_equal(b.canonical_time, t.canonical_time)
        np.testing.assert_array_equal(b.phase_order, t.phase_order)


def test_dataset_is_deterministic(tmp_path: Path, dataset: tuple) -> None:
    _, truths = dataset
    again = generate_dataset(
        tmp_path, classes=5, clips_per_class=1, hard_negatives_per_class=0, seed=2024, threads=1
    )
    # same classes and clip seeds: the first aligned clip of every class is the same clip
    firsts = [t for t in truths if t.kind == "aligned"][::3]
    assert len(again) == len(firsts) == 5
    for a, b in zip(firsts, again):
        assert (a.class_name, a.seed) == (b.class_name, b.seed)
        np.testing.assert_array_equal(a.phases, b.phases)
        same = read_sampled(b.path, None).frames
        np.testing.assert_array_equal(read_sampled(a.path, None).frames, same)
    other = generate_dataset(
        tmp_path / "other", classes=1, clips_per_class=1, hard_negatives_per_class=0, seed=2025
    )
    assert other[0].seed != firsts[0].seed


def frame_features(path: str) -> np.ndarray:
    """Per-frame HOG-like gradient histograms (4x3 cells, 8 bins) and 4x3 colour layout."""
    feats = []
    for f in read_sampled(path).frames:
        small = cv2.resize(f, (32, 24), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
        mag, ang = np.hypot(gx, gy), (np.arctan2(gy, gx) % np.pi) / np.pi * 8
        hist = np.zeros((3, 4, 8))
        yy, xx = np.indices(grey.shape)
        np.add.at(hist, (yy // 8, xx // 8, np.minimum(ang.astype(int), 7)), mag)
        hist = hist.ravel() / max(np.linalg.norm(hist), 1e-9)
        layout = cv2.resize(small, (4, 3), interpolation=cv2.INTER_AREA).ravel() / 255.0
        feats.append(np.concatenate([hist, layout / max(np.linalg.norm(layout), 1e-9)]))
    return np.stack(feats)


def test_classes_and_phases_are_visually_distinct(dataset: tuple) -> None:
    _, truths = dataset
    feats = [frame_features(t.path) for t in truths]
    names = np.array([t.class_name for t in truths])
    aligned = np.array([t.kind == "aligned" for t in truths])
    # clip-level retrieval with mean features, standardised over the collection (paper Sec. 3)
    means = np.stack([f.mean(axis=0) for f in feats])
    z = (means - means.mean(axis=0)) / (means.std(axis=0) + 1e-9)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T
    np.fill_diagonal(sim, -np.inf)
    nearest = np.flatnonzero(aligned)[np.argmax(sim[:, aligned], axis=1)]
    hit = names[nearest] == names
    assert np.mean(hit[aligned]) >= 0.9  # aligned queries find their class
    assert np.mean(hit[~aligned]) >= 0.8  # hard negatives look like their class
    # frame level: a frame's nearest frame in another aligned clip of its class has its phase
    agree = []
    for i in np.flatnonzero(aligned):
        for j in np.flatnonzero(aligned & (names == names[i])):
            if i != j:
                a, b = feats[i] - feats[i].mean(axis=0), feats[j] - feats[j].mean(axis=0)
                match = np.argmax(a @ b.T, axis=1)
                pi = truths[i].phases[read_sampled(truths[i].path).indices]
                pj = truths[j].phases[read_sampled(truths[j].path).indices]
                agree.append(np.mean(pi == pj[match]))
    assert np.mean(agree) >= 0.85

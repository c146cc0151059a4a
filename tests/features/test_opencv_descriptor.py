"""The default extractor: HOG + colour layout + optical-flow histograms (OpenCVDescriptorExtractor)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from draqcore.features import OpenCVDescriptorExtractor, default_extractor

# ----------------------------------------------------------------------------- synthetic videos


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random colour texture, (height, width, 3) uint8."""
    noise = rng.random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).astype(np.uint8)


def _translating(rng: np.random.Generator, n: int, dx: int, dy: int, size: tuple[int, int] = (160, 120)) -> list[np.ndarray]:
    """n crops of a large texture moving by (dx, dy) pixels per frame (content moves that way)."""
    width, height = size
    margin = 4 * (abs(dx) + abs(dy)) * n + 8
    big = _texture(rng, height + 2 * margin, width + 2 * margin)
    out = []
    for t in range(n):
        x0, y0 = margin - dx * t, margin - dy * t
        out.append(big[y0 : y0 + height, x0 : x0 + width].copy())
    return out


def _arm_angle(p: float) -> float:
    """An 'arm raise' action: -60 deg -> +90 deg -> -60 deg over phase p in [0, 1] (symmetric)."""
    return math.radians(-60 + 150 * math.sin(math.pi * p))


def _stick_figure(
    p: float,
    rng: np.random.Generator,
    size: tuple[int, int] = (160, 120),
    bg: tuple[int, int, int] = (40, 120, 60),
    fg: tuple[int, int, int] = (200, 200, 255),
    offset: tuple[int, int] = (0, 0),
    noise: float = 4.0,
) -> np.ndarray:
    """A stick figure at action phase p on a textured background, plus sensor noise."""
    width, height = size
    s = height / 120
    img = np.empty((height, width, 3), np.float32)
    img[:] = bg
    img += 40 * cv2.GaussianBlur(np.random.default_rng(5).random((height, width)).astype(np.float32), (0, 0), 8 * s)[..., None]
    img = img.clip(0, 255).astype(np.uint8)
    cx, cy = int(width / 2 + offset[0] * s), int(height * 0.55 + offset[1] * s)
    thick = max(1, int(5 * s))
    cv2.line(img, (cx, cy - int(25 * s)), (cx, cy + int(20 * s)), fg, thick)
    cv2.circle(img, (cx, cy - int(35 * s)), int(9 * s), fg, -1)
    a = _arm_angle(p)
    shoulder = (cx, cy - int(20 * s))
    for sign in (1, -1):
        hand = (int(shoulder[0] + sign * 30 * s * math.cos(a)), int(shoulder[1] - 30 * s * math.sin(a)))
        cv2.line(img, shoulder, hand, fg, thick)
        cv2.line(img, (cx, cy + int(20 * s)), (int(cx + sign * 15 * s), int(cy + 50 * s)), fg, thick)
    return np.clip(img + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)


def _action_clip(
    rng: np.random.Generator, n: int, warp: Callable[[np.ndarray], np.ndarray], **kw: object
) -> tuple[np.ndarray, list[np.ndarray]]:
    phases = warp(np.linspace(0.0, 1.0, n))
    return phases, [_stick_figure(float(p), rng, **kw) for p in phases]  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- references


def _contextualize(f: np.ndarray) -> np.ndarray:
    """Paper Eq. 2-3 (slow reference)."""
    g = np.concatenate([f, np.cumsum(f, axis=0) / len(f)], axis=1)
    return g - g.mean(axis=0)


def _cosine_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1.0 - a @ b.T


def _dtw_path(cost: np.ndarray) -> list[tuple[int, int]]:
    """Textbook DTW (paper Eq. 5), path from (0, 0) to (n-1, m-1)."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1])
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        step = int(np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]]))
        i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
    return path[::-1]


def _flow_cells(ex: OpenCVDescriptorExtractor, row: np.ndarray) -> np.ndarray:
    """The flow block of one feature row as (cells, flow_bins + 1)."""
    return row[ex.block_slices["flow"]].reshape(-1, ex.params["flow_bins"] + 1)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def ex() -> OpenCVDescriptorExtractor:
    return OpenCVDescriptorExtractor()


# ----------------------------------------------------------------------------- shape and blocks


def test_default_dimension_breakdown(ex: OpenCVDescriptorExtractor) -> None:
    assert dict(ex.block_dims) == {"hog": 4 * 3 * 4 * 9, "color": 4 * 4 * 3, "flow": 4 * 3 * 9}
    assert ex.dim == 588
    assert default_extractor().dim == 588
    slices = ex.block_slices
    assert (slices["hog"].start, slices["color"].start, slices["flow"].start, slices["flow"].stop) == (0, 432, 480, 588)


def test_dimension_follows_parameters() -> None:
    ex = OpenCVDescriptorExtractor(work_size=(128, 96), hog_cell=16, hog_bins=6, color_grid=(2, 3), flow_grid=(1, 1), flow_bins=4)
    assert dict(ex.block_dims) == {"hog": 4 * 3 * 4 * 6, "color": 2 * 3 * 3, "flow": 5}
    frames = _translating(np.random.default_rng(1), 3, 2, 0)
    assert ex.extract(frames).shape == (3, ex.dim)


def test_output_shape_dtype_finite(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    frames = _translating(rng, 7, 3, 1)
    out = ex.extract(frames)
    assert out.shape == (7, 588) and out.dtype == np.float32 and out.flags.c_contiguous
    assert np.isfinite(out).all()


def test_blocks_share_the_norm(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    out = ex.extract(_translating(rng, 4, 3, 0))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    for key in ("hog", "color", "flow"):
        np.testing.assert_allclose(np.linalg.norm(out[:, ex.block_slices[key]], axis=1), math.sqrt(1 / 3), rtol=1e-5)
    weighted = OpenCVDescriptorExtractor(hog_weight=2.0, color_weight=1.0, flow_weight=1.0)
    out = weighted.extract(_translating(rng, 3, 3, 0))
    np.testing.assert_allclose(np.linalg.norm(out[:, weighted.block_slices["hog"]], axis=1), math.sqrt(0.5), rtol=1e-5)


def test_uniform_and_black_frames_stay_finite(ex: OpenCVDescriptorExtractor) -> None:
    grey = np.full((120, 160, 3), 128, np.uint8)
    black = np.zeros((120, 160, 3), np.uint8)
    out = ex.extract([grey, black, grey])
    assert np.isfinite(out).all()
    assert not out[:, ex.block_slices["hog"]].any()  # no gradients at all
    assert not out[1, ex.block_slices["color"]].any()  # black: L = a = b = 0
    assert np.linalg.norm(out[0, ex.block_slices["color"]]) == pytest.approx(math.sqrt(1 / 3), rel=1e-5)


# ----------------------------------------------------------------------------- input handling


def test_deterministic(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    frames = _translating(rng, 6, 2, 2)
    first = ex.extract(frames)
    np.testing.assert_array_equal(ex.extract(frames), first)
    np.testing.assert_array_equal(OpenCVDescriptorExtractor().extract(frames), first)


def test_inputs_not_mutated_and_read_only_frames_accepted(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    frames = np.stack(_translating(rng, 5, 2, 0))
    before = frames.copy()
    frames.setflags(write=False)
    ex.extract(frames)
    np.testing.assert_array_equal(frames, before)


def test_generator_and_array_inputs_agree(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    frames = _translating(rng, 5, 2, 1)

    def gen() -> Iterator[np.ndarray]:
        yield from frames

    np.testing.assert_array_equal(ex.extract(gen()), ex.extract(np.stack(frames)))


def test_streaming_across_chunks_and_prefix_consistency(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    # 300 frames > the 256-row output chunk; tiny frames keep this fast.
    frames = _translating(rng, 300, 1, 0, size=(32, 24))
    out = ex.extract(iter(frames))
    assert out.shape == (300, ex.dim)
    # frame t depends only on frames t-1 and t (frame 0 on frame 1): prefixes agree exactly
    np.testing.assert_array_equal(ex.extract(frames[:10]), out[:10])
    np.testing.assert_array_equal(ex.extract(frames[250:270])[1:], out[251:270])


def test_non_contiguous_frames(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    frames = _translating(rng, 3, 2, 0)
    views = [f[:, ::-1] for f in frames]
    np.testing.assert_array_equal(ex.extract(views), ex.extract([np.ascontiguousarray(v) for v in views]))


def test_any_input_size_and_mixed_sizes(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    phases = np.linspace(0, 1, 9)
    small = [_stick_figure(float(p), rng, size=(160, 120), noise=0) for p in phases]
    large = [cv2.resize(f, (320, 240), interpolation=cv2.INTER_CUBIC) for f in small]
    a, b = ex.extract(small), ex.extract(large)
    assert a.shape == b.shape == (9, 588)
    sims = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert sims.min() > 0.9  # the same scene at twice the resolution
    mixed = ex.extract([small[0], large[1], small[2], np.zeros((3, 2, 3), np.uint8)])
    assert mixed.shape == (4, 588) and np.isfinite(mixed).all()


def test_input_errors(ex: OpenCVDescriptorExtractor) -> None:
    good = np.zeros((12, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="no frames"):
        ex.extract([])
    with pytest.raises(ValueError, match="no frames"):
        ex.extract(iter(()))
    with pytest.raises(TypeError, match="frame 1: expected dtype uint8"):
        ex.extract([good, good.astype(np.float64)])
    with pytest.raises(ValueError, match="frame 2: expected shape"):
        ex.extract([good, good, good[..., :1]])
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        ex.extract(good)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"work_size": (60, 48)}, ValueError, "multiple of 2 \\* hog_cell"),
        ({"work_size": (64,)}, ValueError, "expected 2 values"),
        ({"work_size": "64x48"}, TypeError, "pair of integers"),
        ({"hog_cell": 0}, ValueError, "at least 1"),
        ({"hog_bins": 2.5}, TypeError, "expected an integer"),
        ({"flow_bins": True}, TypeError, "expected an integer"),
        ({"flow_static_px": 0.0}, ValueError, "> 0"),
        ({"flow_weight": float("inf")}, ValueError, "finite"),
        ({"color_grid": (65, 4)}, ValueError, "more cells"),
    ],
)
def test_parameter_errors(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        OpenCVDescriptorExtractor(**kwargs)  # type: ignore[arg-type]


def test_from_params_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        OpenCVDescriptorExtractor.from_params({"hog_cells": 8})
    ex = OpenCVDescriptorExtractor.from_params({"hog_cell": 4})
    assert ex.params["hog_cell"] == 4 and "OpenCVDescriptorExtractor(" in repr(ex)


# ----------------------------------------------------------------------------- motion


def test_first_frame_takes_the_motion_of_the_second(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    out = ex.extract(_translating(rng, 4, 3, 0))
    flow = ex.block_slices["flow"]
    np.testing.assert_array_equal(out[0, flow], out[1, flow])
    assert not np.array_equal(out[0, ex.block_slices["hog"]], out[1, ex.block_slices["hog"]])


def test_single_frame_and_still_video_are_static(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    frame = _translating(rng, 1, 0, 0)[0]
    for out in (ex.extract([frame]), ex.extract([frame] * 3)):
        for row in out:
            cells = _flow_cells(ex, row)
            assert not cells[:, :-1].any()
            np.testing.assert_allclose(cells[:, -1], math.sqrt(1 / 3) / math.sqrt(len(cells)), rtol=1e-5)


def test_sensor_noise_counts_as_static(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    scene = _stick_figure(0.3, rng, noise=0)
    noisy = [np.clip(scene + rng.normal(0, 3, scene.shape), 0, 255).astype(np.uint8) for _ in range(5)]
    for row in ex.extract(noisy):
        cells = _flow_cells(ex, row)
        assert np.sum(cells[:, -1] ** 2) / np.sum(cells**2) > 0.9


@pytest.mark.parametrize(("dx", "dy", "expected_bin"), [(5, 0, 0), (0, 5, 2), (-5, 0, 4), (0, -5, 6), (4, 4, 1)])
def test_flow_direction_bins(ex: OpenCVDescriptorExtractor, rng: np.random.Generator, dx: int, dy: int, expected_bin: int) -> None:
    """Content moving right lands in bin 0, down (image y) in bin 2, left in 4, up in 6."""
    out = ex.extract(_translating(rng, 4, dx, dy))
    for row in out[1:]:
        per_bin = _flow_cells(ex, row).sum(axis=0)
        assert int(np.argmax(per_bin)) == expected_bin
        assert per_bin[expected_bin] > 0.5 * per_bin.sum()


def test_rising_and_falling_phases_are_distinguishable(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    """Same pose, opposite motion: appearance blocks agree, motion blocks disagree."""
    n = 21  # phases symmetric about 0.5: frame i and frame n-1-i show the same pose
    _, frames = _action_clip(rng, n, lambda t: t)
    out = ex.extract(frames)
    hog, flow = ex.block_slices["hog"], ex.block_slices["flow"]
    for i in (3, 5, 7):
        j = n - 1 - i
        assert _cos(out[i, hog], out[j, hog]) > 0.85
        assert _cos(out[i, flow], out[j, flow]) < 0.5
        assert _cos(out[i], out[j]) < _cos(out[i], out[i + 1])


def test_dtw_aligns_clips_of_the_same_action(ex: OpenCVDescriptorExtractor, rng: np.random.Generator) -> None:
    """Different speed profiles, resolutions, colours and positions; DTW on contextualized
    features (paper Eq. 2-5) maps every frame to a frame of nearly the same action phase."""
    errors = []
    for k, (size, gamma, offset) in enumerate([((176, 144), 0.6, (-12, -5)), ((320, 240), 1.6, (12, 3))]):
        pa, va = _action_clip(rng, 30 + 5 * k, lambda t: t)
        pb, vb = _action_clip(
            rng, 45 - 3 * k, lambda t, g=gamma: t**g, size=size, bg=(150, 90, 30), fg=(30, 30, 220), offset=offset
        )
        path = _dtw_path(_cosine_cost(_contextualize(ex.extract(va)), _contextualize(ex.extract(vb))))
        errors.append(np.mean([abs(pa[i] - pb[j]) for i, j in path]))
    # a straight diagonal path would be off by ~0.1 of the action for these warps
    assert max(errors) < 0.06, errors

"""Synthetic labelled videos with exact ground truth: actions, time-warped clips, hard negatives.

An **action class** is a set of K coloured shapes ("limbs": bars, discs, ellipses, triangles,
squares) and an ordered sequence of P *key poses*: for every shape a position, an angle and a
size. Classes differ in their shapes, colours and key poses; the key poses of one class are kept
far apart so that the phases of an action look different.

A **clip** plays a *script*, a sequence of key poses (the class's own order for an aligned clip),
as a real video file::

    | lead-in (static) | action, under a random monotone time warp | tail (static) |

The action part runs a script time ``s`` from 0 to 1 through the warp (piecewise constant speeds
and pauses). With ``P'`` key poses in the script, key pose ``k`` is shown exactly at
``s = (k + 0.5) / P'``, and shapes move between consecutive key poses with smoothstep easing, so
that frames near a key pose look like it. The lead-in holds the first key pose (``s = 0``), the
tail the last one (``s = 1``); pauses inside the action hold the current pose. Held poses are
static scenes (camera shake and pixel noise go on). Appearance is random per clip: background
colour and texture, shape colours (hue and brightness jitter), overall size, position offset,
camera shake and pixel noise.

Ground truth, one value per native decoded frame of the written file
---------------------------------------------------------------------
phases
    The key pose the frame is closest to in script time: ``order[min(floor(s P'), P' - 1)]``, where
    ``order`` is the script. Phase boundaries lie half-way between key poses, where the shapes are
    an even blend of the two. Lead-in frames are in the first phase of the script (phase 0 for an
    aligned clip) and tail frames in the last one (``P - 1``): they show exactly those key poses.
canonical_time
    Position in the action's canonical timeline, in [0, 1]. A script segment ``k`` (frames with
    ``floor(s P') == k``) is mapped to the canonical segment of the key pose it shows::

        canonical = (order[k] + (s P' - k)) / P

    For an aligned clip this is ``s`` itself: 0 in the lead-in, 1 in the tail, non-decreasing.

Kinds of clips
--------------
``"aligned"``
    The class's key poses in order: alignable with every other aligned clip of the class.
``"shuffled"`` (hard negative)
    The same key poses in a permuted order that keeps neither the first nor the last key pose in
    place and has no increasing subsequence longer than ``ceil(P / 2)`` (for P = 3: 1-2-0, 2-0-1
    or 2-1-0). Clip-level mean features match the
    class (same poses, same durations) but the clip cannot be aligned; ``phases`` is not sorted and
    ``canonical_time`` is not monotone.
``"partial"`` (hard negative)
    A contiguous block of ``max(1, P // 3) .. P - 2`` key poses is missing (anywhere, ends
    included); ``canonical_time`` skips its span (it starts at ``order[0] / P`` and ends at
    ``(order[-1] + 1) / P``). Needs ``P >= 3``.
``"excerpt"`` (partial overlap)
    The class's key poses in order, but the action part covers only a contiguous stretch of
    script time ``[u0, u0 + L]`` with ``L`` drawn uniformly from ``excerpt_span`` (default
    0.35-0.65 of the action) and ``u0`` uniform in ``[0, 1 - L]``. ``canonical_time`` runs from
    ``u0`` to ``u0 + L``; the lead-in holds the pose at ``u0`` and the tail the pose at ``u0 + L``.

Appearance and speed can be controlled for benchmarks: ``render_clip(..., scene=...)`` draws
the background from its own seed (clips with the same ``scene`` share a background; the per-clip
jitter still varies), :func:`dress` gives an action the shapes and colours of another class
(same motion, other look), ``log_speed`` widens the range of speeds of the time warp and
``actor_scale`` resizes the moving shapes. ``draqcore.evaluation.build_synthetic_benchmark``
combines them into the evaluation benchmark (docs/synthetic.md).

:attr:`ClipTruth.phase_order` gives the script. Everything is deterministic for a seed.
"""

from __future__ import annotations

import colorsys
import functools
import itertools
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from . import video
from .labels import VideoLabel, write_labels

__all__ = [
    "CLIP_KINDS",
    "DEFAULT_FPS",
    "DEFAULT_FRAMES",
    "DEFAULT_LOG_SPEED",
    "DEFAULT_SIZE",
    "SHAPES",
    "ActionClass",
    "ClipTruth",
    "RetimedClip",
    "generate_dataset",
    "load_dataset",
    "dress",
    "make_action_classes",
    "render_clip",
    "retime_clip",
]

PathLike = Union[str, "os.PathLike[str]"]

CLIP_KINDS: Tuple[str, ...] = ("aligned", "shuffled", "partial", "excerpt")
"""Kinds of clips :func:`render_clip` writes (module notes)."""

SHAPES: Tuple[str, ...] = ("bar", "disc", "ellipse", "triangle", "square")
"""Shape kinds an action class is built from."""

DEFAULT_FPS: float = 25.0
"""Frame rate of written clips, frames per second."""

DEFAULT_SIZE: Tuple[int, int] = (160, 120)
"""Frame size of written clips, (width, height) pixels."""

DEFAULT_FRAMES: Tuple[int, int] = (40, 90)
"""Inclusive range of the random total frame count of a clip (1.6-3.6 s at 25 fps)."""

DEFAULT_LOG_SPEED: float = 0.8
"""Speeds of the time warp are ``exp(U(-x, x))`` times the mean speed: 0.45x-2.2x by default."""

TRUTH_FILE = "truth.json"
LABELS_FILE = "labels.json"

# Half extents (along, across) of each shape relative to min(width, height).
_SHAPE_EXTENT = {
    "bar": (0.34, 0.08),
    "disc": (0.13, 0.13),
    "ellipse": (0.20, 0.11),
    "triangle": (0.17, 0.17),
    "square": (0.13, 0.13),
}
_FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
_MIN_PHASES, _MAX_PHASES = 2, 7  # shuffled scripts are chosen among all P! orders
_TRUTH_FORMAT = "draqcore-synthetic-truth"


# --------------------------------------------------------------------------------------------
# action classes


@dataclass(frozen=True, eq=False)
class ActionClass:
    """An action: K shapes and an ordered sequence of P key poses.

    Attributes
    ----------
    name : str
        Class name (used in file names and labels).
    key_poses : ndarray of shape (P, K, 4), float64
        Per key pose and shape: ``x, y`` centre as a fraction of the frame width / height,
        ``angle`` in degrees (counter-clockwise), ``scale`` (size factor, about 0.75-1.35).
    shapes : tuple of str, length K
        Shape kind of each shape (one of :data:`SHAPES`), drawn in this order.
    colors : ndarray of shape (K, 3), uint8
        Base BGR colour of each shape.
    phase_count : int
        ``P``, the number of key poses (phases), 2..7.
    """

    name: str
    key_poses: np.ndarray
    shapes: Tuple[str, ...]
    colors: np.ndarray
    phase_count: int

    def __post_init__(self) -> None:
        poses = np.array(self.key_poses, dtype=np.float64)
        colors = np.array(self.colors, dtype=np.uint8)
        shapes = tuple(self.shapes)
        if poses.ndim != 3 or poses.shape[2] != 4 or poses.shape[1] == 0:
            raise ValueError(
                f"ActionClass {self.name!r}: key_poses must have shape (P, K, 4), got {poses.shape}"
            )
        if not np.all(np.isfinite(poses)):
            raise ValueError(f"ActionClass {self.name!r}: key_poses contain NaN/Inf")
        p, k = poses.shape[:2]
        if not _MIN_PHASES <= p <= _MAX_PHASES or p != self.phase_count:
            raise ValueError(
                f"ActionClass {self.name!r}: phase_count {self.phase_count} must equal "
                f"len(key_poses) {p} and lie in {_MIN_PHASES}..{_MAX_PHASES}"
            )
        if len(shapes) != k or any(s not in SHAPES for s in shapes):
            raise ValueError(
                f"ActionClass {self.name!r}: need {k} shapes from {SHAPES}, got {shapes}"
            )
        if colors.shape != (k, 3):
            raise ValueError(
                f"ActionClass {self.name!r}: colors must have shape ({k}, 3), got {colors.shape}"
            )
        poses.setflags(write=False)
        colors.setflags(write=False)
        object.__setattr__(self, "key_poses", poses)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "shapes", shapes)


def _hsv_bgr(h: float, s: float, v: float) -> Tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return int(round(b * 255)), int(round(g * 255)), int(round(r * 255))


def _pose_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over shapes of centre distance (frame fractions) plus angle and scale differences."""
    move = np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1])
    turn = np.abs(a[:, 2] - b[:, 2]) / 180.0
    grow = np.abs(a[:, 3] - b[:, 3])
    return float(np.mean(move + 0.3 * turn + 0.3 * grow))


def _key_poses(rng: np.random.Generator, phases: int, shapes: int) -> np.ndarray:
    """P key poses, each far from all earlier ones (rejection sampling, relaxed if needed)."""
    poses: List[np.ndarray] = []
    min_dist = 0.30
    while len(poses) < phases:
        for _ in range(200):
            cand = np.column_stack(
                [
                    rng.uniform(0.22, 0.78, shapes),
                    rng.uniform(0.22, 0.78, shapes),
                    rng.uniform(0.0, 180.0, shapes),
                    rng.uniform(0.75, 1.35, shapes),
                ]
            )
            if all(_pose_distance(cand, q) >= min_dist for q in poses):
                poses.append(cand)
                break
        else:
            min_dist *= 0.9
    return np.stack(poses)


def make_action_classes(
    count: int,
    seed: int,
    *,
    phase_count: Union[int, Tuple[int, int]] = (3, 5),
    shape_count: Union[int, Tuple[int, int]] = (3, 4),
) -> List[ActionClass]:
    """Random, mutually distinct action classes ``action00, action01, ...``.

    Class ``c`` gets a base hue ``c * 0.618`` (golden-ratio spacing, so any few classes have
    clearly different colours), shapes coloured at hues spread around it, and its own key poses.

    Parameters
    ----------
    count : int
        Number of classes, >= 1.
    seed : int
        Seed; the same seed gives the same classes.
    phase_count : int or (int, int), default (3, 5)
        Key poses per class, or an inclusive range to draw from; within 2..7.
    shape_count : int or (int, int), default (3, 4)
        Shapes per class, or an inclusive range; within 1..8.

    Returns
    -------
    list of ActionClass

    Raises
    ------
    ValueError
        ``count < 1`` or a count outside its range.
    """
    count = _as_int(count, "count", 1)
    p_lo, p_hi = _as_range(phase_count, "phase_count", _MIN_PHASES, _MAX_PHASES)
    k_lo, k_hi = _as_range(shape_count, "shape_count", 1, 8)
    rng = np.random.default_rng(_as_int(seed, "seed", 0))
    classes = []
    width = max(2, len(str(count - 1)))
    for c in range(count):
        p = int(rng.integers(p_lo, p_hi + 1))
        k = int(rng.integers(k_lo, k_hi + 1))
        base_hue = (c * 0.6180339887) % 1.0
        shapes = tuple(str(s) for s in rng.choice(SHAPES, size=k))
        colors = np.array(
            [
                _hsv_bgr(
                    base_hue + j * 0.05 + rng.uniform(-0.015, 0.015),
                    rng.uniform(0.7, 1.0),
                    rng.uniform(0.8, 1.0),
                )
                for j in range(k)
            ],
            dtype=np.uint8,
        )
        classes.append(
            ActionClass(
                name=f"action{c:0{width}d}",
                key_poses=_key_poses(rng, p, k),
                shapes=shapes,
                colors=colors,
                phase_count=p,
            )
        )
    return classes


def dress(action: ActionClass, look_of: ActionClass) -> ActionClass:
    """``action``'s motion (key poses, name, phase count) in the shapes and colours of ``look_of``.

    Parameters
    ----------
    action : ActionClass
        The action whose key poses are played (and whose name the result keeps).
    look_of : ActionClass
        The class whose shapes and colours are drawn; must have the same number of shapes K.

    Returns
    -------
    ActionClass

    Raises
    ------
    ValueError
        Different shape counts.
    """
    k = action.key_poses.shape[1]
    if len(look_of.shapes) != k:
        raise ValueError(
            f"dress: {action.name!r} has {k} shapes but {look_of.name!r} has {len(look_of.shapes)}"
        )
    return ActionClass(
        name=action.name,
        key_poses=action.key_poses,
        shapes=look_of.shapes,
        colors=look_of.colors,
        phase_count=action.phase_count,
    )


# --------------------------------------------------------------------------------------------
# clips


@dataclass(frozen=True, eq=False)
class ClipTruth:
    """Ground truth of one written clip.

    Attributes
    ----------
    path : str
        The video file.
    class_name : str
        Name of the :class:`ActionClass` it shows.
    kind : str
        ``"aligned"``, ``"shuffled"`` or ``"partial"`` (module notes).
    fps : float
        Frame rate written to the container, frames per second.
    phases : ndarray of shape (N,), int64
        Phase label of every native decoded frame (module notes); ``N`` is the number of frames
        OpenCV decodes from ``path`` (checked when the clip is written).
    canonical_time : ndarray of shape (N,), float64
        Position of every frame in the action's canonical timeline, in [0, 1].
    seed : int
        Seed the clip was rendered with.
    phase_order : ndarray of shape (P',), int64
        The script: key poses in the order the clip shows them.
    phase_count : int
        ``P``, the class's number of key poses.
    appearance : str
        Free-form description of the look (benchmarks record whose shapes and which scene);
        empty when not recorded.
    """

    path: str
    class_name: str
    kind: str
    fps: float
    phases: np.ndarray
    canonical_time: np.ndarray
    seed: int
    phase_order: np.ndarray
    phase_count: int
    appearance: str = ""

    def __post_init__(self) -> None:
        fields = (("phases", np.int64), ("canonical_time", np.float64), ("phase_order", np.int64))
        for name, dtype in fields:
            arr = np.array(getattr(self, name), dtype=dtype)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.phases.shape != self.canonical_time.shape or self.phases.ndim != 1:
            raise ValueError(
                f"ClipTruth {self.path}: phases and canonical_time must be 1-D of equal length"
            )
        if self.kind not in CLIP_KINDS:
            raise ValueError(
                f"ClipTruth {self.path}: kind must be one of {CLIP_KINDS}, got {self.kind!r}"
            )


@dataclass(frozen=True, eq=False)
class RetimedClip:
    """Result of :func:`retime_clip`.

    Attributes
    ----------
    truth : ClipTruth
        Ground truth of the re-timed copy (``phases`` and ``canonical_time`` of the source frames
        it shows).
    source_index : ndarray of shape (M,), int64
        Frame ``j`` of the copy is native frame ``source_index[j]`` of the source clip;
        non-decreasing, from 0 to ``N - 1``.
    """

    truth: ClipTruth
    source_index: np.ndarray


def _as_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def _as_range(value: Any, name: str, lo: int, hi: int) -> Tuple[int, int]:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        a, b = _as_int(value[0], name, lo), _as_int(value[1], name, lo)
    else:
        a = b = _as_int(value, name, lo)
    if not lo <= a <= b <= hi:
        raise ValueError(f"{name}: expected a count or range within {lo}..{hi}, got {value!r}")
    return a, b


def _longest_increasing_run(order: Sequence[int]) -> int:
    """Length of the longest increasing subsequence (not necessarily contiguous)."""
    best = [1] * len(order)
    for i in range(len(order)):
        for j in range(i):
            if order[j] < order[i]:
                best[i] = max(best[i], best[j] + 1)
    return max(best) if best else 0


@functools.lru_cache(maxsize=None)
def _shuffled_orders(p: int) -> Tuple[Tuple[int, ...], ...]:
    """Key-pose orders allowed for a shuffled clip of a P-phase action (module notes)."""
    limit = max(1, (p + 1) // 2)
    return tuple(
        perm
        for perm in itertools.permutations(range(p))
        if perm[0] != 0 and perm[-1] != p - 1 and _longest_increasing_run(perm) <= limit
    )


def _script(rng: np.random.Generator, p: int, kind: str) -> np.ndarray:
    """The key-pose order (P',) int64 a clip of this kind plays."""
    if kind in ("aligned", "excerpt"):
        return np.arange(p, dtype=np.int64)
    if kind == "shuffled":
        candidates = _shuffled_orders(p)
        return np.array(candidates[int(rng.integers(len(candidates)))], dtype=np.int64)
    if kind == "partial":
        if p < 3:
            raise ValueError(f"kind='partial' needs an action with >= 3 phases, got {p}")
        block = int(rng.integers(max(1, p // 3), p - 2 + 1))
        start = int(rng.integers(0, p - block + 1))
        return np.concatenate([np.arange(start), np.arange(start + block, p)]).astype(np.int64)
    raise ValueError(f"kind: expected one of {CLIP_KINDS}, got {kind!r}")


def _monotone_warp(
    rng: np.random.Generator, n: int, log_speed: float = DEFAULT_LOG_SPEED
) -> np.ndarray:
    """(n,) non-decreasing positions from 0 to 1: 2-4 speeds exp(U(-log_speed, log_speed)), 0-2 pauses."""
    if n == 1:
        return np.zeros(1)
    steps = n - 1
    segments = int(rng.integers(2, 5))
    speeds = np.exp(rng.uniform(-log_speed, log_speed, segments))
    cuts = np.sort(rng.integers(0, steps, segments - 1))
    inc = speeds[np.searchsorted(cuts, np.arange(steps), side="right")]
    for _ in range(int(rng.integers(0, 3))):
        length = int(rng.integers(2, max(3, steps // 8) + 1))
        start = int(rng.integers(0, max(1, steps - length)))
        inc[start : start + length] = 0.0
    if inc.sum() <= 0.0:  # every step paused: fall back to constant speed
        inc[:] = 1.0
    pos = np.concatenate([[0.0], np.cumsum(inc)])
    return pos / pos[-1]


def _smoothstep(a: np.ndarray) -> np.ndarray:
    return a * a * (3.0 - 2.0 * a)


def _script_poses(key_poses: np.ndarray, order: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(N, K, 4) poses at script times s: key pose k at (k + 0.5) / P', smoothstep in between."""
    q = len(order)
    u = s * q - 0.5
    k = np.clip(np.floor(u), 0, q - 2).astype(np.int64)
    e = _smoothstep(np.clip(u - k, 0.0, 1.0))[:, None, None]
    return (1.0 - e) * key_poses[order[k]] + e * key_poses[order[k + 1]]


def _labels(order: np.ndarray, p: int, s: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    q = len(order)
    seg = np.clip(np.floor(s * q), 0, q - 1).astype(np.int64)
    canonical = np.clip((order[seg] + (s * q - seg)) / p, 0.0, 1.0)
    return order[seg], canonical


def _shape_outline(kind: str) -> np.ndarray:
    """Unit outline of a shape, (M, 2), extents +-1 along and across."""
    if kind in ("bar", "square"):
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    if kind == "triangle":
        return np.array([[1.0, 0.0], [-0.5, 0.866], [-0.5, -0.866]])
    t = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    return np.column_stack([np.cos(t), np.sin(t)])


@dataclass(frozen=True, eq=False)
class _Look:
    """Per-clip random appearance."""

    background: np.ndarray  # (H + 2m, W + 2m, 3) uint8, m = margin for camera shake
    margin: int
    colors: np.ndarray  # (K, 3) float64 BGR
    size: float  # global size factor
    offset: np.ndarray  # (2,) frame fractions
    shake: np.ndarray  # (N, 2) pixels
    noise: float  # pixel noise sigma, grey levels


def _background(rng: np.random.Generator, w: int, h: int, margin: int) -> np.ndarray:
    """(H + 2m, W + 2m, 3) float64 background: grey level, tint, blurred texture, faint stripes."""
    tint = rng.uniform(-8.0, 8.0, 3)
    grey = rng.uniform(85.0, 135.0)
    texture = cv2.resize(
        rng.uniform(-1.0, 1.0, (4, 5)).astype(np.float32),
        (w + 2 * margin, h + 2 * margin),
        interpolation=cv2.INTER_CUBIC,
    )
    phase = np.arange(w + 2 * margin) * rng.uniform(0.15, 0.6) + rng.uniform(0, 6.3)
    stripes = np.sin(phase)[None, :]
    amp, stripe_amp = rng.uniform(3.0, 10.0), rng.uniform(0.0, 4.0)
    return grey + tint[None, None, :] + (amp * texture + stripe_amp * stripes)[:, :, None]


def _scene(rng: np.random.Generator, w: int, h: int, margin: int) -> np.ndarray:
    """A static scene for ``render_clip(scene=...)``: a background of wider grey level and tint
    than the default, with 4-7 static props (filled rectangles and ellipses of random colour,
    each 15-45 % of the frame across) that clips of the same scene share.

    Real footage is mostly scene: the person or object that moves covers a small part of the
    frame. The props give a scene that weight, so that a look is more than a tint.
    """
    base = rng.uniform(40.0, 200.0) + rng.uniform(-30.0, 30.0, 3)
    bg = _background(rng, w, h, margin) - 110.0 + base[None, None, :]
    canvas = np.clip(bg, 0, 255).astype(np.float32)
    for _ in range(int(rng.integers(4, 8))):
        color = tuple(float(v) for v in rng.uniform(0.0, 255.0, 3))
        cx, cy = rng.uniform(0, w + 2 * margin), rng.uniform(0, h + 2 * margin)
        rx, ry = rng.uniform(0.075, 0.225) * w, rng.uniform(0.075, 0.225) * h
        if rng.uniform() < 0.5:
            cv2.rectangle(canvas, (int(cx - rx), int(cy - ry)), (int(cx + rx), int(cy + ry)), color, -1)
        else:
            cv2.ellipse(canvas, (int(cx), int(cy)), (int(rx), int(ry)), float(rng.uniform(0, 180)), 0, 360, color, -1)
    return canvas.astype(np.float64)


def _look(
    rng: np.random.Generator,
    action: ActionClass,
    n: int,
    w: int,
    h: int,
    scene: Optional[int] = None,
    actor_scale: float = 1.0,
) -> _Look:
    margin = 4
    bg = _background(rng, w, h, margin)  # always drawn, so a scene changes nothing else
    if scene is not None:
        bg = _scene(np.random.default_rng([scene, 0x5CE7E]), w, h, margin)
    colors = []
    for bgr in action.colors:
        b, g, r = (float(c) / 255.0 for c in bgr)
        hh, ss, vv = colorsys.rgb_to_hsv(r, g, b)
        colors.append(
            _hsv_bgr(
                hh + rng.uniform(-0.025, 0.025),
                ss * rng.uniform(0.85, 1.0),
                vv * rng.uniform(0.85, 1.0),
            )
        )
    walk = np.cumsum(rng.normal(0.0, 0.4, (n, 2)), axis=0)
    walk = walk - walk.mean(axis=0)
    amp_shake = rng.uniform(0.0, 1.5)
    peak = float(np.abs(walk).max()) or 1.0
    return _Look(
        background=np.clip(np.round(bg), 0, 255).astype(np.uint8),
        margin=margin,
        colors=np.array(colors, dtype=np.float64),
        size=float(rng.uniform(0.85, 1.15)) * actor_scale,
        offset=rng.uniform(-0.06, 0.06, 2),
        shake=walk * (amp_shake / peak),
        noise=float(rng.uniform(2.0, 6.0)),
    )


def _polygons(
    action: ActionClass, poses: np.ndarray, look: _Look, w: int, h: int
) -> List[np.ndarray]:
    """Per shape, (N, M, 2) int32 outline points of every frame on the canvas, 1/16 pixel units."""
    unit = min(w, h)
    m = look.margin
    out = []
    for j, kind in enumerate(action.shapes):
        outline = _shape_outline(kind) * np.array(_SHAPE_EXTENT[kind])  # (M, 2)
        x, y, angle, scale = (poses[:, j, c][:, None] for c in range(4))  # (N, 1) each
        a = np.radians(angle)
        r = scale * look.size * unit
        # rotate counter-clockwise on screen (image y points down), then scale and place
        px = (outline[:, 0] * np.cos(a) - outline[:, 1] * np.sin(a)) * r
        py = -(outline[:, 0] * np.sin(a) + outline[:, 1] * np.cos(a)) * r
        px += (x + look.offset[0]) * w + m
        py += (y + look.offset[1]) * h + m
        out.append(np.round(np.stack([px, py], axis=-1) * 16.0).astype(np.int32))
    return out


def _render_frames(
    action: ActionClass, poses: np.ndarray, look: _Look, rng: np.random.Generator, w: int, h: int
) -> List[np.ndarray]:
    """(H, W, 3) uint8 BGR frames for poses of shape (N, K, 4)."""
    polygons = _polygons(action, poses, look, w, h)
    colors = [tuple(float(c) for c in color) for color in look.colors]
    m = look.margin
    frames = []
    for i in range(len(poses)):
        canvas = look.background.copy()
        for points, color in zip(polygons, colors):
            cv2.fillPoly(canvas, [points[i]], color, cv2.LINE_AA, 4)  # 4 fractional bits
        dx, dy = look.shake[i]
        shift = np.array([[1.0, 0.0, dx - m], [0.0, 1.0, dy - m]])
        frame = cv2.warpAffine(
            canvas, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        noisy = rng.standard_normal(frame.shape, dtype=np.float32)
        noisy *= look.noise
        noisy += frame
        frames.append(np.clip(noisy, 0.0, 255.0, out=noisy).astype(np.uint8))
    return frames


def _check_size(size: Any) -> Tuple[int, int]:
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size: expected (width, height), got {size!r}")
    w, h = _as_int(size[0], "size[0] (width)", 16), _as_int(size[1], "size[1] (height)", 16)
    if w % 2 or h % 2:
        raise ValueError(f"size: width and height must be even (video codecs), got {size!r}")
    return w, h


def _check_fps(fps: Any) -> float:
    numeric = isinstance(fps, (int, float, np.integer, np.floating))
    if isinstance(fps, (bool, np.bool_)) or not numeric:
        raise TypeError(f"fps: expected a number of frames per second, got {fps!r}")
    if not math.isfinite(float(fps)) or not 1.0 <= float(fps) <= 240.0:
        raise ValueError(f"fps: expected 1..240 frames per second, got {fps!r}")
    return float(fps)


def _fourcc(path: Path) -> str:
    """Codec written for the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in _FOURCC:
        raise ValueError(
            f"{path}: unsupported suffix {path.suffix!r}; use one of {sorted(_FOURCC)}"
        )
    return _FOURCC[suffix]


def _write_video(path: Path, frames: Sequence[np.ndarray], fps: float) -> None:
    """Write frames with the codec for the file's suffix and check that all decode back."""
    fourcc = _fourcc(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write {fourcc!r} video here")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    decoded = len(video.native_timeline(path))
    if decoded != len(frames):
        raise OSError(f"{path}: wrote {len(frames)} frames but OpenCV decodes {decoded}")


def render_clip(
    action: ActionClass,
    path: PathLike,
    *,
    seed: int,
    kind: str = "aligned",
    fps: float = DEFAULT_FPS,
    size: Tuple[int, int] = DEFAULT_SIZE,
    frames: Union[int, Tuple[int, int]] = DEFAULT_FRAMES,
    scene: Optional[int] = None,
    log_speed: float = DEFAULT_LOG_SPEED,
    excerpt_span: Tuple[float, float] = (0.35, 0.65),
    appearance: str = "",
    actor_scale: float = 1.0,
) -> ClipTruth:
    """Render one clip of ``action`` to a video file and return its ground truth.

    The clip has ``N`` frames: a lead-in and a tail of 0-15 % of ``N`` each (static), and the
    action under a random monotone time warp in between (module notes for the labels).

    Parameters
    ----------
    action : ActionClass
        The action to play.
    path : str or os.PathLike
        Output file: ``.mp4`` (MPEG-4 part 2, 'mp4v'), ``.avi`` or ``.mkv`` (Motion JPEG).
        Parent folders are created; an existing file is replaced.
    seed : int
        Seed for everything random in the clip (script of a hard negative, warp, appearance).
    kind : {"aligned", "shuffled", "partial", "excerpt"}
        Clip kind (module notes).
    fps : float, default DEFAULT_FPS
        Frame rate, frames per second (1..240).
    size : (int, int), default DEFAULT_SIZE
        Frame (width, height) in pixels, even, >= 16.
    frames : int or (int, int), default DEFAULT_FRAMES
        Total frame count ``N``, or an inclusive range to draw it from. The action part must get
        at least 4 frames per key pose of the script.
    scene : int, optional
        Seed of the background alone: clips with the same ``scene`` share background grey level,
        tint, texture and stripes. Default: drawn from ``seed`` like everything else.
    log_speed : float, default DEFAULT_LOG_SPEED
        Speeds of the time warp are ``exp(U(-log_speed, log_speed))`` (relative), in 0..3;
        0.8 gives 0.45x-2.2x, 1.4 gives 0.25x-4x.
    excerpt_span : (float, float), default (0.35, 0.65)
        ``kind="excerpt"``: range of the fraction of the action shown, within (0, 1].
    appearance : str, default ""
        Recorded in the truth as it is (a description of the look).
    actor_scale : float, default 1.0
        Size of the shapes relative to the default (0.2..2); positions are unchanged.

    Returns
    -------
    ClipTruth

    Raises
    ------
    ValueError
        Bad arguments, too few frames, ``kind="partial"`` with fewer than 3 phases.
    OSError
        The video cannot be written, or does not decode back to ``N`` frames.
    """
    if not isinstance(action, ActionClass):
        raise TypeError(f"action: expected an ActionClass, got {type(action).__name__}")
    seed = _as_int(seed, "seed", 0)
    fps = _check_fps(fps)
    w, h = _check_size(size)
    n_lo, n_hi = _as_range(frames, "frames", 1, 100_000)
    if isinstance(log_speed, bool) or not isinstance(log_speed, (int, float, np.integer, np.floating)) or not 0.0 <= float(log_speed) <= 3.0:
        raise ValueError(f"log_speed: expected a number in 0..3, got {log_speed!r}")
    try:
        span_lo, span_hi = (float(v) for v in excerpt_span)
    except (TypeError, ValueError):
        raise ValueError(f"excerpt_span: expected (low, high), got {excerpt_span!r}") from None
    if not 0.0 < span_lo <= span_hi <= 1.0:
        raise ValueError(f"excerpt_span: need 0 < low <= high <= 1, got {excerpt_span!r}")
    if isinstance(actor_scale, bool) or not isinstance(actor_scale, (int, float, np.integer, np.floating)) or not 0.2 <= float(actor_scale) <= 2.0:
        raise ValueError(f"actor_scale: expected a number in 0.2..2, got {actor_scale!r}")
    out = Path(path)
    _fourcc(out)  # fail on an unsupported suffix before rendering
    rng = np.random.default_rng(seed)
    order = _script(rng, action.phase_count, kind)
    n = int(rng.integers(n_lo, n_hi + 1))
    lead = int(rng.integers(0, int(0.15 * n) + 1))
    tail = int(rng.integers(0, int(0.15 * n) + 1))
    active = n - lead - tail
    if active < 4 * len(order):
        raise ValueError(
            f"{out}: frames={n} leaves {active} action frames for {len(order)} key poses; "
            f"need >= {4 * len(order)}"
        )
    warp_s = _monotone_warp(rng, active, log_speed)
    u0, u1 = 0.0, 1.0
    if kind == "excerpt":
        length = float(rng.uniform(span_lo, span_hi))
        u0 = float(rng.uniform(0.0, 1.0 - length))
        u1 = u0 + length
        warp_s = u0 + (u1 - u0) * warp_s
    s = np.concatenate([np.full(lead, u0), warp_s, np.full(tail, u1)])
    phases, canonical = _labels(order, action.phase_count, s)
    look = _look(rng, action, n, w, h, None if scene is None else _as_int(scene, "scene", 0), actor_scale)
    images = _render_frames(action, _script_poses(action.key_poses, order, s), look, rng, w, h)
    _write_video(out, images, fps)
    return ClipTruth(
        path=str(out),
        class_name=action.name,
        kind=kind,
        fps=fps,
        phases=phases,
        canonical_time=canonical,
        seed=seed,
        phase_order=order,
        phase_count=action.phase_count,
        appearance=str(appearance),
    )


def retime_clip(
    source: ClipTruth,
    path: PathLike,
    *,
    seed: int = 0,
    source_index: Optional[Sequence[int]] = None,
    frames: Optional[int] = None,
) -> RetimedClip:
    """Write a re-timed copy of a clip: frame ``j`` of the copy is source frame ``source_index[j]``.

    The source is decoded (all native frames) and its frames are written again in the warped
    order, with the same codec choice and frame rate. With no ``source_index``, a random monotone
    warp (2-4 speeds, 0-2 pauses) from the first to the last source frame is drawn from ``seed``.

    Parameters
    ----------
    source : ClipTruth
        Ground truth of an existing clip (its ``path`` is read).
    path : str or os.PathLike
        Output file (``.mp4``, ``.avi`` or ``.mkv``).
    seed : int, default 0
        Seed of the random warp (ignored with ``source_index``).
    source_index : sequence of int, optional
        Explicit warp: non-decreasing native frame indices of the source, each in ``0..N-1``.
    frames : int, optional
        Length ``M`` of a random warp; default: a random length in ``[0.6 N, 1.6 N]``.

    Returns
    -------
    RetimedClip

    Raises
    ------
    ValueError
        Bad warp, or the source does not decode to ``len(source.phases)`` frames.
    draqcore.video.VideoReadError
        The source cannot be read.
    """
    if not isinstance(source, ClipTruth):
        raise TypeError(f"source: expected a ClipTruth, got {type(source).__name__}")
    seed = _as_int(seed, "seed", 0)
    _fourcc(Path(path))
    decoded = video.read_sampled(source.path, None)
    n = len(decoded.frames)
    if n != len(source.phases):
        raise ValueError(
            f"{source.path}: decodes to {n} frames but its truth has {len(source.phases)}"
        )
    if source_index is None:
        rng = np.random.default_rng(seed)
        if frames is None:
            m = int(rng.integers(int(0.6 * n), int(1.6 * n) + 1))
        else:
            m = _as_int(frames, "frames", 2)
        index = np.round(_monotone_warp(rng, max(m, 2)) * (n - 1)).astype(np.int64)
    else:
        index = np.array(source_index)
        if index.ndim != 1 or index.size == 0 or index.dtype.kind not in "iu":
            raise ValueError(
                f"source_index: expected a non-empty 1-D integer sequence, got {index!r}"
            )
        index = index.astype(np.int64)
        if index.min() < 0 or index.max() >= n or np.any(np.diff(index) < 0):
            raise ValueError(f"source_index: must be non-decreasing within 0..{n - 1}")
    _write_video(Path(path), [decoded.frames[i] for i in index], source.fps)
    truth = ClipTruth(
        path=str(Path(path)),
        class_name=source.class_name,
        kind=source.kind,
        fps=source.fps,
        phases=source.phases[index],
        canonical_time=source.canonical_time[index],
        seed=seed,
        phase_order=source.phase_order,
        phase_count=source.phase_count,
        appearance=source.appearance,
    )
    index.setflags(write=False)
    return RetimedClip(truth=truth, source_index=index)


# --------------------------------------------------------------------------------------------
# datasets


def generate_dataset(
    out_dir: PathLike,
    *,
    classes: int,
    clips_per_class: int,
    hard_negatives_per_class: int,
    seed: int,
    phase_count: Union[int, Tuple[int, int]] = (3, 5),
    fps: float = DEFAULT_FPS,
    size: Tuple[int, int] = DEFAULT_SIZE,
    frames: Union[int, Tuple[int, int]] = DEFAULT_FRAMES,
    suffix: str = ".mp4",
    threads: Optional[int] = None,
) -> List[ClipTruth]:
    """Write a labelled synthetic dataset: videos, ``labels.json`` and ``truth.json``.

    Layout::

        out_dir/labels.json                   class and phases of every clip (draqcore.labels)
        out_dir/truth.json                    full ground truth (read back with load_dataset)
        out_dir/<class>/aligned_<i>.mp4       clips_per_class aligned clips per class
        out_dir/<class>/shuffled_<i>.mp4      hard negatives alternate shuffled, partial, ...
        out_dir/<class>/partial_<i>.mp4       (partial only for classes with >= 3 phases)

    Hard negatives are labelled with their class: they show the same action, only not alignably.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Output folder (created if missing; existing files of the same names are replaced).
    classes, clips_per_class, hard_negatives_per_class : int
        Counts (>= 1, >= 1, >= 0).
    seed : int
        Seed of the classes and of every clip. Clip ``i`` of a kind in class ``c`` gets a seed
        that depends only on ``(seed, c, kind, i)`` (recorded in the truth), so a larger dataset
        with the same seed contains the clips of a smaller one.
    phase_count : int or (int, int), default (3, 5)
        Key poses per class (see :func:`make_action_classes`).
    fps, size, frames
        As in :func:`render_clip`.
    suffix : {".mp4", ".avi", ".mkv"}
        Video container.
    threads : int, optional
        Clips rendered in parallel (OpenCV releases the GIL); default: all cores.

    Returns
    -------
    list of ClipTruth
        Class by class, aligned clips first, in the order of ``labels.json``.
    """
    out = Path(out_dir)
    classes = _as_int(classes, "classes", 1)
    clips_per_class = _as_int(clips_per_class, "clips_per_class", 1)
    hard_negatives_per_class = _as_int(hard_negatives_per_class, "hard_negatives_per_class", 0)
    seed = _as_int(seed, "seed", 0)
    if suffix not in _FOURCC:
        raise ValueError(f"suffix: expected one of {sorted(_FOURCC)}, got {suffix!r}")
    workers = (os.cpu_count() or 1) if threads is None else _as_int(threads, "threads", 1)
    actions = make_action_classes(classes, seed, phase_count=phase_count)
    jobs: List[Tuple[ActionClass, Path, int, str]] = []
    for c, action in enumerate(actions):
        kinds = ["aligned"] * clips_per_class
        for k in range(hard_negatives_per_class):
            kinds.append("shuffled" if k % 2 == 0 or action.phase_count < 3 else "partial")
        counters: Dict[str, int] = {}
        for kind in kinds:
            i = counters.get(kind, 0)
            counters[kind] = i + 1
            # A clip's seed depends only on (seed, class, kind, i): asking for more clips keeps
            # the clips a smaller dataset had.
            key = [seed, c, CLIP_KINDS.index(kind), i]
            clip_seed = int(np.random.default_rng(key).integers(0, 2**63 - 1))
            jobs.append((action, out / action.name / f"{kind}_{i:03d}{suffix}", clip_seed, kind))
    out.mkdir(parents=True, exist_ok=True)

    def work(job: Tuple[ActionClass, Path, int, str]) -> ClipTruth:
        action, path, clip_seed, kind = job
        return render_clip(
            action, path, seed=clip_seed, kind=kind, fps=fps, size=size, frames=frames
        )

    if workers == 1:
        truths = [work(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            truths = list(pool.map(work, jobs))
    labels = [VideoLabel(Path(t.path), t.class_name, t.phases) for t in truths]
    write_labels(out / LABELS_FILE, labels)
    _write_truth(out / TRUTH_FILE, truths)
    return truths


def _write_truth(file: Path, truths: Sequence[ClipTruth]) -> None:
    folder = file.parent.absolute()
    lines = []
    for t in truths:
        p = Path(t.path).absolute()
        try:
            rel = p.relative_to(folder).as_posix()
        except ValueError:
            rel = str(p)
        entry = {
            "path": rel,
            "class": t.class_name,
            "kind": t.kind,
            "fps": t.fps,
            "seed": t.seed,
            "phase_count": t.phase_count,
            "phase_order": [int(v) for v in t.phase_order],
            "phases": [int(v) for v in t.phases],
            "canonical_time": [float(v) for v in t.canonical_time],  # repr round-trips exactly
        }
        if t.appearance:
            entry["appearance"] = t.appearance
        lines.append("    " + json.dumps(entry))
    body = ",\n".join(lines)
    text = f'{{\n  "format": "{_TRUTH_FORMAT}",\n  "version": 1,\n  "clips": [\n{body}\n  ]\n}}\n'
    file.write_text(text, encoding="utf-8")


def load_dataset(out_dir: PathLike) -> List[ClipTruth]:
    """Read back the ground truth :func:`generate_dataset` wrote to ``out_dir/truth.json``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The dataset folder.

    Returns
    -------
    list of ClipTruth
        In the order of :func:`generate_dataset`; paths are absolute.

    Raises
    ------
    FileNotFoundError
        No ``truth.json`` in ``out_dir``.
    ValueError
        ``truth.json`` is malformed (the message names the file and the entry).
    """
    file = Path(out_dir) / TRUTH_FILE
    text = file.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != _TRUTH_FORMAT or doc.get("version") != 1:
        raise ValueError(f'{file}: not a {_TRUTH_FORMAT} file (version 1)')
    clips = doc.get("clips")
    if not isinstance(clips, list):
        raise ValueError(f'{file}: "clips" must be a list')
    out: List[ClipTruth] = []
    for i, entry in enumerate(clips):
        try:
            p = Path(entry["path"])
            out.append(
                ClipTruth(
                    path=str((p if p.is_absolute() else file.parent / p).absolute()),
                    class_name=str(entry["class"]),
                    kind=entry["kind"],
                    fps=float(entry["fps"]),
                    phases=np.asarray(entry["phases"], dtype=np.int64),
                    canonical_time=np.asarray(entry["canonical_time"], dtype=np.float64),
                    seed=int(entry["seed"]),
                    phase_order=np.asarray(entry["phase_order"], dtype=np.int64),
                    phase_count=int(entry["phase_count"]),
                    appearance=str(entry.get("appearance", "")),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{file}: clips[{i}]: malformed entry ({type(exc).__name__}: {exc})"
            ) from None
    return out

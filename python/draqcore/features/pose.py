"""Pose features: MediaPipe's 33 body landmarks, normalised for position and scale.

Per frame, :class:`draqcore.features.blazepose.BlazePose` finds the most prominent person and
its 33 landmarks (image pixels) with a visibility each; :func:`pose_features` turns them into
a feature vector that suits alignment:

* **position**: landmarks relative to the hip centre (midpoint of landmarks 23 and 24);
* **scale**: divided by ``max(2.5 * torso, max_i |p_i - hip centre|)``, torso = distance from
  the hip centre to the shoulder centre (11, 12) -- MediaPipe's pose-embedding normalisation,
  so a person far from or near to the camera gives the same features;
* **visibility weighting**: each landmark's two coordinates are multiplied by its visibility,
  so occluded or out-of-frame landmarks (whose positions the model only guesses) fade towards
  the hip centre instead of adding noise.

The feature of a frame is ``[v_0 x_0, v_0 y_0, ..., v_32 x_32, v_32 y_32]`` (d = 66), or its
mirror-invariant form (``mirror_invariant=True``, d = 132, see :func:`mirror_invariant_features`).

**Frames without a person** get the features of the nearest earlier frame with one (the pose is
*held*, as a paused video would look); frames before the first detection get the first
detection's features; a video in which no frame has a person gets all-zero features (which
cost 1.0 against everything in the cosine cost of Eq. 4). :meth:`PoseExtractor.poses` reports
which frames had a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Optional

import numpy as np

from .base import as_positive_float, iter_frames, make_identity, register_extractor
from .mirror import mirror_invariant_features

__all__ = [
    "POSE_EXTRACTOR_NAME",
    "POSE_MIRROR_PAIRS",
    "PoseExtractor",
    "PoseSequence",
    "mirror_pose_features",
    "pose_features",
    "pose_sequence_features",
]

#: Registered name of :class:`PoseExtractor`.
POSE_EXTRACTOR_NAME = "mediapipe-pose"
_VERSION = "1"
_NUM = 33
_BASE_DIM = 2 * _NUM

#: Left/right landmark pairs of MediaPipe's pose topology (eyes, ears, mouth, limbs, feet).
POSE_MIRROR_PAIRS = (
    (1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18),
    (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32),
)
_SWAP = np.arange(_NUM)
for _l, _r in POSE_MIRROR_PAIRS:
    _SWAP[_l], _SWAP[_r] = _r, _l


def pose_features(landmarks: Any, visibility: Any) -> np.ndarray:
    """Position- and scale-normalised, visibility-weighted landmark coordinates.

    Parameters
    ----------
    landmarks : array_like of shape (T, 33, 2) or (T, 33, 3)
        ``x, y`` in pixels (a third column, depth, is ignored). Any real dtype.
    visibility : array_like of shape (T, 33)
        Weights in [0, 1].

    Returns
    -------
    ndarray of shape (T, 66), float32
        Row ``t``: ``v_i * (p_i - c) / s`` for landmarks ``i = 0 .. 32``, interleaved ``x, y``;
        ``c`` the hip centre, ``s = max(2.5 * |shoulder centre - c|, max_i |p_i - c|)``.
        A frame whose landmarks all coincide (``s = 0``) gives zeros.

    Raises
    ------
    ValueError
        Wrong shapes, NaN/Inf, or visibility outside [0, 1].
    """
    lm = np.asarray(landmarks)
    vis = np.asarray(visibility)
    if not (np.issubdtype(lm.dtype, np.number) and np.issubdtype(vis.dtype, np.number)):
        raise ValueError("landmarks and visibility must be numeric arrays")
    if lm.ndim != 3 or lm.shape[1] != _NUM or lm.shape[2] not in (2, 3):
        raise ValueError(f"landmarks: expected shape (T, 33, 2 or 3), got {lm.shape}")
    if vis.shape != lm.shape[:2]:
        raise ValueError(f"visibility: expected shape {lm.shape[:2]}, got {vis.shape}")
    xy = lm[:, :, :2].astype(np.float64)
    v = vis.astype(np.float64)
    if not (np.isfinite(xy).all() and np.isfinite(v).all()):
        raise ValueError("landmarks and visibility must be finite")
    if ((v < 0) | (v > 1)).any():
        raise ValueError("visibility must lie in [0, 1]")
    hip = 0.5 * (xy[:, 23] + xy[:, 24])
    shoulder = 0.5 * (xy[:, 11] + xy[:, 12])
    rel = xy - hip[:, None, :]
    torso = np.linalg.norm(shoulder - hip, axis=1)
    size = np.maximum(2.5 * torso, np.linalg.norm(rel, axis=2).max(axis=1))
    scale = np.divide(1.0, size, out=np.zeros_like(size), where=size > 0)
    out = rel * scale[:, None, None] * v[:, :, None]
    return np.ascontiguousarray(out.reshape(len(xy), _BASE_DIM), dtype=np.float32)


def mirror_pose_features(features: Any) -> np.ndarray:
    """The features of the left-right mirrored frames: swap left/right landmarks, negate ``x``.

    Exact for :func:`pose_features` (d = 66): mirroring the image maps ``x -> W - x``, keeps
    the hip centre and the scale, and turns each left landmark into the right one.

    Parameters
    ----------
    features : array_like of shape (T, 66)

    Returns
    -------
    ndarray of shape (T, 66), float32 (a new array)
    """
    f = np.asarray(features, dtype=np.float32)
    if f.ndim != 2 or f.shape[1] != _BASE_DIM:
        raise ValueError(f"features: expected shape (T, {_BASE_DIM}), got {f.shape}")
    pts = f.reshape(len(f), _NUM, 2)[:, _SWAP, :].copy()
    pts[:, :, 0] *= -1.0
    pts[pts == 0] = 0.0  # no negative zeros
    return pts.reshape(len(f), _BASE_DIM)


@dataclass(frozen=True)
class PoseSequence:
    """Landmarks of the most prominent person in every frame of one video.

    Attributes
    ----------
    landmarks : ndarray of shape (T, 33, 3), float32
        ``x, y`` image pixels, ``z`` relative depth (pixels); NaN where no person was found.
    visibility : ndarray of shape (T, 33), float32
        0 where no person was found.
    found : ndarray of shape (T,), bool
        Whether a person was found in the frame.
    """

    landmarks: np.ndarray
    visibility: np.ndarray
    found: np.ndarray

    def __len__(self) -> int:
        return len(self.found)


def pose_sequence_features(poses: PoseSequence, *, mirror_invariant: bool = False) -> np.ndarray:
    """Features of every frame of a :class:`PoseSequence`; frames without a person are *held*.

    A frame without a person takes the features of the nearest earlier frame with one; frames
    before the first detection take the first detection's; if no frame has a person, all rows
    are zero.

    Parameters
    ----------
    poses : PoseSequence
    mirror_invariant : bool, default False
        Return :func:`draqcore.features.mirror_invariant_features` of the features.

    Returns
    -------
    ndarray of shape (T, 66) (or (T, 132) when ``mirror_invariant``), float32
    """
    found = np.asarray(poses.found, dtype=bool)
    if found.ndim != 1 or len(found) != len(poses.landmarks) or len(found) != len(poses.visibility):
        raise ValueError("poses: found, landmarks and visibility must have one entry per frame")
    out = np.zeros((len(found), _BASE_DIM), dtype=np.float32)
    if found.any():
        out[found] = pose_features(poses.landmarks[found], poses.visibility[found])
        idx = np.where(found, np.arange(len(found)), -1)
        np.maximum.accumulate(idx, out=idx)  # nearest earlier frame with a person
        idx[idx < 0] = int(np.flatnonzero(found)[0])  # leading frames: the first detection
        out = out[idx]
    if mirror_invariant:
        out = mirror_invariant_features(out, mirror_pose_features)
    return out


class PoseExtractor:
    """Per-frame pose features from MediaPipe BlazePose (full), run offline with LiteRT.

    Needs ``pip install "draqcore[pose]"`` (the LiteRT runtime); the models ship inside
    draqcore, nothing is downloaded. See the module docstring for the features and for frames
    without a person.

    Parameters
    ----------
    mirror_invariant : bool, default False
        Make every frame's feature equal to that of the left-right mirrored frame
        (:func:`draqcore.features.mirror_invariant_features`, d = 132 instead of 66), so that
        a mirrored clip aligns like the original.
    min_detection_score : float, default 0.5
        Person-detector score needed to start tracking a person.
    min_presence : float, default 0.5
        Landmark model's pose flag below which the person counts as lost.
    tracking : bool, default False
        False: run the person detector on every frame, so a frame's features depend on that
        frame alone (a repeated frame gets identical features, as a re-timed copy needs).
        True: as MediaPipe does in videos, take each frame's region from the previous frame's
        landmarks and detect again only when the person is lost (faster; landmarks then depend
        on the history). Measured both ways in docs/results.md.
    threads : int, optional
        LiteRT CPU threads; not a parameter of the features.

    Raises
    ------
    ImportError
        ``ai-edge-litert`` is not installed.
    ValueError, TypeError
        Invalid parameters.

    Notes
    -----
    Cost per frame: one detector and one landmark-model run (with ``tracking``, the detector
    only when the person is lost); frames/s in ``docs/results.md``.
    """

    name: str = POSE_EXTRACTOR_NAME

    def __init__(
        self,
        *,
        mirror_invariant: bool = False,
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
        tracking: bool = False,
        threads: Optional[int] = None,
    ) -> None:
        for flag, value in (("mirror_invariant", mirror_invariant), ("tracking", tracking)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{flag}: expected a bool, got {type(value).__name__}")
        det = as_positive_float(min_detection_score, "min_detection_score")
        pres = as_positive_float(min_presence, "min_presence")
        if det >= 1.0 or pres >= 1.0:
            raise ValueError("min_detection_score and min_presence must lie in (0, 1)")
        from .blazepose import BlazePose

        self._model = BlazePose(min_detection_score=det, min_presence=pres, threads=threads)
        self._threads = None if threads is None else int(threads)
        self._mirror_invariant = bool(mirror_invariant)
        self._tracking = bool(tracking)
        self.dim: int = 2 * _BASE_DIM if self._mirror_invariant else _BASE_DIM
        self.params: Mapping[str, Any] = MappingProxyType(
            {
                "mirror_invariant": self._mirror_invariant,
                "min_detection_score": det,
                "min_presence": pres,
                "tracking": self._tracking,
            }
        )

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PoseExtractor:
        """Build from the ``params`` of an identity (unknown keys raise ``ValueError``)."""
        unknown = sorted(set(params) - {"mirror_invariant", "min_detection_score", "min_presence", "tracking"})
        if unknown:
            raise ValueError(f"{POSE_EXTRACTOR_NAME}: unknown parameter(s) {unknown}")
        return cls(**dict(params))

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any], Optional[int]]]:
        """Pickle as the parameters (the LiteRT interpreters are rebuilt by the receiver).

        Makes the extractor usable with ``spawn`` workers, ``Pool.map(extractor.extract, ...)``
        and PyTorch DataLoader workers; the rebuilt extractor gives identical features.
        """
        return (_rebuild_pose_extractor, (dict(self.params), self._threads))

    @property
    def mirror_invariant(self) -> bool:
        """Whether features are invariant to left-right mirroring."""
        return self._mirror_invariant

    def identity(self) -> dict[str, Any]:
        """``{"name", "params", "version", "dim"}`` (JSON-serialisable, a fresh dict)."""
        return make_identity(self.name, self.params, _VERSION, self.dim)

    def poses(self, frames: Iterable[np.ndarray]) -> PoseSequence:
        """Landmarks of consecutive frames of one video (tracking, if on, restarts with each call).

        Raises
        ------
        ValueError
            No frames, or a frame not of shape (H, W, 3).
        TypeError
            A frame that is not a uint8 ndarray.
        """
        self._model.reset()
        lms: list[np.ndarray] = []
        vis: list[np.ndarray] = []
        found: list[bool] = []
        missing_lm = np.full((_NUM, 3), np.nan, dtype=np.float32)
        missing_vis = np.zeros(_NUM, dtype=np.float32)
        for _, frame in iter_frames(frames):
            res = self._model.process(frame, track=self._tracking)
            found.append(res is not None)
            lms.append(missing_lm if res is None else res.landmarks)
            vis.append(missing_vis if res is None else res.visibility)
        if not found:
            raise ValueError("frames: no frames (a video needs at least one frame)")
        return PoseSequence(
            landmarks=np.stack(lms), visibility=np.stack(vis), found=np.asarray(found, dtype=bool)
        )

    def features_from_poses(self, poses: PoseSequence) -> np.ndarray:
        """Features (T, dim) float32 of a :class:`PoseSequence` (:func:`pose_sequence_features`)."""
        return pose_sequence_features(poses, mirror_invariant=self._mirror_invariant)

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Features of consecutive sampled frames of one video.

        Parameters
        ----------
        frames : iterable of ndarray of shape (H, W, 3), uint8, BGR
            Frames in temporal order (streamed; memory holds the landmarks, 0.5 kB a frame).

        Returns
        -------
        ndarray of shape (T, dim), float32

        Raises
        ------
        ValueError
            No frames, or a frame not of shape (H, W, 3).
        TypeError
            A frame that is not a uint8 ndarray.
        """
        return self.features_from_poses(self.poses(frames))

    def mirror_features(self, features: Any) -> np.ndarray:
        """Features of the left-right mirrored frames, computed from ``features`` (T, dim).

        Swaps left/right landmarks and negates ``x``; with ``mirror_invariant`` the features
        are their own mirror image (a copy is returned).
        """
        f = np.asarray(features, dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != self.dim:
            raise ValueError(f"features: expected shape (T, {self.dim}), got {f.shape}")
        return f.copy() if self._mirror_invariant else mirror_pose_features(f)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


register_extractor(POSE_EXTRACTOR_NAME, PoseExtractor.from_params)


def _rebuild_pose_extractor(params: Mapping[str, Any], threads: Optional[int]) -> PoseExtractor:
    """Unpickle a :class:`PoseExtractor` (see ``PoseExtractor.__reduce__``)."""
    return PoseExtractor(threads=threads, **dict(params))

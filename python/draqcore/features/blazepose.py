"""MediaPipe BlazePose (full) run offline with LiteRT: person detector, landmark model, tracking.

The two models ship inside draqcore (``features/models/mediapipe_pose/``, Apache-2.0, copied
unchanged from the ``mediapipe==0.10.21`` wheel; see the README there): nothing is downloaded.
They are executed by LiteRT (``ai-edge-litert``, Google's maintained successor of
``tflite-runtime``, which supports NumPy 2), installed by ``pip install "draqcore[pose]"``.
The pre- and post-processing re-implements what MediaPipe's ``pose_landmark_cpu`` graph does
around the models:

1. **Detector** (``pose_detection.tflite``, 224 x 224 RGB in [-1, 1], letterboxed): an SSD
   head over 2254 fixed-size anchors (strides 8, 16, 32; 2, 2, 6 anchors per cell), sigmoid
   scores, boxes and 4 keypoints decoded relative to the anchors; the highest-scoring box
   above ``min_detection_score`` is refined by weighted non-maximum suppression (IoU 0.3).
   Keypoint 0 is the hip centre, keypoint 1 a point whose distance from it encodes the size
   and whose direction encodes the rotation of the whole body.
2. **Region of interest**: a square centred on the hip centre, side ``2.5 * |kp1 - kp0|``
   (MediaPipe: ``2 * |kp1 - kp0|`` scaled by 1.25), rotated so that ``kp0 -> kp1`` points up.
3. **Landmark model** (``pose_landmark_full.tflite``, 256 x 256 RGB in [0, 1], the rotated
   crop): 39 landmarks ``(x, y, z, visibility, presence)`` in crop pixels (33 body landmarks,
   then 2 auxiliary ones -- hip centre and scale point -- used for tracking) and a pose flag.
   Visibility and presence are logits (sigmoid applied here). Landmarks are projected back to
   image pixels through the inverse of the crop.
4. **Tracking** in videos (``process(frame, track=True)``, MediaPipe's video mode): the next
   frame's region comes from the auxiliary landmarks 33/34 of this frame (same rule as step 2);
   the detector runs again only when the pose flag drops below ``min_presence`` (or on the first
   frame). With ``track=False`` (what ``PoseExtractor`` does by default) the detector runs on
   every frame and the result depends on that frame alone.

Not reproduced from MediaPipe: the heat-map refinement of landmark positions, the temporal
smoothing filters, and the segmentation mask. Those change landmark jitter, not what the
landmarks mean; the features (``draqcore.features.pose``) are built for DTW on
contextualized sequences, which is robust to frame-to-frame jitter.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

__all__ = [
    "BlazePose",
    "PoseResult",
    "MODEL_DIR",
    "MODEL_FILES",
    "NUM_LANDMARKS",
    "litert_available",
]

#: Folder holding the bundled ``.tflite`` files.
MODEL_DIR = Path(__file__).resolve().parent / "models" / "mediapipe_pose"
#: Bundled model files and their SHA-256 (checked when a model is loaded).
MODEL_FILES = {
    "pose_detection.tflite": "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
    "pose_landmark_full.tflite": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
}
#: Body landmarks per person (MediaPipe's pose topology).
NUM_LANDMARKS = 33

_DET_SIZE = 224
_LM_SIZE = 256
_NMS_IOU = 0.3
_ROI_SCALE = 1.25
_TARGET_ANGLE = math.pi / 2.0


def _import_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ImportError(
            "pose features need LiteRT to run the bundled MediaPipe models: "
            'pip install "draqcore[pose]"  (installs ai-edge-litert; nothing is downloaded at run time)'
        ) from exc
    return Interpreter


def litert_available() -> bool:
    """True when the LiteRT runtime (``ai-edge-litert``) can be imported."""
    try:
        _import_interpreter()
    except ImportError:
        return False
    return True


def _model_path(name: str) -> Path:
    path = MODEL_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"bundled pose model {path} is missing; reinstall draqcore")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_FILES[name]:
        raise ValueError(f"bundled pose model {path} is damaged (sha256 {digest}); reinstall draqcore")
    return path


def _ssd_anchors() -> np.ndarray:
    """Anchor centres (2254, 2) in [0, 1] of the 224 x 224 detector (MediaPipe SsdAnchors).

    Options of ``pose_detection_cpu``: 5 layers, strides 8, 16, 32, 32, 32, one aspect ratio
    plus one interpolated scale per layer, fixed anchor size (w = h = 1), offset 0.5. Layers of
    equal stride share one feature map, so the 32-stride map carries 3 * 2 anchors per cell.
    """
    centres = []
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        size = int(math.ceil(_DET_SIZE / stride))
        ys, xs = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres, axis=0).astype(np.float32)


@dataclass(frozen=True)
class PoseResult:
    """The pose of the most prominent person in one frame.

    Attributes
    ----------
    landmarks : ndarray of shape (33, 3), float32
        ``x, y`` in image pixels (origin top left, y down), ``z`` relative depth in pixels
        (smaller = closer to the camera, origin at the hips), MediaPipe's landmark order.
    visibility : ndarray of shape (33,), float32
        Probability in [0, 1] that the landmark is visible (not occluded).
    presence : ndarray of shape (33,), float32
        Probability in [0, 1] that the landmark lies inside the frame.
    score : float
        Pose flag of the landmark model, in [0, 1].
    """

    landmarks: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    score: float


@dataclass(frozen=True)
class _Roi:
    cx: float  # pixels
    cy: float
    side: float  # pixels
    rotation: float  # radians

    def to_image(self) -> np.ndarray:
        """(2, 3) affine map from crop pixels (0 .. 256) to image pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.side / _LM_SIZE
        return np.array(
            [
                [k * c, -k * s, self.cx - 0.5 * self.side * (c - s)],
                [k * s, k * c, self.cy - 0.5 * self.side * (s + c)],
            ],
            dtype=np.float64,
        )


def _roi_from_points(x0: float, y0: float, x1: float, y1: float) -> Optional[_Roi]:
    """Square region around a centre (x0, y0) and a scale/rotation point (x1, y1), pixels."""
    dist = math.hypot(x1 - x0, y1 - y0)
    if not (math.isfinite(dist) and dist > 1e-3):
        return None
    angle = _TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0)
    angle = angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))
    return _Roi(cx=x0, cy=y0, side=2.0 * dist * _ROI_SCALE, rotation=angle)


class BlazePose:
    """Single-person pose landmarks for the frames of one video, in order (tracks between frames).

    Parameters
    ----------
    min_detection_score : float, default 0.5
        Detector score needed to start tracking a person.
    min_presence : float, default 0.5
        Pose flag of the landmark model below which the person counts as lost (the detector
        runs again on the same frame).
    threads : int, optional
        LiteRT CPU threads (default: LiteRT's choice). Does not change the landmarks.

    Raises
    ------
    ImportError
        ``ai-edge-litert`` is not installed.
    """

    def __init__(self, *, min_detection_score: float = 0.5, min_presence: float = 0.5, threads: Optional[int] = None) -> None:
        interpreter = _import_interpreter()
        kwargs = {} if threads is None else {"num_threads": int(threads)}
        self._det = interpreter(model_path=str(_model_path("pose_detection.tflite")), **kwargs)
        self._lm = interpreter(model_path=str(_model_path("pose_landmark_full.tflite")), **kwargs)
        self._det.allocate_tensors()
        self._lm.allocate_tensors()
        self._det_in = self._det.get_input_details()[0]["index"]
        det_out = {d["name"]: d["index"] for d in self._det.get_output_details()}
        self._det_boxes, self._det_scores = det_out["Identity"], det_out["Identity_1"]
        self._lm_in = self._lm.get_input_details()[0]["index"]
        lm_out = {d["name"]: d["index"] for d in self._lm.get_output_details()}
        self._lm_points, self._lm_flag = lm_out["Identity"], lm_out["Identity_1"]
        self._anchors = _ssd_anchors()
        self._min_det = float(min_detection_score)
        self._min_presence = float(min_presence)
        self._roi: Optional[_Roi] = None

    def reset(self) -> None:
        """Forget the tracked person (call between videos)."""
        self._roi = None

    # ---------------------------------------------------------------- detector

    def detect(self, rgb: np.ndarray) -> Optional[_Roi]:
        """Region of the most confident person in an RGB uint8 frame, or None."""
        h, w = rgb.shape[:2]
        scale = min(_DET_SIZE / w, _DET_SIZE / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        pad_x, pad_y = (_DET_SIZE - nw) // 2, (_DET_SIZE - nh) // 2
        canvas = np.zeros((_DET_SIZE, _DET_SIZE, 3), dtype=np.uint8)
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[pad_y:pad_y + nh, pad_x:pad_x + nw] = cv2.resize(rgb, (nw, nh), interpolation=interp)
        x = canvas.astype(np.float32) * np.float32(1.0 / 127.5) - np.float32(1.0)
        self._det.set_tensor(self._det_in, x[None])
        self._det.invoke()
        raw = self._det.get_tensor(self._det_boxes)[0]  # (2254, 12)
        logits = self._det.get_tensor(self._det_scores)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
        keep = np.flatnonzero(scores >= self._min_det)
        if keep.size == 0:
            return None
        a = self._anchors[keep]
        r = raw[keep] / np.float32(_DET_SIZE)
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        bw, bh = r[:, 2], r[:, 3]
        kps = r[:, 4:12].reshape(-1, 4, 2) + a[:, None, :]
        s = scores[keep]
        best = int(np.argmax(s))
        # weighted non-maximum suppression of the best cluster (MediaPipe's WEIGHTED algorithm)
        x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        ix = np.clip(np.minimum(x2, x2[best]) - np.maximum(x1, x1[best]), 0, None)
        iy = np.clip(np.minimum(y2, y2[best]) - np.maximum(y1, y1[best]), 0, None)
        inter = ix * iy
        union = bw * bh + bw[best] * bh[best] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        members = iou > _NMS_IOU
        members[best] = True
        wts = s[members] / s[members].sum()
        kp = (kps[members] * wts[:, None, None]).sum(axis=0)  # (4, 2) in the 224 letterbox
        # undo the letterbox: normalised letterbox coordinates -> image pixels
        px = (kp[:, 0] * _DET_SIZE - pad_x) / scale
        py = (kp[:, 1] * _DET_SIZE - pad_y) / scale
        return _roi_from_points(float(px[0]), float(py[0]), float(px[1]), float(py[1]))

    # ---------------------------------------------------------------- landmarks

    def _landmarks(self, rgb: np.ndarray, roi: _Roi) -> tuple[PoseResult, Optional[_Roi]]:
        to_image = roi.to_image()
        crop = cv2.warpAffine(
            rgb, to_image, (_LM_SIZE, _LM_SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
        )
        self._lm.set_tensor(self._lm_in, (crop.astype(np.float32) * np.float32(1.0 / 255.0))[None])
        self._lm.invoke()
        raw = self._lm.get_tensor(self._lm_points)[0].reshape(39, 5).astype(np.float64)
        flag = float(self._lm.get_tensor(self._lm_flag).ravel()[0])
        xy = raw[:, :2] @ to_image[:, :2].T + to_image[:, 2]
        z = raw[:, 2] * (roi.side / _LM_SIZE)
        vis = 1.0 / (1.0 + np.exp(-np.clip(raw[:, 3], -100.0, 100.0)))
        pres = 1.0 / (1.0 + np.exp(-np.clip(raw[:, 4], -100.0, 100.0)))
        result = PoseResult(
            landmarks=np.column_stack([xy, z])[:NUM_LANDMARKS].astype(np.float32),
            visibility=vis[:NUM_LANDMARKS].astype(np.float32),
            presence=pres[:NUM_LANDMARKS].astype(np.float32),
            score=flag,
        )
        nxt = _roi_from_points(xy[33, 0], xy[33, 1], xy[34, 0], xy[34, 1])
        return result, nxt

    def process(self, bgr: np.ndarray, *, track: bool = True) -> Optional[PoseResult]:
        """Pose of the tracked (or newly detected) person in the next frame of the video.

        Parameters
        ----------
        bgr : ndarray of shape (H, W, 3), uint8, BGR
        track : bool, default True
            Start from the region predicted by the previous frame's landmarks. False runs the
            detector on every frame, so the result depends on this frame alone.

        Returns
        -------
        PoseResult or None
            None when no person is found.
        """
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if not track:
            self._roi = None
        if self._roi is not None:  # track: the region predicted from the previous frame
            result, nxt = self._landmarks(rgb, self._roi)
            self._roi = nxt if self._accept(result) else None
            if self._roi is not None:
                return result
        roi = self.detect(rgb)
        if roi is None:
            return None
        result, nxt = self._landmarks(rgb, roi)
        if not self._accept(result):
            return None
        self._roi = nxt
        return result

    def _accept(self, result: PoseResult) -> bool:
        return result.score >= self._min_presence and bool(np.isfinite(result.landmarks).all())


"""Per-frame video features (paper Sec. 3, Eq. 1): ``F = [f_1, ..., f_T]`` of shape (T, d).

An extractor maps the sampled frames of one video, ``(H, W, 3)`` uint8 BGR arrays, to a
``(T, d)`` float32 array, and carries an identity that says which features it computes:

- :class:`OpenCVDescriptorExtractor` (the default, :func:`default_extractor`): HOG, colour
  layout and optical-flow histograms; needs no model weights.
- :class:`Precomputed`: features computed elsewhere (any backbone), added with
  :meth:`draqcore.Collection.add_features`; it only carries their identity.
- :class:`TorchImageExtractor` and :class:`TorchClipExtractor`: adapters for PyTorch image
  and clip backbones (``torch`` is imported only when one of them is built).
- :class:`PoseExtractor` (``"mediapipe-pose"``): MediaPipe's 33 body landmarks, normalised
  for position and scale (bundled models, run by LiteRT: ``pip install "draqcore[pose]"``).

:func:`mirror_invariant_features` makes features invariant to left-right mirroring (the
``mirror_invariant=True`` parameter of the built-in OpenCV and pose extractors).
"""

from __future__ import annotations

from typing import Any

from .base import (
    DEFAULT_EXTRACTOR_NAME,
    FrameFeatureExtractor,
    default_extractor,
    extractor_from_identity,
    register_extractor,
    registered_extractors,
    same_identity,
)
from .mirror import mirror_invariant_features
from .pose import POSE_EXTRACTOR_NAME, PoseExtractor
from .precomputed import Precomputed
from .torch_backbone import TorchClipExtractor, TorchImageExtractor


def __getattr__(name: str) -> Any:
    # OpenCV loads with the default extractor's module, on first use (see base._LAZY_BUILTINS).
    if name == "OpenCVDescriptorExtractor":
        from .opencv_descriptor import OpenCVDescriptorExtractor

        return OpenCVDescriptorExtractor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_EXTRACTOR_NAME",
    "FrameFeatureExtractor",
    "OpenCVDescriptorExtractor",
    "POSE_EXTRACTOR_NAME",
    "PoseExtractor",
    "Precomputed",
    "TorchClipExtractor",
    "TorchImageExtractor",
    "default_extractor",
    "extractor_from_identity",
    "mirror_invariant_features",
    "register_extractor",
    "registered_extractors",
    "same_identity",
]

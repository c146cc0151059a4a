"""The field's frame-feature protocol, per action class (TCC, LAV, CARL; paper Table 3).

Prior alignment work scores frozen per-frame features with three numbers, each computed per
action class (one "dataset" per action in PennAction) and then averaged over the classes:

* **Kendall's tau** of nearest-neighbour frame matches over every *ordered* pair of held-out
  videos of the class (:func:`~draqcore.evaluation.mean_kendall_tau`, stride 5 by default);
* **phase progression** R² (:func:`~draqcore.evaluation.phase_progression`), on the videos
  whose phases are ordered and complete;
* **phase classification** accuracy (:func:`~draqcore.evaluation.phase_classification`).

:func:`frame_feature_scores` runs all three for one set of features.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from .kendall_tau import mean_kendall_tau
from .phase_classification import phase_classification
from .phase_progression import phase_progression

__all__ = ["FrameScores", "FrameVideo", "frame_feature_scores"]


@dataclass(frozen=True)
class FrameVideo:
    """Frozen features and labels of one video for :func:`frame_feature_scores`.

    Attributes
    ----------
    features : ndarray of shape (T, d)
        Per-frame features (the frames the labels describe).
    phases : ndarray of shape (T,), int, or None
        Phase of every frame; ``None`` leaves the video out of progression and classification.
    class_name : str
        Action class.
    """

    features: Any
    phases: Optional[Any]
    class_name: str


@dataclass(frozen=True)
class FrameScores:
    """Class-averaged scores of :func:`frame_feature_scores`; ``nan`` where none could be computed.

    Attributes
    ----------
    kendall_tau : float
        Mean over classes of the mean tau over ordered pairs of held-out videos.
    tau_pairs, tau_undefined : int
        Ordered pairs scored, and pairs whose tau was undefined (left out of the mean).
    progression_r2 : float
        Mean over classes of the phase-progression R² of held-out videos.
    progression_videos : int
        Held-out videos scored for progression (ordered and complete phases).
    classification_accuracy : float
        Mean over classes of the held-out frame accuracy of the linear phase classifier.
    classes : int
        Classes that contributed at least one score.
    stride : int
        Frame stride of the tau computation.
    """

    kendall_tau: float
    tau_pairs: int
    tau_undefined: int
    progression_r2: float
    progression_videos: int
    classification_accuracy: float
    classes: int
    stride: int

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


def _ordered_complete(phases: np.ndarray, p: int) -> bool:
    return bool(np.all(np.diff(phases) >= 0)) and np.unique(phases).size == p


def _mean(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def frame_feature_scores(
    train: Sequence[FrameVideo], val: Sequence[FrameVideo], *, stride: int = 5
) -> FrameScores:
    """Kendall's tau, phase progression and phase classification, per class, then averaged.

    Parameters
    ----------
    train : sequence of FrameVideo
        Videos the linear probes are fitted on (the training split).
    val : sequence of FrameVideo
        Held-out videos: tau over their ordered pairs within each class, probes scored on them.
    stride : int, default 5
        Frame stride for tau (TCC, LAV and CARL use 5 on PennAction frames).

    Returns
    -------
    FrameScores

    Notes
    -----
    A class's phase count ``P`` is one more than the largest phase label among its videos.
    Progression uses only videos (train and held-out) whose labels are non-decreasing and contain
    all ``P`` phases; classification uses every labelled video. A class without training videos
    or with fewer than 2 phases gets no probe scores; a class with fewer than 2 held-out videos
    gets no tau.
    """
    classes = sorted({v.class_name for v in val})
    taus, prog, acc = [], [], []
    pairs = undefined = prog_videos = 0
    used = 0
    for c in classes:
        v_c = [v for v in val if v.class_name == c]
        t_c = [v for v in train if v.class_name == c]
        scored = False
        if len(v_c) >= 2:
            summary = mean_kendall_tau(itertools.permutations([v.features for v in v_c], 2), stride=stride)
            pairs += summary.count
            undefined += summary.undefined
            if math.isfinite(summary.mean):
                taus.append(summary.mean)
                scored = True
        lab_t = [v for v in t_c if v.phases is not None]
        lab_v = [v for v in v_c if v.phases is not None]
        if lab_t and lab_v:
            p = 1 + max(int(np.max(v.phases)) for v in lab_t + lab_v)
            if p >= 2 and len(np.unique(np.concatenate([np.asarray(v.phases) for v in lab_t]))) >= 2:
                acc.append(
                    phase_classification(
                        [v.features for v in lab_t], [v.phases for v in lab_t], [v.features for v in lab_v], [v.phases for v in lab_v]
                    ).accuracy
                )
                scored = True
            ord_t = [v for v in lab_t if _ordered_complete(np.asarray(v.phases), p)]
            ord_v = [v for v in lab_v if _ordered_complete(np.asarray(v.phases), p)]
            if p >= 2 and ord_t and ord_v:
                prog.append(
                    phase_progression(
                        [v.features for v in ord_t], [v.phases for v in ord_t], [v.features for v in ord_v], [v.phases for v in ord_v], p
                    ).r2
                )
                prog_videos += len(ord_v)
        used += scored
    return FrameScores(
        kendall_tau=_mean(taus),
        tau_pairs=pairs,
        tau_undefined=undefined,
        progression_r2=_mean(prog),
        progression_videos=prog_videos,
        classification_accuracy=_mean(acc),
        classes=used,
        stride=stride,
    )

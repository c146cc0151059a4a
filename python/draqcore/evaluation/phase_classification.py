"""Phase classification: how linearly separable the phases of an action are in frozen frame features.

The protocol of TCC (Dwibedi et al. 2019), LAV and CARL: train a linear classifier on the frames
of the training videos to predict each frame's phase, and report the accuracy over all frames of
the held-out videos. The original works train a linear SVM (scikit-learn ``SVC(kernel="linear")``).
draqcore does not depend on scikit-learn, so the classifier here is a **ridge classifier** (the
closed-form linear classifier that scikit-learn calls ``RidgeClassifier``): one-vs-rest least
squares on ``±1`` targets with an L2 penalty ``alpha`` and an intercept, predicting the class
with the largest score. It is fitted exactly (no iterations, no random state). Its accuracy is
usually close to a linear SVM's but not identical; state which classifier you used when
comparing with published numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .phase_progression import _check_split

__all__ = ["ClassificationScore", "phase_classification"]


@dataclass(frozen=True)
class ClassificationScore:
    """Result of :func:`phase_classification`.

    Attributes
    ----------
    accuracy : float
        Fraction of held-out frames whose phase is predicted correctly (all frames pooled).
    per_video : ndarray of shape (V,), float64
        Accuracy of every held-out video, in the order given.
    classes : ndarray of shape (C,), int64
        Phase labels seen in training (a held-out frame of another phase is always wrong).
    train_frames : int
        Frames the classifier was fitted on.
    """

    accuracy: float
    per_video: np.ndarray
    classes: np.ndarray
    train_frames: int


def phase_classification(
    train_features: Sequence[Any],
    train_phases: Sequence[Any],
    val_features: Sequence[Any],
    val_phases: Sequence[Any],
    *,
    alpha: float = 1.0,
) -> ClassificationScore:
    """Fit a linear (ridge) classifier of phases on training frames; accuracy on held-out frames.

    Parameters
    ----------
    train_features, val_features : sequence of array_like of shape (T_v, d)
        Frozen per-frame features of each video (any real dtype; not modified).
    train_phases, val_phases : sequence of array_like of shape (T_v,), int
        Phase label of every frame (any order; unlike progression, unordered clips are fine).
    alpha : float, default 1.0
        L2 penalty (scikit-learn's default for ``RidgeClassifier``); > 0.

    Returns
    -------
    ClassificationScore

    Raises
    ------
    ValueError
        Mismatched lengths, bad labels, fewer than 2 phases in training, ``alpha <= 0``.

    Notes
    -----
    With ``X`` the training features centred on their mean and ``Y`` the ``±1`` one-vs-rest
    targets centred on theirs, the weights are ``W = (XᵀX + alpha I)⁻¹ XᵀY`` (computed as
    ``Xᵀ(XXᵀ + alpha I)⁻¹Y`` when there are fewer frames than dimensions; the two are equal).
    A frame's predicted phase is ``argmax`` of ``(x - mean_x) W + mean_y``; ties go to the
    lowest phase label.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not alpha > 0:
        raise ValueError(f"alpha: expected a positive number, got {alpha!r}")
    tf, tl, dim = _check_split(train_features, train_phases, "train", None)
    vf, vl, _ = _check_split(val_features, val_phases, "val", dim)
    x = np.concatenate(tf)
    labels = np.concatenate(tl)
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(f"train_phases: need at least 2 phases to classify, got only {classes.tolist()}")
    y = np.where(labels[:, None] == classes[None, :], 1.0, -1.0)
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    n, d = xc.shape
    if n >= d:
        w = np.linalg.solve(xc.T @ xc + alpha * np.eye(d), xc.T @ yc)
    else:
        w = xc.T @ np.linalg.solve(xc @ xc.T + alpha * np.eye(n), yc)
    per_video, right, total = [], 0, 0
    for f, lab in zip(vf, vl):
        pred = classes[np.argmax((f - mean_x) @ w + mean_y, axis=1)]
        hits = int((pred == lab).sum())
        per_video.append(hits / lab.size)
        right += hits
        total += lab.size
    classes.setflags(write=False)
    return ClassificationScore(
        accuracy=right / total, per_video=np.asarray(per_video, dtype=np.float64), classes=classes, train_frames=int(n)
    )

"""Phase progression: how linearly frozen frame features encode progress through an action.

The protocol of TCC (Dwibedi et al. 2019, "event completion"), also used by LAV and CARL: for
every frame, the targets are its signed distances to the end of each phase but the last,

``target[t, i] = (t - last_frame_of_phase_i) / N``,    ``i = 0 .. P - 2``,  ``N`` frames,

a linear regression (with intercept) is fitted on the frames of the training videos, and the score is the coefficient of determination R² on each held-out video, averaged
over the outputs and then over the videos. R² is 1 for a perfect prediction, 0 for predicting a
video's own mean, and negative for worse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .phase_agreement import as_phase_labels

__all__ = ["ProgressionScore", "phase_progression", "progression_targets"]


@dataclass(frozen=True)
class ProgressionScore:
    """Result of :func:`phase_progression`.

    Attributes
    ----------
    r2 : float
        Mean over held-out videos of their R² (each the mean over the ``P - 1`` outputs).
    per_video : ndarray of shape (V,), float64
        R² of every held-out video, in the order given.
    train_frames : int
        Frames the regression was fitted on.
    """

    r2: float
    per_video: np.ndarray
    train_frames: int


def progression_targets(phases: Any, phase_count: int) -> np.ndarray:
    """TCC's progression targets of one video.

    Parameters
    ----------
    phases : array_like of shape (N,), int
        Phase label of every frame; must be non-decreasing and contain every phase
        ``0 .. phase_count - 1`` (the protocol assumes ordered, complete actions).
    phase_count : int
        ``P``, the number of phases of the action, >= 2.

    Returns
    -------
    ndarray of shape (N, P - 1), float64
        ``(t - last_frame_of_phase_i) / N`` for ``i = 0 .. P - 2``.

    Raises
    ------
    ValueError
        Labels not ordered, a phase missing, a label outside ``0 .. P - 1``, or ``P < 2``.
    """
    labels = as_phase_labels(phases, "phases")
    if isinstance(phase_count, bool) or not isinstance(phase_count, (int, np.integer)) or phase_count < 2:
        raise ValueError(f"phase_count: expected an integer >= 2, got {phase_count!r}")
    p = int(phase_count)
    if labels.min() < 0 or labels.max() >= p:
        raise ValueError(f"phases: labels must lie in 0..{p - 1}, got {labels.min()}..{labels.max()}")
    if np.any(np.diff(labels) < 0):
        raise ValueError("phases: must be non-decreasing (progression needs an ordered action)")
    present = np.unique(labels)
    if present.size != p:
        missing = sorted(set(range(p)) - set(int(v) for v in present))
        raise ValueError(f"phases: phase(s) {missing} missing (progression needs every phase)")
    n = labels.size
    # last frame of phase i = (number of frames with label <= i) - 1
    last = np.searchsorted(labels, np.arange(p - 1), side="right") - 1
    t = np.arange(n, dtype=np.float64)[:, None]
    return (t - last[None, :].astype(np.float64)) / n


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    """R² averaged over columns, as scikit-learn's ``r2_score`` (constant targets: 1 or 0)."""
    ss_res = ((y - pred) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    out = np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.where(ss_res == 0, 1.0, 0.0))
    return float(out.mean())


def _as_features(x: Any, name: str, dim: int | None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty (T, d) array, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: expected d = {dim} like the other videos, got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return arr


def _check_split(features: Sequence[Any], phases: Sequence[Any], what: str, dim: int | None):
    if len(features) != len(phases):
        raise ValueError(f"{what}: {len(features)} feature arrays but {len(phases)} label arrays")
    if not len(features):
        raise ValueError(f"{what}: no videos")
    feats, labs = [], []
    for i, (f, p) in enumerate(zip(features, phases)):
        arr = _as_features(f, f"{what}_features[{i}]", dim)
        dim = arr.shape[1]
        lab = as_phase_labels(p, f"{what}_phases[{i}]")
        if lab.size != arr.shape[0]:
            raise ValueError(f"{what}[{i}]: {arr.shape[0]} feature rows but {lab.size} phase labels")
        feats.append(arr)
        labs.append(lab)
    return feats, labs, dim


def phase_progression(
    train_features: Sequence[Any],
    train_phases: Sequence[Any],
    val_features: Sequence[Any],
    val_phases: Sequence[Any],
    phase_count: int,
    *,
    alpha: float = 1.0,
) -> ProgressionScore:
    """Fit a linear regression from frame features to progression and score held-out videos.

    Parameters
    ----------
    train_features, val_features : sequence of array_like of shape (T_v, d)
        Frozen per-frame features of each video (any real dtype; not modified).
    train_phases, val_phases : sequence of array_like of shape (T_v,), int
        Per-frame phase labels of the same frames, ordered and complete
        (:func:`progression_targets`).
    phase_count : int
        ``P`` of the action.
    alpha : float, default 1.0
        L2 penalty of the regression (ridge; scikit-learn's ``Ridge`` default). ``0`` gives
        ordinary least squares, the regression TCC uses; see Notes for why it is not the default.

    Returns
    -------
    ProgressionScore

    Raises
    ------
    ValueError
        Mismatched lengths, bad labels (naming the video), or no videos.

    Notes
    -----
    With ``X``, ``Y`` the training features and targets centred on their means, the weights are
    ``(XᵀX + alpha I)⁻¹ XᵀY`` (via the ``n x n`` system when there are fewer frames than
    dimensions). ``alpha = 0`` is ordinary least squares (minimum-norm ``numpy.linalg.lstsq``, as
    scikit-learn's ``LinearRegression``). TCC fits unregularised least squares on 128-d
    embeddings and many frames; with draqcore's 588-d features, 1176-d once contextualized, and a
    few hundred training frames per class, that regression interpolates the training frames and
    extrapolates wildly (we measured R² of -1.6e13 on contextualized features), so the default
    is a ridge with the same ``alpha = 1`` as the phase classifier. Nothing is tuned.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not alpha >= 0:
        raise ValueError(f"alpha: expected a number >= 0, got {alpha!r}")
    tf, tl, dim = _check_split(train_features, train_phases, "train", None)
    vf, vl, _ = _check_split(val_features, val_phases, "val", dim)

    def targets(labels, what):
        out = []
        for i, lab in enumerate(labels):
            try:
                out.append(progression_targets(lab, phase_count))
            except ValueError as exc:
                raise ValueError(f"{what}_phases[{i}]: {exc}") from None
        return out

    ty, vy = targets(tl, "train"), targets(vl, "val")
    x = np.concatenate(tf)
    y = np.concatenate(ty)
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    n, d = xc.shape
    if alpha == 0:
        coef, *_ = np.linalg.lstsq(xc, yc, rcond=None)
    elif n >= d:
        coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(d), xc.T @ yc)
    else:
        coef = xc.T @ np.linalg.solve(xc @ xc.T + alpha * np.eye(n), yc)
    scores = np.array([_r2(t, (f - mean_x) @ coef + mean_y) for f, t in zip(vf, vy)], dtype=np.float64)
    return ProgressionScore(r2=float(scores.mean()), per_video=scores, train_frames=int(x.shape[0]))

"""Kendall's tau of nearest-neighbour frame correspondences (TCC/CARL protocol; paper Sec. 4, Table 3).

The proxy metric of prior alignment work, used by the paper in Table 3 and (as ``-tau``) as an
alignability indicator in Fig. 5: for every frame of one video take its nearest neighbour in the
other video's feature space, and ask how monotone the resulting correspondence is.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Iterable, Tuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["KendallSummary", "kendall_tau", "mean_kendall_tau"]

# Rows of the pairwise difference matrix handled at once in _tau_b_against_order: bounds the
# working memory to about _BLOCK * n int64 values (32 MiB for n = 16384 frames).
_BLOCK = 256


def _features(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape (T, d) or (T,), got {arr.ndim}-D shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"{name}: row {row} contains NaN or Inf")
    return arr


def _stride(stride: Any) -> int:
    if isinstance(stride, (bool, np.bool_)):
        raise ValueError("stride: expected an integer >= 1, got a bool")
    try:
        value = operator.index(stride)
    except TypeError:
        raise ValueError(f"stride: expected an integer >= 1, got {stride!r}") from None
    if value < 1:
        raise ValueError(f"stride: must be >= 1, got {value}")
    return value


def _nearest_frames(f1: np.ndarray, f2: np.ndarray) -> np.ndarray:
    """``argmin_j ||f1[i] - f2[j]||`` for every row ``i`` (float64; ties -> lowest ``j``)."""
    # ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2; ||a||^2 is constant per row and does not change the
    # argmin, so it is left out.
    d2 = (f2 * f2).sum(axis=1)[None, :] - 2.0 * (f1 @ f2.T)
    return np.argmin(d2, axis=1).astype(np.int64)


def _tau_b_against_order(y: np.ndarray) -> float:
    """Kendall's tau-b between ``0, 1, ..., n-1`` and ``y`` (nan when undefined).

    With ``x = arange(n)`` (no ties in x), tau-b is ``S / sqrt(n0 * (n0 - n_y))`` with
    ``S = sum_{i<j} sign(y_j - y_i)`` (concordant minus discordant pairs),
    ``n0 = n (n-1) / 2`` and ``n_y = sum_g t_g (t_g - 1) / 2`` over groups of tied ``y``.
    """
    n = len(y)
    if n < 2:
        return math.nan
    n0 = n * (n - 1) // 2
    _, counts = np.unique(y, return_counts=True)
    n_y = int((counts * (counts - 1) // 2).sum())
    if n0 == n_y:  # y constant: no untied pair, tau-b is 0/0
        return math.nan
    s = 0
    for a in range(0, n, _BLOCK):
        rows = y[a:a + _BLOCK]
        signs = np.sign(y[None, a:] - rows[:, None]).astype(np.int8)
        s += int(np.triu(signs, 1).sum(dtype=np.int64))  # column c is frame a + c: keep j > i
    return float(s / math.sqrt(float(n0) * float(n0 - n_y)))


def kendall_tau(f1: ArrayLike, f2: ArrayLike, stride: int = 1) -> float:
    """Kendall's tau of the nearest-neighbour correspondence from ``f1`` to ``f2`` (TCC protocol).

    As in TCC's evaluation (Dwibedi et al. 2019, ``evaluation/kendalls_tau.py``), which CARL and
    the paper's Table 3 follow:

    1. both videos are subsampled, ``a = f1[::stride]`` and ``b = f2[::stride]``;
    2. every frame ``i`` of ``a`` takes its nearest neighbour ``j(i) = argmin_j ||a_i - b_j||``
       (Euclidean distance, computed in float64; TCC's default squared Euclidean has the same
       argmin; on exactly equal distances the lowest ``j`` wins, as ``np.argmin``);
    3. ``tau`` is Kendall's **tau-b** between ``i = 0, 1, ...`` and ``j(i)``, the variant
       ``scipy.stats.kendalltau`` computes by default (TCC calls it with defaults). ``i`` has no
       ties; ties in ``j(i)`` (several frames sharing a neighbour) enter the tau-b denominator
       ``sqrt(n0 (n0 - n_j))``, with ``n0 = n(n-1)/2`` pairs and ``n_j`` the pairs tied in ``j``.

    tau is undefined, and NaN is returned, when fewer than 2 frames remain after subsampling or
    when every frame has the same neighbour (0/0). TCC drops those before averaging; we return
    them so that :func:`mean_kendall_tau` can *count* them.

    Parameters
    ----------
    f1 : array_like of shape (T1, d) or (T1,)
        Frame features of the first video (the one whose frames look for neighbours).
    f2 : array_like of shape (T2, d) or (T2,)
        Frame features of the second video.
    stride : int
        Keep every ``stride``-th frame of both videos, starting with frame 0 (``stride >= 1``).

    Returns
    -------
    float
        In [-1, 1]; 1 for a strictly increasing correspondence. NaN when undefined (see above).

    Raises
    ------
    ValueError
        Wrong rank, empty input, NaN/Inf, different feature dimensions, ``stride < 1``.
    """
    s = _stride(stride)
    a = _features(f1, "f1")
    b = _features(f2, "f2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"f2: feature dimension {b.shape[1]} differs from f1's {a.shape[1]}")
    return _tau_b_against_order(_nearest_frames(a[::s], b[::s]))


@dataclass(frozen=True)
class KendallSummary:
    """Result of :func:`mean_kendall_tau`.

    Attributes
    ----------
    mean : float
        Mean tau over the pairs where it is defined; NaN when it is defined for none.
    count : int
        Number of pairs evaluated, undefined ones included.
    undefined : int
        Number of pairs whose tau is NaN (counted, not silently dropped as in TCC).
    taus : ndarray of shape (count,), float64
        tau of every pair in input order, NaN where undefined.
    """

    mean: float
    count: int
    undefined: int
    taus: np.ndarray


def mean_kendall_tau(pairs: Iterable[Tuple[ArrayLike, ArrayLike]], stride: int = 1) -> KendallSummary:
    """Mean Kendall's tau over video pairs, counting undefined pairs.

    TCC averages :func:`kendall_tau` over every *ordered* pair ``(i, j)``, ``i != j``, of a split;
    pass ``itertools.permutations(features, 2)`` to reproduce that.

    Parameters
    ----------
    pairs : iterable of (f1, f2)
        Feature sequences as for :func:`kendall_tau`.
    stride : int
        As for :func:`kendall_tau`.

    Returns
    -------
    KendallSummary

    Raises
    ------
    ValueError
        No pairs, an item that is not a pair, or any error of :func:`kendall_tau` (the message
        names the pair).
    """
    s = _stride(stride)
    taus: list[float] = []
    for index, item in enumerate(pairs):
        try:
            f1, f2 = item
        except (TypeError, ValueError):
            raise ValueError(f"pairs[{index}]: expected a pair (f1, f2)") from None
        try:
            taus.append(kendall_tau(f1, f2, stride=s))
        except ValueError as exc:
            raise ValueError(f"pairs[{index}]: {exc}") from None
    if not taus:
        raise ValueError("pairs: is empty")
    values = np.asarray(taus, dtype=np.float64)
    defined = values[~np.isnan(values)]
    mean = float(defined.mean()) if defined.size else math.nan
    return KendallSummary(mean=mean, count=len(values), undefined=int(len(values) - defined.size), taus=values)

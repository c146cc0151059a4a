"""Alignability indicators compared by APA below each percentile (paper Sec. 5.4, Fig. 5).

For a set of video pairs with known Aligned Phase Agreement (APA), an alignability indicator
(DRAQ, the DTW cost, ``-tau``; lower = more alignable) is good when the pairs it ranks best have
high APA. Fig. 5 plots, for every percentile ``p`` of the indicator, the mean APA of the pairs
whose indicator lies at or below its ``p``-th percentile. This module computes those curves from
per-pair numbers, prints them as a table, draws them (OpenCV, no plotting library needed), and
builds the balanced pair set the paper uses.
"""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "BalancedPairs",
    "IndicatorCurves",
    "balanced_pairs",
    "indicator_curves",
    "indicator_table",
    "standard_indicators",
    "write_indicator_plot",
]

PathLike = Union[str, "os.PathLike[str]"]


# --------------------------------------------------------------------------------------------
# curves


@dataclass(frozen=True)
class IndicatorCurves:
    """Result of :func:`indicator_curves`: one curve per indicator over shared percentiles.

    Attributes
    ----------
    percentiles : ndarray of shape (P,), int64
        The percentiles ``p`` (0-100) of the x-axis, in the order given.
    apa : dict of str to ndarray of shape (P,), float64
        ``apa[name][k]``: mean APA of the pairs whose indicator ``name`` is <= its
        ``percentiles[k]``-th percentile. In insertion order of the indicators.
    thresholds : dict of str to ndarray of shape (P,), float64
        The percentile values themselves (``+inf`` where the percentile falls among pairs whose
        indicator is undefined).
    counts : dict of str to ndarray of shape (P,), int64
        Number of pairs averaged at each percentile (>= 1).
    undefined : dict of str to int
        Pairs whose indicator is NaN (e.g. ``-tau`` of a constant correspondence). They are kept
        and ranked after every defined value: they enter the curve only at the top percentiles.
    n_pairs : int
        Number of pairs.
    mean_apa : float
        Mean APA of all pairs (every curve's value at p = 100).
    """

    percentiles: np.ndarray
    apa: dict[str, np.ndarray]
    thresholds: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    undefined: dict[str, int]
    n_pairs: int
    mean_apa: float

    @property
    def names(self) -> list[str]:
        """Indicator names in order."""
        return list(self.apa)


def _percentiles(values: Iterable[Any], name: str) -> np.ndarray:
    try:
        items = list(values)
    except TypeError:
        raise ValueError(f"{name}: expected a sequence of integer percentiles in [0, 100]") from None
    if not items:
        raise ValueError(f"{name}: is empty")
    out = []
    for v in items:
        if isinstance(v, (bool, np.bool_)):
            raise ValueError(f"{name}: expected integers in [0, 100], got {v!r}")
        try:
            p = operator.index(v)
        except TypeError:
            raise ValueError(f"{name}: expected integers in [0, 100], got {v!r}") from None
        if not 0 <= p <= 100:
            raise ValueError(f"{name}: percentiles must lie in [0, 100], got {p}")
        out.append(p)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: contains repeated percentiles")
    return np.asarray(out, dtype=np.int64)


def _vector(x: Any, name: str, n: Optional[int] = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64)  # a copy
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array (one value per pair), got shape {arr.shape}")
    if n is not None and len(arr) != n:
        raise ValueError(f"{name}: has {len(arr)} values for {n} pairs")
    return arr


def indicator_curves(
    apa: ArrayLike,
    indicators: Mapping[str, ArrayLike],
    percentiles: Iterable[int] = range(1, 101),
) -> IndicatorCurves:
    """Mean APA of the pairs at or below each percentile of each indicator (paper Fig. 5).

    For indicator values ``v`` (lower = more alignable) and percentile ``p``, the threshold is
    numpy's default (``"linear"``) ``p``-th percentile of ``v`` and the curve value is the mean
    APA of the pairs with ``v <= threshold``. We compute the threshold as
    ``sorted(v)[floor((N - 1) p / 100)]`` (numpy's ``"lower"`` method, in exact integer
    arithmetic): the linear percentile lies between that value and the next one and never
    reaches the next one unless they are equal, so the selected pairs are identical, and the
    threshold is always an actual pair's value. The pair holding the minimum is always included.

    NaN indicator values are ranked after every other value (treated as ``+inf``: an undefined
    indicator never vouches for alignability) and counted in ``undefined``.

    Parameters
    ----------
    apa : array_like of shape (N,)
        APA of every pair (:func:`aligned_phase_agreement`), in [0, 1].
    indicators : mapping of str to array_like of shape (N,)
        Indicator values per pair, e.g. :func:`standard_indicators`. Lower must mean more
        alignable (use ``-tau`` for Kendall's tau).
    percentiles : iterable of int
        Integer percentiles in [0, 100]; default 1, 2, ..., 100 as in Fig. 5.

    Returns
    -------
    IndicatorCurves

    Raises
    ------
    ValueError
        No pairs, no indicators, APA outside [0, 1] or not finite, an indicator of the wrong
        length, bad percentiles.
    """
    ps = _percentiles(percentiles, "percentiles")
    a = _vector(apa, "apa")
    n = len(a)
    if n == 0:
        raise ValueError("apa: is empty (no pairs)")
    if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
        raise ValueError("apa: values must be finite and lie in [0, 1]")
    if not isinstance(indicators, Mapping) or not indicators:
        raise ValueError("indicators: expected a non-empty mapping of name to per-pair values")
    ranks = ((n - 1) * ps) // 100  # exact: floor((N-1) p / 100)
    curves: dict[str, np.ndarray] = {}
    thresholds: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    undefined: dict[str, int] = {}
    for name, values in indicators.items():
        if not isinstance(name, str):
            raise ValueError(f"indicators: names must be strings, got {name!r}")
        v = _vector(values, f"indicators[{name!r}]", n)
        nan = np.isnan(v)
        key = np.where(nan, np.inf, v)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        thr = sorted_key[ranks]
        count = np.searchsorted(sorted_key, thr, side="right").astype(np.int64)
        cum = np.cumsum(a[order])
        curves[name] = cum[count - 1] / count
        thresholds[name] = thr
        counts[name] = count
        undefined[name] = int(np.count_nonzero(nan))
    return IndicatorCurves(
        percentiles=ps,
        apa=curves,
        thresholds=thresholds,
        counts=counts,
        undefined=undefined,
        n_pairs=n,
        mean_apa=float(a.mean()),
    )


def standard_indicators(draq: ArrayLike, dtw_cost: ArrayLike, tau: ArrayLike) -> dict[str, np.ndarray]:
    """The three indicators of Fig. 5 per pair: ``{"DRAQ": draq, "DTW cost": dtw_cost, "-tau": -tau}``.

    Kendall's tau is negated so that, like DRAQ (Eq. 6) and the DTW cost ``D(n, m)`` (Eq. 5),
    lower means more alignable. NaN taus stay NaN (see :func:`indicator_curves`).

    Parameters
    ----------
    draq, dtw_cost, tau : array_like of shape (N,)
        Per-pair DRAQ (:func:`draqcore.draq`), DTW cost (:func:`draqcore.dtw` ``.cost``) and
        Kendall's tau (:func:`kendall_tau`).

    Returns
    -------
    dict of str to ndarray of shape (N,), float64

    Raises
    ------
    ValueError
        Not 1-D real arrays of one length.
    """
    d = _vector(draq, "draq")
    return {
        "DRAQ": d,
        "DTW cost": _vector(dtw_cost, "dtw_cost", len(d)),
        "-tau": -_vector(tau, "tau", len(d)),
    }


# --------------------------------------------------------------------------------------------
# table


def indicator_table(curves: IndicatorCurves, percentiles: Iterable[int] = (10, 25, 50, 75, 100)) -> str:
    """Markdown table of mean APA at a few percentiles, one column per indicator.

    Parameters
    ----------
    curves : IndicatorCurves
    percentiles : iterable of int
        Rows; each must be one of ``curves.percentiles``.

    Returns
    -------
    str
        A GitHub-flavoured markdown table, APA with 3 decimals, ending with a newline.

    Raises
    ------
    ValueError
        A requested percentile that the curves were not computed at.
    """
    if not isinstance(curves, IndicatorCurves):
        raise ValueError(f"curves: expected IndicatorCurves, got {type(curves).__name__}")
    rows = _percentiles(percentiles, "percentiles")
    where = {int(p): k for k, p in enumerate(curves.percentiles)}
    for p in rows:
        if int(p) not in where:
            raise ValueError(f"percentiles: {int(p)} is not among the computed percentiles")
    names = curves.names
    lines = [
        "| percentile | " + " | ".join(f"APA ({name})" for name in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for p in rows:
        k = where[int(p)]
        lines.append(f"| {int(p)} | " + " | ".join(f"{curves.apa[name][k]:.3f}" for name in names) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# plot

# BGR colours of the curves (as OpenCV writes them), in indicator order (a colour-blind-safe palette: Okabe-Ito).
_COLOURS = [
    (178, 114, 0),    # blue
    (0, 159, 230),    # orange
    (115, 158, 0),    # bluish green
    (0, 94, 213),     # vermillion
    (167, 121, 204),  # reddish purple
    (233, 180, 86),   # sky blue
    (66, 228, 240),   # yellow
    (0, 0, 0),        # black
]
def write_indicator_plot(
    curves: IndicatorCurves,
    png_path: PathLike,
    *,
    title: str = "Mean APA of pairs below each indicator percentile",
    size: tuple[int, int] = (960, 600),
) -> Path:
    """Draw the curves of :func:`indicator_curves` like paper Fig. 5 and write a PNG.

    x: percentile of the indicator (0-100), y: mean APA (fixed range 0-1), one coloured line per
    indicator (Okabe-Ito colours), a grid with ticks every 10 percentiles / 0.1 APA, axis labels,
    a legend on the right and the title on top. Drawn with matplotlib in the style of the
    cost-matrix plot (:mod:`draqcore.outputs.plots`).

    Parameters
    ----------
    curves : IndicatorCurves
    png_path : str or os.PathLike
        Output file, ending in ``.png``; its folder must exist. An existing file is replaced.
    title : str
    size : (int, int)
        Width and height in pixels, at least (480, 320).

    Returns
    -------
    Path
        ``png_path``.

    Raises
    ------
    ValueError
        ``png_path`` not ending in ``.png``, too small a size, ``curves`` of the wrong type.
    FileNotFoundError
        The output folder does not exist.
    OSError
        The file could not be written.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    if not isinstance(curves, IndicatorCurves):
        raise ValueError(f"curves: expected IndicatorCurves, got {type(curves).__name__}")
    path = Path(png_path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"png_path: must end in .png, got {str(path)!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"png_path: folder {str(path.parent)!r} does not exist")
    try:
        width, height = (operator.index(size[0]), operator.index(size[1]))
    except (TypeError, IndexError):
        raise ValueError(f"size: expected (width, height) in pixels, got {size!r}") from None
    if width < 480 or height < 320:
        raise ValueError(f"size: at least (480, 320) pixels, got ({width}, {height})")

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    order = np.argsort(curves.percentiles, kind="stable")
    x = np.asarray(curves.percentiles, dtype=np.float64)[order]
    for index, name in enumerate(curves.names):
        b, g, r = _COLOURS[index % len(_COLOURS)]
        ax.plot(x, np.asarray(curves.apa[name], dtype=np.float64)[order], color=(r / 255, g / 255, b / 255),
                lw=2.0, label=name, clip_on=False, zorder=3)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 1)
    ax.set_xticks(np.arange(0, 101, 10))
    ax.set_yticks(np.linspace(0, 1, 11))
    ax.grid(True, color="0.88", lw=0.8)
    ax.set_xlabel("percentile of indicator")
    ax.set_ylabel("mean APA")
    ax.set_title(title)
    fig.legend(loc="outside right upper", frameon=False)
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as exc:
        raise OSError(f"png_path: could not write {str(path)!r} ({exc})") from None
    return path


# --------------------------------------------------------------------------------------------
# balanced pair set


@dataclass(frozen=True)
class BalancedPairs:
    """Result of :func:`balanced_pairs`.

    Attributes
    ----------
    pairs : ndarray of shape (2 P, 2), int64
        Unordered video pairs as indices into ``classes``, ``pairs[:, 0] < pairs[:, 1]``, no
        pair twice, in random order.
    same_class : ndarray of shape (2 P,), bool
        Whether the pair shows the same class; exactly half are True.
    """

    pairs: np.ndarray
    same_class: np.ndarray

    def __len__(self) -> int:
        return len(self.pairs)


def _unrank_within(local: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pair (a, b), a < b < n, of 0-based lexicographic rank ``local``."""
    a_all = np.arange(n, dtype=np.int64)
    starts = a_all * (2 * n - a_all - 1) // 2  # rank of (a, a + 1)
    a = np.searchsorted(starts, local, side="right") - 1
    b = local - starts[a] + a + 1
    return a, b


def balanced_pairs(
    classes: Sequence[Hashable],
    rng: Union[np.random.Generator, int],
    max_pairs: int,
) -> BalancedPairs:
    """A random pair set with as many same-class as different-class pairs (paper Sec. 5.4).

    The paper's Fig. 5 pairs "are taken from PennAction and [are] balanced, i.e., we use the same
    number of pairs with matching and non-matching action classes". We draw
    ``P = min(max_pairs // 2, S, D)`` pairs uniformly without replacement from the ``S``
    unordered same-class pairs, and ``P`` from the ``D`` unordered different-class pairs (so
    larger classes contribute more same-class pairs, in proportion to their pair counts). Pairs
    are ranked arithmetically and never enumerated: cost O(P + number of classes).

    Parameters
    ----------
    classes : sequence of hashable, length N
        Class of every video (str or int; ``None`` is refused).
    rng : numpy.random.Generator or int
        Source of randomness, or a seed for :func:`numpy.random.default_rng`.
    max_pairs : int
        Upper bound on the total number of pairs (>= 2); the result has ``2 P <= max_pairs``.

    Returns
    -------
    BalancedPairs

    Raises
    ------
    ValueError
        ``max_pairs < 2``, a class of ``None``, or no same-class or no different-class pair
        exists (a balanced set is then impossible).
    """
    if isinstance(max_pairs, (bool, np.bool_)):
        raise ValueError("max_pairs: expected an integer >= 2, got a bool")
    try:
        limit = operator.index(max_pairs)
    except TypeError:
        raise ValueError(f"max_pairs: expected an integer >= 2, got {max_pairs!r}") from None
    if limit < 2:
        raise ValueError(f"max_pairs: must be >= 2 (one pair of each kind), got {limit}")
    if isinstance(rng, (bool, np.bool_)):
        raise ValueError("rng: expected a numpy.random.Generator or an integer seed, got a bool")
    if not isinstance(rng, np.random.Generator):
        try:
            rng = np.random.default_rng(operator.index(rng))
        except TypeError:
            raise ValueError(f"rng: expected a numpy.random.Generator or an integer seed, got {rng!r}") from None

    items = list(classes)
    ids: dict[Hashable, int] = {}
    labels = np.empty(len(items), dtype=np.int64)
    for i, cls in enumerate(items):
        if cls is None:
            raise ValueError(f"classes[{i}]: is None (every video needs a class)")
        labels[i] = ids.setdefault(cls, len(ids))
    n = len(labels)
    # Videos grouped by class (classes in order of first appearance, videos in index order):
    # class c holds order[start[c]:start[c + 1]].
    order = np.argsort(labels, kind="stable").astype(np.int64)
    sizes = np.bincount(labels, minlength=len(ids)).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(sizes)])
    same_per_class = sizes * (sizes - 1) // 2
    # A different-class pair is counted once, from its lower class id c: a video of c with any
    # video of a later class (order[start[c + 1]:]).
    diff_per_class = sizes * (n - start[1:])
    s_total, d_total = int(same_per_class.sum()), int(diff_per_class.sum())
    if s_total == 0:
        raise ValueError("classes: no two videos share a class, so no same-class pair exists")
    if d_total == 0:
        raise ValueError("classes: all videos share one class, so no different-class pair exists")
    per_kind = min(limit // 2, s_total, d_total)

    same_rank = np.sort(rng.choice(s_total, size=per_kind, replace=False).astype(np.int64))
    cum_same = np.cumsum(same_per_class)
    same_cls = np.searchsorted(cum_same, same_rank, side="right")
    same = np.empty((per_kind, 2), dtype=np.int64)
    for c in np.unique(same_cls):
        sel = same_cls == c
        local = same_rank[sel] - (cum_same[c] - same_per_class[c])
        a, b = _unrank_within(local, int(sizes[c]))
        same[sel, 0] = order[start[c] + a]
        same[sel, 1] = order[start[c] + b]

    diff_rank = rng.choice(d_total, size=per_kind, replace=False).astype(np.int64)
    cum_diff = np.cumsum(diff_per_class)
    diff_cls = np.searchsorted(cum_diff, diff_rank, side="right")
    local = diff_rank - (cum_diff[diff_cls] - diff_per_class[diff_cls])
    later = n - start[diff_cls + 1]
    diff = np.stack(
        [order[start[diff_cls] + local // later], order[start[diff_cls + 1] + local % later]], axis=1
    )

    pairs = np.sort(np.concatenate([same, diff]), axis=1)
    flags = np.concatenate([np.ones(per_kind, dtype=bool), np.zeros(per_kind, dtype=bool)])
    shuffle = rng.permutation(len(pairs))
    return BalancedPairs(pairs=pairs[shuffle], same_class=flags[shuffle])

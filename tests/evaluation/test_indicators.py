"""Alignability indicators compared by APA (draqcore.evaluation.indicators), paper Fig. 5."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest

from draqcore.evaluation import (
    BalancedPairs,
    IndicatorCurves,
    balanced_pairs,
    indicator_curves,
    indicator_table,
    standard_indicators,
    write_indicator_plot,
)

APA = np.array([1.0, 0.8, 0.6, 0.0, 0.2])
V = np.array([0.1, 0.3, 0.2, 0.9, 0.5])
# sorted by V: pair 0 (0.1, APA 1.0), 2 (0.2, 0.6), 1 (0.3, 0.8), 4 (0.5, 0.2), 3 (0.9, 0.0)
# threshold index k = floor((N-1) p / 100) = floor(4 p / 100):
#   p=10 -> k=0: thr 0.1, pairs {0}          -> 1.0
#   p=25 -> k=1: thr 0.2, {0, 2}             -> (1.0 + 0.6) / 2 = 0.8
#   p=50 -> k=2: thr 0.3, {0, 2, 1}          -> 2.4 / 3 = 0.8
#   p=75 -> k=3: thr 0.5, {0, 2, 1, 4}       -> 2.6 / 4 = 0.65
#   p=100 -> k=4: all                        -> 2.6 / 5 = 0.52
HAND = {10: 1.0, 25: 0.8, 50: 0.8, 75: 0.65, 100: 0.52}


def test_hand_computed_curve():
    res = indicator_curves(APA, {"DRAQ": V}, percentiles=list(HAND))
    assert isinstance(res, IndicatorCurves)
    np.testing.assert_allclose(res.apa["DRAQ"], list(HAND.values()), atol=1e-15)
    np.testing.assert_allclose(res.thresholds["DRAQ"], [0.1, 0.2, 0.3, 0.5, 0.9])
    np.testing.assert_array_equal(res.counts["DRAQ"], [1, 2, 3, 4, 5])
    assert res.n_pairs == 5 and res.mean_apa == pytest.approx(0.52) and res.undefined == {"DRAQ": 0}


def test_default_percentiles_are_1_to_100_and_end_at_the_mean():
    res = indicator_curves(APA, {"DRAQ": V})
    np.testing.assert_array_equal(res.percentiles, np.arange(1, 101))
    assert res.apa["DRAQ"][-1] == pytest.approx(APA.mean())
    # p = 1..24 -> k = 0 (4p/100 < 1): only the best pair
    assert (res.apa["DRAQ"][:24] == 1.0).all() and res.apa["DRAQ"][24] == pytest.approx(0.8)


def test_selection_equals_numpy_linear_percentile(rng):
    # The documented equivalence: v <= sorted(v)[floor((N-1)p/100)] selects the same pairs as
    # v <= np.percentile(v, p) (numpy's default linear interpolation), ties included.
    for n in (1, 2, 7, 50):
        v = rng.integers(0, 6, size=n).astype(float)  # many ties
        a = rng.random(n)
        res = indicator_curves(a, {"x": v}, percentiles=range(0, 101))
        for k, p in enumerate(range(0, 101)):
            sel = v <= np.percentile(v, p)
            assert res.counts["x"][k] == sel.sum()
            assert res.apa["x"][k] == pytest.approx(a[sel].mean())


def test_ties_at_the_threshold_are_all_included():
    # v = 0.5, 0.5, 0.1: sorted 0.1, 0.5, 0.5; p=0 -> k=0 -> thr 0.1 -> {2} -> APA 1
    # p=50 -> k=1 -> thr 0.5 -> both 0.5 pairs too -> (1 + 0 + 1) / 3
    res = indicator_curves([1.0, 0.0, 1.0], {"x": [0.5, 0.5, 0.1]}, percentiles=[0, 50])
    np.testing.assert_allclose(res.apa["x"], [1.0, 2 / 3])
    np.testing.assert_array_equal(res.counts["x"], [1, 3])


def test_undefined_values_rank_last_and_are_counted():
    # v = nan, 0.2, 0.1 -> key inf, 0.2, 0.1; sorted 0.1, 0.2, inf
    # p=50 -> k=1 -> thr 0.2 -> pairs {2, 1} -> (0.5 + 1) / 2 = 0.75; p=100 -> all -> 0.5
    res = indicator_curves([0.0, 1.0, 0.5], {"-tau": [np.nan, 0.2, 0.1]}, percentiles=[50, 100])
    np.testing.assert_allclose(res.apa["-tau"], [0.75, 0.5])
    assert res.undefined == {"-tau": 1}
    assert res.thresholds["-tau"][1] == np.inf


def test_several_indicators_keep_their_order():
    # A perfect indicator (ranks by APA) against the reversed one.
    res = indicator_curves(APA, {"good": -APA, "bad": APA}, percentiles=[0, 100])
    assert res.names == ["good", "bad"]
    # p=0: the single best pair of each: good -> APA 1.0, bad -> APA 0.0; p=100: the mean
    np.testing.assert_allclose(res.apa["good"], [1.0, 0.52])
    np.testing.assert_allclose(res.apa["bad"], [0.0, 0.52])


def test_standard_indicators_negate_tau():
    ind = standard_indicators([0.5, 0.7], [10.0, 3.0], [0.9, np.nan])
    assert list(ind) == ["DRAQ", "DTW cost", "-tau"]
    np.testing.assert_array_equal(ind["-tau"], [-0.9, np.nan])
    with pytest.raises(ValueError, match="dtw_cost: has 1 values for 2 pairs"):
        standard_indicators([0.5, 0.7], [10.0], [0.9, 0.1])


def test_table_is_exact_markdown():
    res = indicator_curves(APA, {"DRAQ": V, "DTW cost": -V})
    # "DTW cost" = -V ranks in reverse: best pair is 3 (APA 0.0); p=10, 25 -> k=0, 1
    #   p=10: {3} -> 0.0; p=25: {3, 4} -> 0.1; p=50: {3, 4, 1} -> 1.0 / 3 = 0.333
    #   p=75: {3, 4, 1, 2} -> 1.6 / 4 = 0.4; p=100 -> 0.52
    want = (
        "| percentile | APA (DRAQ) | APA (DTW cost) |\n"
        "|---:|---:|---:|\n"
        "| 10 | 1.000 | 0.000 |\n"
        "| 25 | 0.800 | 0.100 |\n"
        "| 50 | 0.800 | 0.333 |\n"
        "| 75 | 0.650 | 0.400 |\n"
        "| 100 | 0.520 | 0.520 |\n"
    )
    assert indicator_table(res) == want
    with pytest.raises(ValueError, match="percentiles: 30 is not among"):
        indicator_table(indicator_curves(APA, {"x": V}, percentiles=[10, 20]), percentiles=[30])


def _pixels_near(img: np.ndarray, bgr: tuple[int, int, int], tol: int = 40) -> np.ndarray:
    dist = np.abs(img.astype(int) - np.array(bgr)).sum(axis=2)
    return np.argwhere(dist <= tol)


def test_plot_is_written_with_curves_at_the_right_heights(tmp_path):
    # Two flat curves: "top" at APA 1 and "bottom" at APA 0.
    apa = np.array([1.0, 1.0, 0.0, 0.0])
    res = indicator_curves(apa, {"top": [0.0, 0.0, 1.0, 1.0], "bottom": [1.0, 1.0, 0.0, 0.0]},
                           percentiles=range(1, 51))
    np.testing.assert_array_equal(res.apa["top"], 1.0)
    np.testing.assert_array_equal(res.apa["bottom"], 0.0)
    out = write_indicator_plot(res, tmp_path / "fig5.png", size=(800, 500))
    img = cv2.imread(str(out))
    assert img is not None and img.shape == (500, 800, 3)
    blue = _pixels_near(img, (178, 114, 0))     # first curve's colour
    orange = _pixels_near(img, (0, 159, 230))   # second curve's colour
    assert len(blue) > 100 and len(orange) > 100
    # Most pixels of each colour lie on the curve (the legend swatch is short): the APA-1
    # curve is drawn above (smaller row index than) the APA-0 curve.
    assert np.median(blue[:, 0]) < 100 < 400 < np.median(orange[:, 0])
    # Curves span half of the x-range (percentiles 1..50): their x extent is about equal.
    assert abs(np.ptp(blue[:, 1]) - np.ptp(orange[:, 1])) < 40
    # Something was drawn besides the curves (axes, ticks, text) in black.
    assert len(_pixels_near(img, (0, 0, 0), tol=60)) > 500


def test_plot_errors(tmp_path):
    res = indicator_curves(APA, {"DRAQ": V})
    with pytest.raises(ValueError, match="png_path: must end in .png"):
        write_indicator_plot(res, tmp_path / "fig.jpg")
    with pytest.raises(FileNotFoundError, match="png_path"):
        write_indicator_plot(res, tmp_path / "no" / "fig.png")
    with pytest.raises(ValueError, match="size"):
        write_indicator_plot(res, tmp_path / "fig.png", size=(100, 100))
    with pytest.raises(ValueError, match="curves"):
        write_indicator_plot({"DRAQ": V}, tmp_path / "fig.png")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "apa, indicators, percentiles, message",
    [
        ([], {"x": []}, [1], "apa: is empty"),
        ([0.5, 1.5], {"x": [1, 2]}, [1], r"apa: values must be finite and lie in \[0, 1\]"),
        ([0.5, np.nan], {"x": [1, 2]}, [1], "apa: values must be finite"),
        ([0.5, 0.5], {}, [1], "indicators: expected a non-empty mapping"),
        ([0.5, 0.5], {"x": [1, 2, 3]}, [1], r"indicators\['x'\]: has 3 values for 2 pairs"),
        ([0.5, 0.5], {"x": [1, 2]}, [101], r"percentiles: percentiles must lie in \[0, 100\]"),
        ([0.5, 0.5], {"x": [1, 2]}, [5, 5], "percentiles: contains repeated"),
        ([0.5, 0.5], {"x": [1, 2]}, [2.5], "percentiles: expected integers"),
    ],
)
def test_curve_errors_name_the_argument(apa, indicators, percentiles, message):
    with pytest.raises(ValueError, match=message):
        indicator_curves(apa, indicators, percentiles=percentiles)


# --- balanced pairs ------------------------------------------------------------------------

CLASSES = ["a", "a", "b", "b", "b", "c"]
# same-class pairs: a {(0,1)}, b {(2,3), (2,4), (3,4)}, c none -> S = 4
# all pairs C(6, 2) = 15 -> different-class D = 11


def test_balanced_pairs_takes_all_of_the_scarcer_kind(rng):
    res = balanced_pairs(CLASSES, rng, max_pairs=100)
    assert isinstance(res, BalancedPairs)
    # P = min(100 // 2, S = 4, D = 11) = 4 of each kind
    assert len(res) == 8 and res.same_class.sum() == 4
    same = {tuple(p) for p in res.pairs[res.same_class].tolist()}
    assert same == {(0, 1), (2, 3), (2, 4), (3, 4)}
    diff = res.pairs[~res.same_class]
    labels = np.array(CLASSES)
    assert (labels[diff[:, 0]] != labels[diff[:, 1]]).all()
    assert (res.pairs[:, 0] < res.pairs[:, 1]).all()
    assert len({tuple(p) for p in res.pairs.tolist()}) == 8  # no pair twice


def test_balanced_pairs_respects_max_pairs_and_is_reproducible():
    a = balanced_pairs(CLASSES, 7, max_pairs=5)
    b = balanced_pairs(CLASSES, np.random.default_rng(7), max_pairs=5)
    # 5 // 2 = 2 of each kind
    assert len(a) == 4 and a.same_class.sum() == 2
    np.testing.assert_array_equal(a.pairs, b.pairs)
    np.testing.assert_array_equal(a.same_class, b.same_class)


def test_balanced_pairs_are_uniform_over_each_kind(rng):
    # classes a, a, b, c: same pairs {(0,1)}; different pairs (0,2), (0,3), (1,2), (1,3), (2,3)
    counts: Counter[tuple[int, int]] = Counter()
    for _ in range(2500):
        res = balanced_pairs(["a", "a", "b", "c"], rng, max_pairs=2)
        counts[tuple(res.pairs[~res.same_class][0].tolist())] += 1
    assert set(counts) == {(0, 2), (0, 3), (1, 2), (1, 3), (2, 3)}
    # expected 500 each; binomial sd = 20: allow 5 sd
    assert all(400 < c < 600 for c in counts.values()), counts


def test_balanced_pairs_large_collection_is_fast_and_valid(rng):
    classes = rng.integers(0, 700, size=200_000)
    res = balanced_pairs(classes, rng, max_pairs=10_000)
    assert len(res) == 10_000 and res.same_class.sum() == 5_000
    same = classes[res.pairs[:, 0]] == classes[res.pairs[:, 1]]
    np.testing.assert_array_equal(same, res.same_class)
    assert len(np.unique(res.pairs, axis=0)) == 10_000


@pytest.mark.parametrize(
    "classes, max_pairs, message",
    [
        (["a", "a", "a"], 10, "no different-class pair"),
        (["a", "b", "c"], 10, "no same-class pair"),
        (["a", "a", "b"], 1, "max_pairs: must be >= 2"),
        (["a", None, "b"], 10, r"classes\[1\]: is None"),
        (["a", "a", "b"], 2.0, "max_pairs: expected an integer"),
    ],
)
def test_balanced_pairs_errors(classes, max_pairs, message, rng):
    with pytest.raises(ValueError, match=message):
        balanced_pairs(classes, rng, max_pairs)

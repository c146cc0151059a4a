from __future__ import annotations

import numpy as np
import pytest

import draqcore
import reference

SMALL_SHAPES = [(1, 1), (1, 5), (5, 1), (2, 2), (3, 4), (4, 3), (5, 5), (2, 6), (6, 3)]


def assert_valid_path(path: np.ndarray, n: int, m: int) -> None:
    assert path.dtype == np.int64 and path.ndim == 2 and path.shape[1] == 2
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
    steps = np.diff(path, axis=0)
    assert {tuple(s) for s in steps} <= {(1, 0), (0, 1), (1, 1)}


@pytest.mark.parametrize("shape", SMALL_SHAPES)
def test_cost_equals_brute_force_minimum(rng, shape):
    cost = rng.random(shape).astype(np.float32)
    res = draqcore.dtw(cost)
    assert res.cost == pytest.approx(reference.brute_force_dtw(cost), rel=1e-6)
    assert_valid_path(res.path, *shape)
    # D(n, m) is the sum of the cost along the returned path, both ends included.
    assert res.cost == pytest.approx(float(cost[res.path[:, 0], res.path[:, 1]].astype(np.float64).sum()), rel=1e-12)


@pytest.mark.parametrize("shape", SMALL_SHAPES + [(3, 7), (7, 2)])
@pytest.mark.parametrize("band", [0, 1, 2])
def test_banded_cost_equals_brute_force_inside_band(rng, shape, band):
    cost = rng.random(shape).astype(np.float32)
    res = draqcore.dtw(cost, band=band)
    assert res.cost == pytest.approx(reference.brute_force_dtw(cost, band), rel=1e-6)
    mask = reference.band_mask(*shape, band)
    assert mask[res.path[:, 0], res.path[:, 1]].all()
    assert_valid_path(res.path, *shape)


@pytest.mark.parametrize("shape", [(6, 6), (7, 11), (12, 5), (30, 30)])
@pytest.mark.parametrize("band", [None, 0, 1, 3])
def test_ties_follow_documented_preference(rng, shape, band):
    # Integer costs in {0, 1, 2} are exact in float32 and float64 and make many exact ties.
    cost = rng.integers(0, 3, size=shape).astype(np.float32)
    res = draqcore.dtw(cost, band=band)
    want_cost, want_path = reference.dtw_with_ties(cost, band)
    assert res.cost == want_cost
    np.testing.assert_array_equal(res.path, want_path)


def test_all_equal_costs_trace_back_diagonally_first():
    # D(i, j) = max(i, j) + 1; from (2, 4) the diagonal ties with the left move and wins, twice.
    res = draqcore.dtw(np.ones((3, 5)))
    np.testing.assert_array_equal(res.path, [[0, 0], [0, 1], [0, 2], [1, 3], [2, 4]])
    assert res.cost == 5.0


def test_band_zero_on_square_is_the_diagonal(rng):
    cost = rng.random((9, 9))
    res = draqcore.dtw(cost, band=0)
    np.testing.assert_array_equal(res.path, np.stack([np.arange(9)] * 2, axis=1))


def test_wide_band_equals_unconstrained(rng):
    cost = rng.random((20, 35))
    assert draqcore.dtw(cost, band=35).cost == draqcore.dtw(cost).cost


@pytest.mark.parametrize("shape", [(40, 40), (25, 60), (70, 9)])
def test_matches_dtw_python(rng, shape):
    dtw_python = pytest.importorskip("dtw")
    a = rng.standard_normal((shape[0], 8))
    b = rng.standard_normal((shape[1], 8))
    cost = draqcore.cost_matrix(a, b)
    ours = draqcore.dtw(cost)
    theirs = dtw_python.dtw(cost.astype(np.float64), step_pattern=dtw_python.symmetric1)
    assert ours.cost == pytest.approx(theirs.distance, rel=1e-9)
    their_path = np.stack([theirs.index1, theirs.index2], axis=1)
    path_cost = cost[their_path[:, 0], their_path[:, 1]].astype(np.float64).sum()
    assert ours.cost == pytest.approx(path_cost, rel=1e-9)


def test_cost_matrix_is_never_modified(rng):
    cost = np.asfortranarray(rng.random((10, 12)))
    before = cost.copy()
    draqcore.dtw(cost)
    draqcore.dtw(cost[::2, ::3], band=1)
    np.testing.assert_array_equal(cost, before)


def test_accepts_integers_and_float16():
    cost = np.array([[0, 3, 3], [3, 0, 3], [3, 3, 0]], dtype=np.int16)
    assert draqcore.dtw(cost).cost == 0.0
    assert draqcore.dtw(cost.astype(np.float16)).cost == 0.0


@pytest.mark.parametrize(
    ("cost", "kwargs", "error", "match"),
    [
        (np.ones(3), {}, ValueError, "cost: expected a 2-D"),
        (np.ones((0, 3)), {}, ValueError, "cost: is empty"),
        (np.array([[0.0, np.nan]]), {}, ValueError, r"cost: entry \(0, 1\) is NaN or Inf"),
        (np.array([[0.0], [np.inf]]), {}, ValueError, r"cost: entry \(1, 0\)"),
        (np.ones((3, 3)), {"band": -1}, ValueError, "band: must be at least 0"),
        (np.ones((3, 3)), {"band": 1.5}, TypeError, "band: expected an integer"),
        (np.array([[None]]), {}, TypeError, "cost"),
    ],
)
def test_bad_input(cost, kwargs, error, match):
    with pytest.raises(error, match=match):
        draqcore.dtw(cost, **kwargs)


def test_traceback_above_memory_limit_fails_cleanly():
    draqcore.set_memory_limit(100_000)
    try:
        with pytest.raises(MemoryError, match="dtw would need"):
            draqcore.dtw(np.zeros((400, 400), dtype=np.float32))
    finally:
        draqcore.set_memory_limit(None)


# --- warp -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 9), (9, 5), (7, 7), (1, 4), (4, 1)])
@pytest.mark.parametrize("keep", [0, 1])
def test_warp_matches_reference(rng, shape, keep):
    path = draqcore.dtw(rng.random(shape)).path
    got = draqcore.warp(path, keep=keep)
    np.testing.assert_array_equal(got, reference.warp(path, keep))
    assert len(got) == shape[keep] and got.dtype == np.int64
    assert (np.diff(got) >= 0).all()


def test_warp_hand_example():
    path = np.array([[0, 0], [0, 1], [1, 2], [2, 2], [3, 3], [3, 4]])
    np.testing.assert_array_equal(draqcore.warp(path, keep=0), [0, 2, 2, 3])
    np.testing.assert_array_equal(draqcore.warp(path, keep=1), [0, 0, 1, 3, 3])


@pytest.mark.parametrize(
    ("path", "keep", "match"),
    [
        (np.array([[0, 0], [1, 1]]), 2, "keep"),
        (np.array([[1, 0], [1, 1]]), 0, "must start at"),
        (np.array([[0, 0], [2, 1]]), 0, "step 0"),
        (np.array([[0, 0], [0, 0]]), 0, "step 0"),
        (np.array([[0, 0], [1, -1]]), 0, "step 0"),
        (np.array([0, 0]), 0, "shape"),
        (np.array([[0.0, 0.0]]), 0, "integer"),
    ],
)
def test_warp_bad_input(path, keep, match):
    with pytest.raises(ValueError, match=match):
        draqcore.warp(path, keep=keep)

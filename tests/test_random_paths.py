from __future__ import annotations

import numpy as np
import pytest

import draqcore
import reference


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (4, 1), (2, 2), (2, 3), (3, 3), (4, 3), (3, 5), (5, 5)])
def test_exact_expectation_equals_enumeration_of_every_path(rng, shape):
    cost = rng.random(shape).astype(np.float32)
    want, total_probability = reference.expected_random_cost_by_enumeration(cost)
    assert total_probability == pytest.approx(1.0, abs=1e-12)
    assert draqcore.expected_random_cost(cost) == pytest.approx(want, rel=1e-12)


def test_exact_expectation_hand_computed_2x2():
    # From (2, 2): up, diagonal and left each have probability 4/12, 4/12, 4/12 = 1/3; up and
    # left then reach (1, 1) in one forced step.
    cost = np.array([[1.0, 10.0], [100.0, 1000.0]])
    want = 1000 + 1 + (100 + 10) / 3
    assert draqcore.expected_random_cost(cost) == pytest.approx(want, rel=1e-12)


def test_single_row_is_deterministic():
    cost = np.arange(6, dtype=np.float32).reshape(1, 6)
    assert draqcore.expected_random_cost(cost) == 15.0
    np.testing.assert_array_equal(draqcore.random_path_costs(cost, 5), np.full(5, 15.0))


@pytest.mark.parametrize("shape", [(6, 6), (20, 35), (50, 12)])
def test_sampled_mean_converges_to_exact(rng, shape):
    cost = rng.random(shape).astype(np.float32)
    k = 20000
    samples = draqcore.random_path_costs(cost, k, seed=7)
    exact = draqcore.expected_random_cost(cost)
    standard_error = samples.std(ddof=1) / np.sqrt(k)
    assert abs(samples.mean() - exact) < 5 * standard_error


def test_sampled_step_frequencies_match_the_process():
    # Cost 1 on a single cell (2, 2) (1-based) of a 3x3 matrix: E[cost] = P(visit (2, 2)).
    cost = np.zeros((3, 3))
    cost[1, 1] = 1.0
    k = 40000
    freq = draqcore.random_path_costs(cost, k, seed=3).mean()
    exact = draqcore.expected_random_cost(cost)
    want, _ = reference.expected_random_cost_by_enumeration(cost)
    assert exact == pytest.approx(want, rel=1e-12)
    assert abs(freq - exact) < 5 * np.sqrt(exact * (1 - exact) / k)


def test_every_sampled_cost_is_a_real_path_cost(rng):
    cost = rng.integers(0, 1000, size=(4, 4)).astype(np.float32)
    possible = {round(sum(float(cost[i - 1, j - 1]) for i, j in cells), 6)
                for cells, _ in reference.random_paths_with_probability(4, 4)}
    samples = draqcore.random_path_costs(cost, 500, seed=1)
    assert {round(float(s), 6) for s in samples} <= possible


def test_deterministic_across_threads_and_seeds(rng):
    cost = rng.random((40, 60)).astype(np.float32)
    one = draqcore.random_path_costs(cost, 300, seed=11, threads=1)
    two = draqcore.random_path_costs(cost, 300, seed=11, threads=2)
    np.testing.assert_array_equal(one, two)
    # A prefix of k paths is the same whatever k is (path p only depends on (seed, stream, p)).
    np.testing.assert_array_equal(draqcore.random_path_costs(cost, 50, seed=11), one[:50])
    assert not np.array_equal(draqcore.random_path_costs(cost, 300, seed=12), one)
    assert not np.array_equal(draqcore.random_path_costs(cost, 300, seed=11, stream=1), one)


def test_cost_is_not_modified(rng):
    cost = np.asfortranarray(rng.random((7, 9)))
    before = cost.copy()
    draqcore.random_path_costs(cost, 10)
    draqcore.expected_random_cost(cost)
    np.testing.assert_array_equal(cost, before)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: draqcore.random_path_costs(np.ones((2, 2)), 0), ValueError, "k: must be at least 1"),
        (lambda: draqcore.random_path_costs(np.ones((2, 2)), 2.0), TypeError, "k: expected an integer"),
        (lambda: draqcore.random_path_costs(np.ones((2, 2)), 2, seed=-1), ValueError, "seed"),
        (lambda: draqcore.random_path_costs(np.ones((2, 2)), 2, seed=2**64), ValueError, "seed"),
        (lambda: draqcore.random_path_costs(np.ones((2, 0)), 2), ValueError, "cost: is empty"),
        (lambda: draqcore.random_path_costs(np.array([[np.nan]]), 2), ValueError, "NaN or Inf"),
        (lambda: draqcore.expected_random_cost(np.ones(3)), ValueError, "cost: expected a 2-D"),
        (lambda: draqcore.expected_random_cost(np.array([[1.0, np.inf]])), ValueError, "NaN or Inf"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (6, 1), (9, 14)])
def test_random_path_cells_are_the_sampled_paths(rng, shape):
    cost = rng.random(shape)
    costs = draqcore.random_path_costs(cost, 6, seed=9, stream=2)
    for index in range(6):
        cells = draqcore.random_path((shape[0], shape[1]), seed=9, stream=2, index=index)
        assert tuple(cells[0]) == (0, 0) and tuple(cells[-1]) == (shape[0] - 1, shape[1] - 1)
        assert {tuple(s) for s in np.diff(cells, axis=0)} <= {(1, 0), (0, 1), (1, 1)}
        assert costs[index] == pytest.approx(cost[cells[:, 0], cells[:, 1]].astype(np.float32).astype(np.float64).sum(), rel=1e-12)


def test_random_path_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        draqcore.random_path((0, 3))

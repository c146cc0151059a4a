"""recall@k of same-class retrieval (draqcore.evaluation.retrieval_recall), paper Table 4."""

from __future__ import annotations

import numpy as np
import pytest

from draqcore.evaluation import recall_at_k


def test_hand_computed():
    queries = ["a", "b", "c", "a"]
    ranked = [
        ["a", "b"],        # first same-class item at rank 1
        ["c", "c", "b"],   # at rank 3
        ["a"],             # none (and shorter than k: counts with what it has)
        [],                # empty ranking: a miss
    ]
    # hits by k: k=1 {q0} -> 1/4; k=2 {q0} -> 1/4; k=3 {q0, q1} -> 2/4; k=10 same -> 2/4
    got = recall_at_k(queries, ranked, ks=(1, 2, 3, 10))
    assert got == {1: 0.25, 2: 0.25, 3: 0.5, 10: 0.5}
    assert list(got) == [1, 2, 3, 10]


def test_default_ks_and_integer_classes_in_an_array():
    queries = np.array([3, 7])
    ranked = np.array([[1, 2, 3, 4, 5, 6], [7, 7, 7, 7, 7, 7]])
    # q0 first hit at rank 3 -> in @5, @10; q1 at rank 1
    assert recall_at_k(queries, ranked) == {1: 0.5, 5: 1.0, 10: 1.0}


def test_only_the_first_k_count():
    # Correct item just past k must not count.
    assert recall_at_k(["x"], [["y"] * 5 + ["x"]], ks=(5, 6)) == {5: 0.0, 6: 1.0}


def test_monotone_in_k(rng):
    queries = rng.integers(0, 5, size=40).tolist()
    ranked = [rng.integers(0, 5, size=rng.integers(0, 12)).tolist() for _ in queries]
    got = recall_at_k(queries, ranked, ks=range(1, 15))
    values = list(got.values())
    assert all(a <= b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize(
    "queries, ranked, ks, message",
    [
        ([], [], (1,), "query_classes: is empty"),
        (["a", "b"], [["a"]], (1,), "ranked_classes: has 1 rankings for 2 queries"),
        (["a"], [["a"]], (0,), "ks: every k must be >= 1"),
        (["a"], [["a"]], (1, 1), "ks: 1 is listed twice"),
        (["a"], [["a"]], (1.5,), "ks: expected integers"),
        (["a"], [["a"]], (True,), "ks: expected integers"),
        (["a"], [["a"]], (), "ks: is empty"),
        ([None], [["a"]], (1,), r"query_classes\[0\]: is None"),
        (["a"], ["abc"], (1,), r"ranked_classes\[0\]: expected a sequence"),
    ],
)
def test_errors_name_the_argument(queries, ranked, ks, message):
    with pytest.raises(ValueError, match=message):
        recall_at_k(queries, ranked, ks=ks)

"""Kendall's tau of nearest-neighbour correspondences (draqcore.evaluation.kendall_tau)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from draqcore.evaluation import KendallSummary, kendall_tau, mean_kendall_tau
from draqcore.evaluation.kendall_tau import _tau_b_against_order

RAMP = np.arange(4.0)


def test_identity_and_reversal():
    # NN of frame i is frame i -> j(i) = 0, 1, 2, 3: every pair concordant, tau = 1
    assert kendall_tau(RAMP, RAMP) == 1.0
    # reversed: j(i) = 3, 2, 1, 0: every pair discordant, tau = -1
    assert kendall_tau(RAMP, RAMP[::-1]) == -1.0


def test_hand_computed_with_ties():
    # f1 = 0, 1, 2, 3 and f2 = 0, 3: NN of 0 -> 0 (dist 0), 1 -> 0 (1 < 2), 2 -> 1 (1 < 2),
    # 3 -> 1 (0)                                    => j = [0, 0, 1, 1]
    # pairs n0 = 4*3/2 = 6; tied in j: {0,1} and {2,3} -> n_j = 2
    # S = sum_{i<k} sign(j_k - j_i): (0,1) 0, (0,2) +, (0,3) +, (1,2) +, (1,3) +, (2,3) 0 = 4
    # tau-b = S / sqrt(n0 (n0 - n_j)) = 4 / sqrt(6 * 4) = 0.81649658...
    assert kendall_tau(RAMP, [0.0, 3.0]) == pytest.approx(4 / math.sqrt(24), abs=1e-15)


def test_hand_computed_one_discordant_pair():
    # f2 = 1, 0, 2: NN of 0 -> 1, 1 -> 0, 2 -> 2 => j = [1, 0, 2]
    # S: (0,1) -1, (0,2) +1, (1,2) +1 = 1; n0 = 3, no ties -> tau = 1/3
    assert kendall_tau([0.0, 1.0, 2.0], [1.0, 0.0, 2.0]) == pytest.approx(1 / 3, abs=1e-15)


def test_stride_subsamples_both_videos_as_tcc():
    f1 = np.array([0.0, 10.0, 20.0])
    f2 = np.array([5.0, 0.0, 1.0, 20.0])
    # stride 2: a = [0, 20], b = f2[::2] = [5, 1]; NN 0 -> 1 (1 < 5), 20 -> 0 (15 < 19)
    #   j = [1, 0] -> tau = -1. (Searching all of f2 would give j = [1, 3] and tau = +1.)
    assert kendall_tau(f1, f2, stride=2) == -1.0
    # stride 1: NN 0 -> 1, 10 -> 0 (5 < 9 < 10), 20 -> 3 => j = [1, 0, 3]; S = -1 + 1 + 1 = 1
    #   tau = 1/3
    assert kendall_tau(f1, f2, stride=1) == pytest.approx(1 / 3, abs=1e-15)


def test_euclidean_nearest_neighbour_in_several_dimensions():
    f1 = np.array([[0.0, 0.0], [3.0, 4.0]])
    # distances from (0,0): to (1,1) sqrt2, to (3,3) sqrt18 -> 0; from (3,4): sqrt13 vs 1 -> 1
    f2 = np.array([[1.0, 1.0], [3.0, 3.0]])
    assert kendall_tau(f1, f2) == 1.0
    # (1, 1) and (3, 3) point the same way: a cosine distance could not tell them apart, the
    # Euclidean distance does.
    # reversed order of f2 -> j = [1, 0] -> -1
    assert kendall_tau(f1, f2[::-1]) == -1.0


def test_undefined_cases_are_nan():
    # every frame has the same neighbour: tau-b is 0/0
    assert math.isnan(kendall_tau(RAMP, [1.5]))
    # one frame left after subsampling
    assert math.isnan(kendall_tau(RAMP, RAMP, stride=4))


def _scipy_reference(f1: np.ndarray, f2: np.ndarray, stride: int) -> float:
    stats = pytest.importorskip("scipy.stats")
    distance = pytest.importorskip("scipy.spatial.distance")
    a, b = f1[::stride], f2[::stride]
    nns = np.argmin(distance.cdist(a, b, "sqeuclidean"), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on constant input
        return float(stats.kendalltau(np.arange(len(nns)), nns).statistic)


@settings(max_examples=40, deadline=None)
@given(
    t1=st.integers(1, 30),
    t2=st.integers(1, 30),
    d=st.integers(1, 5),
    stride=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_tcc_recipe_with_scipy(t1, t2, d, stride, seed):
    gen = np.random.default_rng(seed)
    # integer features make many exact ties in distance and in the neighbour sequence
    f1 = gen.integers(-3, 4, size=(t1, d)).astype(float)
    f2 = gen.integers(-3, 4, size=(t2, d)).astype(float)
    got = kendall_tau(f1, f2, stride=stride)
    want = _scipy_reference(f1, f2, stride)
    if math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(want, abs=1e-12)


def test_tau_b_over_several_blocks_matches_scipy(rng):
    stats = pytest.importorskip("scipy.stats")
    y = rng.integers(0, 40, size=700)  # > 2 blocks of 256 rows, many ties
    want = stats.kendalltau(np.arange(len(y)), y).statistic
    assert _tau_b_against_order(y) == pytest.approx(want, abs=1e-12)


def test_mean_counts_undefined_pairs():
    pairs = [(RAMP, RAMP), (RAMP, RAMP[::-1]), (RAMP, [7.0])]
    # taus: 1, -1, nan -> mean over the two defined = 0; 3 pairs, 1 undefined
    res = mean_kendall_tau(pairs)
    assert isinstance(res, KendallSummary)
    assert res.mean == 0.0 and res.count == 3 and res.undefined == 1
    np.testing.assert_array_equal(res.taus, [1.0, -1.0, np.nan])


def test_mean_over_ordered_pairs_like_tcc():
    seqs = [RAMP, RAMP * 2.0, np.array([0.0, 3.0])]
    res = mean_kendall_tau(itertools.permutations(seqs, 2))
    # ordered pairs, in permutation order:
    # (R, 2R): NN of 0, 1, 2, 3 among 0, 2, 4, 6: 0 -> 0, 1 -> 0 (|1-0| = |1-2|: tie, lowest
    #   index), 2 -> 1, 3 -> 1 (|3-2| = |3-4|) => [0, 0, 1, 1] = the tie example, 4/sqrt(24)
    # (R, [0,3]) = 4/sqrt(24) (tie example); (2R, R): 0->0, 2->2, 4->3, 6->3 => [0,2,3,3]
    #   S = 5 (pairs (2,3) tied), n0 = 6, n_j = 1 -> 5/sqrt(30)
    # (2R, [0,3]): 0->0, 2->1, 4->1, 6->1 => [0,1,1,1]: S = 3, n_j = 3 -> 3/sqrt(18)
    # ([0,3], R): 0->0, 3->3 -> 1; ([0,3], 2R): 0->0, 3->1 (|3-2| = |3-4|, lowest index) -> 1
    want = [4 / math.sqrt(24), 4 / math.sqrt(24), 5 / math.sqrt(30), 3 / math.sqrt(18), 1.0, 1.0]
    np.testing.assert_allclose(res.taus, want, atol=1e-15)
    assert res.mean == pytest.approx(sum(want) / 6)
    assert res.count == 6 and res.undefined == 0


def test_all_undefined_mean_is_nan():
    res = mean_kendall_tau([(RAMP, [1.0]), (RAMP, [2.0])])
    assert math.isnan(res.mean) and res.count == 2 and res.undefined == 2


def test_inputs_are_not_modified():
    f1 = np.arange(6.0).reshape(3, 2)
    f1.setflags(write=False)
    kendall_tau(f1, f1)
    np.testing.assert_array_equal(f1, np.arange(6.0).reshape(3, 2))


@pytest.mark.parametrize(
    "f1, f2, stride, message",
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), 1, "f2: feature dimension 3 differs"),
        (np.zeros((0, 2)), np.zeros((3, 2)), 1, "f1: is empty"),
        (np.zeros((2, 2, 2)), np.zeros((3, 2)), 1, "f1: expected shape"),
        (np.array([0.0, np.nan]), np.zeros(3), 1, "f1: row 1 contains NaN"),
        (np.zeros(3), np.array(["a", "b"]), 1, "f2: expected a real numeric array"),
        (np.zeros(3), np.zeros(3), 0, "stride: must be >= 1"),
        (np.zeros(3), np.zeros(3), 1.5, "stride: expected an integer"),
    ],
)
def test_errors_name_the_argument(f1, f2, stride, message):
    with pytest.raises(ValueError, match=message):
        kendall_tau(f1, f2, stride=stride)


def test_mean_errors_name_the_pair():
    with pytest.raises(ValueError, match="pairs: is empty"):
        mean_kendall_tau([])
    with pytest.raises(ValueError, match=r"pairs\[1\]: expected a pair"):
        mean_kendall_tau([(RAMP, RAMP), (RAMP,)])
    with pytest.raises(ValueError, match=r"pairs\[0\]: f2: feature dimension"):
        mean_kendall_tau([(np.zeros((3, 2)), np.zeros((3, 1)))])

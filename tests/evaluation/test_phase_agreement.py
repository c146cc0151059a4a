"""Aligned Phase Agreement (draqcore.evaluation.phase_agreement), paper Sec. 4."""

from __future__ import annotations

import numpy as np
import pytest

import draqcore
from draqcore.evaluation import aligned_phase_agreement

# A 5-frame query against a 4-frame candidate. Query frame 2 is paired with candidate frames 1
# and 2 (tuples (2, 1), (2, 2)); the one-sided warp keeps the first, candidate frame 1.
PATH = np.array([[0, 0], [1, 0], [2, 1], [2, 2], [3, 2], [4, 3]])
QUERY = np.array([0, 0, 1, 1, 2])
CANDIDATE = np.array([0, 0, 1, 2])


def test_hand_computed_pair():
    # match = warp(PATH, keep=0) = [0, 0, 1, 2, 3]
    # candidate labels at match = [0, 0, 0, 1, 2]
    # query labels              = [0, 0, 1, 1, 2]  -> equal at t = 0, 1, 3, 4: APA = 4 / 5
    assert aligned_phase_agreement(QUERY, CANDIDATE, PATH) == pytest.approx(0.8, abs=1e-15)


def test_first_tuple_of_a_still_query_frame_is_used():
    # With candidate frame 1 relabelled 1, query frame 2 (label 1) now agrees with its first
    # partner (1, label 1): all 5 frames agree. Had the last partner been used instead, frame 2
    # would be compared with candidate frame 2 (label 2) and APA would stay 4/5.
    candidate = np.array([0, 1, 2, 2])
    # match = [0, 0, 1, 2, 3] -> labels [0, 0, 1, 2, 2] vs query [0, 0, 1, 1, 2]: t = 3 differs
    assert aligned_phase_agreement(QUERY, candidate, PATH) == pytest.approx(4 / 5)
    candidate = np.array([0, 1, 1, 2])
    # labels at match = [0, 0, 1, 1, 2] == query: 5 / 5
    assert aligned_phase_agreement(QUERY, candidate, PATH) == 1.0


def test_match_vector_equals_path():
    match = draqcore.warp(PATH, keep=0)
    np.testing.assert_array_equal(match, [0, 0, 1, 2, 3])
    assert aligned_phase_agreement(QUERY, CANDIDATE, match) == aligned_phase_agreement(QUERY, CANDIDATE, PATH)


def test_not_symmetric_every_query_frame_counts_once():
    # Swap roles: the candidate (4 frames) is now the query; path transposed.
    # match = warp(PATH[:, ::-1], keep=0): path (0,0),(0,1),(1,2),(2,2),(2,3),(3,4)
    #   -> frame 0 -> 0, 1 -> 2, 2 -> 2, 3 -> 4
    # labels of old query at match = [0, 1, 1, 2] vs [0, 0, 1, 2] -> 3 / 4
    assert aligned_phase_agreement(CANDIDATE, QUERY, PATH[:, ::-1]) == pytest.approx(0.75)


def test_different_classes_give_zero():
    # Phase 0 of a golf swing is not phase 0 of a squat (paper Sec. 5.4: different actions -> 0).
    assert aligned_phase_agreement(QUERY, CANDIDATE, PATH, query_class="golf", candidate_class="squat") == 0.0
    assert aligned_phase_agreement(QUERY, CANDIDATE, PATH, query_class="golf", candidate_class="golf") == pytest.approx(0.8)
    # One class unknown: labels decide.
    assert aligned_phase_agreement(QUERY, CANDIDATE, PATH, query_class="golf") == pytest.approx(0.8)


def test_identical_videos_align_perfectly(rng):
    f = np.cumsum(rng.normal(size=(12, 4)), axis=0)
    phases = np.repeat([0, 1, 2], 4)
    res = draqcore.dtw(draqcore.cost_matrix(f, f, metric="euclidean"))
    assert aligned_phase_agreement(phases, phases, res.path) == 1.0


def test_integral_float_labels_are_accepted_and_inputs_untouched():
    q = QUERY.astype(np.float64)
    c = CANDIDATE.copy()
    p = PATH.copy()
    for a in (q, c, p):
        a.setflags(write=False)
    assert aligned_phase_agreement(q, c, p) == pytest.approx(0.8)
    np.testing.assert_array_equal(p, PATH)


@pytest.mark.parametrize(
    "query, candidate, alignment, message",
    [
        (QUERY, CANDIDATE, PATH[:-1], "ends at"),
        (QUERY[:4], CANDIDATE, PATH, "ends at"),
        (QUERY, CANDIDATE, np.array([[0, 0], [2, 1], [3, 2], [4, 3]]), "step"),
        (QUERY, CANDIDATE, np.array([0, 0, 1, 2]), "one entry per query frame"),
        (QUERY, CANDIDATE, np.array([0, 0, 1, 2, 4]), r"\[0, 3\]"),
        (QUERY, CANDIDATE, PATH.astype(float), "integer"),
        (QUERY, CANDIDATE, PATH[None], "path of shape"),
        (QUERY + 0.5, CANDIDATE, PATH, "query_phases"),
        (QUERY[None], CANDIDATE, PATH, "query_phases"),
        (QUERY, np.array([], dtype=int), PATH, "candidate_phases"),
        (QUERY, CANDIDATE.astype(bool), PATH, "candidate_phases"),
    ],
)
def test_errors_name_the_argument(query, candidate, alignment, message):
    with pytest.raises(ValueError, match=message):
        aligned_phase_agreement(query, candidate, alignment)

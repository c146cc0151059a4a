"""Cycle consistency FPE / CPE (draqcore.evaluation.cycle_consistency), paper Sec. 4, Fig. 3."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import draqcore
from draqcore.evaluation import CycleErrors, cycle_consistency


def test_hand_computed_three_frames():
    path = np.array([[0, 0], [1, 0], [2, 1], [2, 2]])
    # Out: warp(path, keep=1), first tuple per match frame j: j=0 (0,0) -> 0, j=1 (2,1) -> 2,
    #      j=2 (2,2) -> 2                                          => to_query = [0, 2, 2]
    # Back: warp(path, keep=0), first tuple per query frame i: i=0 (0,0) -> 0, i=1 (1,0) -> 0,
    #       i=2 (2,1) -> 1                                         => to_match = [0, 0, 1]
    # cycled = to_query[to_match] = [0, 0, 2]; errors 0, -1, 0
    # FPE = (0 + 1 + 0) / 3 = 1/3; normalised: errors / (n-1) = 0, -1/2, 0 -> (1/4) / 3 = 1/12
    # phases [0, 1, 1] -> cycled [0, 0, 1] -> |errors| 0, 1, 0 -> CPE = 1/3
    res = cycle_consistency(path, query_phases=[0, 1, 1])
    assert isinstance(res, CycleErrors)
    np.testing.assert_array_equal(res.cycled_positions, [0, 0, 2])
    np.testing.assert_array_equal(res.cycled_phases, [0, 0, 1])
    assert res.fpe == pytest.approx(1 / 3, abs=1e-15)
    assert res.fpe_normalized == pytest.approx(1 / 12, abs=1e-15)
    assert res.cpe == pytest.approx(1 / 3, abs=1e-15)


PATH4 = np.array([[0, 0], [1, 0], [2, 0], [3, 1], [3, 2]])  # query 4 frames, match 3 frames


def test_hand_computed_default_return_path():
    # to_query = warp(PATH4, keep=1): j=0 -> 0, j=1 (3,1) -> 3, j=2 (3,2) -> 3 = [0, 3, 3]
    # to_match = warp(PATH4, keep=0): i=0,1,2 -> 0, i=3 (3,1) -> 1      = [0, 0, 0, 1]
    # cycled = [0, 0, 0, 3]; errors 0, -1, -2, 0; FPE = (0 + 1 + 4 + 0) / 4 = 1.25
    # normalised by n-1 = 3: 1.25 / 9
    # phases [0, 1, 1, 2] -> cycled [0, 0, 0, 2]; |errors| 0, 1, 1, 0 -> CPE = 0.5
    res = cycle_consistency(PATH4, query_phases=np.array([0, 1, 1, 2]))
    np.testing.assert_array_equal(res.cycled_positions, [0, 0, 0, 3])
    assert res.fpe == pytest.approx(1.25, abs=1e-15)
    assert res.fpe_normalized == pytest.approx(1.25 / 9, abs=1e-15)
    assert res.cpe == pytest.approx(0.5, abs=1e-15)


def test_hand_computed_separate_return_path():
    back = np.array([[0, 0], [1, 0], [2, 1], [3, 2]])
    # to_query = [0, 3, 3] as above; to_match = warp(back, keep=0) = [0, 0, 1, 2]
    # cycled = [0, 0, 3, 3]; errors 0, -1, 1, 0; FPE = 2 / 4 = 0.5
    # phases [0, 1, 1, 2] -> cycled [0, 0, 2, 2]; |errors| 0, 1, 1, 0 -> CPE = 0.5
    res = cycle_consistency(PATH4, query_phases=[0, 1, 1, 2], path_back=back)
    np.testing.assert_array_equal(res.cycled_positions, [0, 0, 3, 3])
    assert res.fpe == pytest.approx(0.5, abs=1e-15)
    assert res.cpe == pytest.approx(0.5, abs=1e-15)


def test_without_phases_cpe_is_none():
    res = cycle_consistency(PATH4)
    assert res.cpe is None and res.cycled_phases is None
    assert res.fpe == pytest.approx(1.25)


def test_diagonal_cycle_is_perfect():
    path = np.stack([np.arange(7), np.arange(7)], axis=1)
    res = cycle_consistency(path, query_phases=np.repeat([0, 1, 2, 3], 2)[:7])
    assert res.fpe == 0.0 and res.cpe == 0.0 and res.fpe_normalized == 0.0
    np.testing.assert_array_equal(res.cycled_positions, np.arange(7))


def test_one_frame_query():
    res = cycle_consistency(np.array([[0, 0], [0, 1], [0, 2]]), query_phases=[4])
    assert res.fpe == 0.0 and res.fpe_normalized == 0.0 and res.cpe == 0.0


def _reference_cycle(path: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Slow, literal reading of the protocol: first tuple per kept frame, both ways."""
    to_query = {}
    for i, j in path.tolist():
        to_query.setdefault(j, i)
    to_match = {}
    for i, j in back.tolist():
        to_match.setdefault(i, j)
    n = int(path[-1, 0]) + 1
    return np.array([to_query[to_match[t]] for t in range(n)])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 9),
    m=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_reference_on_random_dtw_paths(n, m, seed):
    gen = np.random.default_rng(seed)
    path = draqcore.dtw(gen.random((n, m))).path
    back = draqcore.dtw(gen.random((n, m))).path
    phases = np.sort(gen.integers(0, 4, size=n))
    res = cycle_consistency(path, query_phases=phases, path_back=back)
    want = _reference_cycle(path, back)
    np.testing.assert_array_equal(res.cycled_positions, want)
    err = want - np.arange(n)
    assert res.fpe == pytest.approx(float(np.mean(err**2)))
    assert res.cpe == pytest.approx(float(np.mean(np.abs(phases[want] - phases))))
    # cycled positions are monotone (composition of two monotone maps)
    assert (np.diff(res.cycled_positions) >= 0).all()


def test_inputs_are_not_modified():
    path = PATH4.copy()
    phases = np.array([0, 1, 1, 2])
    path.setflags(write=False)
    phases.setflags(write=False)
    cycle_consistency(path, query_phases=phases, path_back=path)
    np.testing.assert_array_equal(path, PATH4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(path=PATH4, path_back=PATH4[:-1]), "path_back: ends at"),
        (dict(path=PATH4, path_back=np.array([[0, 0], [2, 1], [3, 2]])), "path_back: .*step"),
        (dict(path=PATH4[1:]), "path: .*start"),
        (dict(path=PATH4.astype(float)), "path: expected an integer"),
        (dict(path=PATH4[:, :1]), r"path: expected shape \(L, 2\)"),
        (dict(path=PATH4, query_phases=[0, 1, 2]), "query_phases: has 3 labels"),
        (dict(path=PATH4, query_phases=[0.5, 1, 1, 2]), "query_phases"),
    ],
)
def test_errors_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cycle_consistency(**kwargs)

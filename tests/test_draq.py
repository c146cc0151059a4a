from __future__ import annotations

import numpy as np
import pytest

import draqcore


def make_candidates(rng, count=9, d=16, lo=5, hi=40):
    return [rng.standard_normal((int(rng.integers(lo, hi)), d)).astype(np.float32) for _ in range(count)]


def test_draq_is_dtw_over_random_cost(rng):
    cost = draqcore.cost_matrix(rng.standard_normal((12, 5)), rng.standard_normal((15, 5)))
    want = draqcore.dtw(cost).cost / draqcore.expected_random_cost(cost)
    assert draqcore.draq(cost) == pytest.approx(want, rel=1e-12)
    sampled = draqcore.draq(cost, method="sampled", k=50, seed=4)
    assert sampled == pytest.approx(draqcore.dtw(cost).cost / draqcore.random_path_costs(cost, 50, seed=4).mean(), rel=1e-12)


def test_alignable_pair_scores_lower_than_shuffled(rng):
    # A smooth trajectory against a re-timed copy of itself vs. against a shuffled copy.
    t = np.linspace(0, 1, 60)
    traj = np.stack([np.sin(2 * np.pi * t * f) for f in (1, 2, 3, 5)], axis=1) + 0.05 * rng.standard_normal((60, 4))
    retimed = traj[np.sort(rng.integers(0, 60, 45))]
    shuffled = traj[rng.permutation(60)[:45]]
    q = draqcore.contextualize(traj)
    good = draqcore.draq(draqcore.cost_matrix(q, draqcore.contextualize(retimed)))
    bad = draqcore.draq(draqcore.cost_matrix(q, draqcore.contextualize(shuffled)))
    assert good < 0.2 and bad > 3 * good


def test_all_zero_cost_matrix_is_one():
    assert draqcore.draq(np.zeros((6, 8))) == 1.0


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean"])
@pytest.mark.parametrize("band", [None, 3])
def test_batch_equals_per_pair_loop(rng, method, metric, band):
    query = rng.standard_normal((23, 16)).astype(np.float32)
    cands = make_candidates(rng)
    res = draqcore.draq_batch(query, cands, metric=metric, method=method, k=40, seed=5, band=band, return_paths=True)
    assert len(res) == len(cands) and len(res.paths) == len(cands)
    for c, cand in enumerate(cands):
        cost = draqcore.cost_matrix(query, cand, metric)
        d = draqcore.dtw(cost, band=band)
        if method == "exact":
            rand = draqcore.expected_random_cost(cost)
        else:
            rand = float(np.sum(draqcore.random_path_costs(cost, 40, seed=5, stream=c))) / 40
        assert res.dtw_cost[c] == d.cost
        np.testing.assert_array_equal(res.paths[c], d.path)
        assert res.random_cost[c] == pytest.approx(rand, rel=1e-12)
        if band is None:
            assert res.draq[c] == draqcore.draq(cost, method=method, k=40, seed=5, stream=c)


@pytest.mark.parametrize("method", ["exact", "sampled"])
def test_bit_identical_across_threads_and_batching(rng, method):
    query = rng.standard_normal((30, 24))
    cands = make_candidates(rng, count=15, d=24)
    runs = [draqcore.draq_batch(query, cands, method=method, threads=t, return_paths=True) for t in (1, 2, 2)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.draq, runs[0].draq)
        np.testing.assert_array_equal(r.dtw_cost, runs[0].dtw_cost)
        for p, q in zip(r.paths, runs[0].paths):
            np.testing.assert_array_equal(p, q)
    packed = np.concatenate(cands)
    offsets = np.r_[0, np.cumsum([len(c) for c in cands])]
    as_packed = draqcore.draq_batch(query, packed, offsets=offsets, method=method, threads=2)
    np.testing.assert_array_equal(as_packed.draq, runs[0].draq)
    assert as_packed.paths is None


def test_inputs_are_not_modified(rng):
    query = np.asfortranarray(rng.standard_normal((10, 6)))
    cands = [rng.standard_normal((8, 6)).astype(np.float16), rng.standard_normal((12, 12))[:, ::2]]
    before = [query.copy()] + [c.copy() for c in cands]
    draqcore.draq_batch(query, cands, return_paths=True)
    for x, y in zip([query] + cands, before):
        np.testing.assert_array_equal(x, y)


def test_empty_candidate_list_returns_empty_result(rng):
    res = draqcore.draq_batch(rng.standard_normal((5, 3)), [])
    assert len(res) == 0 and res.draq.dtype == np.float64


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"query": np.zeros((0, 4))}, ValueError, "query: is empty"),
        ({"candidates": [np.ones((3, 4)), np.zeros((0, 4))]}, ValueError, r"candidates\[1\]: is empty"),
        ({"candidates": [np.ones((3, 4)), np.ones((3, 5))]}, ValueError, r"candidates\[1\]: feature dimension"),
        ({"candidates": [np.ones((3, 5))]}, ValueError, "differs from the query"),
        ({"candidates": [np.ones((3, 4)), np.full((2, 4), np.nan)]}, ValueError, r"candidates\[1\]: row 0 contains NaN"),
        ({"query": np.array([[1.0, 2, 3, np.inf]])}, ValueError, "query: row 0 contains NaN"),
        ({"metric": "l1"}, ValueError, "metric"),
        ({"method": "approx"}, ValueError, "method"),
        ({"k": 0}, ValueError, "k: must be at least 1"),
        ({"band": -2}, ValueError, "band"),
        ({"seed": -1}, ValueError, "seed"),
        ({"threads": 0}, ValueError, "threads"),
        ({"candidates": np.ones((6, 4))}, TypeError, "offsets="),
        ({"candidates": np.ones((6, 4)), "offsets": [0, 3, 5]}, ValueError, "offsets: must start at 0 and end"),
        ({"candidates": np.ones((6, 4)), "offsets": [0, 3, 3, 6]}, ValueError, r"candidates\[1\]: is empty"),
        ({"candidates": 5}, TypeError, "candidates"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"query": np.ones((3, 4)), "candidates": [np.ones((3, 4))]}
    args.update(kwargs)
    query = args.pop("query")
    candidates = args.pop("candidates")
    with pytest.raises(error, match=match):
        draqcore.draq_batch(query, candidates, **args)


def test_draq_refuses_negative_costs():
    with pytest.raises(ValueError, match="non-negative"):
        draqcore.draq(np.array([[0.5, -1.0], [0.2, 0.1]]))


def test_batch_above_memory_limit_fails_before_work(rng):
    draqcore.set_memory_limit(1 << 20)
    try:
        with pytest.raises(MemoryError, match="draq_batch would need"):
            draqcore.draq_batch(np.ones((600, 2)), [np.ones((600, 2))])
    finally:
        draqcore.set_memory_limit(None)


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("band", [None, 40])
def test_streamed_large_pairs_equal_whole_matrix(rng, method, band):
    # 3000 x 3000 float32 costs are 36 MB, above the 32 MiB at which draq_batch streams blocks of
    # rows; the per-pair reference computes the whole matrix.
    query = rng.standard_normal((3000, 4)).astype(np.float32)
    cand = rng.standard_normal((2900, 4)).astype(np.float32)
    small = rng.standard_normal((50, 4)).astype(np.float32)
    res = draqcore.draq_batch(query, [small, cand], method=method, k=7, seed=3, band=band, return_paths=True)
    cost = draqcore.cost_matrix(query, cand)
    d = draqcore.dtw(cost, band=band)
    assert res.dtw_cost[1] == d.cost
    np.testing.assert_array_equal(res.paths[1], d.path)
    if method == "exact":
        assert res.random_cost[1] == draqcore.expected_random_cost(cost)
    else:
        assert res.random_cost[1] == float(np.sum(draqcore.random_path_costs(cost, 7, seed=3, stream=1))) / 7


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("band", [None, 300])
@pytest.mark.parametrize("streamed", [False, True])
def test_one_long_pair_on_every_thread_equals_the_serial_result(rng, method, band, streamed):
    # Fewer pairs than threads: each pair runs on the whole team (without a band: cost tiles and
    # sweep tiles of one tiled wavefront; banded or streamed: parallel blocks of rows). The same bits as one thread and as the per-pair API.
    # 3000 x 2900 float32 costs are 35 MB: above the 32 MiB at which the batch mode streams, so
    # the team holds the matrix whole only while that is at most half the memory limit (and
    # there is no band).
    query = rng.standard_normal((3000, 6)).astype(np.float32)
    cand = rng.standard_normal((2900, 6)).astype(np.float32)
    if streamed:
        draqcore.set_memory_limit(40 << 20)
    try:
        one = draqcore.draq_batch(query, [cand], method=method, k=9, seed=4, band=band, return_paths=True, threads=1)
        team = draqcore.draq_batch(query, [cand], method=method, k=9, seed=4, band=band, return_paths=True, threads=2)
    finally:
        draqcore.set_memory_limit(None)
    for field in ("dtw_cost", "random_cost", "draq"):
        np.testing.assert_array_equal(getattr(team, field), getattr(one, field))
    np.testing.assert_array_equal(team.paths[0], one.paths[0])
    cost = draqcore.cost_matrix(query, cand)
    ref = draqcore.dtw(cost, band=band)
    assert team.dtw_cost[0] == ref.cost
    np.testing.assert_array_equal(team.paths[0], ref.path)
    if method == "exact":
        assert team.random_cost[0] == draqcore.expected_random_cost(cost)
    else:
        assert team.random_cost[0] == float(np.sum(draqcore.random_path_costs(cost, 9, seed=4))) / 9


@pytest.mark.parametrize("shape", [(1024, 1024), (1100, 1333), (200, 6000), (5000, 230), (97, 20000),
                                   (700, 700), (400, 1500)])
@pytest.mark.parametrize("kw", [{}, {"subsequence": True}, {"method": "sampled", "k": 5}, {"band": 10**6},
                                {"band": 40}])
def test_tiled_wavefront_equals_the_serial_result(rng, shape, kw):
    # One pair of >= 2^20 cells on two threads runs as a tiled wavefront (cost tiles and sweep tiles
    # pulled by the threads; tile edges handed from tile to tile): square, ragged, wide, tall and
    # single-tile-row shapes, every mode, and a band that covers everything (tiled) or not (rows).
    # Pairs of 2^18 to 2^20 cells get a parallel cost block, then a tiled sweep without cost tiles.
    n, m = shape
    query = rng.standard_normal((n, 5)).astype(np.float32)
    cand = rng.standard_normal((m, 5)).astype(np.float32)
    one = draqcore.draq_batch(query, [cand], return_paths=True, threads=1, **kw)
    for _ in range(2):  # the schedule differs from run to run; the bits may not
        team = draqcore.draq_batch(query, [cand], return_paths=True, threads=2, **kw)
        for field in ("dtw_cost", "random_cost", "draq", "spans"):
            np.testing.assert_array_equal(getattr(team, field), getattr(one, field))
        np.testing.assert_array_equal(team.paths[0], one.paths[0])
    if not kw:
        cost = draqcore.cost_matrix(query, cand)
        assert team.dtw_cost[0] == draqcore.dtw(cost).cost
        assert team.random_cost[0] == draqcore.expected_random_cost(cost)


def test_one_long_pair_names_the_bad_row_as_on_one_thread(rng):
    # A long pair's row statistics are computed in parallel chunks; the error is the serial one.
    query = rng.standard_normal((3000, 400)).astype(np.float32)
    cand = rng.standard_normal((2000, 400)).astype(np.float32)
    query[2345, 7] = np.nan
    cand[1999, 0] = np.inf
    for threads in (1, 2):
        with pytest.raises(ValueError, match=r"query: row 2345 contains NaN"):
            draqcore.draq_batch(query, [cand], threads=threads)
        with pytest.raises(ValueError, match=r"candidates\[0\]: row 1999 contains NaN or Inf"):
            draqcore.draq_batch(query[:2000], [cand], threads=threads)


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("streamed", [False, True])
def test_one_long_subsequence_pair_on_every_thread_equals_the_serial_result(rng, method, streamed):
    # An 1800-frame query inside a 4900-frame candidate (a 35 MB cost matrix, whole on the team
    # unless half the memory limit is below it): the team sweeps the subsequence DTW and then the
    # expected cost over the span as tiled wavefronts too.
    cand = rng.standard_normal((4900, 6)).astype(np.float32)
    query = cand[1500:3300] + 0.3 * rng.standard_normal((1800, 6)).astype(np.float32)
    if streamed:
        draqcore.set_memory_limit(40 << 20)
    try:
        kw = dict(method=method, k=9, seed=4, return_paths=True, subsequence=True)
        one = draqcore.draq_batch(query, [cand], threads=1, **kw)
        team = draqcore.draq_batch(query, [cand], threads=2, **kw)
    finally:
        draqcore.set_memory_limit(None)
    for field in ("dtw_cost", "random_cost", "draq", "spans"):
        np.testing.assert_array_equal(getattr(team, field), getattr(one, field))
    np.testing.assert_array_equal(team.paths[0], one.paths[0])
    ref = draqcore.dtw(draqcore.cost_matrix(query, cand), subsequence=True)
    assert team.dtw_cost[0] == ref.cost
    np.testing.assert_array_equal(team.paths[0], ref.path)


@pytest.mark.parametrize("kw", [{}, {"method": "sampled", "k": 15}, {"subsequence": True}, {"band": 7}])
def test_contextualize_inside_the_batch_equals_contextualized_inputs(rng, kw):
    query = rng.standard_normal((60, 24)) * 2 + 1
    cands = [rng.standard_normal((int(rng.integers(20, 90)), 24)).astype(np.float32) for _ in range(9)]
    want = draqcore.draq_batch(draqcore.contextualize(query), draqcore.contextualize_batch(cands), return_paths=True, **kw)
    for threads in (1, 2):
        got = draqcore.draq_batch(query, cands, contextualize=True, return_paths=True, threads=threads, **kw)
        for field in ("dtw_cost", "random_cost", "draq", "spans"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        for p, q in zip(got.paths, want.paths):
            np.testing.assert_array_equal(p, q)
    one = draqcore.draq_batch(query, cands[:1], contextualize=True, threads=2, **kw)  # one pair: team mode
    np.testing.assert_array_equal(one.draq, want.draq[:1])


def test_contextualize_inside_the_batch_names_bad_inputs(rng):
    cands = [rng.standard_normal((30, 4)) for _ in range(4)]
    cands[2][7, 1] = np.nan
    with pytest.raises(ValueError, match=r"candidates\[2\]: entry \(7, 1\) is NaN or Inf"):
        draqcore.draq_batch(np.ones((10, 4)), cands, contextualize=True)
    big = np.array([[3.3e38], [-3.3e38], [-3.3e38]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"candidates\[1\]: contextualized value of row 0, column 0 is beyond"):
        draqcore.draq_batch(np.ones((5, 1)), [np.ones((4, 1)), big], contextualize=True)
    with pytest.raises(ValueError, match=r"query: contextualized value of row 0"):
        draqcore.draq_batch(big, [np.ones((4, 1))], contextualize=True)


@pytest.mark.parametrize("method", [np.ones((3, 2)), np.float64(1.0), None, 3, b"exact"])
def test_a_method_that_is_not_a_string_is_named_in_one_line(method):
    # e.g. draq(np.float64(1), np.ones((3, 2))): the array lands in ``method``
    C = np.ones((3, 3))
    with pytest.raises(ValueError, match=r"^method: unknown method "):
        draqcore.draq(C, method)
    with pytest.raises(ValueError, match=r"^method: unknown method "):
        draqcore.draq_batch(np.ones((3, 4)), [np.ones((3, 4))], method=method)

"""Subsequence mode of dtw, draq, expected_random_cost and draq_batch: all of the query (rows)
matched to a contiguous part of the candidate (columns), against brute force, a reference DP with
the documented tie rules, librosa, and the ordinary mode on the spanned columns."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import draqcore
import reference

TINY_SHAPES = [(1, 1), (1, 4), (4, 1), (2, 2), (2, 5), (3, 4), (4, 3), (3, 6), (5, 2)]


@contextlib.contextmanager
def no_short_warning():
    """ShortSequenceWarning ignored (small matrices on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", draqcore.ShortSequenceWarning)
        yield


def assert_subsequence_path(res, n, m):
    path = res.path
    assert path.dtype == np.int64 and path.ndim == 2 and path.shape[1] == 2
    j0, j1 = res.span
    assert tuple(path[0]) == (0, j0) and tuple(path[-1]) == (n - 1, j1)
    assert 0 <= j0 <= j1 < m
    assert {tuple(s) for s in np.diff(path, axis=0)} <= {(1, 0), (0, 1), (1, 1)}


# --- dtw -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_cost_is_brute_force_minimum_over_all_subsequence_paths(rng, shape):
    cost = rng.random(shape).astype(np.float32)
    res = draqcore.dtw(cost, subsequence=True)
    assert res.cost == pytest.approx(reference.brute_force_subsequence_dtw(cost), rel=1e-12)
    assert_subsequence_path(res, *shape)
    along = float(cost[res.path[:, 0], res.path[:, 1]].astype(np.float64).sum())
    assert res.cost == pytest.approx(along, rel=1e-12)


@pytest.mark.parametrize("shape", TINY_SHAPES)
def test_negative_costs_may_continue_along_row_zero(rng, shape):
    # With negative costs the best path can visit several cells of row 0: the recurrence
    # D(0, j) = C(0, j) + min(0, D(0, j-1)) keeps the minimum over all paths.
    cost = (rng.random(shape) - 0.6).astype(np.float32)
    res = draqcore.dtw(cost, subsequence=True)
    assert res.cost == pytest.approx(reference.brute_force_subsequence_dtw(cost), rel=1e-9, abs=1e-9)
    assert_subsequence_path(res, *shape)
    along = float(cost[res.path[:, 0], res.path[:, 1]].astype(np.float64).sum())
    assert res.cost == pytest.approx(along, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("shape", [(1, 7), (3, 3), (4, 9), (6, 6), (7, 20), (12, 5), (30, 80)])
@pytest.mark.parametrize("low", [0, -1])
def test_ties_follow_documented_rules(rng, shape, low):
    # Small integers are exact in float32 and float64 and make many exact ties: of the end
    # column (first minimum), of the traceback (diagonal, up, left) and of a fresh start against
    # arriving from the left in row 0 (the fresh start wins).
    cost = rng.integers(low, 3, size=shape).astype(np.float32)
    res = draqcore.dtw(cost, subsequence=True)
    want_cost, want_path, want_span = reference.subsequence_dtw_with_ties(cost)
    assert res.cost == want_cost
    np.testing.assert_array_equal(res.path, want_path)
    assert res.span == want_span
    if shape[0] * shape[1] <= 40:
        assert res.cost == reference.brute_force_subsequence_dtw(cost)


def test_golden_values_by_hand():
    C = np.array([[5, 1, 5, 5], [5, 5, 1, 5]], dtype=np.float32)
    res = draqcore.dtw(C, subsequence=True)
    assert (res.cost, res.span) == (2.0, (1, 2))
    np.testing.assert_array_equal(res.path, [[0, 1], [1, 2]])
    # All equal: every single-column match costs n; the first column wins the tie.
    res = draqcore.dtw(np.ones((3, 5)), subsequence=True)
    assert (res.cost, res.span) == (3.0, (0, 0))
    np.testing.assert_array_equal(res.path, [[0, 0], [1, 0], [2, 0]])
    # Zeros in row 0 tie a fresh start with arriving from the left: the fresh start wins, so
    # the path starts at the column it leaves row 0 from.
    C = np.array([[0, 0, 0, 9], [9, 9, 0, 9]], dtype=np.float32)
    res = draqcore.dtw(C, subsequence=True)
    assert (res.cost, res.span) == (0.0, (1, 2))
    np.testing.assert_array_equal(res.path, [[0, 1], [1, 2]])


def test_ordinary_mode_span_is_whole_matrix(rng):
    res = draqcore.dtw(rng.random((4, 7)))
    assert res.span == (0, 6)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (4, 9), (10, 40), (25, 200), (40, 30), (9, 9)])
def test_matches_librosa_subseq(rng, shape):
    librosa = pytest.importorskip("librosa")
    cost = rng.random(shape).astype(np.float32)
    res = draqcore.dtw(cost, subsequence=True)
    D, wp = librosa.sequence.dtw(C=cost.astype(np.float64), subseq=True)
    wp = wp[::-1]  # librosa returns the path end to start
    if shape[0] > shape[1]:
        # librosa 0.10/0.11 swap the columns of a subseq path when C has more rows than columns
        # although it did not transpose C: undo that.
        wp = wp[:, ::-1]
    assert res.cost == pytest.approx(float(D[-1].min()), rel=1e-12)
    np.testing.assert_array_equal(res.path, wp)


@pytest.mark.parametrize("shape", [(6, 6), (8, 30), (20, 70)])
def test_matches_librosa_cost_with_ties(rng, shape):
    # librosa breaks traceback ties left before up, draqcore up before left (as in the ordinary
    # mode); the optimal cost is the same.
    librosa = pytest.importorskip("librosa")
    cost = rng.integers(0, 3, size=shape).astype(np.float32)
    D, _ = librosa.sequence.dtw(C=cost.astype(np.float64), subseq=True)
    assert draqcore.dtw(cost, subsequence=True).cost == float(D[-1].min())


def test_band_with_subsequence_is_refused(rng):
    cost = rng.random((4, 9))
    with pytest.raises(ValueError, match="band: cannot be combined with subsequence"):
        draqcore.dtw(cost, band=2, subsequence=True)
    with pytest.raises(ValueError, match="band: cannot be combined with subsequence"):
        draqcore.draq_batch(rng.random((4, 3)), [rng.random((9, 3))], band=0, subsequence=True)


def test_finds_a_retimed_excerpt_in_a_long_sequence(rng):
    # A smooth feature trajectory (like frame features of a video), and a query that is frames
    # 300..419 of it played at a varying speed: the span must be the excerpt.
    steps = rng.standard_normal((1000, 32)).astype(np.float32)
    video = np.cumsum(steps, axis=0)
    t = 300 + 119 * (np.linspace(0, 1, 90) ** 1.5)
    query = video[np.round(t).astype(int)] + 0.1 * rng.standard_normal((90, 32)).astype(np.float32)
    cost = draqcore.cost_matrix(query, video, metric="euclidean")
    res = draqcore.dtw(cost, subsequence=True)
    assert abs(res.span[0] - 300) <= 2 and abs(res.span[1] - 419) <= 2
    np.testing.assert_array_less(np.abs(res.path[:, 1] - np.round(t).astype(int)[res.path[:, 0]]), 4)
    # The whole-sequence DTW is forced to spread the query over all 1000 frames.
    assert draqcore.dtw(cost).cost > 3 * res.cost


def _pixel_features(path) -> np.ndarray:
    """Every frame of a real video as 32 x 24 grey pixels, mean-subtracted per frame (a cheap
    stand-in for frame features that keeps the footage's real motion and texture)."""
    cv2 = pytest.importorskip("cv2")
    cap = cv2.VideoCapture(str(path))
    rows = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        grey = cv2.cvtColor(cv2.resize(frame, (32, 24), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        rows.append(grey.astype(np.float32).ravel())
    cap.release()
    feats = np.array(rows)
    return feats - feats.mean(axis=1, keepdims=True)


def test_real_footage_excerpt_is_found_and_scores_apart_from_a_distractor(footage, rng):
    # Frames 90..159 of real camera footage (bikes), slowed to 0.7x, darkened and noisy, as the
    # query; the whole clip and an unrelated real clip (carphone) as candidates.
    bikes = _pixel_features(footage("bikes"))
    other = _pixel_features(footage("carphone"))
    idx = np.round(90 + 0.7 * np.arange(100)).astype(int)
    query = 0.8 * bikes[idx] + 8.0 * rng.standard_normal((len(idx), bikes.shape[1])).astype(np.float32)
    cost = draqcore.cost_matrix(query, bikes, metric="cosine")
    res = draqcore.dtw(cost, subsequence=True)
    assert abs(res.span[0] - 90) <= 2 and abs(res.span[1] - 159) <= 2
    assert np.abs(res.path[:, 1] - idx[res.path[:, 0]]).mean() <= 1.0
    batch = draqcore.draq_batch(query, [other, bikes], metric="cosine", subsequence=True)
    whole = draqcore.draq_batch(query, [other, bikes], metric="cosine")
    # Subsequence DRAQ separates the source from the distractor by far more than whole-clip DRAQ.
    assert batch.draq[1] < 0.5 * batch.draq[0]
    assert batch.draq[0] / batch.draq[1] > 2 * whole.draq[0] / whole.draq[1]
    assert tuple(batch.spans[1]) == res.span


# --- draq and expected_random_cost -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 5), (6, 40), (12, 13), (20, 90)])
def test_draq_is_ordinary_draq_of_spanned_columns(rng, shape):
    cost = rng.random(shape).astype(np.float32)
    j0, j1 = draqcore.dtw(cost, subsequence=True).span
    sub = cost[:, j0 : j1 + 1]
    with no_short_warning():
        assert draqcore.draq(cost, subsequence=True) == draqcore.draq(sub)
        assert draqcore.expected_random_cost(cost, subsequence=True) == draqcore.expected_random_cost(sub)
        for stream in (0, 3):
            assert draqcore.draq(cost, "sampled", k=17, seed=4, stream=stream, subsequence=True) == draqcore.draq(
                sub, "sampled", k=17, seed=4, stream=stream
            )


def test_draq_numerator_is_subsequence_cost(rng):
    cost = rng.random((9, 50)).astype(np.float32)
    res = draqcore.dtw(cost, subsequence=True)
    rand = draqcore.expected_random_cost(cost, subsequence=True)
    assert draqcore.draq(cost, subsequence=True) == res.cost / rand
    j0, j1 = res.span
    assert draqcore.dtw(cost[:, j0 : j1 + 1]).cost == pytest.approx(res.cost, rel=1e-12)


def test_short_query_in_long_sequence_gets_a_meaningful_draq(rng):
    # The motivating case: an excerpt of a long sequence scores like an alignable pair with
    # subsequence=True, but near 1 (random) against the whole sequence.
    video = np.cumsum(rng.standard_normal((1500, 16)), axis=0).astype(np.float32)
    query = video[600:660] + 0.05 * rng.standard_normal((60, 16)).astype(np.float32)
    cost = draqcore.cost_matrix(query, video, metric="euclidean")
    assert draqcore.draq(cost, subsequence=True) < 0.1
    assert draqcore.draq(cost, subsequence=True) < 0.2 * draqcore.draq(cost)


# --- draq_batch ------------------------------------------------------------------------------


def make_pairs(rng, d=8):
    video = np.cumsum(rng.standard_normal((400, d)), axis=0).astype(np.float32)
    query = video[100:130] + 0.1 * rng.standard_normal((30, d)).astype(np.float32)
    cands = [video, video[50:250], rng.standard_normal((90, d)).astype(np.float32), video[110:125], video[::-1].copy()]
    return query, cands


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_batch_equals_per_pair_loop(rng, method, metric):
    query, cands = make_pairs(rng)
    res = draqcore.draq_batch(query, cands, metric=metric, method=method, k=30, seed=7, return_paths=True, subsequence=True)
    assert res.spans.shape == (len(cands), 2) and res.spans.dtype == np.int64
    for c, cand in enumerate(cands):
        cost = draqcore.cost_matrix(query, cand, metric=metric)
        d = draqcore.dtw(cost, subsequence=True)
        assert res.dtw_cost[c] == d.cost
        assert tuple(res.spans[c]) == d.span
        np.testing.assert_array_equal(res.paths[c], d.path)
        assert res.draq[c] == draqcore.draq(cost, method=method, k=30, seed=7, stream=c, subsequence=True)
        assert res.draq[c] == res.dtw_cost[c] / res.random_cost[c]
    # the excerpt's source is found where the excerpt came from
    assert abs(res.spans[0, 0] - 100) <= 2 and abs(res.spans[0, 1] - 129) <= 2
    assert abs(res.spans[1, 0] - 50) <= 2 and abs(res.spans[1, 1] - 79) <= 2


def test_ordinary_batch_spans_are_whole_candidates(rng):
    query, cands = make_pairs(rng)
    res = draqcore.draq_batch(query, cands)
    np.testing.assert_array_equal(res.spans, [[0, len(c) - 1] for c in cands])


@pytest.mark.parametrize("method", ["exact", "sampled"])
def test_batch_bit_identical_across_threads_and_forms(rng, method):
    query, cands = make_pairs(rng)
    runs = [
        draqcore.draq_batch(query, cands, method=method, k=25, seed=2, threads=t, return_paths=True, subsequence=True)
        for t in (1, 2, 3)
    ]
    packed = np.concatenate(cands)
    offsets = np.cumsum([0] + [len(c) for c in cands])
    runs.append(draqcore.draq_batch(query, packed, offsets=offsets, method=method, k=25, seed=2, return_paths=True, subsequence=True))
    for other in runs[1:]:
        for name in ("dtw_cost", "random_cost", "draq", "spans"):
            np.testing.assert_array_equal(getattr(other, name), getattr(runs[0], name))
        for a, b in zip(other.paths, runs[0].paths):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["exact", "sampled"])
def test_streamed_large_pair_equals_whole_matrix(rng, method):
    # 300 x 30000 float32 costs are 36 MB, above the 32 MiB at which draq_batch streams blocks of
    # rows: the DTW pass streams all columns, the random-cost pass the spanned ones.
    video = np.cumsum(rng.standard_normal((30000, 4)), axis=0).astype(np.float32)
    query = video[12000:12300] + 0.05 * rng.standard_normal((300, 4)).astype(np.float32)
    small = rng.standard_normal((50, 4)).astype(np.float32)
    res = draqcore.draq_batch(query, [small, video], metric="euclidean", method=method, k=7, seed=3, return_paths=True, subsequence=True)
    cost = draqcore.cost_matrix(query, video, metric="euclidean")
    d = draqcore.dtw(cost, subsequence=True)
    assert res.dtw_cost[1] == d.cost
    assert tuple(res.spans[1]) == d.span
    assert abs(d.span[0] - 12000) <= 3 and abs(d.span[1] - 12299) <= 3
    np.testing.assert_array_equal(res.paths[1], d.path)
    assert res.draq[1] == draqcore.draq(cost, method=method, k=7, seed=3, stream=1, subsequence=True)


# --- short regions ---------------------------------------------------------------------------


def test_short_clips_warn(rng):
    with pytest.warns(draqcore.ShortSequenceWarning, match="3 x 10-frame pair"):
        draqcore.draq(rng.random((3, 10)))
    with pytest.warns(draqcore.ShortSequenceWarning, match="3 x 10-frame pair"):
        draqcore.draq(rng.random((3, 10)), subsequence=True)
    with pytest.warns(draqcore.ShortSequenceWarning, match="2 of 3 candidates"):
        draqcore.draq_batch(rng.random((8, 3)), [rng.random((9, 3)), rng.random((2, 3)), rng.random((4, 3))])
    with pytest.warns(draqcore.ShortSequenceWarning, match="3 of 3 candidates"):
        draqcore.draq_batch(rng.random((4, 3)), [rng.random((9, 3)), rng.random((12, 3)), rng.random((40, 3))], subsequence=True)
    # One frame on a side: DRAQ is 1.0 whatever the costs, and it says so.
    with pytest.warns(draqcore.ShortSequenceWarning, match="exactly 1.0"):
        assert draqcore.draq(rng.random((1, 12)) + 0.5) == 1.0


def test_collapsed_span_is_one_without_warning(rng):
    # A query that stands still on one frame of a long clip (every row matches column 7 best):
    # its span is one column, and DRAQ 1.0 says "no better than random" — the clips are long
    # enough, so there is no warning.
    cost = np.ones((20, 30), dtype=np.float32)
    cost[:, 7] = 0.1
    assert draqcore.dtw(cost, subsequence=True).span == (7, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert draqcore.draq(cost, subsequence=True) == 1.0


def test_long_enough_regions_do_not_warn(rng):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draqcore.draq(rng.random((draqcore.MIN_DRAQ_FRAMES, draqcore.MIN_DRAQ_FRAMES)))
        draqcore.draq_batch(rng.random((6, 3)), [rng.random((5, 3)), rng.random((40, 3))])


# --- warp on subsequence paths ---------------------------------------------------------------


def test_warp_keeps_the_query_timeline_of_a_subsequence_path(rng):
    cost = rng.random((6, 20)).astype(np.float32)
    res = draqcore.dtw(cost, subsequence=True)
    got = draqcore.warp(res.path, keep=0)
    np.testing.assert_array_equal(got, reference.warp(res.path, 0))
    assert len(got) == 6 and got[0] == res.span[0]
    if res.span[0] > 0:
        with pytest.raises(ValueError, match="must start at index 0 of the kept sequence"):
            draqcore.warp(res.path, keep=1)

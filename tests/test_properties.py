"""Property tests (hypothesis): any shape, dtype, layout and value either gives the reference
result or a clear ValueError/TypeError/MemoryError — never a crash, a hang or a modified input."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import draqcore
import reference

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
# DRAQCORE_PROPERTY_EXAMPLES raises the number of cases per property for a longer hunt.
EXAMPLES = int(os.environ.get("DRAQCORE_PROPERTY_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def arrays_2d(draw, max_rows=7, max_cols=5, cols=None):
    dtype = draw(st.sampled_from(DTYPES))
    rows = draw(st.integers(1, max_rows))
    ncols = cols if cols is not None else draw(st.integers(1, max_cols))
    if np.dtype(dtype).kind == "f":
        elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8)
    elif np.dtype(dtype).kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -100), min(info.max, 100))
    arr = draw(hnp.arrays(dtype, (rows, ncols), elements=elements))
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        arr = np.asfortranarray(arr)
    elif layout == "strided":
        wide = np.zeros((rows, 2 * ncols), dtype=dtype)
        wide[:, ::2] = arr
        arr = wide[:, ::2]
    return arr


def poison(draw, arr):
    """Maybe put a NaN/Inf into a float array, or zero a row."""
    what = draw(st.sampled_from(["none", "none", "zero_row", "nan", "inf"]))
    out = arr.copy()
    if what == "zero_row":
        out[draw(st.integers(0, len(out) - 1))] = 0
    elif what in ("nan", "inf") and out.dtype.kind == "f":
        i = draw(st.integers(0, out.shape[0] - 1))
        j = draw(st.integers(0, out.shape[1] - 1))
        out[i, j] = np.nan if what == "nan" else np.inf
    return out


@SETTINGS
@given(data=st.data())
def test_cost_matrix_property(data):
    a = poison(data.draw, data.draw(arrays_2d()))
    b = poison(data.draw, data.draw(arrays_2d(cols=a.shape[1])))
    metric = data.draw(st.sampled_from(["cosine", "sqeuclidean", "euclidean"]))
    before = (a.copy(), b.copy())
    finite = np.isfinite(a.astype(np.float64)).all() and np.isfinite(b.astype(np.float64)).all()
    if not finite:
        with pytest.raises(ValueError, match="NaN or Inf"):
            draqcore.cost_matrix(a, b, metric)
    else:
        got = draqcore.cost_matrix(a, b, metric)
        want = reference.cost_matrix(a.astype(np.float32), b.astype(np.float32), metric)
        # sqeuclidean is ||a||^2 + ||b||^2 - 2 a.b in float32: the documented absolute error is
        # about 1e-7 times the squared norms (cancellation), not relative to the result.
        a32, b32 = a.astype(np.float64), b.astype(np.float64)
        norms = (a32**2).sum(axis=1)[:, None] + (b32**2).sum(axis=1)[None, :]
        atol = 1e-4 if metric == "cosine" else 1e-4 + 4e-7 * norms
        if metric == "euclidean":
            atol = 1e-4 + np.sqrt(4e-7 * norms)
        assert (np.abs(got - want) <= atol + 1e-3 * np.abs(want)).all(), (got, want)
    np.testing.assert_array_equal(a, before[0])
    np.testing.assert_array_equal(b, before[1])


@SETTINGS
@given(data=st.data())
def test_dtw_property(data):
    n = data.draw(st.integers(1, 6))
    m = data.draw(st.sampled_from([1, 2, 5, 6, 9]))
    cost = data.draw(hnp.arrays(np.float64, (n, m), elements=st.floats(0, 10, allow_nan=False)))
    band = data.draw(st.one_of(st.none(), st.integers(0, 4)))
    before = cost.copy()
    res = draqcore.dtw(cost, band=band)
    assert res.cost == pytest.approx(reference.brute_force_dtw(cost.astype(np.float32), band), rel=1e-5, abs=1e-5)
    assert tuple(res.path[0]) == (0, 0) and tuple(res.path[-1]) == (n - 1, m - 1)
    assert reference.band_mask(n, m, band)[res.path[:, 0], res.path[:, 1]].all()
    np.testing.assert_array_equal(cost, before)


@SETTINGS
@given(data=st.data())
def test_subsequence_dtw_property(data):
    # Any dtype and sign, shapes small enough to enumerate every subsequence path.
    n = data.draw(st.integers(1, 4))
    m = data.draw(st.integers(1, 6))
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.int16]))
    elements = st.integers(-5, 9) if dtype is np.int16 else st.floats(-5, 10, allow_nan=False, width=32)
    cost = data.draw(hnp.arrays(dtype, (n, m), elements=elements))
    before = cost.copy()
    res = draqcore.dtw(cost, subsequence=True)
    c32 = cost.astype(np.float32).astype(np.float64)
    assert res.cost == pytest.approx(reference.brute_force_subsequence_dtw(c32), rel=1e-9, abs=1e-9)
    want_cost, want_path, want_span = reference.subsequence_dtw_with_ties(c32)
    assert res.cost == want_cost and res.span == want_span
    np.testing.assert_array_equal(res.path, want_path)
    np.testing.assert_array_equal(cost, before)


@SETTINGS
@given(data=st.data())
def test_exact_random_cost_property(data):
    n = data.draw(st.integers(1, 5))
    m = data.draw(st.integers(1, 5))
    cost = data.draw(hnp.arrays(np.float32, (n, m), elements=st.floats(0, 5, width=32)))
    want, total = reference.expected_random_cost_by_enumeration(cost)
    assert total == pytest.approx(1.0)
    assert draqcore.expected_random_cost(cost) == pytest.approx(want, rel=1e-9, abs=1e-9)


@SETTINGS
@given(data=st.data())
def test_draq_batch_property(data):
    d = data.draw(st.integers(1, 4))
    query = poison(data.draw, data.draw(arrays_2d(max_rows=6, cols=d)))
    cands = [data.draw(arrays_2d(max_rows=6, cols=d)) for _ in range(data.draw(st.integers(0, 4)))]
    method = data.draw(st.sampled_from(["exact", "sampled"]))
    before = [query.copy()] + [c.copy() for c in cands]
    if not np.isfinite(query.astype(np.float64)).all():
        with pytest.raises(ValueError, match="query: row"):
            draqcore.draq_batch(query, cands, method=method, k=5)
        return
    subsequence = data.draw(st.booleans())
    threads = data.draw(st.sampled_from([None, 1, 2]))
    # Inputs this small are mostly below MIN_DRAQ_FRAMES: the warning must come exactly when a
    # clip is short, once per call.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = draqcore.draq_batch(query, cands, method=method, k=5, return_paths=True, threads=threads, subsequence=subsequence)
    short = any(min(len(query), len(cand)) < draqcore.MIN_DRAQ_FRAMES for cand in cands)
    assert [w.category for w in caught] == ([draqcore.ShortSequenceWarning] if short else [])
    for c, cand in enumerate(cands):
        cost = draqcore.cost_matrix(query, cand)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", draqcore.ShortSequenceWarning)
            assert res.draq[c] == draqcore.draq(cost, method=method, k=5, stream=c, subsequence=subsequence)
        assert tuple(res.spans[c]) == draqcore.dtw(cost, subsequence=subsequence).span
    for x, y in zip([query] + cands, before):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "call",
    [
        lambda: draqcore.cost_matrix(np.zeros((200_000, 1), np.float32), np.zeros((200_000, 1), np.float32)),
        lambda: draqcore.draq_batch(np.zeros((100_000, 1)), [np.zeros((100_000, 1))], return_paths=True),
        lambda: draqcore.dtw(np.broadcast_to(np.float32(0), (100_000, 100_000))),
        lambda: draqcore.random_path_costs(np.zeros((2, 2)), 2**40),
    ],
    ids=["cost_matrix", "draq_batch", "dtw", "random_path_costs"],
)
def test_absurd_sizes_fail_cleanly_before_allocating(call):
    # Either our limit ("would need ... GiB") or NumPy refusing the converted copy.
    with pytest.raises(MemoryError, match="would need|Unable to allocate"):
        call()

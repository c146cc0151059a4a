from __future__ import annotations

import numpy as np
import pytest

import draqcore
import reference


@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean", "euclidean"])
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 3), (13, 4, 9), (17, 23, 33), (4, 30, 64)])
def test_matches_reference(rng, metric, shape):
    n, m, d = shape
    a = rng.standard_normal((n, d))
    b = rng.standard_normal((m, d))
    got = draqcore.cost_matrix(a, b, metric)
    want = reference.cost_matrix(a, b, metric)
    assert got.dtype == np.float32 and got.shape == (n, m)
    scale = 1.0 if metric == "cosine" else float(np.abs(want).max()) + 1.0
    np.testing.assert_allclose(got, want, atol=2e-5 * scale, rtol=1e-4)


def test_zero_row_costs_one_against_everything(rng):
    a = rng.standard_normal((4, 6))
    a[2] = 0.0
    b = rng.standard_normal((5, 6))
    b[0] = 0.0
    c = draqcore.cost_matrix(a, b)
    np.testing.assert_array_equal(c[2], np.ones(5, dtype=np.float32))
    np.testing.assert_array_equal(c[:, 0], np.ones(4, dtype=np.float32))


def test_cosine_self_distance_is_zero_and_clamped(rng):
    a = rng.standard_normal((20, 16))
    c = draqcore.cost_matrix(a, a)
    assert (c >= 0).all() and (c <= 2).all()
    np.testing.assert_allclose(np.diag(c), 0.0, atol=1e-6)
    c2 = draqcore.cost_matrix(a, -a)
    np.testing.assert_allclose(np.diag(c2), 2.0, atol=1e-6)


def test_one_dimensional_input_is_a_column(rng):
    a = rng.standard_normal(6)
    b = rng.standard_normal(4)
    got = draqcore.cost_matrix(a, b, "sqeuclidean")
    np.testing.assert_allclose(got, (a[:, None] - b[None, :]) ** 2, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_])
def test_accepts_dtypes(rng, dtype):
    a = (rng.standard_normal((6, 5)) * 3).astype(dtype)
    b = (rng.standard_normal((7, 5)) * 3).astype(dtype)
    got = draqcore.cost_matrix(a, b, "euclidean")
    want = reference.cost_matrix(a.astype(np.float64), b.astype(np.float64), "euclidean")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_fortran_and_strided_inputs_are_not_modified(rng):
    base = rng.standard_normal((20, 12))
    a = np.asfortranarray(base[:8])
    b = base[::2, ::2]  # strided view
    a_before, base_before = a.copy(), base.copy()
    got = draqcore.cost_matrix(a[:, ::2], b)
    want = reference.cost_matrix(a[:, ::2], b, "cosine")
    np.testing.assert_allclose(got, want, atol=2e-6)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(base, base_before)


def test_thread_count_does_not_change_result(rng):
    a = rng.standard_normal((150, 96)).astype(np.float32)
    b = rng.standard_normal((301, 96)).astype(np.float32)
    one = draqcore.cost_matrix(a, b, threads=1)
    two = draqcore.cost_matrix(a, b, threads=2)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "error", "match"),
    [
        (np.zeros((0, 3)), np.ones((2, 3)), {}, ValueError, "a: is empty"),
        (np.ones((2, 3)), np.ones((2, 0)), {}, ValueError, "b: has no feature columns"),
        (np.ones((2, 3)), np.ones((2, 4)), {}, ValueError, "feature dimensions differ"),
        (np.ones((2, 3, 1)), np.ones((2, 3)), {}, ValueError, "a: expected shape"),
        (np.ones((2, 3)), np.ones((2, 3)), {"metric": "manhattan"}, ValueError, "metric"),
        (np.array([["x", "y"]]), np.ones((1, 2)), {}, TypeError, "a: expected a real numeric array"),
        (np.ones((2, 2), dtype=complex), np.ones((1, 2)), {}, TypeError, "a: expected a real"),
        (np.ones((2, 3)), np.ones((2, 3)), {"threads": 0}, ValueError, "threads"),
    ],
)
def test_bad_input(a, b, kwargs, error, match):
    with pytest.raises(error, match=match):
        draqcore.cost_matrix(a, b, **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["a", "b"])
def test_non_finite_is_reported_with_the_argument_and_row(bad, which):
    a = np.ones((4, 3))
    b = np.ones((5, 3))
    target = a if which == "a" else b
    target[2, 1] = bad
    with pytest.raises(ValueError, match=rf"{which}: row 2 contains NaN or Inf"):
        draqcore.cost_matrix(a, b)


def test_float64_overflowing_float32_is_reported():
    a = np.full((2, 2), 1e300)
    with pytest.raises(ValueError, match="a: contains values too large for float32"):
        draqcore.cost_matrix(a, np.ones((2, 2)))


def test_output_above_memory_limit_fails_before_allocating():
    draqcore.set_memory_limit(1 << 20)
    try:
        a = np.ones((1000, 2), dtype=np.float32)
        with pytest.raises(MemoryError, match="cost_matrix output would need"):
            draqcore.cost_matrix(a, a)
    finally:
        draqcore.set_memory_limit(None)
    assert draqcore.memory_limit() == 8 << 30


@pytest.mark.parametrize("kernel", draqcore._core.available_cost_kernels())
@pytest.mark.parametrize("metric", ["cosine", "sqeuclidean"])
def test_every_dispatched_kernel_matches_reference(rng, kernel, metric):
    # Shapes that exercise every remainder of the panel (8/16/32 rows) and the 6-column tile.
    a = rng.standard_normal((37, 70))
    b = rng.standard_normal((23, 70))
    want = reference.cost_matrix(a, b, metric)
    draqcore._core.set_cost_kernel(kernel)
    try:
        assert draqcore._core.cost_kernel() == kernel
        got = draqcore.cost_matrix(a, b, metric)
        batch = draqcore.draq_batch(a, [b], metric=metric)
    finally:
        draqcore._core.set_cost_kernel("auto")
    scale = 1.0 if metric == "cosine" else float(np.abs(want).max())
    np.testing.assert_allclose(got, want, atol=2e-5 * scale, rtol=1e-4)
    assert batch.dtw_cost[0] == pytest.approx(draqcore.dtw(want).cost, rel=1e-4)


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="unknown cost kernel"):
        draqcore._core.set_cost_kernel("neon")


def test_tiny_rows_count_as_zero_and_huge_rows_are_refused():
    a = np.array([[0.0, 0.0], [1e-20, 0.0], [1.0, 1.0]], dtype=np.float32)
    b = np.array([[1e-40, 0.0], [3.0, 4.0]], dtype=np.float32)
    c = draqcore.cost_matrix(a, b)
    np.testing.assert_array_equal(c[:2], 1.0)
    np.testing.assert_array_equal(c[:, 0], 1.0)
    with pytest.raises(ValueError, match="b: row 1 has norm .* above the supported"):
        draqcore.cost_matrix(a, np.array([[1.0, 1.0], [1e30, 0.0]], dtype=np.float32))


def _sum_of_squares_in_kernel_order(x: np.ndarray) -> np.ndarray:
    # The kernel's order per row, in float64: accumulator l sums features l, l + 16, l + 32, ...
    # (then the tail, d mod 16 features, into accumulators 0, 1, ...), and the 16 accumulators
    # fold pairwise (8, 4, 2, 1).
    x = x.astype(np.float64)
    rows, d = x.shape
    acc = np.zeros((rows, 16))
    full = d // 16 * 16
    for k in range(0, full, 16):
        acc += x[:, k:k + 16] * x[:, k:k + 16]
    tail = d - full
    acc[:, :tail] += x[:, full:] * x[:, full:]
    for w in (8, 4, 2, 1):
        acc[:, :w] += acc[:, w:2 * w]
    return acc[:, 0]


@pytest.mark.parametrize("d", [1, 5, 16, 17, 130, 1031])
@pytest.mark.parametrize("rows", [1, 3, 4, 7, 255, 256, 257, 1030])
def test_squared_norms_follow_the_kernel_order_for_every_row(rng, rows, d):
    # Row norms are computed several rows at a time, in chunks: every row, every remainder of the
    # 16 accumulators and of the rows per step, and chunk boundaries. Against an all-zero row the
    # squared-euclidean cost is the row's squared norm, rounded once to float32.
    a = (rng.standard_normal((rows, d)) * rng.uniform(0.1, 10.0, size=(rows, 1))).astype(np.float32)
    a[rows // 2] = 0.0
    got = draqcore.cost_matrix(a, np.zeros((1, d), dtype=np.float32), "sqeuclidean")[:, 0]
    np.testing.assert_array_equal(got, _sum_of_squares_in_kernel_order(a).astype(np.float32))
    # ... and the cosine scales equal 1 / norm (rows against themselves: cost 0, the zero row 1).
    diag = np.diagonal(draqcore.cost_matrix(a, a))
    assert diag[rows // 2] == 1.0
    np.testing.assert_allclose(np.delete(diag, rows // 2), 0.0, atol=2e-6)


def test_a_bad_row_in_a_later_chunk_is_named(rng):
    a = rng.standard_normal((700, 9)).astype(np.float32)
    a[611, 4] = np.inf
    with pytest.raises(ValueError, match=r"a: row 611 contains NaN or Inf"):
        draqcore.cost_matrix(a, a[:3])
    a[611, 4] = 0.0
    a[513] = 2e18
    with pytest.raises(ValueError, match=r"a: row 513 has norm .* above the supported"):
        draqcore.cost_matrix(a, a[:3])

"""Single-kernel benchmarks of the performance issue, each against its peer in the same run.

* cost_matrix on (150 x 1024) against (15 000 x 1024), normalisation included, vs NumPy float32
  matmul of pre-normalised rows (target: >= 85 % of its throughput);
* dtw with path on one 512 x 512 cost matrix vs librosa.sequence.dtw(C=..., backtrack=True)
  (target: >= 10x faster);
* one small pair (64 x 64 frames, d = 128) through draq(cost_matrix(...)) and through draq_batch
  with one candidate (target: <= 30 us per call, Python overhead included);
* the rerank workload on 1 and 2 threads (target: 2 threads >= 1.8x faster).
"""

from __future__ import annotations

import numpy as np
import pytest

import draqcore
from workloads import normalized_rows


@pytest.fixture(scope="module")
def big_pair():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((150, 1024)).astype(np.float32)
    b = rng.standard_normal((15_000, 1024)).astype(np.float32)
    return a, b


@pytest.mark.benchmark(group="cost_matrix", min_rounds=5)
def test_cost_matrix_draqcore(benchmark, big_pair):
    a, b = big_pair
    out = benchmark(draqcore.cost_matrix, a, b)
    assert out.shape == (150, 15_000)


@pytest.mark.benchmark(group="cost_matrix", min_rounds=5)
def test_cost_matrix_numpy_matmul_floor(benchmark, big_pair):
    a, b = big_pair
    an, bn = normalized_rows(a), normalized_rows(b)
    benchmark(np.matmul, an, bn.T)


@pytest.fixture(scope="module")
def cost512():
    return np.random.default_rng(2).random((512, 512)).astype(np.float32)


@pytest.mark.benchmark(group="dtw512", min_rounds=5)
def test_dtw512_draqcore(benchmark, cost512):
    res = benchmark(draqcore.dtw, cost512)
    assert res.path.shape[1] == 2


@pytest.mark.benchmark(group="dtw512", min_rounds=5)
def test_dtw512_librosa_baseline(benchmark, cost512):
    librosa = pytest.importorskip("librosa")
    c64 = cost512.astype(np.float64)
    librosa.sequence.dtw(C=c64, backtrack=True)  # numba compilation outside the timing
    benchmark(librosa.sequence.dtw, C=c64, backtrack=True)


@pytest.fixture(scope="module")
def small_pair():
    rng = np.random.default_rng(3)
    return rng.standard_normal((64, 128)).astype(np.float32), rng.standard_normal((64, 128)).astype(np.float32)


@pytest.mark.benchmark(group="small_pair", min_rounds=200)
def test_small_draq_of_cost_matrix(benchmark, small_pair):
    a, b = small_pair
    benchmark(lambda: draqcore.draq(draqcore.cost_matrix(a, b)))


@pytest.mark.benchmark(group="small_pair", min_rounds=200)
def test_small_draq_batch_one_candidate(benchmark, small_pair):
    a, b = small_pair
    benchmark(draqcore.draq_batch, a, [b])


@pytest.mark.benchmark(group="threads", min_rounds=5)
@pytest.mark.parametrize("threads", [1, 2])
def test_rerank_exact_threads(benchmark, rerank, threads):
    benchmark(draqcore.draq_batch, rerank.query, rerank.candidates, method="exact", return_paths=True, threads=threads)

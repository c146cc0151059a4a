"""Threads next door and one long pair (performance issue 14), each case against its peer in one run.

* one pair, T = 1024 and T = 4096, d = 1024, exact DRAQ with path (``draq_batch(a, [b])``), on 2
  threads and on 1, and with ``subsequence=True``, against NumPy float32 matmul of the same
  (pre-normalised) cost matrix (target: <= 1.2x the matmul; 2 threads >= 1.7x 1 thread);
* the rerank workload right after a NumPy matmul (untimed setup) against the same call after a
  pause (target: <= 1.2x);
* 10 candidates right after a NumPy matmul on 2 threads and on 1 (target: 2 never slower);
* re-ranking 50 candidates from raw features with contextualization folded into the kernel
  (``contextualize=True``, what ``Collection.search`` runs), against ``draq_batch`` of already
  contextualized features alone (target: <= 1.2x) and the former per-candidate Python loop.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import draqcore
from workloads import normalized_rows


def _pair(T: int, seed: int):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((T, 1024)).astype(np.float32)
    b = rng.standard_normal((T, 1024)).astype(np.float32)
    return a, b


@pytest.fixture(scope="module", params=[1024, 4096], ids=lambda t: f"T{t}")
def long_pair(request):
    return request.param, _pair(request.param, 7)


def _rounds(T: int) -> int:
    return 5 if T >= 4096 else 15


@pytest.mark.parametrize("threads", [2, 1])
def test_one_pair_draqcore(benchmark, long_pair, threads):
    T, (a, b) = long_pair
    benchmark.group = f"one_pair_T{T}"
    res = benchmark.pedantic(draqcore.draq_batch, args=(a, [b]), kwargs=dict(return_paths=True, threads=threads),
                             rounds=_rounds(T), iterations=1, warmup_rounds=1)
    assert res.paths[0].shape[1] == 2


def test_one_pair_draqcore_subsequence(benchmark, long_pair):
    T, (a, b) = long_pair
    benchmark.group = f"one_pair_T{T}"
    res = benchmark.pedantic(draqcore.draq_batch, args=(a, [b]),
                             kwargs=dict(return_paths=True, threads=2, subsequence=True),
                             rounds=_rounds(T), iterations=1, warmup_rounds=1)
    assert np.isfinite(res.draq).all()


def test_one_pair_numpy_matmul_floor(benchmark, long_pair):
    T, (a, b) = long_pair
    benchmark.group = f"one_pair_T{T}"
    an, bn = normalized_rows(a), normalized_rows(b)
    benchmark.pedantic(np.matmul, args=(an, bn.T), rounds=_rounds(T), iterations=1, warmup_rounds=1)


@pytest.fixture(scope="module")
def numpy_work():
    x = np.random.default_rng(9).standard_normal((600, 1024)).astype(np.float32)

    def matmul() -> None:  # ~0.7 GFLOP: OpenBLAS wakes all its threads (a setup returns None)
        x @ x.T

    return matmul


@pytest.mark.benchmark(group="after_numpy")
@pytest.mark.parametrize("before", ["pause_baseline", "numpy_matmul"])
def test_rerank_after(benchmark, rerank, numpy_work, before):
    setup = numpy_work if before == "numpy_matmul" else (lambda: time.sleep(0.3))
    benchmark.pedantic(draqcore.draq_batch, args=(rerank.query, rerank.candidates),
                       kwargs=dict(return_paths=True), setup=setup, rounds=15, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="ten_after_numpy")
@pytest.mark.parametrize("threads", [1, 2], ids=["1thread_baseline", "2threads"])
def test_ten_candidates_after_numpy(benchmark, rerank, numpy_work, threads):
    benchmark.pedantic(draqcore.draq_batch, args=(rerank.query, rerank.candidates[:10]),
                       kwargs=dict(return_paths=True, threads=threads), setup=numpy_work, rounds=40, iterations=1,
                       warmup_rounds=2)


@pytest.fixture(scope="module")
def raw_rerank():
    rng = np.random.default_rng(0)
    query = rng.standard_normal((150, 512)).astype(np.float32)
    cands = [rng.standard_normal((int(t), 512)).astype(np.float32) for t in rng.integers(100, 201, size=50)]
    return query, cands


@pytest.mark.benchmark(group="search_rerank")
def test_rerank50_contextualized_inputs_baseline(benchmark, raw_rerank):
    query, cands = raw_rerank
    qc, cc = draqcore.contextualize(query), draqcore.contextualize_batch(cands)
    benchmark.pedantic(draqcore.draq_batch, args=(qc, cc), kwargs=dict(return_paths=True), rounds=25, iterations=1,
                       warmup_rounds=1)


@pytest.mark.benchmark(group="search_rerank")
def test_rerank50_folded_contextualize(benchmark, raw_rerank):
    query, cands = raw_rerank
    benchmark.pedantic(draqcore.draq_batch, args=(query, cands), kwargs=dict(return_paths=True, contextualize=True),
                       rounds=25, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="search_rerank")
def test_rerank50_contextualize_batch_then_draq_batch(benchmark, raw_rerank):
    query, cands = raw_rerank
    benchmark.pedantic(lambda: draqcore.draq_batch(draqcore.contextualize(query), draqcore.contextualize_batch(cands),
                                                   return_paths=True), rounds=25, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="search_rerank")
def test_rerank50_python_loop_of_contextualize(benchmark, raw_rerank):
    query, cands = raw_rerank
    benchmark.pedantic(lambda: draqcore.draq_batch(draqcore.contextualize(query), [draqcore.contextualize(c) for c in cands],
                                                   return_paths=True), rounds=25, iterations=1, warmup_rounds=1)

"""The rerank workload (core issue): one query against 100 candidates, cosine, paths returned.

Peers timed in the same run on the same pairs: librosa's and dtw-python's DTW (no DRAQ), a numba implementation
of the paper, and NumPy float32 matmul of the same cost matrices alone (the GEMM floor).
Run: python -m pytest bench/bench_rerank.py --benchmark-only --benchmark-json=bench.json
"""

from __future__ import annotations

import numpy as np
import pytest

import draqcore
from workloads import normalized_rows

pytestmark = pytest.mark.benchmark(group="rerank", min_rounds=5)


def test_draqcore_exact(benchmark, rerank):
    res = benchmark(draqcore.draq_batch, rerank.query, rerank.candidates, method="exact", return_paths=True)
    assert np.isfinite(res.draq).all()


def test_draqcore_sampled_k100(benchmark, rerank):
    res = benchmark(draqcore.draq_batch, rerank.query, rerank.candidates, method="sampled", k=100, return_paths=True)
    assert np.isfinite(res.draq).all()


def test_draqcore_exact_1thread(benchmark, rerank):
    benchmark(draqcore.draq_batch, rerank.query, rerank.candidates, method="exact", return_paths=True, threads=1)


def test_numpy_matmul_floor(benchmark, rerank):
    q = normalized_rows(rerank.query)
    cands = [normalized_rows(c) for c in rerank.candidates]

    def run():
        return [q @ c.T for c in cands]

    benchmark(run)


def test_librosa_dtw(benchmark, rerank):
    librosa = pytest.importorskip("librosa")
    qt = np.ascontiguousarray(rerank.query.T)
    cts = [np.ascontiguousarray(c.T) for c in rerank.candidates]

    def run():
        return [librosa.sequence.dtw(X=qt, Y=ct, metric="cosine", backtrack=True) for ct in cts]

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)


def test_numba_paper(benchmark, rerank):
    pytest.importorskip("numba")
    from numba_reference import draq_all

    draq_all(rerank.query, rerank.candidates[:2])  # compile outside the timing
    benchmark.pedantic(draq_all, args=(rerank.query, rerank.candidates), rounds=3, iterations=1, warmup_rounds=1)


def test_dtw_python(benchmark, rerank):
    dtw_python = pytest.importorskip("dtw")  # the dtw-python package: DTW only, no DRAQ
    pattern = dtw_python.stepPattern.symmetric1  # the (1,0), (0,1), (1,1) steps of Eq. 5

    def run():
        return [dtw_python.dtw(rerank.query, c, dist_method="cosine", step_pattern=pattern) for c in rerank.candidates]

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)

"""Subsequence mode (a short query inside long videos) against the ordinary mode, side by side.

* subsequence-batch: one 150-frame query against 20 candidates of 1000-2000 frames (d = 1024,
  cosine, paths returned; bench/workloads.py), draq_batch with subsequence=True and False, exact
  and sampled (k = 100), and NumPy float32 matmul of the same cost matrices alone (the GEMM floor).
* subsequence-dtw: one 150 x 3000 cost matrix: dtw with path and draq, both modes, and
  librosa.sequence.dtw(C=..., subseq=True, backtrack=True), the peer.
Run: python -m pytest bench/bench_subsequence.py --benchmark-only --benchmark-json=bench.json
"""

from __future__ import annotations

import numpy as np
import pytest

import draqcore
from workloads import long_video_workload, normalized_rows


@pytest.fixture(scope="module")
def longvid():
    return long_video_workload()


@pytest.fixture(scope="module")
def cost3000():
    rng = np.random.default_rng(2)
    video = np.cumsum(rng.standard_normal((3000, 64)), axis=0).astype(np.float32)
    query = video[1200:1350] + rng.standard_normal((150, 64)).astype(np.float32)
    return draqcore.cost_matrix(query, video, metric="euclidean")


batch = pytest.mark.benchmark(group="subsequence-batch", min_rounds=5)
single = pytest.mark.benchmark(group="subsequence-dtw", min_rounds=5)


@batch
def test_batch_exact_whole(benchmark, longvid):
    res = benchmark(draqcore.draq_batch, longvid.query, longvid.candidates, return_paths=True)
    assert np.isfinite(res.draq).all()


@batch
def test_batch_exact_subsequence(benchmark, longvid):
    res = benchmark(draqcore.draq_batch, longvid.query, longvid.candidates, return_paths=True, subsequence=True)
    assert np.isfinite(res.draq).all()
    # the excerpt's source ranks first and is found where the excerpt came from
    assert int(np.argmin(res.draq)) == 0 and abs(res.spans[0, 0] - 400) <= 10 and abs(res.spans[0, 1] - 600) <= 10


@batch
def test_batch_sampled_whole(benchmark, longvid):
    benchmark(draqcore.draq_batch, longvid.query, longvid.candidates, method="sampled", k=100, return_paths=True)


@batch
def test_batch_sampled_subsequence(benchmark, longvid):
    benchmark(draqcore.draq_batch, longvid.query, longvid.candidates, method="sampled", k=100, return_paths=True, subsequence=True)


@batch
def test_batch_numpy_matmul_floor(benchmark, longvid):
    q = normalized_rows(longvid.query)
    cands = [normalized_rows(c) for c in longvid.candidates]
    benchmark(lambda: [q @ c.T for c in cands])


@single
def test_dtw_whole(benchmark, cost3000):
    benchmark(draqcore.dtw, cost3000)


@single
def test_dtw_subsequence(benchmark, cost3000):
    res = benchmark(draqcore.dtw, cost3000, subsequence=True)
    assert abs(res.span[0] - 1200) <= 5 and abs(res.span[1] - 1349) <= 5


@single
def test_draq_whole(benchmark, cost3000):
    benchmark(draqcore.draq, cost3000)


@single
def test_draq_subsequence(benchmark, cost3000):
    benchmark(draqcore.draq, cost3000, subsequence=True)


@single
def test_librosa_subseq_baseline(benchmark, cost3000):
    librosa = pytest.importorskip("librosa")
    c64 = cost3000.astype(np.float64)
    librosa.sequence.dtw(C=c64, subseq=True, backtrack=True)  # numba compilation outside the timing
    benchmark(librosa.sequence.dtw, C=c64, subseq=True, backtrack=True)

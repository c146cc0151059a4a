"""Subsequence mode (a short query inside long videos) against the ordinary mode, side by side.

* subsequence-batch: one 150-frame query against 20 candidates of 1000-2000 frames (d = 1024,
  cosine, paths returned; bench/workloads.py), draq_batch with subsequence=True and False, exact
  and sampled (k = 100), and NumPy float32 matmul of the same cost matrices alone (the GEMM floor).
* subsequence-dtw: one 150 x 3000 cost matrix: dtw with path and draq, both modes, and
  librosa.sequence.dtw(C=..., subseq=True, backtrack=True), the peer.
* search-probe: re-ranking 50 candidates of 60-140 frames (d = 588, the default OpenCV feature
  size) against a 100-frame query, all shorter than SUBSEQUENCE_RATIO x the query, as
  Collection.search does it: end to end only (subsequence=False, the paper's re-ranking) and with
  the probe of shorter candidates by segment (subsequence=None, the default).
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


probe = pytest.mark.benchmark(group="search-probe", min_rounds=10)


@pytest.fixture(scope="module")
def short_candidates():
    rng = np.random.default_rng(3)
    query = np.cumsum(rng.standard_normal((100, 588)), axis=0).astype(np.float32)
    cands = [np.cumsum(rng.standard_normal((int(t), 588)), axis=0).astype(np.float32)
             for t in rng.integers(60, 141, size=50)]
    return query, cands


@probe
def test_rerank_end_to_end_only(benchmark, short_candidates):
    from draqcore.collection.search import _score_candidates

    q, cands = short_candidates
    out = benchmark(_score_candidates, q, cands, subsequence=False, method="exact", k=100, seed=0, band=None)
    assert len(out) == 50 and not any(m.subsequence for m in out)


@probe
def test_rerank_with_probe(benchmark, short_candidates):
    from draqcore.collection.search import _score_candidates

    q, cands = short_candidates
    out = benchmark(_score_candidates, q, cands, subsequence=None, method="exact", k=100, seed=0, band=None)
    assert len(out) == 50

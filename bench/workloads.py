"""Seeded inputs shared by the benchmarks (the core issue's rerank workload and friends)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import draqcore


@dataclass(frozen=True)
class RerankWorkload:
    """Query T = 150, 100 candidates with T ~ U[100, 200], raw d = 512 -> contextualized 1024."""

    query: np.ndarray                 # (150, 1024) float32, contextualized
    candidates: list[np.ndarray]      # 100 x (T_c, 1024) float32, contextualized

    @property
    def cells(self) -> int:
        return sum(len(self.query) * len(c) for c in self.candidates)


def rerank_workload(seed: int = 0) -> RerankWorkload:
    rng = np.random.default_rng(seed)
    raw_query = rng.standard_normal((150, 512)).astype(np.float32)
    lengths = rng.integers(100, 201, size=100)
    raw_cands = [rng.standard_normal((int(t), 512)).astype(np.float32) for t in lengths]
    return RerankWorkload(
        query=draqcore.contextualize(raw_query),
        candidates=[draqcore.contextualize(c) for c in raw_cands],
    )


def normalized_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms == 0, 1, norms)).astype(np.float32)


@dataclass(frozen=True)
class LongVideoWorkload:
    """A 150-frame query against 20 long candidates (T ~ U[1000, 2000]), d = 1024. Candidates are
    smooth random walks (like frame features of a video); the query is a 150-frame excerpt of
    candidate 0 (frames 400..600 played at a varying speed, plus noise), so subsequence matches
    have real spans rather than collapsing onto one frame. Not contextualized: the clip-level
    context of Eq. 2-3 differs between an excerpt and its long source, which is the pipeline's
    business, not the kernel's."""

    query: np.ndarray
    candidates: list[np.ndarray]

    @property
    def cells(self) -> int:
        return sum(len(self.query) * len(c) for c in self.candidates)


def long_video_workload(seed: int = 0) -> LongVideoWorkload:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1000, 2001, size=20)
    cands = [np.cumsum(rng.standard_normal((int(t), 1024)), axis=0).astype(np.float32) for t in lengths]
    t = 400 + 200 * np.linspace(0, 1, 150) ** 1.5
    query = cands[0][np.round(t).astype(int)] + rng.standard_normal((150, 1024)).astype(np.float32)
    return LongVideoWorkload(query=query, candidates=cands)

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

"""A straightforward numba implementation of the paper's DRAQ (Sec. 3), as a researcher would
write it from the text: cosine cost matrix by normalised matmul, DTW by the textbook recurrence
with a traceback matrix, and k random paths sampled with NumPy's generator. Used only as a
baseline in the benchmarks."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def cosine_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    an = a / np.sqrt((a * a).sum(axis=1)).reshape(-1, 1)
    bn = b / np.sqrt((b * b).sum(axis=1)).reshape(-1, 1)
    return 1.0 - an @ bn.T


@numba.njit(cache=True)
def dtw_with_path(cost: np.ndarray):
    n, m = cost.shape
    D = np.empty((n, m))
    D[0, 0] = cost[0, 0]
    for j in range(1, m):
        D[0, j] = D[0, j - 1] + cost[0, j]
    for i in range(1, n):
        D[i, 0] = D[i - 1, 0] + cost[i, 0]
        for j in range(1, m):
            D[i, j] = cost[i, j] + min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
    path = []
    i, j = n - 1, m - 1
    path.append((i, j))
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            best = min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
            if D[i - 1, j - 1] == best:
                i -= 1
                j -= 1
            elif D[i - 1, j] == best:
                i -= 1
            else:
                j -= 1
        path.append((i, j))
    return D[n - 1, m - 1], path[::-1]


@numba.njit(cache=True)
def random_path_cost_mean(cost: np.ndarray, k: int, seed: int) -> float:
    np.random.seed(seed)
    n, m = cost.shape
    total = 0.0
    for _ in range(k):
        i, j = n, m
        s = cost[i - 1, j - 1]
        while i > 1 or j > 1:
            di, dj = 0, 0
            while di == 0 and dj == 0:
                di = -1 if (i > 1 and np.random.random() < i / (i + j)) else 0
                dj = -1 if (j > 1 and np.random.random() < j / (i + j)) else 0
            i += di
            j += dj
            s += cost[i - 1, j - 1]
        total += s
    return total / k


def draq_all(query: np.ndarray, candidates: list[np.ndarray], k: int = 100, seed: int = 0):
    out = []
    for c in candidates:
        cost = cosine_cost(query, c)
        d, path = dtw_with_path(cost)
        out.append((d / random_path_cost_mean(cost, k, seed), path))
    return out

"""Slow, obviously-correct reference implementations the kernels are tested against.

Everything here is plain Python/NumPy in float64 and follows the paper's text literally.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def cost_matrix(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    b = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    out = np.empty((len(a), len(b)))
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if metric == "cosine":
                nx, ny = np.linalg.norm(x), np.linalg.norm(y)
                cos = 0.0 if nx < 1e-15 or ny < 1e-15 else float(x @ y) / (nx * ny)
                out[i, j] = min(2.0, max(0.0, 1.0 - cos))
            elif metric == "sqeuclidean":
                out[i, j] = float(((x - y) ** 2).sum())
            else:
                out[i, j] = float(np.sqrt(((x - y) ** 2).sum()))
    return out


def contextualize(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    T = len(f)
    rows = []
    for j in range(T):
        rows.append(np.concatenate([f[j], f[: j + 1].sum(axis=0) / T]))
    g = np.array(rows)
    return g - g.mean(axis=0)


def monotone_paths(n: int, m: int):
    """Every path from (0, 0) to (n-1, m-1) with steps (1,0), (0,1), (1,1)."""

    def extend(path):
        i, j = path[-1]
        if (i, j) == (n - 1, m - 1):
            yield list(path)
            return
        for di, dj in ((1, 1), (1, 0), (0, 1)):
            if i + di < n and j + dj < m:
                path.append((i + di, j + dj))
                yield from extend(path)
                path.pop()

    yield from extend([(0, 0)])


def band_mask(n: int, m: int, r: int | None) -> np.ndarray:
    """The documented Sakoe-Chiba band, evaluated cell by cell with exact fractions."""
    mask = np.ones((n, m), dtype=bool)
    if r is None or n == 1 or m == 1:
        return mask
    N, M = n - 1, m - 1
    for i in range(n):
        for j in range(m):
            if N <= M:
                s = Fraction(M, N)
                mask[i, j] = abs(j - i * s) <= max(Fraction(r), s / 2)
            else:
                s = Fraction(N, M)
                mask[i, j] = abs(i - j * s) <= max(Fraction(r), s / 2)
    return mask


def brute_force_dtw(cost: np.ndarray, band: int | None = None) -> float:
    """Minimum over every monotone path (inside the band) of the summed cost."""
    n, m = cost.shape
    mask = band_mask(n, m, band)
    best = np.inf
    for path in monotone_paths(n, m):
        if all(mask[i, j] for i, j in path):
            best = min(best, sum(float(cost[i, j]) for i, j in path))
    return best


def _step_back(D: np.ndarray, i: int, j: int) -> tuple[int, int]:
    """The traceback's predecessor of (i, j) under the documented tie rule: diagonal, up, left."""
    diag = D[i - 1, j - 1] if i > 0 and j > 0 else np.inf
    up = D[i - 1, j] if i > 0 else np.inf
    left = D[i, j - 1] if j > 0 else np.inf
    best = min(diag, up, left)
    if diag == best:
        return i - 1, j - 1
    if up == best:
        return i - 1, j
    return i, j - 1


def dtw_with_ties(cost: np.ndarray, band: int | None = None):
    """Textbook DP in float64 with the documented tie rule: diagonal, then up, then left."""
    n, m = cost.shape
    mask = band_mask(n, m, band)
    D = np.full((n, m), np.inf)
    for i in range(n):
        for j in range(m):
            if not mask[i, j]:
                continue
            if i == 0 and j == 0:
                D[i, j] = cost[0, 0]
                continue
            cands = []
            if i > 0 and j > 0:
                cands.append(D[i - 1, j - 1])
            else:
                cands.append(np.inf)
            cands.append(D[i - 1, j] if i > 0 else np.inf)
            cands.append(D[i, j - 1] if j > 0 else np.inf)
            D[i, j] = cost[i, j] + min(cands)
    i, j = n - 1, m - 1
    path = [(i, j)]
    while (i, j) != (0, 0):
        i, j = _step_back(D, i, j)
        path.append((i, j))
    return float(D[-1, -1]), np.array(path[::-1], dtype=np.int64)


def step_distribution(i: int, j: int) -> dict[tuple[int, int], float]:
    """One step of the random process from 1-based (i, j), by the paper's literal recipe:
    independent draws di = -1 w.p. i/(i+j), dj = -1 w.p. j/(i+j), forced 0 on row/column 1,
    (0, 0) redrawn (i.e. conditioned away)."""
    p_i = 0.0 if i == 1 else i / (i + j)
    p_j = 0.0 if j == 1 else j / (i + j)
    raw = {}
    for di, pdi in ((-1, p_i), (0, 1 - p_i)):
        for dj, pdj in ((-1, p_j), (0, 1 - p_j)):
            raw[(di, dj)] = pdi * pdj
    keep = {mv: p for mv, p in raw.items() if mv != (0, 0) and p > 0}
    z = sum(keep.values())
    return {mv: p / z for mv, p in keep.items()}


def random_paths_with_probability(n: int, m: int):
    """Every path the random process can take, from (n, m) to (1, 1) (1-based), with its
    probability."""

    def walk(i, j, prob, cells):
        if (i, j) == (1, 1):
            yield cells, prob
            return
        for (di, dj), p in step_distribution(i, j).items():
            yield from walk(i + di, j + dj, prob * p, cells + [(i + di, j + dj)])

    yield from walk(n, m, 1.0, [(n, m)])


def expected_random_cost_by_enumeration(cost: np.ndarray) -> tuple[float, float]:
    """(expected path cost, total probability) by enumerating every path."""
    n, m = cost.shape
    expectation = 0.0
    total = 0.0
    for cells, prob in random_paths_with_probability(n, m):
        expectation += prob * sum(float(cost[i - 1, j - 1]) for i, j in cells)
        total += prob
    return expectation, total


def warp(path: np.ndarray, keep: int) -> np.ndarray:
    out = []
    last = None
    for t in path:
        if t[keep] != last:
            out.append(t[1 - keep])
            last = t[keep]
    return np.array(out, dtype=np.int64)



def subsequence_paths(n: int, m: int):
    """Every monotone path (steps (1,0), (0,1), (1,1)) from any (0, j0) to any (n-1, j1)."""
    for j0 in range(m):
        for j1 in range(j0, m):
            for path in monotone_paths(n, j1 - j0 + 1):
                yield [(i, j + j0) for i, j in path]


def brute_force_subsequence_dtw(cost: np.ndarray) -> float:
    """Minimum over every path of subsequence_paths() of the summed cost (float64)."""
    n, m = cost.shape
    return min(sum(float(cost[i, j]) for i, j in path) for path in subsequence_paths(n, m))


def subsequence_dtw_with_ties(cost: np.ndarray):
    """Textbook subsequence DP in float64 with the documented rules: D(0, j) = C(0, j) +
    min(0, D(0, j-1)) (a fresh start wins ties), other rows as dtw_with_ties, end at the first
    minimum of the last row, traceback diagonal, then up, then left, stopping where a path
    starts. Returns (cost, path, (j0, j1))."""
    n, m = cost.shape
    cost = np.asarray(cost, dtype=np.float64)
    D = np.full((n, m), np.inf)
    fresh = np.zeros((n, m), dtype=bool)  # row-0 cells where the path starts
    for j in range(m):
        left = D[0, j - 1] if j > 0 else np.inf
        if left < 0:
            D[0, j] = cost[0, j] + left
        else:
            D[0, j] = cost[0, j]
            fresh[0, j] = True
    for i in range(1, n):
        for j in range(m):
            diag = D[i - 1, j - 1] if j > 0 else np.inf
            up = D[i - 1, j]
            left = D[i, j - 1] if j > 0 else np.inf
            D[i, j] = cost[i, j] + min(diag, up, left)
    j1 = int(np.argmin(D[-1]))  # the first minimum
    i, j = n - 1, j1
    path = [(i, j)]
    while not (i == 0 and fresh[0, j]):
        i, j = _step_back(D, i, j)
        path.append((i, j))
    path = np.array(path[::-1], dtype=np.int64)
    return float(D[-1, j1]), path, (int(path[0, 1]), j1)

"""Frame-to-frame cost matrices (paper Eq. 4)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._runtime import quiet_blas_pools
from ._validate import as_sequence, as_threads

__all__ = ["Metric", "METRICS", "cost_matrix"]

Metric = Literal["cosine", "sqeuclidean", "euclidean"]
METRICS: tuple[str, ...] = ("cosine", "sqeuclidean", "euclidean")


def check_metric(metric: object) -> str:
    """Return ``metric`` if it names a supported metric, else raise ``ValueError``."""
    if metric not in METRICS:
        raise ValueError(f"metric: unknown metric {metric!r} (expected one of {', '.join(METRICS)})")
    return str(metric)


def cost_matrix(a: ArrayLike, b: ArrayLike, metric: Metric = "cosine", *, threads: int | None = None) -> np.ndarray:
    """Cost of every frame of ``a`` against every frame of ``b``.

    ``"cosine"`` implements paper Eq. 4, ``C(i, j) = 1 - a_i . b_j / (||a_i|| ||b_j||)``, clamped
    to [0, 2]. An all-zero row has no direction: it costs exactly 1.0 against everything
    (cosine similarity 0). ``"sqeuclidean"`` is ``||a_i - b_j||^2`` computed as
    ``||a_i||^2 + ||b_j||^2 - 2 a_i . b_j`` (clamped at 0; absolute error about 1e-7 times the
    squared norms), ``"euclidean"`` its square root. Dot products accumulate in float32.

    Parameters
    ----------
    a : array_like of shape (n, d) or (n,)
        Frame features of the first sequence; a 1-D input is (n, 1). Any real dtype.
    b : array_like of shape (m, d) or (m,)
        Frame features of the second sequence.
    metric : {"cosine", "sqeuclidean", "euclidean"}
    threads : int, optional
        OpenMP threads; ``None`` uses all cores.

    Returns
    -------
    ndarray of shape (n, m), float32

    Raises
    ------
    ValueError
        Wrong rank, empty input, mismatched feature dimensions, NaN/Inf, unknown metric.
    TypeError
        Non-numeric dtype.
    MemoryError
        When the output would exceed :func:`draqcore.memory_limit`.
    """
    metric = check_metric(metric)
    a32 = as_sequence(a, "a")
    b32 = as_sequence(b, "b")
    if a32.shape[1] != b32.shape[1]:
        raise ValueError(f"a and b: feature dimensions differ ({a32.shape[1]} vs {b32.shape[1]})")
    nthreads = as_threads(threads)
    quiet_blas_pools(nthreads, a32.shape[0] * b32.shape[0] * a32.shape[1])
    return _core.cost_matrix(a32, b32, metric, nthreads)

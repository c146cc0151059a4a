"""The paper's biased random monotone paths (Sec. 3, "DRAQ"): sampled costs and exact mean.

The process, with 1-based positions ``(i, j)``: start at ``(n, m)``; draw ``di = -1`` with
probability ``i / (i + j)`` and, independently, ``dj = -1`` with probability ``j / (i + j)``;
on row 1 ``di`` is 0 and on column 1 ``dj`` is 0; a ``(0, 0)`` draw is drawn again; move; stop at
``(1, 1)``. A path's cost is the sum of the cost matrix over every visited cell, both ends
included. Conditioned on not drawing ``(0, 0)``, a step from an interior cell is up with
probability ``i^2 / (i^2 + ij + j^2)``, diagonal with ``ij / (...)`` and left with
``j^2 / (...)``; the sampler draws one uniform per step from these, which is the same
distribution as the draw-and-redraw description.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._validate import as_cost, as_nonnegative_int, as_seed, as_threads

__all__ = ["random_path_costs", "expected_random_cost", "random_path"]


def random_path_costs(
    cost: ArrayLike, k: int, seed: int = 0, *, stream: int = 0, threads: int | None = None
) -> np.ndarray:
    """Costs of ``k`` sampled biased random paths through ``cost``.

    Parameters
    ----------
    cost : array_like of shape (n, m)
        Any real dtype; never modified.
    k : int
        Number of paths, ``k >= 1``.
    seed : int
        ``0 <= seed < 2**64``.
    stream : int
        Independent stream for the same seed; :func:`draqcore.draq_batch` uses the candidate's
        index, so ``random_path_costs(C_c, k, seed, stream=c)`` reproduces candidate ``c``.
    threads : int, optional
        OpenMP threads (``None`` = all cores). Results do not depend on it: path ``p`` draws
        from a counter-based generator keyed by ``(seed, stream, p)``.

    Returns
    -------
    ndarray of shape (k,), float64

    Raises
    ------
    ValueError
        Bad shape, empty, NaN/Inf, ``k < 1``, negative seed or stream.
    """
    c = as_cost(cost)
    k = as_nonnegative_int(k, "k", minimum=1)
    seed = as_seed(seed, "seed")
    stream = as_seed(stream, "stream")
    return _core.random_path_costs(c, k, seed, stream, as_threads(threads))


def expected_random_cost(cost: ArrayLike, *, subsequence: bool = False) -> float:
    """Exact expected cost of one biased random path — no sampling.

    ``E = sum_{i,j} V(i, j) C(i, j)`` where the visit probabilities ``V`` follow from a dynamic
    program from ``(n, m)`` towards ``(1, 1)``::

        V(n, m) = 1
        V(i, j) = V(i+1, j+1) p_diag(i+1, j+1) + V(i+1, j) p_up(i+1, j) + V(i, j+1) p_left(i, j+1)

    with the step probabilities of the module docstring (row 1 always moves left, column 1
    always up). ``random_path_costs(cost, k).mean()`` converges to it as ``k`` grows.
    O(n m) time, O(m) memory, float64 accumulation.

    With ``subsequence=True`` the random paths run through the columns ``j0 .. j1`` spanned by
    the best subsequence match (``dtw(cost, subsequence=True).span``): the result is
    ``expected_random_cost(cost[:, j0:j1+1])``, the denominator of
    ``draq(cost, subsequence=True)`` (see :func:`draqcore.draq` for why).

    Parameters
    ----------
    cost : array_like of shape (n, m)
    subsequence : bool

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Bad shape, empty, NaN/Inf.
    """
    return float(_core.expected_random_cost(as_cost(cost), bool(subsequence)))


def random_path(shape: tuple[int, int], seed: int = 0, *, stream: int = 0, index: int = 0) -> np.ndarray:
    """The cells of one sampled random path through an ``(n, m)`` matrix.

    Path ``index`` of stream ``(seed, stream)`` is the path whose cost is
    ``random_path_costs(cost, k, seed, stream=stream)[index]`` (for any ``k > index``), which
    makes the sampled costs inspectable and lets plots show the paths DRAQ compares against.

    Parameters
    ----------
    shape : (int, int)
        ``(n, m)``, both at least 1.
    seed, stream, index : int
        Non-negative.

    Returns
    -------
    ndarray of shape (L, 2), int64
        0-based cells from (0, 0) to (n-1, m-1), like a DTW path.
    """
    try:
        n, m = shape
    except (TypeError, ValueError):
        raise ValueError(f"shape: expected (n, m), got {shape!r}") from None
    n = as_nonnegative_int(n, "shape[0]", minimum=1)
    m = as_nonnegative_int(m, "shape[1]", minimum=1)
    return _core.random_path(
        n, m, as_seed(seed, "seed"), as_seed(stream, "stream"),
        as_seed(index, "index"),
    )

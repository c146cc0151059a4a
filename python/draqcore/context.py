"""Contextualized frame features (paper Eq. 2-3)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._validate import as_sequence

__all__ = ["contextualize"]


def contextualize(features: ArrayLike) -> np.ndarray:
    """Append temporal context to every frame feature and zero-centre over the clip.

    For frames ``f_1 .. f_T`` (paper Eq. 2-3)::

        g_j = f_j (+) (1/T) * sum_{t <= j} f_t        # (+) = concatenation, shape (2d,)
        out_j = g_j - (1/T) * sum_l g_l

    Parameters
    ----------
    features : array_like of shape (T, d) or (T,)
        Frame features of one clip (any real dtype; a 1-D input is (T, 1)).

    Returns
    -------
    ndarray of shape (T, 2d), float32
        Sums are accumulated in float64.

    Raises
    ------
    ValueError
        Wrong rank, empty input, NaN/Inf.
    TypeError
        Non-numeric dtype.
    """
    return _core.contextualize(as_sequence(features, "features"))

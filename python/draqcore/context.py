"""Contextualized frame features (paper Eq. 2-3)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from typing import Sequence

from . import _core
from ._validate import as_sequence, as_threads

__all__ = ["contextualize", "contextualize_batch"]


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


def contextualize_batch(features: Sequence[ArrayLike], *, threads: int | None = None) -> list[np.ndarray]:
    """:func:`contextualize` of many clips in one call, in parallel over clips.

    Equal, bit for bit, to ``[contextualize(f) for f in features]``, without a Python round trip
    per clip: the clips are converted, checked, given their outputs, and then contextualized in
    C++ with the GIL released (Eq. 2-3 per clip; sums in float64). Re-ranking calls it on all
    retrieved candidates at once (:meth:`draqcore.Collection.search`).

    Parameters
    ----------
    features : sequence of array_like of shape (T_c, d) or (T_c,)
        Frame features of each clip (any real dtype); every clip has the same ``d``.
    threads : int, optional
        OpenMP threads; ``None`` = all cores. Results do not depend on it.

    Returns
    -------
    list of ndarray of shape (T_c, 2d), float32

    Raises
    ------
    ValueError
        Wrong rank, empty clip, feature dimensions that differ, NaN/Inf, or a contextualized value
        beyond the float32 range — naming ``features[c]`` (the lowest such ``c``).
    TypeError
        ``features`` not a sequence of arrays, or a non-numeric dtype.
    """
    if isinstance(features, np.ndarray) or not isinstance(features, (list, tuple)):
        if isinstance(features, np.ndarray) and features.ndim != 3:
            raise TypeError("features: expected a list of (T_c, d) arrays")
        try:
            features = list(features)
        except TypeError:
            raise TypeError("features: expected a list of (T_c, d) arrays") from None
    seqs = []
    for i, f in enumerate(features):
        if type(f) is np.ndarray and f.dtype == np.float32 and f.ndim == 2 and f.flags.c_contiguous and f.size:
            seqs.append(f)  # already what the kernel reads
        else:
            seqs.append(as_sequence(f, "features[%d]" % i))
        if seqs[-1].shape[1] != seqs[0].shape[1]:
            raise ValueError(f"features[{i}]: feature dimension {seqs[-1].shape[1]} differs from features[0]'s {seqs[0].shape[1]}")
    return list(_core.contextualize_batch(seqs, as_threads(threads)))

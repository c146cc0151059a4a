"""Left-right mirror invariance of frame features.

A horizontally flipped video shows the same action, but most frame features change under the
flip (gradients and motion point the other way, left and right body parts swap), so without
care a mirrored copy of a clip aligns no better than an unrelated clip. An extractor that
knows how its features transform under the flip exposes a *feature-space mirror* ``M``:
``M(f(frame)) = f(flip(frame))``, a linear involution (``M(M(f)) = f``; a signed permutation
for the built-in extractors). From it, :func:`mirror_invariant_features` builds features that
do not change under the flip::

    g(f) = [ (f + M f) / 2 ,  |f - M f| / 2 ]            # shape (2 d,)

The first half is the mirror-symmetric part of ``f``; the second the magnitude of the
antisymmetric part (``M`` maps ``f - M f`` to its negative, so the absolute value is invariant).
For an orthogonal ``M``, ``|g| = |f|``. What is lost is exactly which side is which: a frame
and its mirror image get the same ``g``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["mirror_invariant_features"]


def mirror_invariant_features(features: Any, mirror: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Mirror-invariant features ``[(f + M f) / 2, |f - M f| / 2]`` (see the module docstring).

    Parameters
    ----------
    features : array_like of shape (T, d)
        Frame features (any real dtype; not modified).
    mirror : callable ``(T, d) float32 -> (T, d)``
        The feature-space mirror ``M`` of the extractor that computed ``features``.

    Returns
    -------
    ndarray of shape (T, 2 d), float32

    Raises
    ------
    ValueError
        ``features`` is not 2-D, or ``mirror`` changes the shape.
    """
    f = np.asarray(features, dtype=np.float32)
    if f.ndim != 2:
        raise ValueError(f"features: expected shape (T, d), got {f.shape}")
    m = np.asarray(mirror(f), dtype=np.float32)
    if m.shape != f.shape:
        raise ValueError(f"mirror returned shape {m.shape} for features of shape {f.shape}")
    out = np.empty((f.shape[0], 2 * f.shape[1]), dtype=np.float32)
    np.add(f, m, out=out[:, : f.shape[1]])
    np.abs(f - m, out=out[:, f.shape[1]:])
    out *= np.float32(0.5)
    return out

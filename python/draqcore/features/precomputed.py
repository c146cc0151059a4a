"""Features computed elsewhere: the extractor identity of a "bring your own features" collection.

A research group that has already run a backbone (an ImageNet ResNet, a video transformer, a
pose model) over its clips stores those ``(T, d)`` arrays in a collection made with
``Collection.create(path, extractor=Precomputed(dim=d, name="my-backbone"))`` and adds them with
:meth:`draqcore.Collection.add_features` / :meth:`~draqcore.Collection.add_features_batch`.
:class:`Precomputed` computes nothing: it carries the identity ``{"name": "precomputed",
"params": {"name": <name>, "dim": d}, "dim": d}`` that the collection stores and checks on every
:meth:`~draqcore.Collection.open`, exactly as for the built-in extractors, so features of two
different backbones (different ``name`` or ``d``) are never compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .base import as_positive_int, make_identity, register_extractor

__all__ = ["PRECOMPUTED_NAME", "Precomputed"]

#: The registered extractor name of precomputed features.
PRECOMPUTED_NAME = "precomputed"
_VERSION = "1"


class Precomputed:
    """The identity of frame features computed outside draqcore (paper Eq. 1, any backbone).

    Parameters
    ----------
    dim : int
        Feature dimension ``d`` (>= 1).
    name : str
        Which features these are (e.g. ``"nms-r50"``, ``"clip-vit-b32@1fps"``): a non-empty
        string of printable characters; part of the identity, so a collection made with one
        name refuses features announced under another.

    Raises
    ------
    TypeError
        ``dim`` not an integer, ``name`` not a string.
    ValueError
        ``dim < 1``; an empty or non-printable ``name``.
    """

    def __init__(self, dim: int, name: str) -> None:
        self.dim = as_positive_int(dim, "dim")
        if not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {type(name).__name__}")
        if not name or not name.isprintable() or len(name) > 200:
            raise ValueError(f"name: expected 1-200 printable characters naming the features, got {name!r}")
        self.features_name = name
        self.name = PRECOMPUTED_NAME
        self.params: Mapping[str, Any] = {"name": name, "dim": self.dim}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Precomputed":
        """Rebuild from the ``params`` of a stored identity (``{"name", "dim"}``)."""
        if set(params) != {"name", "dim"}:
            raise ValueError(f"{PRECOMPUTED_NAME}: expected params ['dim', 'name'], got {sorted(params)}")
        return cls(params["dim"], params["name"])

    def identity(self) -> dict[str, Any]:
        """``{"name": "precomputed", "params": {"name", "dim"}, "version", "dim"}`` (a fresh dict)."""
        return make_identity(self.name, self.params, _VERSION, self.dim)

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Always raises: precomputed features cannot be computed from video frames.

        Raises
        ------
        ValueError
            Always; add the features with :meth:`draqcore.Collection.add_features`.
        """
        raise ValueError(
            f"precomputed features {self.features_name!r} were computed outside draqcore: a video "
            "cannot be embedded with them; add features with Collection.add_features / "
            "`draq index --features DIR`, and search with a (T, d) array"
        )

    def __repr__(self) -> str:
        return f"Precomputed(dim={self.dim}, name={self.features_name!r})"


register_extractor(PRECOMPUTED_NAME, Precomputed.from_params)

"""The frame-feature extractor protocol, identities and the registry of built-in extractors.

An extractor turns the sampled frames of one video into the feature sequence of the paper's
Eq. 1, ``F = [f_1, ..., f_T]`` of shape ``(T, d)``. Every extractor carries an *identity*: a
small JSON-serialisable dict that says which features it computes. Stored features (a
collection, a cache) record the identity they were computed with, so that features of a query
are only ever compared with features of the same kind (:func:`same_identity`), and so that a
built-in extractor can be rebuilt from a stored identity (:func:`extractor_from_identity`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "DEFAULT_EXTRACTOR_NAME",
    "FrameFeatureExtractor",
    "ExtractorFactory",
    "as_positive_float",
    "as_positive_int",
    "canonical_params",
    "check_finite",
    "default_extractor",
    "extractor_from_identity",
    "iter_frames",
    "load_builtin_extractors",
    "make_identity",
    "register_extractor",
    "registered_extractors",
    "same_identity",
]

#: Name of the extractor returned by :func:`default_extractor` (needs no model weights).
DEFAULT_EXTRACTOR_NAME = "opencv-hog-color-flow"

_IDENTITY_KEYS = ("name", "params", "version", "dim")


@runtime_checkable
class FrameFeatureExtractor(Protocol):
    """Turns the sampled frames of one video into per-frame features (paper Eq. 1).

    Attributes
    ----------
    name : str
        Short name of the feature kind, e.g. ``"opencv-hog-color-flow"``.
    params : Mapping[str, Any]
        JSON-serialisable parameters that, together with ``name`` and the extractor's version,
        determine the features (batch sizes, devices and thread counts are *not* parameters:
        they do not change the result beyond floating-point rounding).
    dim : int
        Feature dimension ``d``.
    """

    name: str
    params: Mapping[str, Any]
    dim: int

    def identity(self) -> dict[str, Any]:
        """Return ``{"name", "params", "version", "dim"}``, JSON-serialisable, a fresh dict.

        Two extractors that produce different features have different identities.
        """
        ...

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Features of consecutive sampled frames of one video.

        Parameters
        ----------
        frames : iterable of ndarray of shape (H, W, 3), uint8, BGR
            The frames in temporal order (a generator is fine: frames are processed in
            batches, so memory does not grow with T beyond the output).

        Returns
        -------
        ndarray of shape (T, dim), float32
            Finite features, one row per frame.

        Raises
        ------
        ValueError
            No frames, or a frame of the wrong shape.
        TypeError
            A frame that is not a uint8 array.
        """
        ...


#: Rebuilds an extractor from the ``params`` of its identity.
ExtractorFactory = Callable[[Mapping[str, Any]], FrameFeatureExtractor]

_REGISTRY: dict[str, ExtractorFactory] = {}


def register_extractor(name: str, factory: ExtractorFactory, *, replace: bool = False) -> None:
    """Make :func:`extractor_from_identity` able to rebuild extractors called ``name``.

    Parameters
    ----------
    name : str
        The extractor's ``name``.
    factory : callable ``(params) -> FrameFeatureExtractor``
        Builds the extractor from the ``params`` stored in an identity. A factory may raise
        ``ValueError`` when the identity alone is not enough (e.g. model weights are needed).
    replace : bool, default False
        Allow replacing an existing registration.

    Raises
    ------
    ValueError
        ``name`` is already registered and ``replace`` is False, or ``name`` is empty.
    TypeError
        ``factory`` is not callable.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"extractor name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory for {name!r} must be callable, got {type(factory).__name__}")
    if name in _LAZY_BUILTINS:
        _factory(name)  # a built-in not loaded yet is still taken (no-op while its module registers it)
    if name in _REGISTRY and not replace:
        raise ValueError(f"an extractor named {name!r} is already registered")
    _REGISTRY[name] = factory


#: Built-in extractors whose module registers them when first needed, name -> module. The default
#: extractor's module imports OpenCV (tens of milliseconds), which a search of stored features or
#: of a precomputed-features collection never needs (see docs/benchmarks.md, "Cold `draq search`").
_LAZY_BUILTINS: dict[str, str] = {DEFAULT_EXTRACTOR_NAME: "draqcore.features.opencv_descriptor"}


def _factory(name: str) -> "ExtractorFactory | None":
    """The registered factory of ``name``, importing its built-in module on first use."""
    if name not in _REGISTRY and name in _LAZY_BUILTINS:
        import importlib

        importlib.import_module(_LAZY_BUILTINS[name])  # registers it
    return _REGISTRY.get(name)


def load_builtin_extractors() -> None:
    """Register every built-in extractor now (they are otherwise registered on first use)."""
    for name in _LAZY_BUILTINS:
        _factory(name)


def registered_extractors() -> tuple[str, ...]:
    """Names of the extractors :func:`extractor_from_identity` knows, sorted."""
    load_builtin_extractors()
    return tuple(sorted(_REGISTRY))


def canonical_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON round-trip of ``params`` (tuples become lists, keys must be strings).

    Raises
    ------
    TypeError
        ``params`` is not a mapping or holds values JSON cannot represent.
    ValueError
        ``params`` holds NaN or infinite floats.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping, got {type(params).__name__}")
    try:
        text = json.dumps(dict(params), sort_keys=True, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"params must not contain NaN or Inf: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"params must be JSON-serialisable: {exc}") from None
    out: dict[str, Any] = json.loads(text)
    return out


def make_identity(name: str, params: Mapping[str, Any], version: str, dim: int) -> dict[str, Any]:
    """Build an identity dict ``{"name", "params", "version", "dim"}`` (a fresh, canonical copy)."""
    return {
        "name": str(name),
        "params": canonical_params(params),
        "version": str(version),
        "dim": int(dim),
    }


def _checked_identity(identity: Any, argname: str) -> dict[str, Any]:
    if not isinstance(identity, Mapping):
        raise TypeError(f"{argname}: an identity must be a dict, got {type(identity).__name__}")
    missing = [k for k in _IDENTITY_KEYS if k not in identity]
    if missing:
        raise ValueError(
            f"{argname}: not an extractor identity, missing key(s) {missing} "
            f"(expected {list(_IDENTITY_KEYS)})"
        )
    dim = identity["dim"]
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
        raise ValueError(f"{argname}: 'dim' must be a positive integer, got {dim!r}")
    return make_identity(identity["name"], identity["params"], identity["version"], int(dim))


def same_identity(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two identities describe the same features.

    Compares ``name``, ``params`` (after a JSON round-trip, so ``(1, 2)`` equals ``[1, 2]``),
    ``version`` and ``dim``; any other keys are informational and ignored.

    Raises
    ------
    TypeError, ValueError
        Either argument is not an identity dict.
    """
    ca = _checked_identity(a, "a")
    cb = _checked_identity(b, "b")
    return json.dumps(ca, sort_keys=True) == json.dumps(cb, sort_keys=True)


def extractor_from_identity(identity: Mapping[str, Any]) -> FrameFeatureExtractor:
    """Rebuild a built-in extractor from its identity.

    Parameters
    ----------
    identity : dict
        As returned by ``FrameFeatureExtractor.identity()``.

    Returns
    -------
    FrameFeatureExtractor
        An extractor whose identity equals ``identity`` (:func:`same_identity`).

    Raises
    ------
    ValueError
        Unknown name; the identity needs something it does not hold (PyTorch extractors need
        the model: build ``TorchImageExtractor(model, ...)`` yourself and check it with
        :func:`same_identity`); or this version of draqcore computes different features
        (other ``version`` or ``dim``).
    """
    ident = _checked_identity(identity, "identity")
    name = ident["name"]
    factory = _factory(name)
    if factory is None:
        raise ValueError(
            f"unknown feature extractor {name!r}; known: {list(registered_extractors())}"
        )
    extractor = factory(ident["params"])
    rebuilt = _checked_identity(extractor.identity(), "rebuilt identity")
    if not same_identity(rebuilt, ident):
        raise ValueError(
            f"cannot reproduce features {name!r} version {ident['version']} (dim {ident['dim']}): "
            f"this draqcore computes version {rebuilt['version']} (dim {rebuilt['dim']}) "
            "with these parameters; recompute the stored features"
        )
    return extractor


def default_extractor() -> FrameFeatureExtractor:
    """The default extractor: OpenCV appearance and motion descriptors, no model weights.

    See :class:`draqcore.features.OpenCVDescriptorExtractor`.
    """
    factory = _factory(DEFAULT_EXTRACTOR_NAME)
    if factory is None:  # pragma: no cover - registered when its module is imported
        raise RuntimeError(f"the default extractor {DEFAULT_EXTRACTOR_NAME!r} is not registered")
    return factory({})


def iter_frames(frames: Iterable[np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    """Validate frames one by one: yield ``(index, frame)`` with ``frame`` C-contiguous.

    The caller's arrays are never written to (a copy is made only for non-contiguous frames).

    Parameters
    ----------
    frames : iterable of ndarray of shape (H, W, 3), uint8
        A 4-D array of shape (T, H, W, 3) is accepted as well.

    Yields
    ------
    index : int
    frame : ndarray of shape (H, W, 3), uint8, C-contiguous

    Raises
    ------
    TypeError
        ``frames`` is not iterable, or a frame is not a uint8 ndarray.
    ValueError
        A frame is not (H, W, 3) with H, W >= 1, a 4-D array of frames has the wrong shape,
        or a single (H, W, 3) frame was passed where a sequence of frames is expected.
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4:
            raise ValueError(
                "frames: a single array must have shape (T, H, W, 3), got shape "
                f"{frames.shape}; to extract one frame pass [frame]"
            )
    elif isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise TypeError(
            f"frames: expected an iterable of (H, W, 3) uint8 arrays, got {type(frames).__name__}"
        )
    for index, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray):
            raise TypeError(
                f"frame {index}: expected a numpy array, got {type(frame).__name__}"
            )
        if frame.dtype != np.uint8:
            raise TypeError(
                f"frame {index}: expected dtype uint8 (BGR, 0-255), got {frame.dtype}"
            )
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
            hint = ""
            if frame.ndim == 2:
                hint = " (grey frame? convert with cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))"
            raise ValueError(
                f"frame {index}: expected shape (H, W, 3) with H, W >= 1 (BGR), "
                f"got {frame.shape}{hint}"
            )
        yield index, np.ascontiguousarray(frame)


def check_finite(features: np.ndarray, what: str, first_row: int = 0) -> None:
    """Raise ``ValueError`` naming the first frame of ``features`` (T, d) with NaN/Inf.

    ``first_row`` is the frame index of ``features[0]`` (for batches inside a video).
    """
    finite = np.isfinite(features)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise ValueError(f"{what}: NaN/Inf features for frame {first_row + bad}")


def as_positive_int(value: Any, name: str) -> int:
    """An integer >= 1 (bools and floats are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name}: must be at least 1, got {value}")
    return int(value)


def as_positive_float(value: Any, name: str) -> float:
    """A finite float > 0."""
    is_number = isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, (bool, np.bool_)) or not is_number:
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {value}")
    return out

"""Adapters that turn PyTorch image or clip backbones into frame-feature extractors.

``torch`` is optional: it is imported only when an extractor is built, so importing
:mod:`draqcore.features` works without it.

Preprocessing, done in torch on the model's device: BGR -> RGB, uint8 -> float in [0, 1],
resize to ``input_size`` (height, width) with ``torch.nn.functional.interpolate`` (bilinear,
antialiased, ``align_corners=False``; frames of any size, also mixed inside one video, are
resized directly), then ``(x - mean) / std`` per RGB channel. The model runs under
``torch.inference_mode`` in batches; its output for a batch of ``B`` inputs must be a tensor
with ``B`` rows, flattened to ``(B, d)``, and finite.

Identity: ``params`` holds a SHA-256 of the model (``model_sha256``) together with the
preprocessing parameters. For a TorchScript file it is the hash of the file's bytes; for an
``nn.Module`` object it hashes the module's class, its ``repr`` (layer configuration), every
entry of its ``state_dict`` (names, dtypes, shapes, bytes) and, for scripted modules, their
TorchScript code. The Python source of ``forward`` is *not* hashed: two modules of the same
class, layers and weights whose ``forward`` differ get the same identity -- give such classes
different names. The model is copied (``copy.deepcopy``) when the extractor is built, so
later changes to the caller's model neither affect the extractor nor stale its identity, and
the caller's model is never moved or switched to eval mode.

GPU path (``device="cuda"``, the default when CUDA is available):

* **decoding to tensor in batches**: the decoded uint8 frames of a batch are written straight
  into a reused host staging buffer (no ``np.stack`` copy) and moved to the device as uint8
  (a quarter of the bytes of float32); conversion, resize and normalisation run on the device;
* **pinned memory** (``pin_memory=None``: on for CUDA): the staging buffers are page-locked, so
  the host-to-device copy is asynchronous (``non_blocking=True``); two buffers alternate and a
  CUDA event guards each, so the next batch is decoded while the previous one is copied and
  run; :class:`TorchImageExtractor` fetches a batch's output only after the next batch has been
  decoded, so decoding overlaps the model;
* **half precision** (``precision="auto"``: float16 on CUDA, float32 elsewhere; or ``"float16"``,
  ``"bfloat16"``, ``"float32"``): the model copy is cast, and kept only if it is *stable*: on a
  fixed probe batch (seeded noise frames and a constant frame) every output row must have cosine
  similarity >= 0.999 with the float32 model's and be finite. ``"auto"`` falls back to float32
  when the check fails; an explicit ``"float16"``/``"bfloat16"`` raises ``ValueError``. Outputs are
  always returned as float32. Precision, like the device and batch size, is not part of the
  identity: it changes features only within that checked tolerance.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import (
    as_positive_float,
    as_positive_int,
    check_finite,
    iter_frames,
    make_identity,
    register_extractor,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = ["TorchClipExtractor", "TorchImageExtractor", "select_device"]

_VERSION = "1"
_IMAGE_NAME = "torch-image"
_CLIP_NAME = "torch-clip"
_LAYOUTS = ("BCTHW", "BTCHW")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_PRECISIONS = ("auto", "float32", "float16", "bfloat16")
#: Minimum cosine similarity between half- and full-precision outputs on the probe batch.
HALF_MIN_COSINE = 0.999
_PROBE_SEED = 20261129
_PROBE_FRAMES = 4


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(
            "PyTorch extractors need torch: pip install 'draqcore[torch]' "
            "(or install the torch build you want first)"
        ) from exc
    return torch


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sha256_module(torch: Any, model: Any) -> str:
    h = hashlib.sha256()
    cls = type(model)
    h.update(f"{cls.__module__}.{cls.__qualname__}\n".encode())
    h.update(repr(model).encode())
    for name, sub in model.named_modules():
        if not isinstance(sub, torch.jit.ScriptModule):
            continue
        try:
            code = sub.code  # the compiled forward
        except (AttributeError, RuntimeError):  # a scripted module without a forward
            continue
        h.update(f"\ncode {name}\n{code}".encode())
    for key, value in model.state_dict().items():
        h.update(f"\n{key}".encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().to("cpu").contiguous()
            h.update(f" {t.dtype} {tuple(t.shape)}\n".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:  # extra state (rare): hashed through its repr
            h.update(repr(value).encode())
    return h.hexdigest()


def _as_triple(value: Any, name: str, positive: bool) -> list[float]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name}: expected 3 numbers (R, G, B)")
    items = list(value)
    if len(items) != 3:
        raise ValueError(f"{name}: expected 3 numbers (R, G, B), got {len(items)}")
    if positive:
        return [as_positive_float(v, name) for v in items]
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}: expected numbers, got {type(v).__name__}")
        if not np.isfinite(v):
            raise ValueError(f"{name}: must be finite, got {v}")
        out.append(float(v))
    return out


def select_device(torch: Any, device: Any = None) -> Any:
    """The ``torch.device`` to run on.

    Parameters
    ----------
    torch : module
        The imported ``torch`` module.
    device : str or torch.device, optional
        ``None``: ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``.

    Raises
    ------
    ValueError
        A CUDA device is asked for but CUDA is not available (a CPU-only torch build, or no
        GPU), or the CUDA index is beyond the device count; or the string is not a device.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: {device!r} is not a torch device ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(dev)!r}: CUDA is not available to this torch "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}); use device='cpu'"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(dev)!r}: only {count} CUDA device(s) visible")
    return dev


def _choose_precision(
    torch: Any, requested: str, device_type: str, full: Any, half_factory: Any, probe: Any
) -> tuple[Any, str, str]:
    """``(model, precision, note)``: the half-precision copy when it is stable, else ``full``.

    Parameters
    ----------
    torch : module
    requested : {"auto", "float32", "float16", "bfloat16"}
        ``"auto"`` means float16 on CUDA and float32 elsewhere, falling back to float32 when
        float16 is not stable.
    device_type : str
        ``"cuda"``, ``"cpu"``, ...
    full : callable
        The float32 model (already on the device).
    half_factory : callable ``(dtype) -> model``
        A copy of the model cast to ``dtype``, on the device.
    probe : torch.Tensor
        A float32 input batch on the device.

    Raises
    ------
    ValueError
        Unknown ``requested``, or an explicitly requested half precision that is not stable
        (non-finite outputs, a row with cosine similarity below :data:`HALF_MIN_COSINE` to the
        float32 output, or an op without a kernel in that precision).
    """
    if requested not in _PRECISIONS:
        raise ValueError(f"precision: expected one of {list(_PRECISIONS)}, got {requested!r}")
    target = ("float16" if device_type == "cuda" else "float32") if requested == "auto" else requested
    if target == "float32":
        return full, "float32", ""
    dtype = getattr(torch, target)
    half = half_factory(dtype)
    why = ""
    with torch.inference_mode():
        ref = full(probe.to(_model_dtype(torch, full)))
        try:
            low = half(probe.to(dtype))
        except (RuntimeError, NotImplementedError) as exc:  # an op without a kernel in this dtype
            low, why = None, f"the model does not run in {target} on {device_type}: {exc}"
    if low is not None:
        if not (isinstance(ref, torch.Tensor) and isinstance(low, torch.Tensor) and ref.shape == low.shape):
            raise TypeError("model: the precision probe did not return tensors of one shape")
        a = ref.reshape(ref.shape[0], -1).to(torch.float64)
        b = low.reshape(low.shape[0], -1).to(torch.float64)
        if not bool(torch.isfinite(b).all()):
            why = f"{target} outputs are not finite"
        else:
            worst = float(torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12).min())
            if worst >= HALF_MIN_COSINE:
                return half, target, f"worst probe cosine {worst:.6f}"
            why = f"{target} outputs differ from float32 (worst probe cosine {worst:.6f} < {HALF_MIN_COSINE})"
    if requested == "auto":
        return full, "float32", f"float16 rejected: {why}"
    raise ValueError(f"precision={requested!r}: {why}; use precision='float32' or 'auto'")


def _model_dtype(torch: Any, model: Any) -> Any:
    param = next((p for p in model.parameters() if p.is_floating_point()), None)
    return param.dtype if param is not None else torch.float32


class _Staging:
    """Reused host buffers that decoded uint8 frames are written into (pinned for CUDA).

    Two buffers alternate; after a buffer's copy to the device is launched, a CUDA event is
    recorded, and the buffer is not written again before that event has completed.
    """

    def __init__(self, torch: Any, device: Any, pin: bool) -> None:
        self._torch = torch
        self._device = device
        self._pin = pin
        self._buffers: list[Any] = [None, None]
        self._events: list[Any] = [None, None]
        self._next = 0

    @property
    def pinned(self) -> bool:
        """Whether the buffers are page-locked."""
        return self._pin

    def to_device(self, frames: list[np.ndarray]) -> Any:
        """``(N, H, W, 3)`` uint8 tensor on the device holding ``frames`` (all of one shape).

        On the CPU this is a view of a staging buffer, valid until the next-but-one call.
        """
        torch = self._torch
        n = len(frames)
        shape = (n, *frames[0].shape)
        slot = self._next
        self._next = 1 - slot
        if self._events[slot] is not None:
            self._events[slot].synchronize()  # its previous copy must be done before rewriting
            self._events[slot] = None
        buf = self._buffers[slot]
        if buf is None or buf.shape[0] < n or tuple(buf.shape[1:]) != shape[1:]:
            buf = torch.empty(
                (max(n, 1), *shape[1:]), dtype=torch.uint8, pin_memory=self._pin
            )
            self._buffers[slot] = buf
        host = buf[:n]
        view = host.numpy()
        for i, frame in enumerate(frames):
            view[i] = frame
        if self._device.type == "cpu":
            # the caller converts it at once (to float); valid until the next-but-one call
            return host
        out = host.to(self._device, non_blocking=self._pin)
        if self._pin and self._device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
            self._events[slot] = event
        return out


def _unavailable(name: str) -> Any:
    def factory(params: Mapping[str, Any]) -> Any:
        raise ValueError(
            f"features {name!r} were computed with a PyTorch model, which an identity does not "
            f"contain (model_sha256={params.get('model_sha256')!r}); build the extractor "
            "yourself, e.g. TorchImageExtractor(model_or_torchscript_path, ...), and check it "
            "with same_identity(extractor.identity(), stored_identity)"
        )

    return factory


class _TorchExtractor:
    """Shared model loading, hashing, preprocessing and output checks."""

    name: str = ""

    def __init__(
        self,
        model: Any,
        *,
        input_size: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        batch_size: int,
        device: Any,
        dim: int | None,
        precision: str = "auto",
        pin_memory: bool | None = None,
    ) -> None:
        torch = _import_torch()
        self._torch = torch
        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            if not path.is_file():
                raise FileNotFoundError(f"model: no TorchScript file at {str(path)!r}")
            digest = _sha256_file(path)
            source = "torchscript-file"
            # recent torch (2.13) deprecates TorchScript and warns here (DeprecationWarning);
            # the warning is the caller's to see, so it is not silenced.
            module = torch.jit.load(str(path), map_location="cpu")
        elif isinstance(model, torch.nn.Module):
            # no_grad: a ScriptModule deep-copied with grad mode on gets non-leaf parameters,
            # and moving those to a device warns (torch 2.13)
            with torch.no_grad():
                module = copy.deepcopy(model)
            for p in module.parameters():
                p.grad = None  # the copy is for inference only: drop copied gradients
            digest = _sha256_module(torch, module)
            source = f"module:{type(model).__module__}.{type(model).__qualname__}"
        else:
            raise TypeError(
                "model: expected a torch.nn.Module or the path of a TorchScript file, "
                f"got {type(model).__name__}"
            )

        if isinstance(input_size, (str, bytes)) or not isinstance(input_size, Iterable):
            raise TypeError("input_size: expected (height, width)")
        size = list(input_size)
        if len(size) != 2:
            raise ValueError(f"input_size: expected (height, width), got {len(size)} values")
        height, width = (as_positive_int(v, "input_size") for v in size)
        self._size = (height, width)
        self._batch_size = as_positive_int(batch_size, "batch_size")
        mean_l = _as_triple(mean, "mean", positive=False)
        std_l = _as_triple(std, "std", positive=True)

        if precision not in _PRECISIONS:
            raise ValueError(f"precision: expected one of {list(_PRECISIONS)}, got {precision!r}")
        self._requested_precision = precision
        self._device = select_device(torch, device)
        if pin_memory is None:
            pin = self._device.type == "cuda"
        elif isinstance(pin_memory, (bool, np.bool_)):
            pin = bool(pin_memory)
            if pin and not torch.cuda.is_available():
                raise ValueError("pin_memory=True needs CUDA (page-locked memory is a CUDA feature)")
        else:
            raise TypeError(f"pin_memory: expected a bool or None, got {type(pin_memory).__name__}")
        self._staging = _Staging(torch, self._device, pin)
        module = module.to(self._device)
        try:
            module.eval()
        except (RuntimeError, NotImplementedError):  # torch.export modules: mode fixed at export
            pass
        self._model = module
        self._dtype = _model_dtype(torch, module)
        self._precision = "float32" if self._dtype == torch.float32 else str(self._dtype).replace("torch.", "")
        self._precision_note = ""
        self._mean = torch.tensor(mean_l, dtype=torch.float32, device=self._device).view(1, 3, 1, 1)
        self._std = torch.tensor(std_l, dtype=torch.float32, device=self._device).view(1, 3, 1, 1)
        self._base_params: dict[str, Any] = {
            "model_sha256": digest,
            "model_source": source,
            "input_size": [height, width],
            "mean": mean_l,
            "std": std_l,
        }
        self._given_dim = None if dim is None else as_positive_int(dim, "dim")

    # -------------------------------------------------------------- shared pieces

    def _finish_init(self, params: dict[str, Any]) -> None:
        self.params: Mapping[str, Any] = MappingProxyType(params)
        if self._requested_precision != "auto" or self._device.type == "cuda":
            torch = self._torch

            def half_factory(dtype: Any) -> Any:
                with torch.no_grad():
                    return copy.deepcopy(self._model).to(dtype)

            model, self._precision, self._precision_note = _choose_precision(
                torch, self._requested_precision, self._device.type, self._model, half_factory,
                self._probe_input(),
            )
            self._model = model
            self._dtype = _model_dtype(torch, model)
        if self._given_dim is None:
            self.dim: int = self._probe_dim(self._dry_run_input())
        else:
            self.dim = self._given_dim

    def _dry_run_input(self) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def _probe_input(self) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def _probe_frames(self) -> torch.Tensor:
        """Preprocessed probe frames (seeded noise, smooth gradients, a constant frame)."""
        rng = np.random.default_rng(_PROBE_SEED)
        h, w = self._size
        frames = [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(_PROBE_FRAMES - 2)]
        ramp = np.linspace(0, 255, w, dtype=np.float64)[None, :, None] * np.ones((h, 1, 3))
        frames.append(ramp.astype(np.uint8))
        frames.append(np.full((h, w, 3), 128, dtype=np.uint8))
        return self._preprocess(frames)

    @property
    def precision(self) -> str:
        """Precision the model runs in: ``"float32"``, ``"float16"`` or ``"bfloat16"``."""
        return self._precision

    @property
    def precision_note(self) -> str:
        """Why that precision (the probe's worst cosine, or why half precision was rejected)."""
        return self._precision_note

    @property
    def pinned(self) -> bool:
        """Whether decoded frames are staged in page-locked (pinned) host memory."""
        return self._staging.pinned

    @property
    def device(self) -> str:
        """Device the model runs on, e.g. ``"cpu"`` or ``"cuda:0"``."""
        return str(self._device)

    @property
    def batch_size(self) -> int:
        """Number of model inputs per forward pass."""
        return self._batch_size

    def identity(self) -> dict[str, Any]:
        """``{"name", "params", "version", "dim"}`` (JSON-serialisable, a fresh dict)."""
        return make_identity(self.name, self.params, _VERSION, self.dim)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_sha256={self.params['model_sha256'][:12]}..., "
            f"dim={self.dim}, input_size={tuple(self._size)}, device={self.device!r})"
        )

    def _preprocess(self, frames: list[np.ndarray]) -> torch.Tensor:
        """(N, 3, h, w) float32 on the device, RGB, resized and normalised."""
        torch = self._torch
        f = torch.nn.functional
        parts = []
        start = 0
        while start < len(frames):  # runs of equal-sized frames are resized together
            stop = start + 1
            while stop < len(frames) and frames[stop].shape == frames[start].shape:
                stop += 1
            x = self._staging.to_device(frames[start:stop])
            x = x.permute(0, 3, 1, 2).flip(1).to(torch.float32).mul_(1.0 / 255.0)
            if tuple(x.shape[-2:]) != self._size:
                x = f.interpolate(x, size=self._size, mode="bilinear", align_corners=False, antialias=True)
            parts.append(x)
            start = stop
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
        return (x - self._mean) / self._std

    def _forward(self, inputs: torch.Tensor, where: str) -> torch.Tensor:
        """Run the model on a batch of B inputs; its output checked and flattened to (B, d)."""
        torch = self._torch
        n = int(inputs.shape[0])
        with torch.inference_mode():
            out = self._model(inputs.to(self._dtype))
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"model ({where}): returned {type(out).__name__}, expected a tensor of shape "
                "(batch, ...); wrap the model to select the feature tensor"
            )
        if out.ndim < 1 or out.shape[0] != n:
            raise ValueError(
                f"model ({where}): output shape {tuple(out.shape)} does not have one row per "
                f"input (expected ({n}, ...))"
            )
        out = out.reshape(n, -1)
        if out.shape[1] == 0:
            raise ValueError(f"model ({where}): output has no features (shape {tuple(out.shape)})")
        return out

    def _probe_dim(self, inputs: torch.Tensor) -> int:
        """Feature dimension from a dry run on a constant input."""
        out = self._forward(inputs, "dry run")
        if not bool(self._torch.isfinite(out).all()):
            raise ValueError("model (dry run): returned NaN/Inf on a constant input")
        return int(out.shape[1])

    def _launch(self, inputs: torch.Tensor, first_frame: int) -> tuple[torch.Tensor, int]:
        """Start the model on a batch (asynchronous on CUDA); the output stays on the device."""
        n = int(inputs.shape[0])
        where = f"frames {first_frame}..{first_frame + n - 1}"
        out = self._forward(inputs, where)
        if out.shape[1] != self.dim:
            raise ValueError(
                f"model ({where}): returned {int(out.shape[1])} features per input, expected dim={self.dim}"
            )
        return out, first_frame

    def _fetch(self, launched: tuple[torch.Tensor, int]) -> np.ndarray:
        """(B, dim) float32 on the CPU of a launched batch (waits for it); NaN/Inf raise."""
        out, first_frame = launched
        arr = np.ascontiguousarray(out.to(device="cpu", dtype=self._torch.float32).numpy())
        check_finite(arr, "model output", first_row=first_frame)
        return arr

    def _run(self, inputs: torch.Tensor, first_frame: int) -> np.ndarray:
        """Features of the batch of inputs for frames ``first_frame, first_frame + 1, ...``.

        Returns (B, dim) float32 on the CPU; wrong widths and NaN/Inf raise ``ValueError``.
        """
        return self._fetch(self._launch(inputs, first_frame))


class TorchImageExtractor(_TorchExtractor):
    """Per-frame features from a PyTorch image backbone.

    Parameters
    ----------
    model : torch.nn.Module or str or os.PathLike
        A module mapping a float tensor of shape (B, 3, height, width) (normalised RGB) to a
        tensor with B rows (flattened to (B, d)), or the path of a TorchScript file holding
        one (``torch.jit.load``; recent torch versions emit a ``DeprecationWarning`` for it).
        A module is copied, never modified.
    input_size : (int, int), default (224, 224)
        (height, width) the frames are resized to.
    mean, std : 3 floats, default ImageNet statistics
        Per-channel RGB normalisation of [0, 1] pixel values.
    batch_size : int, default 32
        Frames per forward pass (does not change the features beyond rounding).
    device : str or torch.device, optional
        Default: ``"cuda"`` when available, else ``"cpu"`` (:func:`select_device`; asking for
        CUDA without it raises ``ValueError``).
    dim : int, optional
        Feature dimension. Default: found by a dry run on a constant frame.
    precision : {"auto", "float32", "float16", "bfloat16"}, default "auto"
        Model precision. ``"auto"``: float16 on CUDA when it keeps the features stable (every
        probe output within cosine 0.999 of float32), else float32; float32 on the CPU. An
        explicit half precision that is not stable raises ``ValueError``. Not part of the
        identity. See :attr:`precision` and :attr:`precision_note`.
    pin_memory : bool, optional
        Stage decoded frames in page-locked memory for asynchronous copies (default: on for
        CUDA). ``True`` without CUDA raises ``ValueError``.

    Raises
    ------
    TypeError
        ``model`` is neither a module nor a path; invalid parameter types; the model does not
        return a tensor.
    FileNotFoundError
        No file at the given path.
    ValueError
        Invalid parameters, or the dry run gives an output with the wrong number of rows or
        NaN/Inf.
    ImportError
        torch is not installed.
    """

    name = _IMAGE_NAME

    def __init__(
        self,
        model: Any,
        *,
        input_size: Sequence[int] = (224, 224),
        mean: Sequence[float] = _IMAGENET_MEAN,
        std: Sequence[float] = _IMAGENET_STD,
        batch_size: int = 32,
        device: Any = None,
        dim: int | None = None,
        precision: str = "auto",
        pin_memory: bool | None = None,
    ) -> None:
        super().__init__(
            model, input_size=input_size, mean=mean, std=std, batch_size=batch_size,
            device=device, dim=dim, precision=precision, pin_memory=pin_memory,
        )
        self._finish_init(dict(self._base_params))

    def _dry_run_input(self) -> torch.Tensor:
        return self._torch.zeros((1, 3, *self._size), dtype=self._torch.float32, device=self._device)

    def _probe_input(self) -> torch.Tensor:
        return self._probe_frames()

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Features of consecutive sampled frames of one video.

        Parameters
        ----------
        frames : iterable of ndarray of shape (H, W, 3), uint8, BGR
            Frames in temporal order, streamed ``batch_size`` at a time; sizes may differ
            (each frame is resized to ``input_size``).

        Returns
        -------
        ndarray of shape (T, dim), float32

        Raises
        ------
        ValueError
            No frames; a frame not of shape (H, W, 3); model output with the wrong shape or
            NaN/Inf (the message names the frames).
        TypeError
            A frame that is not a uint8 ndarray; the model does not return a tensor.
        """
        chunks: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        start = 0
        pending = None  # the launched previous batch: fetched after the next one is decoded
        with self._torch.inference_mode():
            for index, frame in iter_frames(frames):
                batch.append(frame)
                if len(batch) == self._batch_size:
                    x = self._preprocess(batch)
                    if pending is not None:
                        chunks.append(self._fetch(pending))
                    pending = self._launch(x, first_frame=start)
                    start = index + 1
                    batch = []
            if batch:
                x = self._preprocess(batch)
                if pending is not None:
                    chunks.append(self._fetch(pending))
                pending = self._launch(x, first_frame=start)
            if pending is not None:
                chunks.append(self._fetch(pending))
        if not chunks:
            raise ValueError("frames: no frames (a video needs at least one frame)")
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0)


class TorchClipExtractor(_TorchExtractor):
    """Per-frame features from a PyTorch clip (video) backbone on sliding windows.

    Frame ``t`` is described by the model's output on the window of ``window`` frames
    ``t + (k - window // 2) * stride`` for ``k = 0 .. window - 1`` (so frame ``t`` sits at
    position ``window // 2``, the centre, or just right of it for an even window), indices
    clamped to ``[0, T - 1]``: the clip is edge-padded by repeating its first and last frame.

    Parameters
    ----------
    model : torch.nn.Module or str or os.PathLike
        A module mapping a float tensor of shape (B, 3, window, height, width) (layout
        ``"BCTHW"``, as torchvision's video models) or (B, window, 3, height, width)
        (``"BTCHW"``) to a tensor with B rows, or the path of a TorchScript file. Copied,
        never modified.
    window : int, default 8
        Frames per window.
    stride : int, default 1
        Step, in sampled frames, between consecutive frames of a window (temporal dilation).
    layout : {"BCTHW", "BTCHW"}, default "BCTHW"
        Input layout the model expects.
    input_size, mean, std, device, dim, precision, pin_memory
        As for :class:`TorchImageExtractor`.
    batch_size : int, default 8
        Windows per forward pass.

    Raises
    ------
    TypeError, FileNotFoundError, ValueError, ImportError
        As for :class:`TorchImageExtractor`.

    Notes
    -----
    Memory: about ``window * stride + batch_size`` preprocessed frames plus one batch of
    windows (``batch_size * window`` frames), independent of the video length.
    """

    name = _CLIP_NAME

    def __init__(
        self,
        model: Any,
        *,
        window: int = 8,
        stride: int = 1,
        layout: str = "BCTHW",
        input_size: Sequence[int] = (224, 224),
        mean: Sequence[float] = _IMAGENET_MEAN,
        std: Sequence[float] = _IMAGENET_STD,
        batch_size: int = 8,
        device: Any = None,
        dim: int | None = None,
        precision: str = "auto",
        pin_memory: bool | None = None,
    ) -> None:
        self._window = as_positive_int(window, "window")
        self._stride = as_positive_int(stride, "stride")
        if layout not in _LAYOUTS:
            raise ValueError(f"layout: expected one of {list(_LAYOUTS)}, got {layout!r}")
        self._layout = layout
        super().__init__(
            model, input_size=input_size, mean=mean, std=std, batch_size=batch_size,
            device=device, dim=dim, precision=precision, pin_memory=pin_memory,
        )
        params = dict(self._base_params)
        params.update(window=self._window, stride=self._stride, layout=layout)
        self._finish_init(params)

    def _to_layout(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, window, 3, h, w) -> the model's layout."""
        if self._layout == "BCTHW":
            return windows.permute(0, 2, 1, 3, 4).contiguous()
        return windows

    def _dry_run_input(self) -> torch.Tensor:
        torch = self._torch
        x = torch.zeros((1, self._window, 3, *self._size), dtype=torch.float32, device=self._device)
        return self._to_layout(x)

    def _probe_input(self) -> torch.Tensor:
        frames = self._probe_frames()  # (P, 3, h, w): window k of the probe starts at frame k
        n = int(frames.shape[0])
        idx = [[(k + j) % n for j in range(self._window)] for k in range(n)]
        return self._to_layout(frames[self._torch.tensor(idx, device=frames.device)])

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Features of consecutive sampled frames of one video, one per frame.

        Parameters
        ----------
        frames : iterable of ndarray of shape (H, W, 3), uint8, BGR
            Frames in temporal order, streamed; sizes may differ (each frame is resized to
            ``input_size``).

        Returns
        -------
        ndarray of shape (T, dim), float32
            Row ``t``: the model's output on the window around frame ``t``.

        Raises
        ------
        ValueError, TypeError
            As for :meth:`TorchImageExtractor.extract`.
        """
        torch = self._torch
        before = (self._window // 2) * self._stride
        after = (self._window - 1 - self._window // 2) * self._stride
        offsets = [(k - self._window // 2) * self._stride for k in range(self._window)]

        buffer: deque[torch.Tensor] = deque()  # preprocessed frames buf_start, buf_start + 1, ...
        buf_start = 0
        seen = 0  # frames preprocessed so far
        next_t = 0  # next frame to describe
        raw: list[np.ndarray] = []
        windows: list[torch.Tensor] = []
        chunks: list[np.ndarray] = []
        batch_first = 0

        def run_windows() -> None:
            nonlocal windows, batch_first
            x = self._to_layout(torch.stack(windows))
            chunks.append(self._run(x, first_frame=batch_first))
            batch_first += len(windows)
            windows = []

        def emit(final: bool) -> None:
            nonlocal next_t, buf_start
            while next_t < seen and (final or next_t + after <= seen - 1):
                idx = [min(max(next_t + o, 0), seen - 1) for o in offsets]
                windows.append(torch.stack([buffer[i - buf_start] for i in idx]))
                next_t += 1
                if len(windows) == self._batch_size:
                    run_windows()
                keep_from = max(0, next_t - before)  # oldest frame a later window needs
                while buf_start < keep_from:
                    buffer.popleft()
                    buf_start += 1

        with torch.inference_mode():
            for _, frame in iter_frames(frames):
                raw.append(frame)
                if len(raw) == self._batch_size:
                    buffer.extend(self._preprocess(raw).unbind(0))
                    seen += len(raw)
                    raw = []
                    emit(final=False)
            if raw:
                buffer.extend(self._preprocess(raw).unbind(0))
                seen += len(raw)
            if seen == 0:
                raise ValueError("frames: no frames (a video needs at least one frame)")
            emit(final=True)
            if windows:
                run_windows()
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks, axis=0)


register_extractor(_IMAGE_NAME, _unavailable(_IMAGE_NAME))
register_extractor(_CLIP_NAME, _unavailable(_CLIP_NAME))

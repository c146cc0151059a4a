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

__all__ = ["TorchClipExtractor", "TorchImageExtractor"]

_VERSION = "1"
_IMAGE_NAME = "torch-image"
_CLIP_NAME = "torch-clip"
_LAYOUTS = ("BCTHW", "BTCHW")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


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

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)
        module = module.to(self._device)
        try:
            module.eval()
        except (RuntimeError, NotImplementedError):  # torch.export modules: mode fixed at export
            pass
        self._model = module
        param = next((p for p in module.parameters() if p.is_floating_point()), None)
        self._dtype = param.dtype if param is not None else torch.float32
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
        if self._given_dim is None:
            self.dim: int = self._probe_dim(self._dry_run_input())
        else:
            self.dim = self._given_dim

    def _dry_run_input(self) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

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
            x = torch.from_numpy(np.stack(frames[start:stop])).to(self._device)
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

    def _run(self, inputs: torch.Tensor, first_frame: int) -> np.ndarray:
        """Features of the batch of inputs for frames ``first_frame, first_frame + 1, ...``.

        Returns (B, dim) float32 on the CPU; wrong widths and NaN/Inf raise ``ValueError``.
        """
        n = int(inputs.shape[0])
        where = f"frames {first_frame}..{first_frame + n - 1}"
        out = self._forward(inputs, where)
        if out.shape[1] != self.dim:
            raise ValueError(
                f"model ({where}): returned {int(out.shape[1])} features per input, expected dim={self.dim}"
            )
        arr = np.ascontiguousarray(out.to(device="cpu", dtype=self._torch.float32).numpy())
        check_finite(arr, "model output", first_row=first_frame)
        return arr


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
        Default: ``"cuda"`` when available, else ``"cpu"``.
    dim : int, optional
        Feature dimension. Default: found by a dry run on a constant frame.

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
    ) -> None:
        super().__init__(
            model, input_size=input_size, mean=mean, std=std, batch_size=batch_size,
            device=device, dim=dim,
        )
        self._finish_init(dict(self._base_params))

    def _dry_run_input(self) -> torch.Tensor:
        return self._torch.zeros((1, 3, *self._size), dtype=self._torch.float32, device=self._device)

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
        with self._torch.inference_mode():
            for index, frame in iter_frames(frames):
                batch.append(frame)
                if len(batch) == self._batch_size:
                    chunks.append(self._run(self._preprocess(batch), first_frame=start))
                    start = index + 1
                    batch = []
            if batch:
                chunks.append(self._run(self._preprocess(batch), first_frame=start))
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
    input_size, mean, std, device, dim
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
    ) -> None:
        self._window = as_positive_int(window, "window")
        self._stride = as_positive_int(stride, "stride")
        if layout not in _LAYOUTS:
            raise ValueError(f"layout: expected one of {list(_LAYOUTS)}, got {layout!r}")
        self._layout = layout
        super().__init__(
            model, input_size=input_size, mean=mean, std=std, batch_size=batch_size,
            device=device, dim=dim,
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

"""The default frame features: OpenCV appearance and motion descriptors (no model weights).

Every frame is resized to a fixed working size (default 64 x 48 pixels, so the dimension does
not depend on the input size) and described by three blocks, concatenated in this order:

``hog``
    Histograms of oriented gradients of the grey working frame (pose and shape). Gradients with
    the centred ``[-1, 0, 1]`` kernel; unsigned orientation in ``hog_bins`` bins over
    [0, 180) degrees, each pixel's magnitude split linearly between the two nearest bins;
    ``hog_cell`` x ``hog_cell`` pixel cells; non-overlapping blocks of 2 x 2 cells, each
    normalised L2-Hys style: ``v / sqrt(|v|^2 + eps^2)`` with ``eps`` = 1 grey level per pixel
    of the block (so flat, noisy blocks stay small instead of being blown up to unit norm),
    clipped at 0.2 and rescaled to the norm it had before clipping. Dimension
    ``(W / (2 c)) * (H / (2 c)) * 4 * hog_bins``; 12 blocks * 36 = 432 by default.
    (OpenCV 5 no longer ships ``cv2.HOGDescriptor``; this implementation gives the same features
    on every OpenCV version.)
``color``
    Coarse colour layout: the mean colour of each cell of a ``color_grid`` (columns x rows)
    grid, in CIE Lab scaled to about [0, 1] (L / 100) and [-1, 1] (a / 127, b / 127).
    Dimension ``cols * rows * 3``; 48 by default.
``flow``
    Histograms of dense optical flow (Farneback) from the previous sampled frame to this one,
    on the grey working frames, over a ``flow_grid`` (columns x rows) grid of cells. Per cell,
    ``flow_bins`` direction bins (bin ``k`` centred on ``k * 360 / flow_bins`` degrees in image
    coordinates: 0 = right, 90 = down), each moving pixel's flow magnitude (working-size
    pixels per sampled frame) split linearly between the two nearest bins, plus one
    *static* bin that receives ``flow_static_px`` for every pixel moving less than
    ``flow_static_px`` (as the no-motion bin of HOF descriptors), averaged over the cell's
    pixels. Dimension ``cols * rows * (flow_bins + 1)``; 12 * 9 = 108 by default.
    The **first frame** has no predecessor: its motion part is that of the second frame (the
    flow from frame 0 to frame 1), the best available estimate of the motion at the start of
    the clip. A video of a single frame gets the all-static histogram, and so does a frame
    whose grey working image repeats the previous one exactly.

Each block is L2-normalised and scaled by ``sqrt(w_b / sum(w))`` (weights ``hog_weight``,
``color_weight``, ``flow_weight``, equal by default), so that the blocks contribute the given
shares of the squared norm and none dominates a cosine similarity: a frame's feature has unit
norm unless a block is exactly zero (a uniform frame has no gradients; a black frame has a
zero colour block), in which case that block stays zero.

The default dimension is 432 + 48 + 108 = 588. Features are deterministic (no randomness, no
thread-dependent reductions).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from .base import (
    DEFAULT_EXTRACTOR_NAME,
    as_positive_float,
    as_positive_int,
    iter_frames,
    make_identity,
    register_extractor,
)
from .mirror import mirror_invariant_features

__all__ = ["OpenCVDescriptorExtractor"]

_VERSION = "1"
_CHUNK = 256  # output rows allocated at a time while streaming (memory ~ output size)

# Farneback parameters for the small working frames: 3 pyramid levels (64 -> 32 -> 16 px
# wide) cover motions of a few working pixels, i.e. about 5-10 % of the frame width per
# sampled frame; a 9 px window is wide relative to the 8-16 px cells.
_FB_PYR_SCALE = 0.5
_FB_LEVELS = 3
_FB_WINSIZE = 9
_FB_ITERATIONS = 3
_FB_POLY_N = 5
_FB_POLY_SIGMA = 1.1


def _as_pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{name}: expected a pair of integers (columns/width, rows/height)")
    items = list(value)
    if len(items) != 2:
        raise ValueError(f"{name}: expected 2 values, got {len(items)}")
    a, b = (as_positive_int(v, name) for v in items)
    return a, b


def _cell_index(width: int, height: int, cols: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell id (row-major over ``rows x cols``) of every pixel and the pixel count per cell."""
    cx = (np.arange(width) * cols) // width
    cy = (np.arange(height) * rows) // height
    cell = (cy[:, None] * cols + cx[None, :]).astype(np.intp).ravel()
    counts = np.bincount(cell, minlength=rows * cols).astype(np.float32)
    return cell, counts


def _linear_bins(
    angle: np.ndarray, period: float, nbins: int, offset: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split every angle between its two nearest of ``nbins`` bins spread over ``period``.

    Bin ``k`` is centred on ``(k + offset) * period / nbins``. Returns (lo, hi, weight of hi).
    """
    pos = angle * (nbins / period) - offset
    floor = np.floor(pos)
    w_hi = (pos - floor).astype(np.float32)
    lo = floor.astype(np.intp) % nbins
    hi = (lo + 1) % nbins
    return lo, hi, w_hi


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0.0 else v


class OpenCVDescriptorExtractor:
    """HOG + colour layout + optical-flow histograms per frame (the default extractor).

    See the module docstring for the exact definition of each block.

    Parameters
    ----------
    work_size : (int, int), default (64, 48)
        Working frame size (width, height) in pixels. Every frame is resized to it first
        (area interpolation when shrinking, bilinear otherwise; the aspect ratio is not
        kept). Both must be multiples of ``2 * hog_cell``.
    hog_cell : int, default 8
        HOG cell size in working pixels.
    hog_bins : int, default 9
        Unsigned gradient-orientation bins over [0, 180) degrees.
    color_grid : (int, int), default (4, 4)
        Colour layout grid (columns, rows).
    flow_grid : (int, int), default (4, 3)
        Optical-flow histogram grid (columns, rows).
    flow_bins : int, default 8
        Flow-direction bins over [0, 360) degrees (plus one static bin).
    flow_static_px : float, default 0.25
        Pixels moving less than this (working pixels per sampled frame) count as static;
        above the Farneback noise floor on noisy still frames (about 0.2 px at the 99th
        percentile).
    hog_weight, color_weight, flow_weight : float, default 1.0
        Relative shares of the squared feature norm given to each block.
    mirror_invariant : bool, default False
        Return :func:`draqcore.features.mirror_invariant_features` of the features (twice the
        dimension), equal for a frame and its left-right mirror image up to resampling and
        optical-flow differences (see :meth:`mirror_features`). Needs an even ``flow_bins``.
        Appears in ``params`` only when True (identities of existing collections stay valid).

    Raises
    ------
    ValueError, TypeError
        Invalid parameters.

    Notes
    -----
    Frames of different sizes inside one video are accepted: each is resized to the working
    size on its own. The cost is O(W * H) per frame after the resize; about 0.6 ms per
    160 x 120 frame on one core (see ``docs/features.md``).
    """

    name: str = DEFAULT_EXTRACTOR_NAME

    def __init__(
        self,
        *,
        work_size: tuple[int, int] = (64, 48),
        hog_cell: int = 8,
        hog_bins: int = 9,
        color_grid: tuple[int, int] = (4, 4),
        flow_grid: tuple[int, int] = (4, 3),
        flow_bins: int = 8,
        flow_static_px: float = 0.25,
        hog_weight: float = 1.0,
        color_weight: float = 1.0,
        flow_weight: float = 1.0,
        mirror_invariant: bool = False,
    ) -> None:
        width, height = _as_pair(work_size, "work_size")
        cell = as_positive_int(hog_cell, "hog_cell")
        if width % (2 * cell) or height % (2 * cell):
            raise ValueError(
                f"work_size {width}x{height} must be a multiple of 2 * hog_cell = {2 * cell} "
                "in both directions (HOG blocks are 2 x 2 cells)"
            )
        if width < 8 or height < 8:
            raise ValueError(f"work_size must be at least 8 x 8 pixels, got {width}x{height}")
        nbins = as_positive_int(hog_bins, "hog_bins")
        ccols, crows = _as_pair(color_grid, "color_grid")
        fcols, frows = _as_pair(flow_grid, "flow_grid")
        if ccols > width or crows > height or fcols > width or frows > height:
            raise ValueError("color_grid and flow_grid cannot have more cells than work_size has pixels")
        fbins = as_positive_int(flow_bins, "flow_bins")
        static_px = as_positive_float(flow_static_px, "flow_static_px")
        weights = {
            "hog": as_positive_float(hog_weight, "hog_weight"),
            "color": as_positive_float(color_weight, "color_weight"),
            "flow": as_positive_float(flow_weight, "flow_weight"),
        }

        self._width, self._height = width, height
        self._hog_cell, self._hog_bins = cell, nbins
        self._color_grid = (ccols, crows)
        self._flow_grid = (fcols, frows)
        self._flow_bins = fbins
        self._static_px = static_px
        total = sum(weights.values())
        self._scale = {k: math.sqrt(w / total) for k, w in weights.items()}

        hog_cells_x, hog_cells_y = width // cell, height // cell
        self._hog_cells = (hog_cells_y, hog_cells_x)
        self._hog_cell_of_pixel, _ = _cell_index(width, height, hog_cells_x, hog_cells_y)
        self._hog_eps = float(4 * cell * cell)  # 1 grey level per pixel of a 2 x 2-cell block
        self._flow_cell_of_pixel, self._flow_cell_counts = _cell_index(width, height, fcols, frows)

        dims = {
            "hog": (hog_cells_x // 2) * (hog_cells_y // 2) * 4 * nbins,
            "color": ccols * crows * 3,
            "flow": fcols * frows * (fbins + 1),
        }
        start = 0
        slices: dict[str, slice] = {}
        for key in ("hog", "color", "flow"):
            slices[key] = slice(start, start + dims[key])
            start += dims[key]
        self._block_dims = MappingProxyType(dims)
        self._block_slices = MappingProxyType(slices)
        if not isinstance(mirror_invariant, (bool, np.bool_)):
            raise TypeError(f"mirror_invariant: expected a bool, got {type(mirror_invariant).__name__}")
        self._mirror_invariant = bool(mirror_invariant)
        self._mirror_perm = self._mirror_permutation() if fbins % 2 == 0 else None
        if self._mirror_invariant and self._mirror_perm is None:
            raise ValueError("mirror_invariant needs an even flow_bins (direction bins must map onto bins)")
        self._base_dim = start
        self.dim: int = 2 * start if self._mirror_invariant else start
        self.params: Mapping[str, Any] = MappingProxyType(
            {
                "work_size": [width, height],
                "hog_cell": cell,
                "hog_bins": nbins,
                "color_grid": [ccols, crows],
                "flow_grid": [fcols, frows],
                "flow_bins": fbins,
                "flow_static_px": static_px,
                "hog_weight": weights["hog"],
                "color_weight": weights["color"],
                "flow_weight": weights["flow"],
                **({"mirror_invariant": True} if self._mirror_invariant else {}),
            }
        )

    # ------------------------------------------------------------------ public API

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> OpenCVDescriptorExtractor:
        """Build from the ``params`` of an identity (unknown keys raise ``ValueError``)."""
        known = {
            "work_size", "hog_cell", "hog_bins", "color_grid", "flow_grid", "flow_bins",
            "flow_static_px", "hog_weight", "color_weight", "flow_weight", "mirror_invariant",
        }
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"{DEFAULT_EXTRACTOR_NAME}: unknown parameter(s) {unknown}")
        return cls(**dict(params))

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickle as the feature parameters (for ``spawn`` workers, Ray tasks and DataLoaders)."""
        return (self.__class__.from_params, (dict(self.params),))

    @property
    def block_dims(self) -> Mapping[str, int]:
        """Dimension of each block: ``{"hog": ..., "color": ..., "flow": ...}``."""
        return self._block_dims

    @property
    def block_slices(self) -> Mapping[str, slice]:
        """Column slice of each block in the feature vector."""
        return self._block_slices

    @property
    def mirror_invariant(self) -> bool:
        """Whether features are made invariant to left-right mirroring."""
        return self._mirror_invariant

    def _mirror_permutation(self) -> np.ndarray:
        """Index array ``p`` with ``f(flip(frame)) = f(frame)[p]`` for the base features.

        HOG: block columns and the two cell columns inside a block reverse, orientation bin
        ``k`` (centred on ``(k + 0.5) * 180 / bins`` degrees) becomes ``bins - 1 - k`` (an
        angle ``theta`` becomes ``180 - theta``). Colour: grid columns reverse. Flow: grid
        columns reverse, direction bin ``k`` (``k * 360 / bins``) becomes ``bins / 2 - k``
        (mod ``bins``), the static bin stays.
        """
        s = self._block_slices
        cy, cx = self._hog_cells
        nb = self._hog_bins
        hog = np.arange(self._block_dims["hog"]).reshape(cy // 2, cx // 2, 2, 2, nb)
        hog = hog[:, ::-1, :, ::-1, ::-1]
        ccols, crows = self._color_grid
        color = np.arange(self._block_dims["color"]).reshape(crows, ccols, 3)[:, ::-1, :]
        fcols, frows = self._flow_grid
        fb = self._flow_bins
        flow = np.arange(self._block_dims["flow"]).reshape(frows, fcols, fb + 1)[:, ::-1, :]
        direction = np.r_[(fb // 2 - np.arange(fb)) % fb, fb]
        flow = flow[:, :, direction]
        return np.concatenate(
            [hog.ravel() + s["hog"].start, color.ravel() + s["color"].start, flow.ravel() + s["flow"].start]
        )

    def mirror_features(self, features: Any) -> np.ndarray:
        """Features of the left-right mirrored frames, computed from ``features`` (T, dim).

        A permutation of the columns (see ``_mirror_permutation``): exact for HOG and colour
        up to the resampling of the working frame, approximate for the flow block (Farneback
        is not exactly mirror-symmetric). With ``mirror_invariant`` the features are their
        own mirror image (a copy is returned).

        Raises
        ------
        ValueError
            Wrong shape, or an odd ``flow_bins`` (directions do not map onto bins).
        """
        f = np.asarray(features, dtype=np.float32)
        if f.ndim != 2 or f.shape[1] != self.dim:
            raise ValueError(f"features: expected shape (T, {self.dim}), got {f.shape}")
        if self._mirror_invariant:
            return f.copy()
        if self._mirror_perm is None:
            raise ValueError("mirror_features needs an even flow_bins (direction bins must map onto bins)")
        return np.ascontiguousarray(f[:, self._mirror_perm])

    def identity(self) -> dict[str, Any]:
        """``{"name", "params", "version", "dim"}`` (JSON-serialisable, a fresh dict)."""
        return make_identity(self.name, self.params, _VERSION, self.dim)

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        """Features of consecutive sampled frames of one video.

        Parameters
        ----------
        frames : iterable of ndarray of shape (H, W, 3), uint8, BGR
            Frames in temporal order; sizes may differ between frames (each is resized to
            ``work_size``). Streamed one frame at a time.

        Returns
        -------
        ndarray of shape (T, dim), float32
            Rows ``[hog | color | flow]`` as described in the module docstring.

        Raises
        ------
        ValueError
            No frames, or a frame not of shape (H, W, 3).
        TypeError
            A frame that is not a uint8 ndarray.
        """
        feats = self._extract_base(frames)
        if self._mirror_invariant:
            return mirror_invariant_features(feats, lambda f: f[:, self._mirror_perm])
        return feats

    def _extract_base(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        chunks: list[np.ndarray] = []
        chunk = np.empty((_CHUNK, self._base_dim), dtype=np.float32)
        filled = 0
        total = 0
        flow_slice = self._block_slices["flow"]
        prev_grey: np.ndarray | None = None
        for _, frame in iter_frames(frames):
            work = self._to_work_size(frame)
            grey = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
            row = chunk[filled]
            self._describe(work, grey, prev_grey, row)
            if total == 1:  # first frame: motion part of the second frame (flow 0 -> 1)
                first = chunks[0][0] if chunks else chunk[0]
                first[flow_slice] = row[flow_slice]
            prev_grey = grey
            filled += 1
            total += 1
            if filled == _CHUNK:
                chunks.append(chunk)
                chunk = np.empty((_CHUNK, self._base_dim), dtype=np.float32)
                filled = 0
        if total == 0:
            raise ValueError("frames: no frames (a video needs at least one frame)")
        if not chunks:
            return chunk[:filled].copy()
        chunks.append(chunk[:filled])
        return np.concatenate(chunks, axis=0)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ blocks

    def _to_work_size(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if (w, h) == (self._width, self._height):
            return frame
        shrink = w >= self._width and h >= self._height
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return cv2.resize(frame, (self._width, self._height), interpolation=interp)

    def _describe(
        self, work: np.ndarray, grey: np.ndarray, prev_grey: np.ndarray | None, out: np.ndarray
    ) -> None:
        """Write the feature of one working-size frame into ``out`` (dim,)."""
        s = self._block_slices
        out[s["hog"]] = _unit(self._hog(grey)) * self._scale["hog"]
        out[s["color"]] = _unit(self._color(work)) * self._scale["color"]
        if prev_grey is None or np.array_equal(prev_grey, grey):
            # no predecessor, or a repeated frame (sampling faster than the source frame
            # rate): no motion by definition (Farneback may report sub-pixel drift there)
            flow = np.zeros((self._height, self._width, 2), dtype=np.float32)
        else:
            flow = cv2.calcOpticalFlowFarneback(
                prev_grey, grey, None, _FB_PYR_SCALE, _FB_LEVELS, _FB_WINSIZE,
                _FB_ITERATIONS, _FB_POLY_N, _FB_POLY_SIGMA, 0,
            )
        out[s["flow"]] = _unit(self._flow_hist(flow)) * self._scale["flow"]

    def _hog(self, grey: np.ndarray) -> np.ndarray:
        g = grey.astype(np.float32)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1)  # centred [-1, 0, 1]
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1)
        mag, ang = cv2.cartToPolar(gx, gy)
        mag = mag.ravel()
        nb = self._hog_bins
        lo, hi, w_hi = _linear_bins(ang.ravel() % math.pi, math.pi, nb, 0.5)
        cell = self._hog_cell_of_pixel * nb
        ncells = self._hog_cells[0] * self._hog_cells[1]
        hist = np.bincount(cell + lo, weights=mag * (1.0 - w_hi), minlength=ncells * nb)
        hist += np.bincount(cell + hi, weights=mag * w_hi, minlength=ncells * nb)
        cy, cx = self._hog_cells
        blocks = (
            hist.reshape(cy // 2, 2, cx // 2, 2, nb)
            .transpose(0, 2, 1, 3, 4)
            .reshape((cy // 2) * (cx // 2), 4 * nb)
        )
        norm = np.sqrt(np.einsum("ij,ij->i", blocks, blocks) + self._hog_eps**2)
        v1 = blocks / norm[:, None]
        v2 = np.minimum(v1, 0.2)
        n1 = np.linalg.norm(v1, axis=1)
        n2 = np.linalg.norm(v2, axis=1)
        scale = np.divide(n1, n2, out=np.zeros_like(n1), where=n2 > 0)
        return (v2 * scale[:, None]).ravel()

    def _color(self, work: np.ndarray) -> np.ndarray:
        cols, rows = self._color_grid
        small = cv2.resize(work, (cols, rows), interpolation=cv2.INTER_AREA)
        lab = cv2.cvtColor(small.astype(np.float32) * np.float32(1.0 / 255.0), cv2.COLOR_BGR2Lab)
        lab *= np.array([1.0 / 100.0, 1.0 / 127.0, 1.0 / 127.0], dtype=np.float32)
        return lab.ravel().astype(np.float64)

    def _flow_hist(self, flow: np.ndarray) -> np.ndarray:
        mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1])
        mag = mag.ravel()
        nb = self._flow_bins
        lo, hi, w_hi = _linear_bins(ang.ravel(), 2.0 * math.pi, nb, 0.0)
        moving = mag >= self._static_px
        stride = nb + 1
        cell = self._flow_cell_of_pixel * stride
        size = self._flow_cell_counts.size * stride
        m = np.where(moving, mag, 0.0)
        hist = np.bincount(cell + lo, weights=m * (1.0 - w_hi), minlength=size)
        hist += np.bincount(cell + hi, weights=m * w_hi, minlength=size)
        hist += np.bincount(cell + nb, weights=np.where(moving, 0.0, self._static_px), minlength=size)
        hist = hist.reshape(-1, stride) / self._flow_cell_counts[:, None]
        return hist.ravel()


register_extractor(DEFAULT_EXTRACTOR_NAME, OpenCVDescriptorExtractor.from_params)

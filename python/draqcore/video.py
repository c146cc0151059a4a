"""Video input: sequential decoding, real timestamps and fixed-rate sampling.

Every reader here decodes a video **sequentially** from its first frame and never seeks: container
frame counts and seek tables are unreliable (variable frame rate, edit lists, truncated files),
while "the i-th decoded frame" is well defined for any file. Frame ``index`` always means the
0-based position of a frame in that sequential decode, the *native* frame index that per-frame
ground truth (phase labels, see :mod:`draqcore.labels`) refers to.

Inputs
------
* Any file OpenCV's video I/O opens (FFmpeg backend: mp4, avi, mkv, webm, mov, a single image...).
* A folder of numbered images (``.png .jpg .jpeg .bmp .tif .tiff .webp .ppm .pgm .pbm .pnm
  .jp2``; other files and hidden files are ignored). Images are taken in *natural* order
  (``f2.png`` before ``f10.png``) and frame ``i`` is at ``i / image_fps`` seconds.

Timestamps
----------
A frame's time is the backend's ``CAP_PROP_POS_MSEC`` after decoding it, in seconds. Times are
made strictly increasing while streaming: when a backend reports no timestamp (NaN, negative) or
one that does not increase, that frame gets ``previous + 1 / fps`` instead, with ``fps`` the
container's nominal rate (or :data:`DEFAULT_IMAGE_FPS` when the container gives none). A backend
that never reports timestamps therefore yields ``index / fps``. :func:`iter_sampled_frames`,
:func:`read_sampled` and :func:`native_timeline` apply the same rule, so they agree frame by
frame.

Frame size
----------
All frames of one input have the same size: a frame whose size differs from the first one's (an
image folder of mixed sizes, a stream that changes resolution) is an error, not a frame to be
rescaled or dropped later. A frame may have at most :data:`MAX_FRAME_PIXELS` pixels; larger ones
are refused *before* they are decoded (from the container's frame size, or from the image file's
header for PNG, JPEG, BMP, WebP and PNM), so a 60000x60000 PNG costs nothing but an error message.

Errors
------
Every failure to read an input raises :class:`VideoReadError` (a ``ValueError``) whose message
names the file and the reason: missing, permission denied, empty, a text file, not openable
(unknown format, corrupt, or truncated so badly that the container cannot be parsed, e.g. an MP4
cut before its ``moov`` index), or no decodable frame. A file truncated after its header decodes
as its readable prefix. FFmpeg prints its own diagnostics for damaged files to stderr; they are
not Python warnings.
"""

from __future__ import annotations

import math
import os
import queue
import re
import stat
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, TypeVar, Union

import cv2
import numpy as np

__all__ = [
    "DEFAULT_IMAGE_FPS",
    "DEFAULT_SAMPLE_FPS",
    "IMAGE_SUFFIXES",
    "MAX_FRAME_PIXELS",
    "ProcessedVideo",
    "SampledFrame",
    "SampledVideo",
    "VideoReadError",
    "iter_sampled_frames",
    "native_fps",
    "native_timeline",
    "process_sampled_frames",
    "read_sampled",
]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_SAMPLE_FPS: float = 10.0
"""Default sampling rate, frames per second.

Action phases of human motion (a swing, a jump, a pitch) last a few tenths of a second or more,
so 10 samples per second keep several frames per phase, while typical 25-60 fps footage shrinks
2.5-6x. DTW and DRAQ cost grows with the product of the two lengths (paper Eq. 4-6), so this is a
6-36x saving on every pair, and frame features are computed for fewer frames. Pass a higher rate
(or ``None`` for every frame) for very fast actions.
"""

DEFAULT_IMAGE_FPS: float = 25.0
"""Frame rate, frames per second, assumed for a folder of images (PAL video rate), and the
fallback for a video container that reports no usable frame rate."""

MAX_FRAME_PIXELS: int = 7680 * 4320
"""Largest frame accepted, in pixels (width x height): 8K UHD, 33.2 megapixels.

A decoded frame takes ``3 * W * H`` bytes and every step after decoding (resizing, features,
rendering) holds a few copies: larger frames are refused before decoding with a
:class:`VideoReadError` naming the file and its size. Scale such images down first."""

IMAGE_SUFFIXES: Tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp",
    ".ppm", ".pgm", ".pbm", ".pnm", ".jp2",
)
"""File name endings (case-insensitive) read as frames of an image folder."""

# A frame is kept when its time is within this many seconds of the next sample instant; absorbs
# millisecond rounding of container timestamps (e.g. 30 fps stored as 0, 33, 67, 100 ms).
_SAMPLE_TOLERANCE_S = 1e-3
# Container rates outside (0, _MAX_PLAUSIBLE_FPS] are treated as missing (some streams report a
# time base such as 90000 as their rate).
_MAX_PLAUSIBLE_FPS = 1000.0
# native_fps compares the container's rate with timestamps of at most this many first frames.
_FPS_PROBE_FRAMES = 64
# ... and trusts the container when both agree within this relative tolerance.
_FPS_AGREEMENT = 0.05
# Bytes inspected to tell a text file from a video.
_SNIFF_BYTES = 4096
# process_sampled_frames: decoded frames waiting for the caller's function, at most (a few
# frames absorb the jitter between decoding and processing; 4 frames of 4K are 100 MB).
_PREFETCH_FRAMES = 4

_R = TypeVar("_R")


class VideoReadError(ValueError):
    """An input video (file or image folder) cannot be read; the message names it and says why."""


@dataclass(frozen=True, eq=False)
class SampledFrame:
    """One decoded frame kept by the sampler.

    Attributes
    ----------
    index : int
        0-based index of the frame in the sequential (native) decode of the video.
    time : float
        Timestamp of the frame, seconds (see the module notes on timestamps).
    image : ndarray of shape (H, W, 3), uint8
        The frame in BGR channel order (OpenCV's convention); a new array owned by the caller.
    """

    index: int
    time: float
    image: np.ndarray


@dataclass(frozen=True, eq=False)
class SampledVideo:
    """All sampled frames of a video, as returned by :func:`read_sampled`.

    Attributes
    ----------
    path : str
        The input path as given.
    frames : ndarray of shape (T, H, W, 3), uint8
        Sampled frames, BGR, in decode order.
    times : ndarray of shape (T,), float64
        Timestamps of the sampled frames, seconds, strictly increasing.
    indices : ndarray of shape (T,), int64
        Native frame index of each sampled frame, strictly increasing.
    native_count : int
        Number of frames in the whole sequential decode (``indices[-1] < native_count``).
    sample_fps : float or None
        The sampling rate used, frames per second; ``None`` when every frame was kept.
    """

    path: str
    frames: np.ndarray
    times: np.ndarray
    indices: np.ndarray
    native_count: int
    sample_fps: Optional[float]


@dataclass(frozen=True, eq=False)
class ProcessedVideo:
    """What :func:`process_sampled_frames` returns: the function's result and the timeline.

    Attributes
    ----------
    path : str
        The input path as given.
    result : object
        What the function returned.
    times : ndarray of shape (T,), float64
        Timestamps of the ``T`` frames the function consumed, seconds, strictly increasing.
    indices : ndarray of shape (T,), int64
        Native frame index of each of them, strictly increasing.
    native_count : int
        Number of frames in the whole sequential decode.
    native_fps : float or None
        The frame rate :func:`native_fps` returns for this input, frames per second, from the
        same decode; ``None`` where :func:`native_fps` raises (the container gives no rate and
        the timestamps do not increase).
    sample_fps : float or None
        The sampling rate used; ``None`` when every frame was kept.
    """

    path: str
    result: Any
    times: np.ndarray
    indices: np.ndarray
    native_count: int
    native_fps: Optional[float]
    sample_fps: Optional[float]


# --------------------------------------------------------------------------------------------
# argument checks


def _check_rate(value: object, name: str, allow_none: bool) -> Optional[float]:
    if value is None and allow_none:
        return None
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, (bool, np.bool_)) or not numeric:
        raise TypeError(f"{name}: expected a positive number of frames per second, got {value!r}")
    rate = float(value)
    if not math.isfinite(rate) or rate <= 0.0:
        raise ValueError(f"{name}: expected a finite rate > 0 frames per second, got {value!r}")
    if rate > _MAX_PLAUSIBLE_FPS:
        raise ValueError(f"{name}: {value!r} frames per second is above the {_MAX_PLAUSIBLE_FPS:g} fps this reader "
                         "accepts (no camera records faster; use None to keep every decoded frame)")
    return rate


def _check_time(value: object, name: str) -> float:
    numeric = isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, (bool, np.bool_)) or not numeric:
        raise TypeError(f"{name}: expected a time in seconds, got {value!r}")
    t = float(value)
    if not math.isfinite(t) or t < 0.0:
        raise ValueError(f"{name}: expected a finite time >= 0 seconds, got {value!r}")
    return t


def _natural_key(name: str) -> Tuple[Tuple[int, int, str], ...]:
    # "f10.png" -> ("f", 10, ".png"): digit runs compare as numbers, text case-insensitively.
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p.lower()) for p in parts if p)


def _looks_like_text(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) is plain text rather than binary data.

    FFmpeg's ``tty`` demuxer renders ``.txt`` and similar files as ANSI-art "video", so without
    this check a text file decodes into frames. Every video container starts with binary fields.
    """
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed block is still text.
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\n\r\f\v\ufeff" for ch in text)  # \ufeff: BOM


def _classify(path: PathLike) -> Tuple[str, bool]:
    """Check that ``path`` can be read; return (display name, is_folder)."""
    try:
        name = os.fspath(path)
    except TypeError:
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}") from None
    if not isinstance(name, str):
        name = os.fsdecode(name)
    if "\0" in name:
        raise VideoReadError(f"{name!r}: a path cannot contain a NUL character")
    if name == "":
        raise VideoReadError("'': empty path")
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise VideoReadError(f"{name}: no such file or folder") from None
    except NotADirectoryError:
        raise VideoReadError(f"{name}: no such file or folder (a parent is not a folder)") from None
    except PermissionError:
        raise VideoReadError(f"{name}: permission denied") from None
    except OSError as exc:
        raise VideoReadError(f"{name}: cannot be accessed ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        return name, True
    if not stat.S_ISREG(st.st_mode):
        raise VideoReadError(f"{name}: not a regular file or a folder of images")
    try:
        with open(name, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except PermissionError:
        raise VideoReadError(f"{name}: permission denied (cannot open it for reading)") from None
    except OSError as exc:
        raise VideoReadError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise VideoReadError(f"{name}: file is empty (0 bytes)")
    if _looks_like_text(head):
        raise VideoReadError(f"{name}: is a text file, not a video")
    return name, False


# --------------------------------------------------------------------------------------------
# frame sources: advance() decodes the next frame and returns its raw time, image() converts it


class _Clock:
    """Turns raw backend timestamps into strictly increasing times (module notes)."""

    def __init__(self, fallback_fps: float) -> None:
        self._step = 1.0 / fallback_fps
        self._prev: Optional[float] = None

    def __call__(self, raw_seconds: float) -> float:
        ok = math.isfinite(raw_seconds) and raw_seconds >= 0.0
        if self._prev is None:
            t = raw_seconds if ok else 0.0
        elif ok and raw_seconds > self._prev:
            t = raw_seconds
        else:
            t = self._prev + self._step
        self._prev = t
        return t


def _as_bgr(image: np.ndarray, name: str, index: int) -> np.ndarray:
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        else:
            raise VideoReadError(f"{name}: frame {index} has unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    raise VideoReadError(f"{name}: frame {index} has unsupported shape {image.shape}")


class _VideoFileSource:
    def __init__(self, name: str) -> None:
        self.name = name
        try:
            cap = cv2.VideoCapture(name)
        except cv2.error as exc:
            raise VideoReadError(f"{name}: OpenCV failed while opening it ({exc})") from None
        if not cap.isOpened():
            raise VideoReadError(
                f"{name}: OpenCV cannot open it as a video (unknown format, corrupt, or truncated; "
                "an MP4 cut short loses its 'moov' index)"
            )
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
        if fourcc.to_bytes(4, "little") == b"ansi":  # FFmpeg's text-as-video "tty" demuxer
            cap.release()
            raise VideoReadError(f"{name}: is a text file, not a video")
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width * height > MAX_FRAME_PIXELS:
            cap.release()
            raise VideoReadError(_too_large(name, width, height))
        self._cap = cap
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.container_fps: Optional[float] = fps if _plausible_fps(fps) else None
        self.index = -1

    def advance(self) -> Optional[float]:
        try:
            if not self._cap.grab():
                return None
            raw = float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        except cv2.error as exc:
            raise VideoReadError(
                f"{self.name}: decoding failed after frame {self.index} ({exc})"
            ) from None
        self.index += 1
        return raw

    def image(self) -> np.ndarray:
        try:
            ok, frame = self._cap.retrieve()
        except cv2.error as exc:
            raise VideoReadError(
                f"{self.name}: cannot convert frame {self.index} ({exc})"
            ) from None
        if not ok or frame is None:
            raise VideoReadError(
                f"{self.name}: frame {self.index} was decoded but cannot be retrieved"
            )
        return _as_bgr(frame, self.name, self.index)

    def close(self) -> None:
        self._cap.release()


class _ImageFolderSource:
    def __init__(self, name: str, image_fps: float) -> None:
        self.name = name
        try:
            entries = list(os.scandir(name))
        except PermissionError:
            raise VideoReadError(f"{name}: permission denied (cannot list the folder)") from None
        except OSError as exc:
            reason = exc.strerror or exc
            raise VideoReadError(f"{name}: cannot list the folder ({reason})") from None
        files = [
            e.name
            for e in entries
            if not e.name.startswith(".")
            and e.name.lower().endswith(IMAGE_SUFFIXES)
            and e.is_file()
        ]
        if not files:
            raise VideoReadError(
                f"{name}: folder contains no image files (looked for {', '.join(IMAGE_SUFFIXES)})"
            )
        self.files: List[str] = [os.path.join(name, f) for f in sorted(files, key=_natural_key)]
        self.container_fps: Optional[float] = image_fps
        self._step = 1.0 / image_fps
        self.index = -1
        self._first_size: Optional[Tuple[int, Tuple[int, int]]] = None

    def advance(self) -> Optional[float]:
        if self.index + 1 >= len(self.files):
            return None
        self.index += 1
        self._check_header(self.files[self.index])
        return self.index * self._step

    def _check_header(self, file: str) -> None:
        """Size from the file's header, for every file (sampled or not): a folder of mixed
        sizes or a huge image is refused whichever frames a sampling rate keeps."""
        try:
            with open(file, "rb") as fh:
                head = fh.read(_HEADER_PEEK)
        except OSError as exc:
            raise VideoReadError(f"{file}: cannot be read ({exc.strerror or exc})") from None
        size = _image_size(head)
        if size is None:
            return  # a format not parsed here: checked when decoded
        if size[0] * size[1] > MAX_FRAME_PIXELS:
            raise VideoReadError(_too_large(file, *size))
        if self._first_size is None:
            self._first_size = (self.index, size)
        elif size != self._first_size[1]:
            first, (w, h) = self._first_size
            raise VideoReadError(
                f"{self.name}: frame {self.index} is {size[0]}x{size[1]}, the first frame {w}x{h}; "
                f"all frames of a video must have one size ({file})"
            )

    def image(self) -> np.ndarray:
        file = self.files[self.index]
        try:
            with open(file, "rb") as fh:
                data = np.frombuffer(fh.read(), dtype=np.uint8)
        except OSError as exc:
            raise VideoReadError(f"{file}: cannot be read ({exc.strerror or exc})") from None
        size = _image_size(data[:_HEADER_PEEK].tobytes())
        if size is not None and size[0] * size[1] > MAX_FRAME_PIXELS:
            raise VideoReadError(_too_large(file, *size))
        try:
            img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        except cv2.error as exc:  # e.g. OpenCV's own pixel limit for formats not parsed above
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise VideoReadError(f"{file}: OpenCV cannot decode it ({msg})") from None
        if img is not None and img.shape[0] * img.shape[1] > MAX_FRAME_PIXELS:
            raise VideoReadError(_too_large(file, img.shape[1], img.shape[0]))
        if img is None:
            raise VideoReadError(
                f"{file}: not a readable image (frame {self.index} of folder {self.name})"
            )
        return _as_bgr(img, file, self.index)

    def close(self) -> None:
        pass


def _too_large(name: str, width: int, height: int) -> str:
    return (
        f"{name}: frames are {width}x{height} = {width * height / 1e6:.1f} megapixels, more than the "
        f"limit of {MAX_FRAME_PIXELS / 1e6:.1f} (MAX_FRAME_PIXELS, 8K UHD); scale it down first"
    )


# Bytes of an image file read to find its size (JPEG markers may come after EXIF data).
_HEADER_PEEK = 1 << 16


def _image_size(head: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) from an image file's header without decoding it; None if not known."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] == b"BM" and len(head) >= 26:
        return abs(int.from_bytes(head[18:22], "little", signed=True)), abs(int.from_bytes(head[22:26], "little", signed=True))
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        kind = head[12:16]
        if kind == b"VP8X":
            return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
        if kind == b"VP8L" and len(head) >= 25:
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8 ":
            return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if head[:2] == b"\xff\xd8":
        pos = 2
        while pos + 9 <= len(head):
            if head[pos] != 0xFF:
                return None
            marker = head[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            length = int.from_bytes(head[pos + 2 : pos + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(head[pos + 7 : pos + 9], "big"), int.from_bytes(head[pos + 5 : pos + 7], "big")
            pos += 2 + length
        return None
    if head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6"):
        fields = re.sub(rb"#[^\n]*", b" ", head[2:256]).split()
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            return int(fields[0]), int(fields[1])
    return None


_Source = Union[_VideoFileSource, _ImageFolderSource]


def _plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0.0 < fps <= _MAX_PLAUSIBLE_FPS


def _open(path: PathLike, image_fps: float) -> _Source:
    name, is_folder = _classify(path)
    if is_folder:
        return _ImageFolderSource(name, image_fps)
    return _VideoFileSource(name)


class _Sampler:
    """Keeps a frame whenever its time reaches the next sample instant ``t0 + k / sample_fps``."""

    def __init__(self, sample_fps: Optional[float]) -> None:
        self._period = None if sample_fps is None else 1.0 / sample_fps
        self._start = 0.0
        self._next = -math.inf  # the first frame is always kept

    def keep(self, t: float) -> bool:
        if self._period is None:
            return True
        if self._next == -math.inf:
            self._start = t
            self._next = t + self._period
            return True
        if t + _SAMPLE_TOLERANCE_S < self._next:
            return False
        # Skip every instant this frame has passed (a rate above the native rate keeps each
        # frame once).
        k = math.floor((t + _SAMPLE_TOLERANCE_S - self._start) / self._period) + 1
        self._next = self._start + k * self._period
        return True


class _Decode:
    """Iterates the kept frames of a source; ``count`` is the number of decoded frames so far."""

    def __init__(
        self, source: _Source, sample_fps: Optional[float], start: float = 0.0, end: float = math.inf
    ) -> None:
        self.source = source
        self.count = 0
        self._clock = _Clock(source.container_fps or DEFAULT_IMAGE_FPS)
        self._sampler = _Sampler(sample_fps)
        self._start, self._end = start, end
        self._shape: Optional[Tuple[int, ...]] = None
        # raw timestamps of the first frames, for the frame-rate estimate of this same pass
        self.probe: List[float] = []

    def __iter__(self) -> Iterator[SampledFrame]:
        try:
            while True:
                raw = self.source.advance()
                if raw is None:
                    break
                self.count += 1
                if len(self.probe) < _FPS_PROBE_FRAMES:
                    self.probe.append(raw)
                t = self._clock(raw)
                if t > self._end:
                    break
                if t >= self._start and self._sampler.keep(t):
                    image = self.source.image()
                    if self._shape is None:
                        self._shape = image.shape
                    elif image.shape != self._shape:
                        raise VideoReadError(
                            f"{self.source.name}: frame {self.source.index} is {image.shape[1]}x{image.shape[0]}, "
                            f"the first frame {self._shape[1]}x{self._shape[0]}; all frames of a video must have "
                            "one size"
                        )
                    yield SampledFrame(index=self.source.index, time=t, image=image)
        finally:
            self.source.close()
        if self.count == 0:
            raise VideoReadError(f"{self.source.name}: contains no decodable frames")

    def native_fps(self, image_fps: float) -> Optional[float]:
        """The frame rate :func:`native_fps` gives, from the frames this pass has decoded (None
        where it raises)."""
        if isinstance(self.source, _ImageFolderSource):
            return image_fps
        try:
            return _fps_from_stamps(self.source.name, self.probe, self.source.container_fps)
        except VideoReadError:
            return None


def _fps_from_stamps(name: str, raw: List[float], container: Optional[float]) -> float:
    """Frame rate from the container's rate and the raw timestamps of the first frames.

    The timestamps are sorted before taking the median interval: some files report them out of
    order in decode order (``box.mp4`` of the footage registry gives 0, 101, 67, 134, 34 ms...,
    the pattern of a B-frame reordering applied to the timestamps but not to the frames), whose
    increasing steps alone (101, 67, 200 ms...) would suggest 12 frames per second.
    """
    # np.sort, not np.unique/np.median: those import numpy.ma on first use (10-16 ms of a cold
    # `draq search`); equal stamps give zero steps, dropped below, and the median is the same.
    stamps = np.sort(np.asarray([t for t in raw if math.isfinite(t) and t >= 0.0], dtype=np.float64))
    steps = np.diff(stamps)
    steps = np.sort(steps[steps > 0.0])
    estimate = None
    if steps.size:
        mid = steps.size // 2
        median = steps[mid] if steps.size % 2 else 0.5 * (steps[mid - 1] + steps[mid])
        estimate = float(1.0 / median)
    if estimate is not None and not _plausible_fps(estimate):
        estimate = None
    if container is not None and (
        estimate is None or abs(container / estimate - 1.0) <= _FPS_AGREEMENT
    ):
        return container
    if estimate is not None:
        return estimate
    raise VideoReadError(
        f"{name}: no usable frame rate (container gives none, timestamps do not increase)"
    )


# --------------------------------------------------------------------------------------------
# public API


def iter_sampled_frames(
    path: PathLike,
    sample_fps: Optional[float] = DEFAULT_SAMPLE_FPS,
    *,
    image_fps: float = DEFAULT_IMAGE_FPS,
    start: float = 0.0,
    end: Optional[float] = None,
) -> Iterator[SampledFrame]:
    """Decode a video sequentially and yield the frames sampled at ``sample_fps``.

    The first frame is always kept; after that a frame is kept when its time reaches the next
    sample instant ``t0 + k / sample_fps`` (within 1 ms), and instants it has passed are skipped,
    so a rate above the native rate keeps every frame once. Frames that are not kept are decoded
    but never converted to images. Memory does not grow with video length: one frame at a time.

    Parameters
    ----------
    path : str or os.PathLike
        A video file OpenCV can open, or a folder of numbered images (module notes).
    sample_fps : float or None, default DEFAULT_SAMPLE_FPS
        Sampling rate, frames per second (> 0); ``None`` keeps every decoded frame.
    image_fps : float, default DEFAULT_IMAGE_FPS
        Frame rate of an image folder, frames per second (ignored for video files).
    start, end : float, optional
        Keep only frames whose time lies in ``[start, end]`` seconds (``end=None``: to the last
        frame). Earlier frames are decoded but not converted; decoding stops after ``end``.
        Sampling instants start at the first frame kept.

    Yields
    ------
    SampledFrame
        With strictly increasing ``index`` and ``time``.

    Raises
    ------
    VideoReadError
        The input cannot be read (raised by this call for missing, unreadable, empty, text and
        unopenable inputs; while iterating for decoding failures and for a video with no frame).
    TypeError, ValueError
        Bad ``sample_fps`` or ``image_fps``.
    """
    rate = _check_rate(sample_fps, "sample_fps", allow_none=True)
    ifps = _check_rate(image_fps, "image_fps", allow_none=False)
    assert ifps is not None
    t0 = _check_time(start, "start")
    t1 = math.inf if end is None else _check_time(end, "end")
    if t1 < t0:
        raise ValueError(f"end ({end!r} s) is before start ({start!r} s)")
    return iter(_Decode(_open(path, ifps), rate, t0, t1))


def read_sampled(
    path: PathLike,
    sample_fps: Optional[float] = DEFAULT_SAMPLE_FPS,
    *,
    image_fps: float = DEFAULT_IMAGE_FPS,
) -> SampledVideo:
    """Read all frames sampled at ``sample_fps`` into arrays.

    Same decoding and sampling as :func:`iter_sampled_frames`, collected in memory
    (``T * H * W * 3`` bytes).

    Parameters
    ----------
    path : str or os.PathLike
        A video file or a folder of numbered images.
    sample_fps : float or None, default DEFAULT_SAMPLE_FPS
        Sampling rate, frames per second (> 0); ``None`` keeps every decoded frame.
    image_fps : float, default DEFAULT_IMAGE_FPS
        Frame rate of an image folder, frames per second.

    Returns
    -------
    SampledVideo

    Raises
    ------
    VideoReadError
        The input cannot be read, or its frames change size midway.
    TypeError, ValueError
        Bad ``sample_fps`` or ``image_fps``.
    """
    rate = _check_rate(sample_fps, "sample_fps", allow_none=True)
    ifps = _check_rate(image_fps, "image_fps", allow_none=False)
    assert ifps is not None
    decode = _Decode(_open(path, ifps), rate)
    images: List[np.ndarray] = []
    times: List[float] = []
    indices: List[int] = []
    for frame in decode:
        if images and frame.image.shape != images[0].shape:
            raise VideoReadError(
                f"{decode.source.name}: frame {frame.index} is {frame.image.shape[1]}x"
                f"{frame.image.shape[0]}, the first frame {images[0].shape[1]}x{images[0].shape[0]}"
            )
        images.append(frame.image)
        times.append(frame.time)
        indices.append(frame.index)
    return SampledVideo(
        path=decode.source.name,
        frames=np.stack(images),
        times=np.asarray(times, dtype=np.float64),
        indices=np.asarray(indices, dtype=np.int64),
        native_count=decode.count,
        sample_fps=rate,
    )


class _Failure:
    """An exception raised in the decode thread, carried to the caller's thread."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()  # the decode thread has decoded the last frame


def process_sampled_frames(
    path: PathLike,
    process: Callable[[Iterable[np.ndarray]], _R],
    sample_fps: Optional[float] = DEFAULT_SAMPLE_FPS,
    *,
    image_fps: float = DEFAULT_IMAGE_FPS,
    start: float = 0.0,
    end: Optional[float] = None,
) -> ProcessedVideo:
    """Decode a video in a background thread while ``process`` consumes its sampled frames.

    One sequential decode does everything: the frames :func:`iter_sampled_frames` would yield
    are handed to ``process`` (in the calling thread) through a queue of a few frames, while the
    next ones are being decoded, sampled and converted in a second thread (OpenCV releases the
    GIL while it decodes), and the frame rate :func:`native_fps` would give comes from the same
    pass (no second decode). Frames the function does not consume are still decoded, so that
    ``native_count`` and ``native_fps`` describe the whole video.

    The decode thread never outlives this call: it is stopped and joined before the call
    returns or raises (an exception of ``process``, a ``KeyboardInterrupt``), so nothing runs
    between calls and ``os.fork`` after a call is safe. A decoding error is raised in the
    calling thread from the iterable ``process`` is reading (and again after ``process``
    returns, if ``process`` swallowed it).

    Parameters
    ----------
    path : str or os.PathLike
        A video file OpenCV can open, or a folder of numbered images (module notes).
    process : callable ``(frames) -> result``
        Called once with an iterable of the sampled frames, each an ndarray of shape
        (H, W, 3), uint8, BGR, in temporal order (for example ``extractor.extract``).
    sample_fps : float or None, default DEFAULT_SAMPLE_FPS
        Sampling rate, frames per second (> 0); ``None`` keeps every decoded frame.
    image_fps : float, default DEFAULT_IMAGE_FPS
        Frame rate of an image folder, frames per second (ignored for video files).
    start, end : float, optional
        Keep only frames whose time lies in ``[start, end]`` seconds, as in
        :func:`iter_sampled_frames`; decoding stops after ``end`` (``native_count`` then counts
        the frames decoded up to there, and the frame rate comes from those).

    Returns
    -------
    ProcessedVideo
        ``result`` and the timeline of the frames ``process`` consumed (``times``,
        ``indices``: the ``time`` and ``index`` :func:`iter_sampled_frames` gives them).

    Raises
    ------
    VideoReadError
        The input cannot be read (missing, unreadable, empty, text or unopenable inputs before
        ``process`` is called; decoding failures and a video with no frame while it reads).
    TypeError, ValueError
        Bad ``sample_fps`` or ``image_fps``, or ``process`` not callable.
    """
    if not callable(process):
        raise TypeError(f"process: expected a callable taking an iterable of frames, got {type(process).__name__}")
    rate = _check_rate(sample_fps, "sample_fps", allow_none=True)
    ifps = _check_rate(image_fps, "image_fps", allow_none=False)
    assert ifps is not None
    t0 = _check_time(start, "start")
    t1 = math.inf if end is None else _check_time(end, "end")
    if t1 < t0:
        raise ValueError(f"end ({end!r} s) is before start ({start!r} s)")
    decode = _Decode(_open(path, ifps), rate, t0, t1)
    pending: "queue.Queue[object]" = queue.Queue(maxsize=_PREFETCH_FRAMES)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        frames = iter(decode)
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(_END)
        except BaseException as exc:  # carried to the caller, never lost in this thread
            put(_Failure(exc))
        finally:
            frames.close()  # releases the capture when stopped early (no-op after the end)

    thread = threading.Thread(target=produce, name="draqcore-decode", daemon=True)
    failure: List[BaseException] = []
    ended = [False]
    times: List[float] = []
    indices: List[int] = []

    def take() -> object:
        while True:
            try:
                item = pending.get(timeout=0.1)
            except queue.Empty:
                if thread.is_alive() or not pending.empty():
                    continue
                raise RuntimeError("the decode thread ended without a result") from None
            if item is _END:
                ended[0] = True
            elif isinstance(item, _Failure):
                ended[0] = True
                failure.append(item.exc)
                raise item.exc
            return item

    def images() -> Iterator[np.ndarray]:
        while not ended[0]:
            item = take()
            if item is _END:
                return
            assert isinstance(item, SampledFrame)
            times.append(item.time)
            indices.append(item.index)
            yield item.image

    thread.start()
    try:
        result = process(images())
        if failure:
            raise failure[0]
        while not ended[0]:  # frames not consumed: decoded for the count and the rate
            take()
    finally:
        stop.set()
        thread.join()
    return ProcessedVideo(
        path=decode.source.name,
        result=result,
        times=np.asarray(times, dtype=np.float64),
        indices=np.asarray(indices, dtype=np.int64),
        native_count=decode.count,
        native_fps=decode.native_fps(ifps),
        sample_fps=rate,
    )


def native_timeline(path: PathLike, *, image_fps: float = DEFAULT_IMAGE_FPS) -> np.ndarray:
    """Timestamps of every frame of a sequential decode (no images are kept or converted).

    Parameters
    ----------
    path : str or os.PathLike
        A video file or a folder of numbered images.
    image_fps : float, default DEFAULT_IMAGE_FPS
        Frame rate of an image folder, frames per second.

    Returns
    -------
    ndarray of shape (N,), float64
        Time of native frame ``i`` in seconds, strictly increasing; ``N`` is the number of
        decoded frames. Equal to the ``time`` :func:`iter_sampled_frames` gives frame ``i``.

    Raises
    ------
    VideoReadError
        The input cannot be read or has no frame.
    """
    ifps = _check_rate(image_fps, "image_fps", allow_none=False)
    assert ifps is not None
    source = _open(path, ifps)
    clock = _Clock(source.container_fps or DEFAULT_IMAGE_FPS)
    times: List[float] = []
    try:
        while True:
            raw = source.advance()
            if raw is None:
                break
            times.append(clock(raw))
    finally:
        source.close()
    if not times:
        raise VideoReadError(f"{source.name}: contains no decodable frames")
    return np.asarray(times, dtype=np.float64)


def native_fps(path: PathLike, *, image_fps: float = DEFAULT_IMAGE_FPS) -> float:
    """Nominal frame rate of a video, frames per second.

    The container's rate is checked against the backend timestamps of the first (at most 64)
    frames: the median interval between their sorted distinct values gives an estimate (sorted:
    some files store timestamps out of decode order). The container
    rate is returned when it agrees with the estimate within 5 % (it is exact, e.g. 30000/1001)
    or when there is no estimate (one frame, or no timestamps); the estimate is returned when the
    container gives no plausible rate (0, NaN, above 1000) or disagrees with it.

    Parameters
    ----------
    path : str or os.PathLike
        A video file or a folder of numbered images (which returns ``image_fps``).
    image_fps : float, default DEFAULT_IMAGE_FPS
        Frame rate of an image folder, frames per second.

    Returns
    -------
    float
        Frames per second, > 0.

    Raises
    ------
    VideoReadError
        The input cannot be read, has no frame, or gives neither a container rate nor
        increasing timestamps.
    """
    ifps = _check_rate(image_fps, "image_fps", allow_none=False)
    assert ifps is not None
    source = _open(path, ifps)
    if isinstance(source, _ImageFolderSource):
        return ifps
    raw: List[float] = []
    try:
        while len(raw) < _FPS_PROBE_FRAMES:
            t = source.advance()
            if t is None:
                break
            raw.append(t)
    finally:
        source.close()
    if not raw:
        raise VideoReadError(f"{source.name}: contains no decodable frames")
    return _fps_from_stamps(source.name, raw, source.container_fps)

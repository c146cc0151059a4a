"""Browser-playable media through PyAV (FFmpeg in its wheels): a video encoder, audio in and out.

Containers and codecs are chosen by the output's file name:

====================  ===================================  ============
suffix                video                                audio
====================  ===================================  ============
``.mp4`` ``.m4v``     H.264 (libx264), yuv420p, CRF 23     AAC
``.webm``             VP9 (libvpx-vp9), yuv420p, CRF 32    Opus
====================  ===================================  ============

Both play in every current browser and notebook. Key frames are at most two seconds apart so that
a browser seeks quickly (the viewer seeks the second video while the first plays). No system
``ffmpeg`` is needed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

__all__ = [
    "AUDIO_RATE",
    "average_rate",
    "MEDIA_SUFFIXES",
    "AudioTrack",
    "FrameFollower",
    "VideoEncoder",
    "check_media_path",
    "even_size",
    "read_audio",
]

PathLike = Union[str, "os.PathLike[str]"]


class FrameFollower:
    """A video decoded forward only, read at a non-decreasing sequence of native frame indices.

    ``at(index)`` returns the last decoded frame whose index is at most ``index`` (the last frame
    of the video past its end): what a time map that repeats or skips frames of B shows.
    """

    def __init__(self, frames: Iterator[Any]) -> None:
        self._frames = frames
        self.current = next(frames)  # a SampledFrame: .index, .time, .image

    def at(self, index: int) -> Any:
        while self.current.index < index:
            nxt = next(self._frames, None)
            if nxt is None:
                break
            self.current = nxt
        return self.current

AUDIO_RATE: int = 48000
"""Sample rate, Hz, of every audio track read or written here (Opus requires 48 kHz)."""

# suffix -> (video codec, audio codec, video options)
_FORMATS = {
    ".mp4": ("libx264", "aac", {"crf": "23", "preset": "veryfast"}),
    ".m4v": ("libx264", "aac", {"crf": "23", "preset": "veryfast"}),
    ".webm": ("libvpx-vp9", "libopus", {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"}),
}
MEDIA_SUFFIXES = tuple(_FORMATS)
"""Output file name endings :class:`VideoEncoder` writes."""

_CLOCK = Fraction(1, 90000)  # video time base: frame times kept to 11 µs
_AUDIO_BITRATE = 128_000
_AUDIO_CHUNK = 1024  # samples per encoded audio frame (AAC's frame size; Opus accepts it too)


def check_media_path(path: PathLike) -> Path:
    """Check that ``path`` names a file :class:`VideoEncoder` can write, before any work.

    Raises
    ------
    ValueError
        Unknown suffix, or the PyAV build lacks the codec.
    OSError
        The parent folder does not exist or ``path`` is a folder.
    """
    import av

    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"{out}: output must end in {' or '.join(MEDIA_SUFFIXES)} (H.264/AAC in MP4, VP9/Opus in WebM)")
    vcodec, acodec, _ = _FORMATS[suffix]
    for codec in (vcodec, acodec):
        if codec not in av.codecs_available:
            raise ValueError(f"{out}: this PyAV build has no {codec} encoder; try {'.webm' if suffix != '.webm' else '.mp4'}")
    if out.is_dir():
        raise OSError(f"{out}: is a folder, not a file name")
    if not out.parent.is_dir():
        raise OSError(f"{out}: folder {out.parent} does not exist")
    return out


def average_rate(times: np.ndarray) -> float:
    """Frames per second of a timeline (seconds of every decoded frame): frames per second of its
    span, ``(N - 1) / (t[-1] - t[0])``. Unlike a container's nominal rate or the first frames'
    spacing, this cannot disagree with the timeline's length. 25 (PAL) for a single frame."""
    t = np.asarray(times, dtype=np.float64)
    if t.size < 2 or not t[-1] > t[0]:
        return 25.0
    return float((t.size - 1) / (t[-1] - t[0]))


def even_size(width: int, height: int, target_height: Optional[int] = None) -> tuple[int, int]:
    """``(width, height)`` scaled to ``target_height`` (aspect kept) and rounded to even numbers
    (yuv420p needs them), at least 2x2."""
    if target_height is not None:
        if int(target_height) != target_height or target_height < 2:
            raise ValueError(f"height must be an integer >= 2, got {target_height!r}")
        width = width * target_height / height
        height = target_height
    w = max(2, int(round(width / 2.0)) * 2)
    h = max(2, int(round(height / 2.0)) * 2)
    return w, h


@dataclass(frozen=True)
class AudioTrack:
    """Decoded audio.

    Attributes
    ----------
    samples : ndarray of shape (channels, n), float32
        Planar samples in [-1, 1]; ``channels`` is 1 or 2.
    rate : int
        Samples per second (:data:`AUDIO_RATE`).
    """

    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.samples.shape[1] / self.rate


def read_audio(path: PathLike) -> Optional[AudioTrack]:
    """The first audio stream of a media file, resampled to :data:`AUDIO_RATE`, or ``None`` when
    it has none (also for an image folder or a file PyAV cannot open as media).

    Time 0 of the result is the start of the file's first video stream (the time 0 of
    :func:`draqcore.video.native_timeline`): audio that starts later is padded with silence, audio
    that starts earlier is trimmed.

    Returns
    -------
    AudioTrack or None
        Mono or stereo (more channels are down-mixed to stereo).
    """
    import av

    p = Path(path)
    if not p.is_file():
        return None
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError):
        return None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        layout = "mono" if stream.codec_context.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=AUDIO_RATE)
        chunks = []
        first_time: Optional[float] = None
        for frame in container.decode(stream):
            if first_time is None and frame.pts is not None and frame.time_base is not None:
                first_time = float(frame.pts * frame.time_base)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
        video_start = 0.0
        if container.streams.video and container.streams.video[0].start_time is not None:
            vs = container.streams.video[0]
            video_start = float(vs.start_time * vs.time_base)
    channels = 1 if layout == "mono" else 2
    samples = np.concatenate(chunks, axis=1).astype(np.float32) if chunks else np.zeros((channels, 0), np.float32)
    offset = int(round(((first_time if first_time is not None else 0.0) - video_start) * AUDIO_RATE))
    if offset > 0:
        samples = np.concatenate([np.zeros((channels, offset), np.float32), samples], axis=1)
    elif offset < 0:
        samples = samples[:, -offset:]
    return AudioTrack(np.ascontiguousarray(samples), AUDIO_RATE)


class VideoEncoder:
    """Write BGR frames at a constant rate, optionally with an audio track, interleaved.

    Parameters
    ----------
    path : path
        Output file; the suffix picks the format (module table).
    fps : float
        Nominal frames per second (a rational close to it is stored, e.g. 30000/1001 for 29.97);
        also the spacing of frames written without a time.
    size : (width, height)
        Frame size in pixels; both even.
    audio : AudioTrack, optional
        Muxed beside the video and cut (or padded with silence) to the video's duration at
        :meth:`close`.

    Use as a context manager; frames go in with :meth:`write`. Leaving the ``with`` block by an
    exception deletes the partial file.
    """

    def __init__(self, path: PathLike, fps: float, size: tuple[int, int], *, audio: Optional[AudioTrack] = None) -> None:
        import av

        self.path = check_media_path(path)
        w, h = size
        if w % 2 or h % 2 or w < 2 or h < 2:
            raise ValueError(f"frame size must be even and >= 2, got {size}")
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        vcodec, acodec, options = _FORMATS[self.path.suffix.lower()]
        self.rate = Fraction(fps).limit_denominator(1001)
        self.size = (w, h)
        opts = {"movflags": "+faststart"} if self.path.suffix.lower() != ".webm" else {}
        self._container = av.open(str(self.path), "w", options=opts)
        try:
            self._video = self._container.add_stream(vcodec, rate=self.rate)
            self._video.width, self._video.height = w, h
            self._video.pix_fmt = "yuv420p"
            # Frames carry their own times (variable frame rate kept) on a 1/90000 s clock.
            self._video.codec_context.time_base = _CLOCK
            self._video.options = dict(options, g=str(max(1, int(round(2 * float(self.rate))))))
            self._audio_stream = None
            self._audio = audio
            self._audio_pos = 0
            if audio is not None:
                layout = "mono" if audio.samples.shape[0] == 1 else "stereo"
                self._audio_stream = self._container.add_stream(acodec, rate=audio.rate, layout=layout)
                self._audio_stream.bit_rate = _AUDIO_BITRATE
                self._layout = layout
        except Exception:
            self._container.close()
            self.path.unlink(missing_ok=True)
            raise
        self.frames = 0
        self._last_pts = -1
        self._end_s = 0.0

    def __enter__(self) -> "VideoEncoder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, image: np.ndarray, time_s: Optional[float] = None) -> None:
        """Append one frame: ndarray of shape (height, width, 3), uint8, BGR, shown at ``time_s``
        seconds (default: the previous frame's time + 1 / fps). Times must increase."""
        import av

        if image.shape != (self.size[1], self.size[0], 3) or image.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 of shape {(self.size[1], self.size[0], 3)}, got {image.dtype} {image.shape}")
        if time_s is None:
            time_s = self._end_s
        pts = int(round(float(time_s) / _CLOCK))
        if not np.isfinite(time_s) or pts <= self._last_pts:
            raise ValueError(f"frame times must increase: {time_s!r} after {float(self._last_pts * _CLOCK) if self._last_pts >= 0 else None}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = pts
        frame.time_base = _CLOCK
        self._mux(self._video.encode(frame))
        self._last_pts = pts
        self.frames += 1
        self._end_s = float(time_s) + 1.0 / float(self.rate)
        self._feed_audio(self._end_s)

    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    def _feed_audio(self, until_s: float, final: bool = False) -> None:
        import av

        if self._audio_stream is None or self._audio is None:
            return
        rate = self._audio.rate
        end = int(round(until_s * rate))
        src = self._audio.samples
        while self._audio_pos < end and (final or end - self._audio_pos >= _AUDIO_CHUNK):
            n = min(_AUDIO_CHUNK, end - self._audio_pos)
            chunk = np.zeros((src.shape[0], n), np.float32)
            have = src[:, self._audio_pos : self._audio_pos + n]
            chunk[:, : have.shape[1]] = have
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=self._layout)
            frame.sample_rate = rate
            frame.pts = self._audio_pos
            frame.time_base = Fraction(1, rate)
            self._mux(self._audio_stream.encode(frame))
            self._audio_pos += n

    def close(self) -> Path:
        """Flush the encoders and finish the file; returns its path."""
        if self.frames == 0:
            self.abort()
            raise ValueError(f"{self.path}: no frames were written")
        try:
            self._feed_audio(self._end_s, final=True)
            self._mux(self._video.encode(None))
            if self._audio_stream is not None:
                self._mux(self._audio_stream.encode(None))
        except Exception:
            self.abort()
            raise
        self._container.close()
        return self.path

    def abort(self) -> None:
        """Close and delete the partial file."""
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - already failing; the partial file goes either way
            pass
        self.path.unlink(missing_ok=True)

"""Media for the output tests (helpers; fixtures are in conftest.py): real camera footage
(``bikes``, see docs/footage.md) re-cut with a known time warp, with real audio tracks encoded by
FFmpeg (PyAV)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

FPS = 25
SOURCE_FRAMES = 110
A_FRAMES = 100  # A shows the source at normal speed: source frame i at A-time i / 25
TONE_A_HZ = 330.0
TONE_B_HZ = 440.0


def b_source_time(t_b: np.ndarray) -> np.ndarray:
    """Source time (seconds) B shows at B-time ``t_b``: half speed for 2 s, then double speed.

    A shows the source at normal speed, so the true A-time -> B-time map is the inverse:
    slope 2 on A's [0, 1] s (B's [0, 2] s), then slope 0.5.
    """
    t_b = np.asarray(t_b, dtype=np.float64)
    return np.where(t_b < 2.0, 0.5 * t_b, 1.0 + 2.0 * (t_b - 2.0))


def true_map(t_a: np.ndarray) -> np.ndarray:
    t_a = np.asarray(t_a, dtype=np.float64)
    return np.where(t_a < 1.0, 2.0 * t_a, 2.0 + 0.5 * (t_a - 1.0))


def write_clip(path: Path, frames: list[np.ndarray], tone_hz: float | None, times=None) -> Path:
    """H.264 (+ AAC tone) MP4 written with PyAV directly; frame ``i`` at ``times[i]`` seconds
    (default ``i / 25``)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
        a_s = None
        if tone_hz is not None:
            a_s = c.add_stream("aac", rate=48000, layout="mono")
        if times is not None:
            vs.codec_context.time_base = Fraction(1, 90000)
        for i, img in enumerate(frames):
            fr = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[: vs.height, : vs.width]), format="bgr24")
            if times is None:
                fr.pts, fr.time_base = i, Fraction(1, FPS)
            else:
                fr.pts, fr.time_base = int(round(times[i] * 90000)), Fraction(1, 90000)
            for p in vs.encode(fr):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        if a_s is not None:
            n = int((len(frames) / FPS if times is None else times[-1] + 1 / FPS) * 48000)
            t = np.arange(n) / 48000
            tone = (0.3 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)[None]
            for s in range(0, n, 1024):
                fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, s : s + 1024]), format="fltp", layout="mono")
                fr.sample_rate, fr.pts, fr.time_base = 48000, s, Fraction(1, 48000)
                for p in a_s.encode(fr):
                    c.mux(p)
            for p in a_s.encode(None):
                c.mux(p)
    return path


def decode_video(path: Path) -> tuple[list[np.ndarray], list[float], av.video.stream.VideoStream]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames, times = [], []
        for f in c.decode(s):
            frames.append(f.to_ndarray(format="bgr24"))
            times.append(float(f.pts * f.time_base))
        info = {"codec": s.codec_context.name, "rate": s.average_rate, "width": s.width, "height": s.height}
    return frames, times, info


def decode_audio(path: Path) -> tuple[np.ndarray, int] | None:
    """Mono float samples and rate of the first audio stream, or None."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return None
        s = c.streams.audio[0]
        chunks = [f.to_ndarray().astype(np.float64).reshape(f.to_ndarray().shape[0], -1).mean(axis=0) for f in c.decode(s)]
        return np.concatenate(chunks), s.rate


def dominant_hz(samples: np.ndarray, rate: int, t0: float, t1: float) -> float:
    seg = samples[int(t0 * rate) : int(t1 * rate)]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    return float(np.fft.rfftfreq(len(seg), 1 / rate)[np.argmax(spec)])



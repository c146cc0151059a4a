"""Re-timed renders: video B shown on video A's timeline, with A's audio or B's audio warped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Optional, Union

import cv2
import numpy as np

from .media import AudioTrack, FrameFollower, VideoEncoder, average_rate, check_media_path, even_size, read_audio
from .timemap import TimeMap

__all__ = ["AUDIO_MODES", "retime_video", "warp_audio"]

PathLike = Union[str, "os.PathLike[str]"]
AudioMode = Literal["auto", "a", "b", "none"]
AUDIO_MODES = ("auto", "a", "b", "none")

# Warped audio is played only where B runs at a speed a listener still recognises; outside this
# range (freezes, fast skips) it is silent.
_MIN_AUDIO_SPEED = 0.25
_MAX_AUDIO_SPEED = 4.0
# Sliding window (seconds of A) that smooths DTW's staircase map before audio follows it.
_AUDIO_SMOOTHING_S = 0.5
# Fade in/out length at the edges of silent stretches, seconds (no clicks).
_FADE_S = 0.01


def warp_audio(track: AudioTrack, time_map: TimeMap, duration: float) -> AudioTrack:
    """Carry B's audio through the time map onto A's timeline (variable-speed playback).

    Output sample at A-time ``t`` is B's audio at ``m(t)``, read by linear interpolation between
    B's samples, where ``m`` is ``time_map`` smoothed over 0.5 s (DTW's map is a staircase at the
    feature sampling rate; followed literally, audio would stutter). Like tape played at variable
    speed, pitch follows the speed ``m'(t)``. Where ``m'(t)`` is below 0.25 (a freeze: B holds a
    frame) or above 4, or ``m(t)`` lies outside B's audio, the output is silent, with 10 ms fades.
    No anti-alias filter is applied when B is sped up.

    Parameters
    ----------
    track : AudioTrack
        B's audio, time 0 = B's first video frame.
    time_map : TimeMap
        A-time to B-time, seconds.
    duration : float
        Length of the output, seconds (A's duration).

    Returns
    -------
    AudioTrack
        Same rate and channels as ``track``, ``round(duration * rate)`` samples.
    """
    rate = track.rate
    n = max(0, int(round(duration * rate)))
    t = np.arange(n, dtype=np.float64) / rate
    smooth = time_map.smoothed(_AUDIO_SMOOTHING_S)
    pos = smooth(t) * rate
    speed = np.gradient(pos) if n > 1 else np.zeros(n)
    n_b = track.samples.shape[1]
    audible = (speed >= _MIN_AUDIO_SPEED) & (speed <= _MAX_AUDIO_SPEED) & (pos >= 0) & (pos <= n_b - 1)
    gain = audible.astype(np.float32)
    fade = max(1, int(_FADE_S * rate))
    if n > fade:
        gain = np.convolve(gain, np.ones(fade, np.float32) / fade, mode="same").astype(np.float32) * audible
    out = np.zeros((track.samples.shape[0], n), np.float32)
    if n_b:
        index = np.arange(n_b, dtype=np.float64)
        for c in range(track.samples.shape[0]):
            out[c] = np.interp(pos, index, track.samples[c]).astype(np.float32) * gain
    return AudioTrack(out, rate)


def retime_video(
    a: PathLike,
    b: PathLike,
    out: PathLike,
    *,
    alignment=None,
    height: Optional[int] = None,
    audio: AudioMode = "auto",
    progress: bool = False,
) -> Path:
    """Render video ``b`` re-timed onto video ``a``'s timeline (paper Sec. 1: example-based
    re-timing).

    Output frame ``i`` is shown at A's frame time ``t_i`` (A's frame times, so A's frame rate
    and duration, variable rates included) and holds
    the decoded frame of B nearest to ``m(t_i)``, where ``m`` is the alignment's time map
    (:class:`TimeMap`; the same frames as ``alignment.csv``). B is decoded once, forwards.

    Parameters
    ----------
    a, b : path
        Reference video (its timeline is kept) and the video that is re-timed.
    out : path
        ``.mp4`` (H.264 + AAC) or ``.webm`` (VP9 + Opus).
    alignment : draqcore.Alignment, optional
        Of ``a`` and ``b`` (A first); computed with :func:`draqcore.align_videos` when omitted.
    height : int, optional
        Output height, pixels (default: B's height); width keeps B's aspect ratio, both even.
    audio : {"auto", "a", "b", "none"}
        ``"a"``: A's audio track (unchanged: it already belongs to this timeline). ``"b"``: B's
        audio carried through the same time map (:func:`warp_audio`: variable speed, silent where
        B freezes). ``"none"``. ``"auto"`` (default): ``"a"`` when A has audio, else none.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        Bad ``out`` suffix, ``height`` or ``audio``; ``audio`` names a video without audio.
    draqcore.video.VideoReadError
        A video cannot be decoded.
    """
    from ..align import align_videos
    from ..video import iter_sampled_frames, native_timeline

    out_path = check_media_path(out)
    if audio not in AUDIO_MODES:
        raise ValueError(f"audio must be one of {AUDIO_MODES}, got {audio!r}")
    if height is not None:
        even_size(2, 2, height)  # validates
    if alignment is None:
        alignment = align_videos(a, b)
    elif Path(alignment.a.path) != Path(a) or Path(alignment.b.path) != Path(b):
        raise ValueError(f"the alignment is of {alignment.a.path} and {alignment.b.path}, not of {a} and {b}")
    time_map = TimeMap.from_alignment(alignment)
    timeline_a = native_timeline(a)
    fps = average_rate(timeline_a)
    mapping = alignment.native_mapping(timeline_a=timeline_a)
    duration = float(timeline_a[-1]) + 1.0 / fps

    track: Optional[AudioTrack] = None
    if audio in ("auto", "a"):
        track = read_audio(a)
        if track is None and audio == "a":
            raise ValueError(f"{a}: has no audio track (use --audio b or none)")
    elif audio == "b":
        source = read_audio(b)
        if source is None:
            raise ValueError(f"{b}: has no audio track (use --audio a or none)")
        track = warp_audio(source, time_map, duration)

    frames_b = FrameFollower(iter_sampled_frames(b, None))
    size = even_size(frames_b.current.image.shape[1], frames_b.current.image.shape[0], height)
    steps = range(len(mapping.frame_b))
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="retime", unit="frame", leave=False)
    with VideoEncoder(out_path, fps, size, audio=track) as enc:
        for i in steps:
            image = frames_b.at(int(mapping.frame_b[i])).image
            if (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            enc.write(image, time_s=float(timeline_a[i]))
    return out_path

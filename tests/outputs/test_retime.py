from __future__ import annotations

import numpy as np
import pytest
from outputs_media import FPS, TONE_A_HZ, TONE_B_HZ, decode_audio, decode_video, dominant_hz, true_map

from draqcore.cli import main
from draqcore.outputs.media import AudioTrack
from draqcore.outputs.retime import retime_video, warp_audio
from draqcore.outputs.timemap import TimeMap


def test_retimed_b_looks_like_a_at_a_rate_and_duration(warped_pair, warped_alignment, tmp_path):
    out = retime_video(warped_pair.a, warped_pair.b, tmp_path / "r.mp4", alignment=warped_alignment, audio="none")
    frames, times, info = decode_video(out)
    assert info["codec"] == "h264"
    assert info["rate"] == FPS
    assert len(frames) == len(warped_pair.a_frames)  # A's frame count and duration
    assert np.allclose(times, np.arange(len(frames)) / FPS, atol=1e-3)
    assert decode_audio(out) is None
    # B re-timed onto A's timeline shows what A shows; B itself (unwarped) does not.
    b_frames, _, _ = decode_video(warped_pair.b)
    err_retimed = np.mean([np.abs(f.astype(int) - a.astype(int)).mean() for f, a in zip(frames, warped_pair.a_frames)])
    err_plain = np.mean([np.abs(f.astype(int) - a.astype(int)).mean() for f, a in zip(b_frames, warped_pair.a_frames)])
    assert err_retimed < 0.5 * err_plain, (err_retimed, err_plain)


def test_webm_height_and_a_audio(warped_pair, warped_alignment, tmp_path):
    out = retime_video(warped_pair.a, warped_pair.b, tmp_path / "r.webm", alignment=warped_alignment, height=68)
    frames, _, info = decode_video(out)
    assert info["codec"] == "vp9" and (info["height"], info["width"]) == (68, 160)
    audio, rate = decode_audio(out)  # auto -> A's audio
    assert abs(len(audio) / rate - len(frames) / FPS) < 0.05
    assert dominant_hz(audio, rate, 0.5, 3.5) == pytest.approx(TONE_A_HZ, abs=3)


def test_audio_b_follows_the_warp(warped_pair, warped_alignment, tmp_path):
    out = retime_video(warped_pair.a, warped_pair.b, tmp_path / "r.mp4", alignment=warped_alignment, audio="b")
    audio, rate = decode_audio(out)
    assert abs(len(audio) / rate - 4.0) < 0.05
    # A's [0, 1] s is B's [0, 2] s (played twice as fast), A's [1, 4] s is B's [2, 3.5] s (half speed).
    assert dominant_hz(audio, rate, 0.25, 0.75) == pytest.approx(2 * TONE_B_HZ, rel=0.06)
    assert dominant_hz(audio, rate, 1.6, 3.4) == pytest.approx(0.5 * TONE_B_HZ, rel=0.06)


def test_time_map_recovers_the_true_warp(warped_alignment):
    tm = TimeMap.from_alignment(warped_alignment)
    t = np.linspace(0.2, 3.8, 50)
    assert np.median(np.abs(tm(t) - true_map(t))) < 0.1


def test_warp_audio_speed_and_silence_on_freeze():
    rate = 48000
    t = np.arange(6 * rate) / rate
    track = AudioTrack(np.sin(2 * np.pi * 400 * t).astype(np.float32)[None], rate)
    # A [0, 2] -> B [0, 1] (half speed), A [2, 4] freezes at B 1 s, A [4, 5] -> B [1, 3] (double).
    tm = TimeMap([0, 2, 4, 5], [0, 1, 1, 3])
    out = warp_audio(track, tm, 5.0)
    x = out.samples[0].astype(np.float64)
    assert out.samples.shape == (1, 5 * rate)
    assert dominant_hz(x, rate, 0.4, 1.6) == pytest.approx(200, abs=2)
    assert np.abs(x[int(2.6 * rate) : int(3.4 * rate)]).max() == 0.0  # silent while B holds a frame
    assert dominant_hz(x, rate, 4.35, 4.75) == pytest.approx(800, abs=6)
    assert np.abs(x[int(0.5 * rate) : int(1.5 * rate)]).max() > 0.9


def test_warp_audio_does_not_modify_the_input():
    track = AudioTrack(np.ones((2, 48000), np.float32), 48000)
    before = track.samples.copy()
    warp_audio(track, TimeMap([0, 1], [0, 1]), 1.0)
    assert np.array_equal(track.samples, before)


def test_bad_arguments_fail_before_work(warped_pair, tmp_path):
    with pytest.raises(ValueError, match="must end in"):
        retime_video(warped_pair.a, warped_pair.b, tmp_path / "r.avi")
    with pytest.raises(ValueError, match="audio must be"):
        retime_video(warped_pair.a, warped_pair.b, tmp_path / "r.mp4", audio="left")
    with pytest.raises(ValueError, match="height"):
        retime_video(warped_pair.a, warped_pair.b, tmp_path / "r.mp4", height=0)
    with pytest.raises(OSError, match="does not exist"):
        retime_video(warped_pair.a, warped_pair.b, tmp_path / "missing" / "r.mp4")
    assert not list(tmp_path.iterdir())


def test_audio_from_a_video_without_audio_is_a_clear_error(warped_pair, warped_alignment, tmp_path):
    silent = retime_video(warped_pair.a, warped_pair.b, tmp_path / "silent.mp4", alignment=warped_alignment, audio="none")
    from draqcore.align import align_videos

    al = align_videos(silent, warped_pair.b)
    with pytest.raises(ValueError, match="has no audio"):
        retime_video(silent, warped_pair.b, tmp_path / "x.mp4", alignment=al, audio="a")
    assert not (tmp_path / "x.mp4").exists()


def test_cli_retime(warped_pair, tmp_path, capsys):
    out = tmp_path / "cli.mp4"
    assert main(["retime", str(warped_pair.a), str(warped_pair.b), "--out", str(out), "--audio", "b", "--height", "100", "--quiet"]) == 0
    assert "DRAQ" in capsys.readouterr().out
    frames, _, info = decode_video(out)
    assert len(frames) == 100 and info["height"] == 100
    assert decode_audio(out) is not None
    assert main(["retime", str(warped_pair.a), str(warped_pair.b), "--out", str(tmp_path / "x.gif")]) == 1
    assert "error" in capsys.readouterr().err


def test_cli_retime_subsequence_of_a_longer_b(warped_pair, tmp_path, capsys):
    # A is 4 s of footage; B is the same 4 s preceded by 1.5 s of other footage.
    from outputs_media import write_clip

    from draqcore.align import align_videos

    a_frames = warped_pair.a_frames
    pad = [np.ascontiguousarray(np.flipud(f)) for f in a_frames[:38]]  # upside down: not alignable
    longer = write_clip(tmp_path / "longer_b.mp4", pad + list(a_frames), None)
    out = tmp_path / "sub.mp4"
    assert main(["retime", str(warped_pair.a), str(longer), "--out", str(out), "--subsequence", "--quiet", "--audio", "none"]) == 0
    frames, _, _ = decode_video(out)
    assert len(frames) == 100
    err = np.mean([np.abs(f.astype(int) - a.astype(int)).mean() for f, a in zip(frames, a_frames)])
    al = align_videos(warped_pair.a, longer, subsequence=True)
    assert al.segment is not None and al.segment.start == pytest.approx(38 / FPS, abs=0.2)
    assert al.segment.end == pytest.approx((38 + 99) / FPS, abs=0.2)
    assert err < 5, err  # the output is A's own frames (re-encoded twice)


def test_variable_frame_rate_a_keeps_its_frame_times(warped_pair, tmp_path):
    # A's first frames are irregular (like phone footage): 0, 0.1, then 25 fps.
    from outputs_media import write_clip

    from draqcore.video import native_timeline

    frames = warped_pair.a_frames[:60]
    times = np.r_[0.0, 0.1 + np.arange(59) / FPS]
    a = write_clip(tmp_path / "vfr_a.mp4", frames, TONE_A_HZ, times=times)
    out = retime_video(a, warped_pair.b, tmp_path / "r.mp4")
    got_frames, got_times, _ = decode_video(out)
    assert len(got_frames) == 60
    assert native_timeline(a)[1] == pytest.approx(0.1, abs=1e-3)
    assert np.abs(np.array(got_times) - native_timeline(a)).max() < 1e-3
    audio, rate = decode_audio(out)
    assert abs(len(audio) / rate - (times[-1] + 1 / FPS)) < 0.05

from __future__ import annotations

import math
import os
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from draqcore import video
from draqcore.video import (
    DEFAULT_SAMPLE_FPS,
    SampledFrame,
    VideoReadError,
    iter_sampled_frames,
    native_fps,
    native_timeline,
    read_sampled,
)

W, H = 160, 120


def frame_for(i: int, size: tuple[int, int] = (W, H)) -> np.ndarray:
    """Frame i: grey level 10 * i, a white square whose x position encodes i."""
    w, h = size
    img = np.full((h, w, 3), (10 * i) % 250, dtype=np.uint8)
    x = 4 + (6 * i) % (w - 20)
    img[h // 2 - 6 : h // 2 + 6, x : x + 12] = 255
    return img


def write_video(
    path: Path, fourcc: str, n: int, fps: float = 25.0, size: tuple[int, int] = (W, H)
) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc} to {path.suffix}"
    for i in range(n):
        writer.write(frame_for(i, size))
    writer.release()
    return path


def square_x(img: np.ndarray) -> int:
    """Left edge of the white square (the encoded frame number)."""
    row = img[img.shape[0] // 2, :, :].min(axis=1)
    return int(np.argmax(row > 200))


CODECS = [(".mp4", "mp4v"), (".avi", "MJPG"), (".mkv", "MJPG")]


# ------------------------------------------------------------------------------------------
# decoding and timestamps


@pytest.mark.parametrize("suffix,fourcc", CODECS)
def test_every_frame_round_trips(tmp_path: Path, suffix: str, fourcc: str) -> None:
    path = write_video(tmp_path / f"clip{suffix}", fourcc, 20)
    out = read_sampled(path, None)
    assert out.frames.shape == (20, H, W, 3) and out.frames.dtype == np.uint8
    np.testing.assert_array_equal(out.indices, np.arange(20))
    np.testing.assert_allclose(out.times, np.arange(20) / 25.0, atol=1e-6)
    assert out.native_count == 20 and out.sample_fps is None and out.path == str(path)
    for i, img in enumerate(out.frames):  # decoded in order, content intact (lossy codec)
        assert abs(square_x(img) - square_x(frame_for(i))) <= 1
        assert abs(float(np.median(img)) - (10 * i) % 250) < 6
    np.testing.assert_allclose(native_timeline(path), out.times)
    assert native_fps(path) == 25.0


def test_sampling_at_10_fps_from_25_fps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", "mp4v", 20)
    # Instants 0, .1, .2, ...: the first frame at or after each (within 1 ms); frames every 40 ms.
    expected = [0, 3, 5, 8, 10, 13, 15, 18]
    out = read_sampled(path)  # DEFAULT_SAMPLE_FPS
    assert DEFAULT_SAMPLE_FPS == 10.0
    np.testing.assert_array_equal(out.indices, expected)
    np.testing.assert_allclose(out.times, np.array(expected) / 25.0, atol=1e-6)
    assert out.native_count == 20 and out.frames.shape[0] == len(expected)
    frames = list(iter_sampled_frames(path, 10.0))
    assert [f.index for f in frames] == expected
    assert all(isinstance(f, SampledFrame) for f in frames)
    for f, img in zip(frames, out.frames):
        np.testing.assert_array_equal(f.image, img)
    assert [f.index for f in iter_sampled_frames(path, 5.0)] == [0, 5, 10, 15]
    # Rates at or above the native rate keep every frame exactly once.
    assert [f.index for f in iter_sampled_frames(path, 25.0)] == list(range(20))
    assert [f.index for f in iter_sampled_frames(path, 60.0)] == list(range(20))


def test_frames_are_independent_arrays(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", "MJPG", 6)
    a, b = list(iter_sampled_frames(path, None))[:2]
    before = b.image.copy()
    a.image[:] = 0
    np.testing.assert_array_equal(b.image, before)


def test_iterating_streams_frames(tmp_path: Path) -> None:
    size = (64, 48)
    path = write_video(tmp_path / "long.avi", "MJPG", 300, size=size)
    frame_bytes = size[0] * size[1] * 3
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_sampled_frames(path, None))
        _, streamed_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        held = read_sampled(path, None)
        _, held_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 300 and held.frames.shape[0] == 300
    assert held_peak > 300 * frame_bytes  # the measurement sees frame buffers ...
    assert streamed_peak < 20 * frame_bytes  # ... and streaming holds a handful at a time


def test_clock_replaces_missing_and_decreasing_timestamps() -> None:
    clock = video._Clock(25.0)
    raw = [0.0, 0.08, 0.12, math.nan, 0.12, -1.0, 0.5, 0.0]
    got = [clock(t) for t in raw]
    # nan, a repeat, a negative and a backwards jump each become previous + 1/25 s.
    np.testing.assert_allclose(got, [0.0, 0.08, 0.12, 0.16, 0.20, 0.24, 0.5, 0.54])
    silent = video._Clock(30.0)  # a backend that never reports a time: index / fps
    np.testing.assert_allclose([silent(0.0) for _ in range(4)], np.arange(4) / 30.0)


def test_timestamps_are_strictly_increasing_for_mpeg1(tmp_path: Path) -> None:
    # OpenCV's FFmpeg backend reports MPEG-1-in-AVI timestamps one frame late and 0 for the
    # last frame here; the timeline must stay strictly increasing and within a frame of i/fps.
    path = tmp_path / "mpeg1.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"PIM1"), 25.0, (W, H))
    if not writer.isOpened():
        pytest.skip("this OpenCV cannot write MPEG-1")
    for i in range(20):
        writer.write(frame_for(i))
    writer.release()
    times = native_timeline(path)
    assert times.shape == (20,)
    assert np.all(np.diff(times) > 0)
    assert np.all(np.abs(times - np.arange(20) / 25.0) <= 0.04 + 1e-9)
    np.testing.assert_allclose([f.time for f in iter_sampled_frames(path, None)], times)


def test_native_fps_prefers_timestamps_when_the_container_lies(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mkv", "MJPG", 12, fps=25.0)
    data = path.read_bytes()
    # Matroska DefaultDuration (ID 0x23E383, 4-byte value, ns): claim 10 ms (100 fps) per frame
    # while every block keeps its real 40 ms timestamp.
    at = data.find(bytes([0x23, 0xE3, 0x83, 0x84]))
    assert at > 0 and int.from_bytes(data[at + 4 : at + 8], "big") == 40_000_000
    lying = tmp_path / "lying.mkv"
    lying.write_bytes(data[: at + 4] + (10_000_000).to_bytes(4, "big") + data[at + 8 :])
    assert cv2.VideoCapture(str(lying)).get(cv2.CAP_PROP_FPS) == pytest.approx(100.0)
    assert native_fps(lying) == pytest.approx(25.0, rel=1e-9)
    np.testing.assert_allclose(native_timeline(lying), np.arange(12) / 25.0, atol=1e-6)


def test_native_fps_keeps_the_container_rate_when_timestamps_agree(tmp_path: Path) -> None:
    # Matroska stores millisecond timestamps (0, 33, 67, 100 ms): a timestamp estimate is about
    # 30.3 fps, the container's nominal rate (what OpenCV's writer made of 30000/1001) wins.
    path = write_video(tmp_path / "ntsc.mkv", "MJPG", 10, fps=30000 / 1001)
    container = cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS)
    assert container == pytest.approx(29.97, abs=0.01)
    estimate = 1.0 / np.median(np.diff(native_timeline(path)))
    assert abs(estimate - container) > 0.1
    assert native_fps(path) == container


# ------------------------------------------------------------------------------------------
# image folders


def test_image_folder_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    numbers = [1, 2, 10, 3, 20]
    for k in numbers:
        cv2.imwrite(str(folder / f"img{k}.png"), frame_for(k))
    cv2.imwrite(str(folder / "img4.pgm"), cv2.cvtColor(frame_for(4), cv2.COLOR_BGR2GRAY))  # grey
    (folder / "notes.txt").write_text("not a frame\n")
    cv2.imwrite(str(folder / ".hidden.png"), frame_for(9))
    out = read_sampled(folder, None)
    order = [1, 2, 3, 4, 10, 20]
    assert out.frames.shape == (6, H, W, 3)
    assert [square_x(img) for img in out.frames] == [square_x(frame_for(k)) for k in order]
    np.testing.assert_allclose(out.times, np.arange(6) / video.DEFAULT_IMAGE_FPS)
    assert native_fps(folder) == video.DEFAULT_IMAGE_FPS
    assert native_fps(folder, image_fps=5.0) == 5.0
    np.testing.assert_allclose(native_timeline(folder, image_fps=5.0), np.arange(6) / 5.0)
    # At 5 images per second, sampling at 2.5 fps keeps every second image.
    assert [f.index for f in iter_sampled_frames(folder, 2.5, image_fps=5.0)] == [0, 2, 4]


def test_image_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here\n")
    with pytest.raises(VideoReadError, match="no image files") as err:
        read_sampled(empty)
    assert str(empty) in str(err.value)

    bad = tmp_path / "bad"
    bad.mkdir()
    cv2.imwrite(str(bad / "0.png"), frame_for(0))
    (bad / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(VideoReadError, match="not a readable image") as err:
        read_sampled(bad, None)
    assert str(bad / "1.png") in str(err.value)

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    cv2.imwrite(str(mixed / "0.png"), frame_for(0))
    cv2.imwrite(str(mixed / "1.png"), frame_for(1, size=(80, 60)))
    with pytest.raises(VideoReadError, match="80x60"):
        read_sampled(mixed, None)


# ------------------------------------------------------------------------------------------
# bad inputs


def assert_read_error(path: Path, reason: str) -> None:
    for call in (read_sampled, native_timeline, native_fps, lambda p: list(iter_sampled_frames(p))):
        with pytest.raises(VideoReadError, match=reason) as err:
            call(path)
        assert str(path) in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    assert_read_error(missing, "no such file")
    with pytest.raises(VideoReadError):  # raised by the call, not on first next()
        iter_sampled_frames(missing)


def test_random_bytes_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    assert_read_error(path, "cannot open")


def test_text_files(tmp_path: Path) -> None:
    # FFmpeg would render a .txt file as ANSI-art video frames; it must be refused.
    txt = tmp_path / "notes.txt"
    txt.write_text("hello world\n" * 100, encoding="utf-8")
    assert_read_error(txt, "text file")
    named_mp4 = tmp_path / "notes.mp4"
    named_mp4.write_text("héllo wörld\n" * 500, encoding="utf-8")
    assert_read_error(named_mp4, "text file")


def test_empty_and_zero_frame_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_read_error(empty, "empty")
    cases = [(".avi", "MJPG", "no decodable frames"), (".mp4", "mp4v", "cannot open|no decodable")]
    for suffix, fourcc, reason in cases:
        path = tmp_path / f"zero{suffix}"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, (W, H))
        assert writer.isOpened()
        writer.release()
        assert_read_error(path, reason)


@pytest.mark.parametrize("suffix,fourcc", CODECS)
def test_truncated_files_decode_a_prefix_or_raise(tmp_path: Path, suffix: str, fourcc: str) -> None:
    full = write_video(tmp_path / f"full{suffix}", fourcc, 20)
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    try:
        out = read_sampled(cut, None)
    except VideoReadError as exc:
        assert str(cut) in str(exc)
    else:
        assert 0 < out.native_count < 20
        assert len(native_timeline(cut)) == out.native_count
        for i, img in enumerate(out.frames):
            assert abs(square_x(img) - square_x(frame_for(i))) <= 1


def test_mp4_cut_before_its_index_raises(tmp_path: Path) -> None:
    full = write_video(tmp_path / "full.mp4", "mp4v", 20)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # OpenCV's mp4 muxer writes the 'moov' index last
    assert_read_error(cut, "cannot open")


def test_unreadable_file(tmp_path: Path) -> None:
    path = write_video(tmp_path / "secret.avi", "MJPG", 3)
    os.chmod(path, 0)
    try:
        if os.geteuid() != 0:
            assert_read_error(path, "permission denied")
            return
        # root reads any file: check as an unprivileged user (uid 65534, "nobody").
        try:
            os.seteuid(65534)
        except PermissionError:
            pytest.skip("cannot drop privileges to test file permissions")
        try:
            assert_read_error(path, "permission denied")
        finally:
            os.seteuid(0)
    finally:
        os.chmod(path, 0o644)


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf])
def test_bad_sample_rate(tmp_path: Path, bad: float) -> None:
    path = write_video(tmp_path / "clip.avi", "MJPG", 3)
    with pytest.raises(ValueError, match="sample_fps"):
        read_sampled(path, bad)
    with pytest.raises(ValueError, match="image_fps"):
        native_timeline(path, image_fps=bad)


def test_bad_sample_rate_type(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", "MJPG", 3)
    with pytest.raises(TypeError, match="sample_fps"):
        iter_sampled_frames(path, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sample_fps"):
        iter_sampled_frames(path, "10")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# frame sizes: one size per video, and a pixel limit checked before decoding


@pytest.mark.parametrize("where", [1, 4])
def test_every_reader_refuses_frames_of_another_size(tmp_path: Path, where: int) -> None:
    """Streaming readers too (rendering, features): a folder of mixed sizes is an error wherever
    the odd frame is, never a video with frames dropped or stretched."""
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(5):
        cv2.imwrite(str(mixed / f"{i}.png"), frame_for(i, size=(80, 60) if i == where else (W, H)))
    for call in (lambda p: read_sampled(p, None), lambda p: list(iter_sampled_frames(p, None)),
                 lambda p: list(iter_sampled_frames(p, 5.0, image_fps=25.0))):
        with pytest.raises(VideoReadError, match=rf"frame {where} is 80x60, the first frame {W}x{H}") as err:
            call(mixed)
        assert str(mixed) in str(err.value)


def _forge_png_size(path: Path, width: int, height: int) -> None:
    data = bytearray(path.read_bytes())
    data[16:20] = width.to_bytes(4, "big")
    data[20:24] = height.to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("size", [(60000, 60000), (20000, 20000), (7681, 4320)])
def test_images_above_the_pixel_limit_are_refused_before_decoding(tmp_path: Path, size: tuple[int, int]) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), frame_for(0))
    _forge_png_size(folder / "0.png", *size)  # a header that claims the size; decoding would fail or explode
    tracemalloc.start()
    try:
        with pytest.raises(VideoReadError, match=rf"{size[0]}x{size[1]} = .* megapixels, more than the limit") as err:
            read_sampled(folder, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(folder / "0.png") in str(err.value)
    assert peak < 50_000_000


def test_a_real_image_above_the_limit_and_one_at_it(tmp_path: Path) -> None:
    from draqcore.video import MAX_FRAME_PIXELS

    assert MAX_FRAME_PIXELS == 7680 * 4320
    for ext in (".png", ".jpg", ".bmp", ".webp"):
        big = tmp_path / f"big{ext}"
        big.mkdir()
        cv2.imwrite(str(big / f"0{ext}"), np.zeros((4320, 7681), dtype=np.uint8))  # real pixels, one column too many
        with pytest.raises(VideoReadError, match="7681x4320"):
            read_sampled(big, None)
    ok = tmp_path / "ok"
    ok.mkdir()
    cv2.imwrite(str(ok / "0.png"), np.zeros((4320, 7680), dtype=np.uint8))
    assert read_sampled(ok, None).frames.shape == (1, 4320, 7680, 3)


def test_a_video_above_the_limit_is_refused_from_its_container_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_video(tmp_path / "v.avi", "MJPG", 3)
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", W * H - 1)
    with pytest.raises(VideoReadError, match=rf"{W}x{H} = .* megapixels, more than the limit") as err:
        list(iter_sampled_frames(path))
    assert str(path) in str(err.value)
    monkeypatch.setattr(video, "MAX_FRAME_PIXELS", W * H)
    assert len(list(iter_sampled_frames(path, None))) == 3


@pytest.mark.parametrize("rate", [1e308, 1001.0, float("inf")])
def test_absurd_rates_are_refused_everywhere(tmp_path: Path, rate: float) -> None:
    from draqcore.collection import Collection

    path = write_video(tmp_path / "v.avi", "MJPG", 3)
    with pytest.raises(ValueError, match="sample_fps"):
        list(iter_sampled_frames(path, rate))
    with pytest.raises(ValueError, match="image_fps"):
        read_sampled(path, None, image_fps=rate)
    with pytest.raises(ValueError, match="sample_fps"):
        Collection.create(tmp_path / "coll", sample_fps=rate)
    assert not (tmp_path / "coll").exists()


def test_a_nul_in_a_path_is_an_error_naming_it(tmp_path: Path) -> None:
    """Not the OS's bare "embedded null byte": every entry point names the path."""
    import draqcore
    from draqcore.collection import Collection
    from draqcore.labels import read_labels

    bad = str(tmp_path / "a\0b.mp4")
    for call in (lambda: read_sampled(bad), lambda: list(iter_sampled_frames(bad)), lambda: native_timeline(bad),
                 lambda: draqcore.align_videos(bad, bad), lambda: read_labels(bad + ".csv")):
        with pytest.raises(ValueError, match=r"a\\x00b.mp4.*: a path cannot contain a NUL character"):
            call()
    good = write_video(tmp_path / "good.avi", "MJPG", 3)
    with Collection.create(tmp_path / "coll") as coll:
        with pytest.raises(ValueError, match="cannot contain a NUL"):
            coll.add([good, bad])
        assert coll.videos() == []  # refused before anything was added


# ------------------------------------------------------------------------------------------
# process_sampled_frames: one decode in a background thread, the function in this one


def _decode_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "draqcore-decode"]


@pytest.mark.parametrize("rate", [DEFAULT_SAMPLE_FPS, None])
def test_process_sampled_frames_matches_the_streaming_reader(tmp_path: Path, rate) -> None:
    path = write_video(tmp_path / "clip.avi", "MJPG", 30)
    seen: list = []
    done = video.process_sampled_frames(path, lambda frames: [seen.append(f) or f.sum() for f in frames], rate)
    ref = list(iter_sampled_frames(path, rate))
    assert len(seen) == len(ref) == len(done.result) == done.times.shape[0]
    for got, want in zip(seen, ref):
        np.testing.assert_array_equal(got, want.image)
    np.testing.assert_array_equal(done.times, [f.time for f in ref])
    np.testing.assert_array_equal(done.indices, [f.index for f in ref])
    assert done.times.dtype == np.float64 and done.indices.dtype == np.int64
    assert done.native_count == 30 and done.native_fps == native_fps(path) == 25.0
    assert done.sample_fps == rate and done.path == str(path)
    assert not _decode_threads()


def test_process_sampled_frames_decodes_what_the_function_leaves(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", "MJPG", 40)

    def first_two(frames):
        it = iter(frames)
        return [next(it), next(it)]

    done = video.process_sampled_frames(path, first_two, None)
    assert len(done.result) == 2 and list(done.indices) == [0, 1]
    assert done.native_count == 40 and done.native_fps == 25.0
    assert not _decode_threads()


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_process_sampled_frames_propagates_and_joins_on_error(tmp_path: Path, exc_type) -> None:
    path = write_video(tmp_path / "clip.avi", "MJPG", 60)

    def fail(frames):
        for i, _ in enumerate(frames):
            if i == 3:
                raise exc_type("stop here")
        return None

    with pytest.raises(exc_type, match="stop here"):
        video.process_sampled_frames(path, fail, None)
    assert not _decode_threads()


def test_process_sampled_frames_raises_decoding_errors_in_the_caller(tmp_path: Path) -> None:
    zero = tmp_path / "zero.avi"
    writer = cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (W, H))
    writer.release()
    with pytest.raises(VideoReadError, match="no decodable frames"):
        video.process_sampled_frames(zero, list)

    def swallow(frames):  # an error the function catches is raised again after it returns
        try:
            return list(frames)
        except VideoReadError:
            return []

    with pytest.raises(VideoReadError, match="no decodable frames"):
        video.process_sampled_frames(zero, swallow)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(5):
        cv2.imwrite(str(mixed / f"{i}.png"), frame_for(i, size=(80, 60) if i == 3 else (W, H)))
    with pytest.raises(VideoReadError, match="frame 3 is 80x60"):
        video.process_sampled_frames(mixed, list, None)
    with pytest.raises(VideoReadError, match="no such file"):
        video.process_sampled_frames(tmp_path / "missing.mp4", list)
    with pytest.raises(TypeError, match="process"):
        video.process_sampled_frames(mixed, None)  # type: ignore[arg-type]
    assert not _decode_threads()


def test_process_sampled_frames_on_an_image_folder(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(7):
        cv2.imwrite(str(folder / f"f{i}.png"), frame_for(i))
    done = video.process_sampled_frames(folder, lambda fs: [square_x(f) for f in fs], None, image_fps=12.5)
    assert done.result == [square_x(frame_for(i)) for i in range(7)]
    assert done.native_fps == 12.5 and done.native_count == 7
    np.testing.assert_allclose(done.times, np.arange(7) / 12.5)


def test_frame_rate_of_timestamps_stored_out_of_decode_order() -> None:
    # box.mp4 of the footage registry: 30 fps whose timestamps come as 0, 101, 67, 134, 34, ...
    # (a reordering applied to the timestamps only); the increasing steps alone suggest ~12 fps.
    true = np.round(np.arange(64) / 29.97, 3)
    stamps = [float(true[g + j]) for g in range(0, 64, 4) for j in (0, 3, 2, 1)]
    increasing = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    assert 1 / np.median(increasing) < 20  # the rule before sorting
    assert video._fps_from_stamps("x", stamps, None) == pytest.approx(29.97, rel=0.02)
    assert video._fps_from_stamps("x", stamps, 29.97) == 29.97


def test_native_fps_of_real_footage_with_reordered_timestamps(footage) -> None:
    path = footage("box")
    stamps = []
    cap = cv2.VideoCapture(str(path))
    while len(stamps) < 8 and cap.grab():
        stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    cap.release()
    assert any(b < a for a, b in zip(stamps, stamps[1:])), "box.mp4 no longer has reordered timestamps"
    assert native_fps(path) == pytest.approx(29.97, abs=0.05)  # 456 frames in 15.2 s
    done = video.process_sampled_frames(path, lambda fs: sum(1 for _ in fs))
    assert done.native_fps == native_fps(path) and done.native_count == len(native_timeline(path))


def test_process_sampled_frames_with_a_time_range(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", "MJPG", 50)
    ref = list(iter_sampled_frames(path, 10.0, start=0.5, end=1.3))
    done = video.process_sampled_frames(path, lambda fs: [square_x(f) for f in fs], 10.0, start=0.5, end=1.3)
    assert done.result == [square_x(f.image) for f in ref]
    np.testing.assert_array_equal(done.indices, [f.index for f in ref])
    np.testing.assert_array_equal(done.times, [f.time for f in ref])
    assert done.native_count < 50 and done.native_fps == 25.0  # decoding stopped after `end`
    with pytest.raises(ValueError, match="before start"):
        video.process_sampled_frames(path, list, start=2.0, end=1.0)
    assert not _decode_threads()

"""Indexing throughput against plain OpenCV decoding of the same file (issue 14).

Measured side by side, rounds interleaved (read, grab, add, read, grab, add, ...) so that the load
of a shared machine hits all three alike; frames per second are native (decoded) frames over wall
time, medians over the rounds:

``opencv read``
    The reference: ``cv2.VideoCapture(path)`` and ``cap.read()`` of every frame, OpenCV's default
    settings (its FFmpeg backend decodes with one thread per core), nothing else.
``opencv grab``
    ``cap.grab()`` of every frame (decoded, never converted to BGR): the decode floor.
``draqcore add``
    ``Collection.create`` of a fresh collection (default extractor, 10 fps) outside the timing,
    then ``Collection.add([path])`` timed: hashing, decoding, sampling, features, the commit and the
    ANN update.

The ratio ``add / read`` of frames per second is the issue's target (>= 0.80). CPU seconds
(``time.process_time``, all threads) are printed too: unlike wall time they hardly depend on the
load of the machine.

The main video is built once and cached (``indexing_720p_120s.mp4`` under ``$DRAQ_BENCH_CACHE`` or
``~/.cache/draqcore/bench``): the tuning footage of ``draq footage fetch`` (never the held-out
sources) decoded, each frame centre-cropped to 16:9 and resized to 1280 x 720, the clips
concatenated (looping) at 30 frames per second, encoded with libx264 through PyAV (preset
``fast``, CRF 23, yuv420p: CABAC and B-frames, like a camera or phone file). Building it takes
about 2 minutes of CPU. The held-out ``vtest.avi`` (768 x 576, MPEG-4 part 2, 10 fps) is measured
as it is, for its ratio only.

Usage: python bench/indexing.py [--seconds 120] [--rounds 3] [--no-held-out] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 30
# tuning sources only (draqcore.evaluation.footage: held_out=False)
SOURCES = ("bikes", "box", "carphone", "cup", "pexels_face", "pose2sim_cam1", "pose2sim_cam3",
           "pose2sim_cam4", "pose2sim_multi")


def cache_dir() -> Path:
    """``$DRAQ_BENCH_CACHE`` or ``~/.cache/draqcore/bench``."""
    return Path(os.environ.get("DRAQ_BENCH_CACHE", Path.home() / ".cache" / "draqcore" / "bench"))


def _frames(paths: list[Path]) -> Iterator[np.ndarray]:
    import cv2

    while True:
        for path in paths:
            cap = cv2.VideoCapture(str(path))
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                h, w = frame.shape[:2]
                if w * HEIGHT > h * WIDTH:  # too wide: crop the width
                    cw = h * WIDTH // HEIGHT
                    frame = frame[:, (w - cw) // 2 : (w - cw) // 2 + cw]
                else:
                    ch = w * HEIGHT // WIDTH
                    frame = frame[(h - ch) // 2 : (h - ch) // 2 + ch]
                interp = cv2.INTER_AREA if frame.shape[1] >= WIDTH else cv2.INTER_LINEAR
                yield cv2.resize(frame, (WIDTH, HEIGHT), interpolation=interp)
            cap.release()


def build(seconds: float = 120.0, out: Optional[Path] = None) -> Path:
    """Path of the benchmark video of ``seconds`` seconds (built on the first call, then cached)."""
    import av

    from draqcore.evaluation.footage import find_footage, footage_sources

    held_out = {s.name for s in footage_sources(held_out=True)}
    assert not held_out.intersection(SOURCES), "the benchmark video must not use held-out footage"
    out = out or cache_dir() / f"indexing_720p_{seconds:g}s.mp4"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [find_footage(name) for name in SOURCES]
    n = int(round(seconds * FPS))
    tmp = out.with_name(out.name + ".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "fast", "crf": "23"}
        stream.time_base = Fraction(1, FPS)
        frames = _frames(paths)
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(next(frames), format="bgr24")
            vf.pts = i
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, out)
    return out


def opencv_read(path: Path) -> int:
    """The reference loop: ``cap.read()`` of every frame; returns the number of frames."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


def opencv_grab(path: Path) -> int:
    """``cap.grab()`` of every frame (no BGR conversion); returns the number of frames."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(path: Path, rounds: int = 3, *, grab: bool = True) -> dict[str, Any]:
    """Interleaved rounds of read / grab / add on ``path``; medians, frames per second, ratios."""
    import draqcore

    frames = opencv_read(path)  # also warms the page cache and OpenCV
    work = Path(tempfile.mkdtemp(prefix="draq-bench-indexing-"))
    walls: dict[str, list[float]] = {"opencv read": [], "opencv grab": [], "draqcore add": []}
    cpus: dict[str, list[float]] = {k: [] for k in walls}
    loads = [os.getloadavg()[0]]
    try:
        for r in range(rounds):
            coll = draqcore.Collection.create(work / f"c{r}")
            steps: dict[str, Callable[[], Any]] = {"opencv read": lambda: opencv_read(path),
                                                   "draqcore add": lambda: coll.add([path])}
            if grab:
                steps["opencv grab"] = lambda: opencv_grab(path)
            for name, fn in steps.items():
                wall, cpu = _timed(fn)
                walls[name].append(wall)
                cpus[name].append(cpu)
            report = coll.add([path])  # already indexed: skipped, nothing decoded
            assert len(report.skipped) == 1 and not report.failed
            coll.close()
            loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = {}
    for name in walls:
        if not walls[name]:
            continue
        wall = statistics.median(walls[name])
        rows[name] = {"fps": frames / wall, "wall_s": wall, "cpu_s": statistics.median(cpus[name]),
                      "walls_s": walls[name]}
    ratio = rows["draqcore add"]["fps"] / rows["opencv read"]["fps"]
    per_round = [r / a for r, a in zip(walls["opencv read"], walls["draqcore add"])]
    return {"path": str(path), "frames": frames, "rounds": rounds, "rows": rows, "ratio_add_read": ratio,
            "ratio_per_round": per_round, "load_average": loads}


def _table(result: dict[str, Any]) -> str:
    lines = [f"{Path(result['path']).name}: {result['frames']} frames, {result['rounds']} rounds, "
             f"load average {min(result['load_average']):.1f}-{max(result['load_average']):.1f} "
             f"on {os.cpu_count()} logical cores",
             "", "| loop | native frames/s | wall (median) | CPU s (all threads) | x opencv read |",
             "|---|---:|---:|---:|---:|"]
    base = result["rows"]["opencv read"]["fps"]
    for name, row in result["rows"].items():
        lines.append(f"| {name} | {row['fps']:.0f} | {row['wall_s']:.2f} s | {row['cpu_s']:.2f} | "
                     f"{row['fps'] / base:.2f} |")
    lines.append("")
    lines.append(f"draqcore add / opencv read: **{result['ratio_add_read']:.2f}** (target >= 0.80); per round: "
                 + ", ".join(f"{r:.2f}" for r in result["ratio_per_round"]))
    cpu = result["rows"]["opencv read"]["cpu_s"] / result["rows"]["draqcore add"]["cpu_s"]
    lines.append(f"CPU seconds, opencv read / draqcore add: {cpu:.2f} (on a machine loaded by others, read this "
                 "rather than the wall ratio: there a process with more runnable threads gets more of the cores)")
    return "\n".join(lines)


def run(seconds: float = 120.0, rounds: int = 3, held_out: bool = True) -> dict[str, Any]:
    """Build (or reuse) the video, measure it (and the held-out vtest.avi), return the results."""
    import cv2

    from draqcore.evaluation.footage import FootageNotFoundError, find_footage

    out: dict[str, Any] = {"platform": platform.platform(), "opencv": cv2.__version__,
                           "opencv_threads": cv2.getNumThreads(), "cores": os.cpu_count()}
    out["main"] = measure(build(seconds), rounds)
    if held_out:
        try:
            vtest = find_footage("vtest")
        except FootageNotFoundError as exc:
            out["held_out"] = {"skipped": str(exc)}
        else:
            out["held_out"] = measure(vtest, rounds, grab=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the built video (default 120)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--no-held-out", action="store_true", help="skip the held-out vtest.avi")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    result = run(args.seconds, args.rounds, not args.no_held_out)
    print(f"{result['platform']}, OpenCV {result['opencv']} ({result['opencv_threads']} threads)\n")
    print(_table(result["main"]))
    if "rows" in result.get("held_out", {}):
        print("\nheld out (ratio only, not tuned on):\n")
        print(_table(result["held_out"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

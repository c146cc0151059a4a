"""Time-map accuracy of ``draq align`` on real footage re-timed with known warps (docs/results.md).

Usage::

    draq footage fetch
    python bench/retime_accuracy.py whole [--sources bikes,carphone,...] [--work DIR]
    python bench/retime_accuracy.py subsequence [--work DIR]
    python bench/retime_accuracy.py search [--work DIR] [--sources held-out] [--candidates 2] [--no-windows]

``whole``: every source is re-timed with each of :func:`standard_warps` over its whole length;
the re-timed copy (A) is aligned onto the source (B) with default settings (``align_videos(A, B)``,
as ``draq align A B``) and every row of the native mapping is scored against the exact warp:
``|time_b - w(time_a)|``.

``subsequence``: a long source (1-3 minutes) is built by joining real clips end to end
(:func:`concatenate`, 25 fps, 320x240); excerpts of 5-15 s are re-timed with the standard warps
and aligned into the long source with ``subsequence=True``. Reported: segment start/end error
(against ``w(0)`` and ``w(duration)``) and the mapping error as above.

``search``: a collection holds two long recordings -- the tuning long source above and ``vtest``
(79.5 s, held out) -- plus short distractor clips (``carphone``, ``cup``, ``pose2sim_cam1``,
``sports2d_demo``); every excerpt above, re-timed with every standard warp, is a query
(``Collection.search``, defaults). Reported: whether the source recording is the top hit and the
IoU of the hit's ``start``/``end`` with the true segment. ``--candidates N`` re-ranks only N
retrieved videos (fewer than the six in the collection: then retrieval must find the long
recording, by its windows or, with ``--no-windows``, by its whole-video clip vector);
``--sources`` limits the queries to some long sources (all stay in the collection).
``--scene-distractors`` also indexes cut-outs of each long source between its query excerpts
(other moments of the same recording, at most 10 s each): distractors that resemble the queries
more than the whole recording's mean does.

Prints Markdown tables; held-out sources (``draqcore.evaluation.footage``) are marked.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from draqcore.align import align_videos
from draqcore.evaluation.footage import find_footage, footage_sources
from draqcore.evaluation.retime_warps import (
    concatenate,
    constant_speed,
    render_warp,
    standard_warps,
    time_errors,
)
from draqcore.video import native_timeline

WHOLE_TUNING = ("bikes", "carphone", "pexels_face", "box")
WHOLE_HELD_OUT = ("sports2d_demo",)

# (long-source name, parts joined in order, excerpts as (part index, start within part, length))
LONG_SOURCES = {
    "tuning": (
        ("bikes", "pexels_face", "box", "cup", "carphone", "pose2sim_cam1", "pose2sim_multi"),
        [(0, 1.0, 8.0), (2, 3.0, 10.0), (1, 2.0, 14.0)],
    ),
    "held-out": (
        ("vtest",),
        [(0, 10.0, 8.0), (0, 40.0, 12.0), (0, 62.0, 15.0)],
    ),
}


def _held(name: str) -> bool:
    return any(s.name == name and s.held_out for s in footage_sources())


def whole(sources, work: Path) -> None:
    print("| source | set | warp | frames of A | mean err (s) | p90 (s) | max (s) | repeated B rows (ideal) | s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name in sources:
        src = find_footage(name)
        tl = native_timeline(src)
        for wname, warp in standard_warps(0.0, float(tl[-1])).items():
            out = render_warp(src, work / f"{name}_{wname}.mp4", warp)
            t0 = time.perf_counter()
            m = align_videos(out.path, src).native_mapping()
            dt = time.perf_counter() - t0
            e = time_errors(out, m.time_a, m.time_b, source_timeline=tl)
            print(
                f"| {name} | {'held out' if _held(name) else 'tuning'} | {wname} | {len(m.time_a)} | {e.mean:.3f} | "
                f"{e.p90:.3f} | {e.max:.3f} | {e.repeated_b:.2f} ({e.repeated_b_truth:.2f}) | {dt:.1f} |",
                flush=True,
            )


def subsequence(which, work: Path) -> None:
    print("| long source | set | excerpt (s of source) | warp | start err (s) | end err (s) | mean err (s) | p90 (s) | s |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for label in which:
        long_path, offsets, excerpts = _long_source(label, work)
        tl = native_timeline(long_path)
        for k, (part, start, length) in enumerate(excerpts):
            s0 = offsets[part] + start
            for wname, warp in standard_warps(s0, s0 + length).items():
                out = render_warp(long_path, work / f"ex_{label}_{k}_{wname}.mp4", warp)
                t0 = time.perf_counter()
                al = align_videos(out.path, long_path, subsequence=True)
                dt = time.perf_counter() - t0
                m = al.native_mapping()
                e = time_errors(out, m.time_a, m.time_b, source_timeline=tl)
                seg = al.segment
                true0, true1 = warp.source_time(out.frame_times[[0, -1]])
                print(
                    f"| {label} ({tl[-1]:.0f} s) | {'held out' if label == 'held-out' else 'tuning'} | "
                    f"{s0:.1f}-{s0 + length:.1f} | {wname} | {abs(seg.start - true0):.3f} | {abs(seg.end - true1):.3f} | "
                    f"{e.mean:.3f} | {e.p90:.3f} | {dt:.1f} |",
                    flush=True,
                )


def _long_source(label: str, work: Path):
    parts, excerpts = LONG_SOURCES[label]
    files = [find_footage(p) for p in parts]
    if len(files) == 1:
        return files[0], [0.0], excerpts
    cat = concatenate(files, work / f"long_{label}.mp4", fps=25.0, size=(320, 240))
    return cat.path, [p[1] for p in cat.parts], excerpts


def _scene_distractors(label: str, long_path: Path, offsets, excerpts, work: Path) -> list[Path]:
    """Cut-outs of a long source between its query excerpts (gaps of at least 4 s, pieces of at
    most 10 s): other moments of the same recording, never the queried ones."""
    busy = sorted((offsets[p] + s, offsets[p] + s + n) for p, s, n in excerpts)
    end = float(native_timeline(long_path)[-1])
    gaps, t = [], 0.0
    for a, b in busy + [(end, end)]:
        if a - t >= 4.0:
            gaps.append((t, a))
        t = max(t, b)
    out = []
    for g0, g1 in gaps:
        pieces = int(np.ceil((g1 - g0) / 10.0))
        edges = np.linspace(g0, g1, pieces + 1)
        for a, b in zip(edges[:-1], edges[1:]):
            name = f"cut_{label}_{a:.0f}_{b:.0f}.mp4"
            out.append(render_warp(long_path, work / name, constant_speed(1.0, a + 0.2, b - 0.2, name=name)).path)
    return out


def search(work: Path, which=tuple(LONG_SOURCES), candidates: int = 50, windows: bool = True,
           scene_distractors: bool = False) -> None:
    from draqcore.collection import Collection

    longs = {label: _long_source(label, work) for label in LONG_SOURCES}
    distractors = [find_footage(n) for n in ("carphone", "cup", "pose2sim_cam1", "sports2d_demo")]
    if scene_distractors:
        for label, (long_path, offsets, excerpts) in longs.items():
            distractors += _scene_distractors(label, Path(long_path), offsets, excerpts, work)
    coll_dir = work / "collection"
    if coll_dir.exists():
        shutil.rmtree(coll_dir)
    t0 = time.perf_counter()
    with Collection.create(coll_dir) as coll:
        coll.add([str(v[0]) for v in longs.values()] + [str(d) for d in distractors])
    print(f"collection: {len(longs)} long recordings + {len(distractors)} distractors, indexed in "
          f"{time.perf_counter() - t0:.0f} s\n")
    print(f"candidates={candidates}, windows={'on' if windows else 'off'}\n")
    print("| long source | set | excerpt (s) | warp | top hit is source | hit start-end (s) | IoU | source rank | s |")
    print("|---|---|---|---|---|---|---:|---:|---:|")
    with Collection.open(coll_dir) as coll:
        for label, (long_path, offsets, excerpts) in longs.items():
            if label not in which:
                continue
            for k, (part, start, length) in enumerate(excerpts):
                s0 = offsets[part] + start
                for wname, warp in standard_warps(s0, s0 + length).items():
                    out = render_warp(long_path, work / f"q_{label}_{k}_{wname}.mp4", warp)
                    t1 = time.perf_counter()
                    hits = coll.search(str(out.path), top=min(5, candidates), candidates=candidates, windows=windows)
                    dt = time.perf_counter() - t1
                    h = hits[0]
                    ok = Path(h.path).resolve() == Path(long_path).resolve()
                    inter = max(0.0, min(h.end, s0 + length) - max(h.start, s0))
                    iou = inter / (max(h.end, s0 + length) - min(h.start, s0)) if ok else 0.0
                    src = [x.rank for x in hits if Path(x.path).resolve() == Path(long_path).resolve()]
                    print(
                        f"| {label} | {'held out' if label == 'held-out' else 'tuning'} | {s0:.1f}-{s0 + length:.1f} | "
                        f"{wname} | {'yes' if ok else 'no: ' + Path(h.path).name} | {h.start:.2f}-{h.end:.2f} | "
                        f"{iou:.2f} | {src[0] if src else 'not retrieved'} | {dt:.1f} |",
                        flush=True,
                    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("whole", "subsequence", "search"))
    p.add_argument("--sources", default=None, help="comma-separated footage names (whole) or tuning,held-out")
    p.add_argument("--candidates", type=int, default=50, help="search: videos retrieved for re-ranking")
    p.add_argument("--no-windows", action="store_true", help="search: retrieve by whole-video clip vectors only")
    p.add_argument("--scene-distractors", action="store_true",
                   help="search: also index cut-outs of each long source between its query excerpts")
    p.add_argument("--work", default=None, help="folder for the re-timed videos (default: a temporary one)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.mode == "whole":
            names = args.sources.split(",") if args.sources else WHOLE_TUNING + WHOLE_HELD_OUT
            whole(names, work)
        elif args.mode == "subsequence":
            which = args.sources.split(",") if args.sources else ("tuning", "held-out")
            subsequence(which, work)
        else:
            which = args.sources.split(",") if args.sources else tuple(LONG_SOURCES)
            search(work, which, candidates=args.candidates, windows=not args.no_windows,
                   scene_distractors=args.scene_distractors)
    return 0


if __name__ == "__main__":
    sys.exit(main())

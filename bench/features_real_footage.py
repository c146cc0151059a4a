"""Pose vs default features and mirror invariance, measured on real footage of people.

Reproduces the "Pose features" and "Mirror invariance" sections of docs/results.md::

    pip install ".[pose]" && draq footage fetch
    python bench/features_real_footage.py --out feature-results     # writes results.json and results.md

Protocol (every number comes from this script; nothing is tuned here):

* **Working copies.** Each registry source showing people (``draq footage list``) is copied at
  its native frame rate, at most 640 px wide and its first 20 s (MPEG-4 part 2), so that every
  extractor sees the same pixels. ``B`` below is that copy.
* **Known warps** (``draqcore.evaluation.retime_warps.standard_warps`` over the whole copy:
  ``speed0.5``, ``speed2``, ``freeze``, ``ease``, ``mix``): ``A`` is ``B`` re-timed by the warp
  (frames repeated/dropped). ``A`` is aligned onto ``B`` at 15 sampled frames/s with
  contextualized features (Eq. 2-3), DTW (Eq. 5) and the sampled path mapped to native frames
  (no native-rate refinement, so that only the features differ); the error of a frame of ``A`` is
  ``|time_b - w(time_a)|`` (``time_errors``), averaged over the frames of ``A``.
* **Other views** (``pose2sim_cam1..4`` are four synchronised cameras filming one movement):
  ``A`` = camera k re-timed by a warp, ``B`` = camera 1: the truth is the same ``w``.
* **Mirror**: ``A`` = the left-right flipped copy, un-warped (``identity``) and re-timed by ``mix``;
  ``B`` = the copy. Variants: plain features; ``mirror_invariant=True`` features; and for
  reference "best of two" (align ``A`` with ``B`` and with the feature-space mirror of ``B``, keep
  the lower DRAQ). Reference DRAQ of unrelated pairs: every ordered pair of different sources.
* **Features**: ``default`` (OpenCV HOG/colour/flow), ``pose`` (``PoseExtractor()``, detector on
  every frame) and ``pose-tracking`` (``PoseExtractor(tracking=True)``, MediaPipe's video mode).
* **Speed**: frames/s of ``extract`` on decoded frames held in memory (decoding not counted), one
  thread (``cv2.setNumThreads(1)``, LiteRT ``threads=1``); the machine is shared with other jobs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from draqcore.align import align_sequences
from draqcore.evaluation.footage import find_footage, footage_sources
from draqcore.evaluation.retime_warps import TimeWarp, render_warp, standard_warps, time_errors
from draqcore.features import OpenCVDescriptorExtractor, PoseExtractor, mirror_invariant_features
from draqcore.sequence import FeatureSequence, load_sequence
from draqcore.video import native_timeline

SAMPLE_FPS = 15.0
MAX_WIDTH = 640
MAX_SECONDS = 20.0
VIEWS = ("pose2sim_cam2", "pose2sim_cam3", "pose2sim_cam4")
KINDS = ("default", "pose", "pose-tracking")


def working_copy(src: Path, out: Path, *, flip: bool = False) -> Path:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    n = 0
    while n < MAX_SECONDS * fps:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        if w > MAX_WIDTH:
            frame = cv2.resize(frame, (MAX_WIDTH, int(round(h * MAX_WIDTH / w / 2)) * 2), interpolation=cv2.INTER_AREA)
        if flip:
            frame = np.ascontiguousarray(frame[:, ::-1])
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
        writer.write(frame)
        n += 1
    cap.release()
    assert writer is not None, src
    writer.release()
    return out


class Features:
    """Feature sequences per (video, extractor), computed once."""

    def __init__(self) -> None:
        self.ex = {
            "default": OpenCVDescriptorExtractor(),
            "pose": PoseExtractor(threads=1),
            "pose-tracking": PoseExtractor(tracking=True, threads=1),
        }
        self._cache: dict[tuple[str, str], FeatureSequence] = {}

    def get(self, path: Path, kind: str, variant: str = "plain") -> FeatureSequence:
        key = (str(path), kind)
        if key not in self._cache:
            self._cache[key] = load_sequence(path, self.ex[kind], SAMPLE_FPS)
        seq = self._cache[key]
        if variant == "plain":
            return seq
        if variant == "invariant":
            return dataclasses.replace(seq, features=mirror_invariant_features(seq.features, self.ex[kind].mirror_features))
        if variant == "mirrored":
            return dataclasses.replace(seq, features=self.ex[kind].mirror_features(seq.features))
        raise ValueError(variant)


def score(feats: Features, retimed, b_path: Path, kind: str, variant: str = "plain", tl_b=None) -> dict:
    a = feats.get(retimed.path, kind, "invariant" if variant == "invariant" else "plain")
    b = feats.get(b_path, kind, "invariant" if variant == "invariant" else "plain")
    al = align_sequences(a, b)
    if variant == "best-of-two":
        other = align_sequences(a, feats.get(b_path, kind, "mirrored"))
        al = other if other.draq < al.draq else al
    tl_b = native_timeline(b_path) if tl_b is None else tl_b
    m = al.native_mapping(native_timeline(retimed.path), tl_b)
    err = time_errors(retimed, m.time_a, m.time_b, source_timeline=tl_b)
    return {"draq": al.draq, "mean_error_s": err.mean, "p90_error_s": err.p90}


def speed(feats: Features, names: list[str]) -> list[dict]:
    cv2.setNumThreads(1)
    rows = []
    for name in names:
        cap = cv2.VideoCapture(str(find_footage(name)))
        frames = []
        while len(frames) < 100:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        row = {"source": name, "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}", "frames": len(frames)}
        for kind, ex in feats.ex.items():
            best = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                ex.extract(frames)
                best = min(best, time.perf_counter() - t0)
            row[f"{kind}_fps"] = len(frames) / best
        rows.append(row)
    return rows


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows])) if rows else float("nan")


def report(results: dict) -> str:
    """Markdown tables of a results.json (what docs/results.md shows)."""
    lines: list[str] = []
    sp = results["speed"]
    kinds = [k for k in KINDS if any(r["features"] == k for r in results["retime"])]
    lines += ["| source | frame size | " + " | ".join(f"{k} (frames/s)" for k in kinds) + " |", "|---|---|" + "---:|" * len(kinds)]
    for r in sp:
        lines.append(f"| {r['source']} | {r['size']} | " + " | ".join(f"{r[k + '_fps']:.1f}" for k in kinds) + " |")
    rt = results["retime"]
    for title, held in (("tuning sources", False), ("held-out sources", True)):
        rows = [r for r in rt if r["held_out"] == held]
        if not rows:
            continue
        srcs = sorted({r["source"] for r in rows})
        lines += ["", f"Re-timed copies, {title} ({', '.join(srcs)}): mean time error in seconds (DRAQ)", ""]
        warps = list(dict.fromkeys(r["warp"] for r in rows))
        lines += ["| warp | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        for w in warps + ["all"]:
            cells = []
            for kind in kinds:
                sel = [r for r in rows if r["features"] == kind and (w == "all" or r["warp"] == w)]
                cells.append(f"{_mean(sel, 'mean_error_s'):.3f} ({_mean(sel, 'draq'):.2f})")
            lines.append(f"| {w if w != 'all' else '**all**'} | " + " | ".join(cells) + " |")
        lines += ["", "| source | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        for src in srcs:
            cells = []
            for kind in kinds:
                sel = [r for r in rows if r["features"] == kind and r["source"] == src]
                cells.append(f"{_mean(sel, 'mean_error_s'):.3f} ({_mean(sel, 'draq'):.2f})")
            lines.append(f"| {src} | " + " | ".join(cells) + " |")
    vw = results["views"]
    if vw:
        lines += ["", "Other cameras (pose2sim cam2-4 re-timed, aligned onto cam1): mean time error in seconds (DRAQ)", ""]
        lines += ["| warp | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        for w in list(dict.fromkeys(r["warp"] for r in vw)) + ["all"]:
            cells = []
            for kind in kinds:
                sel = [r for r in vw if r["features"] == kind and (w == "all" or r["warp"] == w)]
                cells.append(f"{_mean(sel, 'mean_error_s'):.3f} ({_mean(sel, 'draq'):.2f})")
            lines.append(f"| {w if w != 'all' else '**all**'} | " + " | ".join(cells) + " |")
    mi = results["mirror"]
    if mi:
        lines += ["", "Flipped copies aligned onto the original: mean over sources", ""]
        lines += [
            "| features | variant | DRAQ, flipped | time error (s), flipped | DRAQ, flipped + mix | time error (s), flipped + mix | DRAQ of unrelated pairs (mean / min) |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        un = {(u["features"], u["variant"]): u for u in results["unrelated"]}
        for kind in ("default", "pose"):
            ref = [r for r in rt if r["features"] == kind and r["warp"] == "mix"]
            u = un.get((kind, "plain"))
            lines.append(
                f"| {kind} | not flipped (reference) | – | – | {_mean(ref, 'draq'):.3f} | {_mean(ref, 'mean_error_s'):.3f} | "
                + (f"{u['mean_draq']:.3f} / {u['min_draq']:.3f}" if u else "–") + " |"
            )
            for variant in ("plain", "invariant", "best-of-two"):
                a = [r for r in mi if r["features"] == kind and r["variant"] == variant and r["warp"] == "identity"]
                b = [r for r in mi if r["features"] == kind and r["variant"] == variant and r["warp"] == "mix"]
                u = un.get((kind, variant))
                lines.append(
                    f"| {kind} | {variant} | {_mean(a, 'draq'):.3f} | {_mean(a, 'mean_error_s'):.3f} | "
                    f"{_mean(b, 'draq'):.3f} | {_mean(b, 'mean_error_s'):.3f} | "
                    + (f"{u['mean_draq']:.3f} / {u['min_draq']:.3f}" if u else "–") + " |"
                )
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="feature-results")
    p.add_argument("--sources", nargs="*", default=None, help="registry names (default: every source with people)")
    p.add_argument("--report", metavar="RESULTS_JSON", help="only print the markdown tables of an earlier run")
    args = p.parse_args()
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return 0
    out = Path(args.out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    sources = args.sources or [s.name for s in footage_sources(people=True) if s.name not in VIEWS]
    held_out = {s.name for s in footage_sources(held_out=True)}
    feats = Features()
    results: dict = {"sample_fps": SAMPLE_FPS, "retime": [], "views": [], "mirror": [], "unrelated": [], "speed": []}

    copies = {}
    for name in sources + [v for v in VIEWS if "pose2sim_cam1" in sources]:
        copies[name] = working_copy(find_footage(name), out / "videos" / f"{name}.mp4")
        print(f"copy {name}", file=sys.stderr, flush=True)

    for name in sources:
        b = copies[name]
        tl_b = native_timeline(b)
        dur = float(tl_b[-1])
        warps = standard_warps(0.0, dur)
        for wname, warp in warps.items():
            rt = render_warp(b, out / "videos" / f"{name}.{wname}.mp4", warp)
            for kind in KINDS:
                row = {"source": name, "held_out": name in held_out, "warp": wname, "features": kind}
                row.update(score(feats, rt, b, kind, tl_b=tl_b))
                results["retime"].append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        flipped = working_copy(find_footage(name), out / "videos" / f"{name}.flipped.mp4", flip=True)
        for wname, warp in (("identity", _identity(dur)), ("mix", warps["mix"])):
            rt = render_warp(flipped, out / "videos" / f"{name}.flipped.{wname}.mp4", warp)
            for kind in ("default", "pose"):
                for variant in ("plain", "invariant", "best-of-two"):
                    row = {"source": name, "held_out": name in held_out, "warp": wname, "features": kind, "variant": variant}
                    row.update(score(feats, rt, b, kind, variant, tl_b=tl_b))
                    results["mirror"].append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)

    if "pose2sim_cam1" in sources:
        b = copies["pose2sim_cam1"]
        tl_b = native_timeline(b)
        for view in VIEWS:
            dur = float(native_timeline(copies[view])[-1])
            for wname, warp in standard_warps(0.0, dur).items():
                rt = render_warp(copies[view], out / "videos" / f"{view}.{wname}.mp4", warp)
                for kind in KINDS:
                    row = {"view": view, "warp": wname, "features": kind}
                    row.update(score(feats, rt, b, kind, tl_b=tl_b))
                    results["views"].append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)

    for kind in ("default", "pose"):
        for variant in ("plain", "invariant"):
            if len(sources) < 2:
                break
            vals = []
            for x in sources:
                for y in sources:
                    if x != y:
                        al = align_sequences(feats.get(copies[x], kind, variant), feats.get(copies[y], kind, variant))
                        vals.append(al.draq)
            results["unrelated"].append(
                {"features": kind, "variant": variant, "mean_draq": float(np.mean(vals)), "min_draq": float(np.min(vals)), "pairs": len(vals)}
            )

    results["speed"] = speed(feats, ["carphone", "pose2sim_cam1", "sports2d_demo"])
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(report(results))
    print(json.dumps(results["unrelated"], indent=1))
    print(json.dumps(results["speed"], indent=1))
    return 0


def _identity(duration: float) -> TimeWarp:
    from draqcore.evaluation.retime_warps import constant_speed

    return constant_speed(1.0, 0.0, duration, name="identity")


if __name__ == "__main__":
    sys.exit(main())

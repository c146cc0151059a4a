"""``draq search`` in a cold process against the same search warm in-process (issue 14).

The collection: 1,000 clips of real camera footage (the tuning sources bikes, carphone,
pexels_face, cup and box of ``draq footage fetch``; never the held-out sports2d_demo/vtest).
Each source is embedded once with the default extractor at 10 fps, and every clip is a seeded
excerpt of one source (16-80 frames, played at 0.7-1.5x speed), stored with
``Collection.add_features_batch`` -- so it holds what indexing excerpt files of that footage would
give, without encoding 1,000 videos.

Two cases, each searched with the CLI's defaults (top 10, 50 candidates re-ranked by DRAQ,
window retrieval on):

* ``array``: the query is a ``.npy`` (T, d) features file (a re-timed excerpt of box, 50 frames);
* ``video``: the query is a video file that the search decodes and embeds (carphone.mp4, 4 s at
  176x144, and cup.mp4, 8 s at 640x480).

``cold`` is the wall time of ``draq search QUERY --collection C --quiet`` as a subprocess
(interpreter start, imports, opening the collection, loading and verifying its index, the
search, printing the table). ``warm`` is ``Collection.search`` with the same arguments in a
process that has already opened the collection and searched once. The two alternate round by
round, so that load from other processes hits both alike; the ratio is median cold / median warm.
The subprocess runs without ``PYTHONDONTWRITEBYTECODE`` (an installed package has its ``.pyc``
files) after one untimed run that writes them.

Run (one command; prints the table, the cold-start breakdown and the JSON):

    python bench/bench_cli.py                  # 7 rounds per case
    python bench/bench_cli.py --rounds 3 --json cli.json

``python -m pytest bench/bench_cli.py`` runs the same measurement with 3 rounds (CI smoke:
``--benchmark-disable`` runs one). Results in docs/benchmarks.md ("Cold `draq search`").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: Tuning footage the collection is cut from (short, cheap to decode; held-out sources never).
SOURCES = ("bikes", "carphone", "pexels_face", "cup", "box")
#: Video queries: a small one (decoding is cheap, the search dominates) and a VGA one.
VIDEO_QUERIES = ("carphone", "cup")
CLIPS = 1000
SEED = 0
#: Modules a ``draq search`` of a features file must not import (see tests/test_cli_imports.py).
NOT_FOR_ARRAY_SEARCH = ("torch", "matplotlib", "av", "opentimelineio", "playwright", "cv2", "scipy", "numba",
                        "librosa", "tqdm", "ray")

PROBE = r"""
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
cpu0 = cpu()
t0 = time.perf_counter()
from draqcore.cli.main import build_parser
t1 = time.perf_counter()
args = build_parser("search").parse_args(sys.argv[1:])
t2 = time.perf_counter()
from draqcore.collection import Collection
t3 = time.perf_counter()
coll = Collection.open(args.collection)
t4 = time.perf_counter()
hits = coll.search(args.query, top=10, candidates=50)
t5 = time.perf_counter()
hits = coll.search(args.query, top=10, candidates=50)
t6 = time.perf_counter()
import io
from draqcore.cli.common import print_hits
print_hits(hits, io.StringIO())
t7 = time.perf_counter()
heavy = sorted(n for n in %r if n in sys.modules)
print(json.dumps({"cpu_before_main": cpu0, "cpu_total": cpu(), "import_cli": t1 - t0, "parser": t2 - t1, "import_collection": t3 - t2, "open": t4 - t3,
       "first_search": t5 - t4, "second_search": t6 - t5, "print": t7 - t6, "heavy_modules": heavy}))
""" % (NOT_FOR_ARRAY_SEARCH,)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _draq() -> list[str]:
    """The installed ``draq`` script next to this interpreter (``python -m draqcore.cli`` if none)."""
    script = Path(sys.executable).with_name("draq")
    return [str(script)] if script.exists() else [sys.executable, "-m", "draqcore.cli"]


def footage_features(names: tuple[str, ...] = SOURCES) -> dict[str, np.ndarray]:
    """Default-extractor features (10 fps) of the named footage sources."""
    from draqcore.collection.state import extract_video
    from draqcore.evaluation.footage import find_footage
    from draqcore.features import default_extractor

    ext = default_extractor()
    return {n: extract_video(ext, find_footage(n), 10.0, ext.dim)[0] for n in names}


def _clips(feats: dict[str, np.ndarray], n: int, seed: int):
    rng = np.random.default_rng(seed)
    names = sorted(feats)
    lengths = np.array([len(feats[k]) for k in names], float)
    for i in range(n):
        name = names[rng.choice(len(names), p=lengths / lengths.sum())]
        f = feats[name]
        speed = rng.uniform(0.7, 1.5)
        span = min(len(f), int(np.ceil(int(rng.integers(16, 81)) * speed)))
        start = int(rng.integers(0, len(f) - span + 1))
        idx = np.minimum(start + np.round(np.arange(0, span, speed)).astype(int), len(f) - 1)
        yield f"{name}_{i:04d}", f[idx], None, name


def build(workdir: Path, feats: Optional[dict[str, np.ndarray]] = None, clips: int = CLIPS) -> dict[str, Any]:
    """The collection and the query files in ``workdir``; returns their paths."""
    import draqcore

    from draqcore.features import Precomputed

    feats = feats if feats is not None else footage_features()
    dim = next(iter(feats.values())).shape[1]
    for name, extractor in (("c1k", None), ("c1k_features", Precomputed(dim, "opencv-hog-color-flow@10fps"))):
        with draqcore.Collection.create(workdir / name, extractor=extractor) as c:
            c.add_features_batch(_clips(feats, clips, SEED))
    box = feats["box"]
    query = box[np.minimum(20 + np.round(np.arange(0, 60, 1.2)).astype(int), len(box) - 1)]  # 50 frames, 1.2x
    np.save(workdir / "query.npy", query)
    return build_queries(workdir)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cold(query: str, collection: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all threads) of one ``draq search`` process."""
    c, t = _children_cpu(), time.perf_counter()
    subprocess.run([*_draq(), "search", query, "--collection", collection, "--quiet"], env=_env(), check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t, _children_cpu() - c


def _floor(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=_env(), check=True)
    return time.perf_counter() - t


def measure(cases: dict[str, tuple[str, str]], rounds: int = 7) -> dict[str, Any]:
    """Cold CLI vs warm in-process search per case, alternating; plus the cold-start breakdown."""
    import draqcore

    out: dict[str, Any] = {"clips": CLIPS, "rounds": rounds, "load_before": os.getloadavg()[0], "cases": {}}
    for case, (query, collection) in cases.items():
        _cold(query, collection)  # writes the .pyc files, warms the page cache
        with draqcore.Collection.open(collection) as coll:
            coll.search(query, top=10, candidates=50)  # the warm process has searched once
            cold, warm, cold_cpu, warm_cpu = [], [], [], []
            for _ in range(rounds):
                wall, cpu = _cold(query, collection)
                cold.append(wall)
                cold_cpu.append(cpu)
                c, t = time.process_time(), time.perf_counter()
                coll.search(query, top=10, candidates=50)
                warm.append(time.perf_counter() - t)
                warm_cpu.append(time.process_time() - c)
        c, w = statistics.median(cold), statistics.median(warm)
        cc, wc = statistics.median(cold_cpu), statistics.median(warm_cpu)
        out["cases"][case] = {"query": query, "collection": collection, "cold_s": c, "warm_s": w, "ratio": c / w,
                              "cold_cpu_s": cc, "warm_cpu_s": wc, "cpu_ratio": cc / wc,
                              "cold_all": cold, "warm_all": warm}
    floors = {"python -c pass": "pass", "import numpy": "import numpy", "import numpy, cv2": "import numpy, cv2"}
    out["floors_s"] = {k: statistics.median(_floor(code) for _ in range(rounds)) for k, code in floors.items()}
    breakdown = {}
    for case, (query, collection) in cases.items():
        runs = []
        for _ in range(max(3, rounds // 2)):
            p = subprocess.run([sys.executable, "-c", PROBE, "search", query, "--collection", collection], env=_env(),
                               check=True, capture_output=True, text=True)
            runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
        breakdown[case] = {k: (statistics.median(r[k] for r in runs) if k != "heavy_modules" else runs[0][k])
                           for k in runs[0]}
    out["breakdown_s"] = breakdown
    out["load_after"] = os.getloadavg()[0]
    return out


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['clips']} clips, {result['rounds']} alternating rounds, load average "
             f"{result['load_before']:.1f} -> {result['load_after']:.1f}", "",
             "| case | cold `draq search` | warm `Collection.search` | cold / warm | CPU time: cold / warm |",
             "|---|---:|---:|---:|---:|"]
    for case, r in result["cases"].items():
        lines.append(f"| {case} | {r['cold_s'] * 1e3:.0f} ms | {r['warm_s'] * 1e3:.0f} ms | **{r['ratio']:.2f}** | "
                     f"{r['cold_cpu_s'] * 1e3:.0f} / {r['warm_cpu_s'] * 1e3:.0f} ms = {r['cpu_ratio']:.2f} |")
    lines += ["", "floors: " + ", ".join(f"`{k}` {v * 1e3:.0f} ms" for k, v in result["floors_s"].items()), "",
              "| cold start, ms | " + " | ".join(result["breakdown_s"]) + " |",
              "|---|" + "---:|" * len(result["breakdown_s"])]
    keys = [k for k in next(iter(result["breakdown_s"].values())) if k != "heavy_modules"]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{b[k] * 1e3:.0f}" for b in result["breakdown_s"].values()) + " |")
    lines.append("| heavy modules imported | " + " | ".join(", ".join(b["heavy_modules"]) or "none"
                                                    for b in result["breakdown_s"].values()) + " |")
    return "\n".join(lines)


def test_cli_cold_vs_warm(benchmark, tmp_path):
    """The measurement above with 3 rounds; the ratios land in ``extra_info``."""
    import pytest

    from draqcore.evaluation.footage import FootageNotFoundError, find_footage

    try:
        for name in SOURCES:
            find_footage(name)
    except FootageNotFoundError as exc:
        pytest.skip(str(exc))
    cases = build(tmp_path)
    result = benchmark.pedantic(measure, args=(cases, 3), rounds=1, iterations=1)
    print(table(result))
    assert result["breakdown_s"]["array"]["heavy_modules"] == []
    benchmark.extra_info.update({f"ratio_{k}": v["ratio"] for k, v in result["cases"].items()})


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", default=None, help="also write the result here")
    parser.add_argument("--workdir", default=None, help="keep the collection here (default: a temporary folder)")
    args = parser.parse_args(argv)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="draq-bench-cli-"))
    try:
        if not (work / "c1k_features").exists():
            work.mkdir(parents=True, exist_ok=True)
            cases = build(work)
        else:
            cases = build_queries(work)
        result = measure(cases, args.rounds)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(table(result))
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def build_queries(work: Path) -> dict[str, tuple[str, str]]:
    """Case -> (query, collection) in a folder made by :func:`build`."""
    from draqcore.evaluation.footage import find_footage

    cases = {"array": (str(work / "query.npy"), str(work / "c1k_features"))}
    cases.update({f"video:{v}": (str(find_footage(v)), str(work / "c1k")) for v in VIDEO_QUERIES})
    return cases


if __name__ == "__main__":
    sys.exit(main())

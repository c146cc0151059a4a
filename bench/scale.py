"""Collection scale benchmark: ingest, open, add one clip, search, memory and disk at N clips.

Synthetic clustered precomputed features (T from 16 to 48 frames, d = 128, sampled at 4 fps: clips
of 4-12 s like Kinetics' <= 10 s clips, so none is "long" in the sense of the window index of
issue 9), built and searched only through the public API (``Collection.create(extractor=
Precomputed(...))``, ``add_features_batch``, ``add_features``, ``open``, ``search`` with a (T, d)
array query).

One command per size (the 1M run takes tens of minutes and ~10 GB of disk; it is not run in CI):

    python bench/scale.py --clips 10000
    python bench/scale.py --clips 1000000 --dtype float16 --dir /big/disk/scale-1m

``--reuse`` measures an existing collection (made by an earlier run with ``--dir``) without
building it: open, add one clip (new clips each run), search.

Each run prints one JSON object (also written to ``--json FILE``) with:

* ``ingest_s``: ``add_features_batch`` of all clips, including the final ANN index build;
  ``ingest_commit_s`` until the last clip was taken from the stream (the commits), the rest
  (``ingest_index_s``) is bringing the index up to date (build, save, verify);
* ``open_s``: ``Collection.open`` in a fresh process (median of 5 processes);
* ``add_one_p50_s`` / ``add_one_max_s``: ``add_features`` of one new clip (durable);
* ``first_search_s``: the first search of a fresh process, which loads the saved index (its
  verdict, written when the index was saved, spares the full verification:
  draqcore.store.verdicts); ``first_search_full_s``: the same with ``DRAQ_INDEX_CACHE=off``
  (the full verification every process did before);
* ``search_cold_p50_s`` / ``search_cold_p90_s``: searches (array query, top 10 re-ranked from
  50 candidates) right after the collection's files were evicted from the page cache
  (``posix_fadvise(DONTNEED)`` on every file; the index is then read cold by the first search,
  and each query's candidates are read cold unless an earlier query read them);
  ``search_warm_p50_s`` / ``search_warm_p90_s``: the same queries once more, everything they
  read now in the page cache. The same protocol at every size;
* ``search_peak_rss_mib``: peak resident memory of the searching process (``VmHWM``; its queries
  are made by the parent); ``first_search_full_peak_rss_mib`` the same for the fully verifying one;
* ``disk_bytes_per_clip``: feature shards, catalog and index together, per clip;
* ``self_recall_at_10``: fraction of queries (noisy copies of stored clips) whose source clip is
  among the 10 hits.

Searches and opens run in child processes so that ingest's memory and caches do not count. The
verdicts of verified indexes go to a private temporary folder (``DRAQ_INDEX_CACHE``), so a run
never depends on or touches the user's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

DIM = 128
PROTO_LEN = 48


def prototypes(classes: int, seed: int = 0) -> np.ndarray:
    """(classes, PROTO_LEN, DIM) float32 smooth random sequences: one per class."""
    rng = np.random.default_rng(seed)
    out = np.empty((classes, PROTO_LEN, DIM), dtype=np.float32)
    for lo in range(0, classes, 1024):  # in blocks: the same draws as one call, without GBs of float64
        hi = min(classes, lo + 1024)
        steps = rng.normal(size=(hi - lo, PROTO_LEN, DIM)).astype(np.float32)
        out[lo:hi] = np.cumsum(steps, axis=1) / np.sqrt(PROTO_LEN)
    out += 2.0 * rng.normal(size=(classes, 1, DIM)).astype(np.float32)
    return out


CHUNK = 1024
_BANK_ROWS = 1 << 16
_bank: dict[int, np.ndarray] = {}


def _noise_bank() -> np.ndarray:
    """(65536, DIM) float32 standard normal rows, drawn once: clips take random windows of it
    (generating fresh noise for a million clips would cost more than ingesting them)."""
    if 0 not in _bank:
        _bank[0] = np.random.default_rng(12345).standard_normal((_BANK_ROWS, DIM), dtype=np.float32)
    return _bank[0]


def _chunk(protos: np.ndarray, k: int) -> list[np.ndarray]:
    """Clips ``k * CHUNK ... (k + 1) * CHUNK - 1``: re-timed, noisy excerpts of their class prototype."""
    rng = np.random.default_rng([1, k])
    lengths = rng.integers(16, 49, size=CHUNK)
    order = np.argsort(rng.random((CHUNK, PROTO_LEN)), axis=1)
    starts = rng.integers(0, _BANK_ROWS - PROTO_LEN, size=CHUNK)
    bank = _noise_bank()
    out = []
    for j in range(CHUNK):
        t = int(lengths[j])
        idx = np.sort(order[j, :t])
        c = (k * CHUNK + j) % protos.shape[0]
        out.append(protos[c, idx] + 0.5 * bank[starts[j] : starts[j] + t])
    return out


def clip(protos: np.ndarray, i: int) -> tuple[str, np.ndarray]:
    """Clip ``i`` (deterministic in ``i``; generated with the rest of its chunk)."""
    return f"clip{i:07d}", _chunk(protos, i // CHUNK)[i % CHUNK]


def clips(protos: np.ndarray, start: int, stop: int) -> Iterator[tuple[str, np.ndarray]]:
    """Clips ``start .. stop - 1`` as ``(name, features)``, generated a chunk at a time."""
    i = start
    while i < stop:
        block = _chunk(protos, i // CHUNK)
        end = min(stop, (i // CHUNK + 1) * CHUNK)
        for j in range(i, end):
            yield f"clip{j:07d}", block[j % CHUNK]
        i = end


def query(protos: np.ndarray, i: int) -> np.ndarray:
    """A noisy copy of clip ``i`` (another noise draw on the same frames)."""
    _, f = clip(protos, i)
    rng = np.random.default_rng([7, i])
    return f + 0.2 * rng.standard_normal(f.shape, dtype=np.float32)


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


_CHILD = r"""
import json, sys, time
import numpy as np
from draqcore import Collection


def peak_rss_kib():
    # VmHWM: the peak of this process's own memory. ru_maxrss is not: Linux carries the parent's
    # peak into a child over fork/vfork + exec, so a child of a large parent would report the parent's.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


path, queries_file, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
with np.load(queries_file, allow_pickle=False) as z:
    picks = z["picks"]
    qs = [z[f"q{j}"] for j in range(picks.size)]
t0 = time.perf_counter()
coll = Collection.open(path)
open_s = time.perf_counter() - t0
t0 = time.perf_counter()
coll.search(qs[0], top=10, candidates=50)
first = time.perf_counter() - t0
runs, found = [], 0
for p in range(passes):
    times = []
    for i, q in zip(picks[1:], qs[1:]):
        t0 = time.perf_counter()
        hits = coll.search(q, top=10, candidates=50)
        times.append(time.perf_counter() - t0)
        if p == 0:
            found += any(h.path == f"clip{int(i):07d}" for h in hits)
    runs.append(times)
coll.close()
print(json.dumps({"open_s": open_s, "first_search_s": first, "search_s": runs, "found": found,
                  "peak_rss_kib": peak_rss_kib()}))
"""

_OPEN_ONLY = r"""
import json, sys, time
t0 = time.perf_counter()
from draqcore import Collection
t1 = time.perf_counter()
coll = Collection.open(sys.argv[1])
t2 = time.perf_counter()
coll.close()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1}))
"""


def _child(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
                         env=None if env is None else {**os.environ, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def evict(path: Path) -> None:
    """Drop the pages of every file of a collection from the page cache (``POSIX_FADV_DONTNEED``;
    clean pages only, which they are once written: the collection's writes are fsync-ed)."""
    for f in path.rglob("*"):
        if f.is_file():
            try:
                fd = os.open(f, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fdatasync(fd)  # dirty pages cannot be dropped
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
            finally:
                os.close(fd)


def _stream(protos: np.ndarray, n: int, marks: dict[str, float]) -> Iterator[tuple[str, np.ndarray]]:
    """The clips, noting when the last one was taken (the end of the commits)."""
    yield from clips(protos, 0, n)
    marks["exhausted"] = time.perf_counter()


def run(n: int, directory: Path, dtype: str = "float32", classes: int = 0, queries: int = 50,
        adds: int = 20, progress: bool = False, sample_fps: float = 4.0, reuse: bool = False) -> dict[str, Any]:
    """Build an ``n``-clip collection in ``directory`` (must not exist; ``reuse``: built by an earlier
    run) and measure it."""
    from draqcore import Collection
    from draqcore.features import Precomputed

    classes = classes or max(10, n // 100)
    protos = prototypes(classes)
    result: dict[str, Any] = {"clips": n, "dim": DIM, "dtype": dtype, "classes": classes, "sample_fps": sample_fps,
                              "platform": platform.platform(), "cpus": os.cpu_count(),
                              "loadavg_start": os.getloadavg(), "reused": reuse}
    verdict_dir = tempfile.mkdtemp(prefix="draq-scale-verdicts-")
    saved_env = os.environ.get("DRAQ_INDEX_CACHE")
    os.environ["DRAQ_INDEX_CACHE"] = verdict_dir  # private: this run neither uses nor leaves the user's
    try:
        if not reuse:
            marks: dict[str, float] = {}
            t0 = time.perf_counter()
            with Collection.create(directory, extractor=Precomputed(dim=DIM, name="synthetic-clustered-128"),
                                   sample_fps=sample_fps, feature_dtype=dtype) as coll:
                report = coll.add_features_batch(_stream(protos, n, marks), progress=progress)
            t1 = time.perf_counter()
            result["ingest_s"] = t1 - t0
            result["ingest_commit_s"] = marks["exhausted"] - t0
            result["ingest_index_s"] = t1 - marks["exhausted"]
            assert len(report.added) == n, report
        result["mean_frames_per_clip"] = 32.0  # T uniform on 16..48
        # Adding one clip at a time to the N-clip collection (each durable on return); new clips
        # each run (a rerun with --reuse continues after the last one added).
        add_times = []
        with Collection.open(directory, write=True) as coll:
            start = len(coll)
            for j in range(adds):
                name, feats = clip(protos, start + j)
                t0 = time.perf_counter()
                coll.add_features(name, feats)
                add_times.append(time.perf_counter() - t0)
        result["add_one_p50_s"] = statistics.median(add_times)
        result["add_one_max_s"] = max(add_times)
        result["disk_bytes"] = disk_bytes(directory)
        total = start + adds
        result["disk_bytes_per_clip"] = result["disk_bytes"] / total
        result["feature_bytes_per_clip"] = disk_bytes(directory / "features") / total
        opens = [_child(_OPEN_ONLY, str(directory))["open_s"] for _ in range(5)]
        result["open_s"] = statistics.median(opens)
        # The queries are made here and handed over in a file, so the searching process's memory
        # is draqcore's alone (the prototypes of 10,000 classes alone would peak at 1.2 GB).
        rng = np.random.default_rng(3)
        picks = rng.integers(0, n, size=queries + 1)
        queries_file = Path(verdict_dir) / "queries.npz"
        np.savez(queries_file, picks=picks, **{f"q{j}": query(protos, int(i)) for j, i in enumerate(picks)})
        # The full verification every process did before verdicts (one fresh process, first search).
        evict(directory)
        full = _child(_CHILD, str(directory), str(queries_file), "0", env={"DRAQ_INDEX_CACHE": "off"})
        result["first_search_full_s"] = full["first_search_s"]
        result["first_search_full_peak_rss_mib"] = full["peak_rss_kib"] / 1024
        if reuse:  # no writer saved the index in this run: one process verifies it and leaves the verdict
            _child(_CHILD, str(directory), str(queries_file), "0")
        evict(directory)
        s = _child(_CHILD, str(directory), str(queries_file), "2")
        result["first_search_s"] = s["first_search_s"]
        cold, warm = s["search_s"]
        result["search_cold_p50_s"] = statistics.median(cold)
        result["search_cold_p90_s"] = float(np.percentile(cold, 90))
        result["search_warm_p50_s"] = statistics.median(warm)
        result["search_warm_p90_s"] = float(np.percentile(warm, 90))
        result["search_peak_rss_mib"] = s["peak_rss_kib"] / 1024
        result["self_recall_at_10"] = s["found"] / queries
        result["loadavg_end"] = os.getloadavg()
    finally:
        if saved_env is None:
            os.environ.pop("DRAQ_INDEX_CACHE", None)
        else:
            os.environ["DRAQ_INDEX_CACHE"] = saved_env
        shutil.rmtree(verdict_dir, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=10_000)
    ap.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    ap.add_argument("--dir", default=None, help="collection directory (default: a temporary one, removed after)")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--sample-fps", type=float, default=4.0,
                    help="sample rate of the synthetic clips (default 4: clips of 4-12 s; at 2, half are longer "
                         "than 16 s and also get window vectors, issue 9)")
    ap.add_argument("--reuse", action="store_true", help="measure the existing collection in --dir (no ingest)")
    ap.add_argument("--json", default=None, help="also write the result to this file")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    tmp = None
    if args.dir is None:
        tmp = tempfile.mkdtemp(prefix="draq-scale-")
        directory = Path(tmp) / "coll"
    else:
        directory = Path(args.dir)
    if args.reuse and tmp is not None:
        ap.error("--reuse needs --dir")
    try:
        result = run(args.clips, directory, dtype=args.dtype, queries=args.queries, progress=args.progress,
                     sample_fps=args.sample_fps, reuse=args.reuse)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

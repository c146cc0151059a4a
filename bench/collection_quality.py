"""Quality checks of two storage/index policies (numbers in docs/collection.md).

1. **float16 storage vs float32**: the same features stored both ways, the same queries; do the
   DRAQ rankings change? Measured on the synthetic evaluation benchmark (videos embedded with the
   default extractor, d = 588) and on the scale benchmark's clustered features (d = 128).
2. **Frozen vs refreshed standardisation statistics**: a collection that grew incrementally past
   ``REBUILD_MAX`` (statistics frozen from its first clips) against the same collection after
   ``rebuild_index()`` (``draq reindex``: statistics of all clips). Clips arrive either
   interleaved (every class early) or sorted by class (a dataset ingested class by class: the
   frozen statistics have seen few classes).

Run: ``python bench/collection_quality.py [--videos 100] [--clips 12000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale  # noqa: E402


def _kendall_tau(a: list[str], b: list[str]) -> float:
    """Kendall's tau between two orderings of the same items (1.0 = identical)."""
    pos = {x: i for i, x in enumerate(b)}
    r = [pos[x] for x in a]
    n = len(r)
    if n < 2:
        return 1.0
    conc = sum(1 if (r[i] < r[j]) else -1 for i in range(n) for j in range(i + 1, n))
    return conc / (n * (n - 1) / 2)


def _compare(c32: Any, c16: Any, queries: list[np.ndarray], depth: int) -> dict[str, Any]:
    same_order = 0
    taus, overlap10, d_draq = [], [], []
    for q in queries:
        h32 = c32.search(q, top=depth, candidates=depth)
        h16 = c16.search(q, top=depth, candidates=depth)
        p32, p16 = [h.path for h in h32], [h.path for h in h16]
        same_order += p32 == p16
        overlap10.append(len(set(p32[:10]) & set(p16[:10])) / 10)
        if set(p32) == set(p16):
            taus.append(_kendall_tau(p32, p16))
        by = {h.path: h.draq for h in h16}
        d_draq.extend(abs(h.draq - by[h.path]) for h in h32 if h.path in by)
    return {
        "queries": len(queries),
        "identical_rankings": same_order,
        "mean_top10_overlap": float(np.mean(overlap10)),
        "mean_kendall_tau": float(np.mean(taus)) if taus else None,
        "max_abs_draq_difference": float(np.max(d_draq)),
    }


def float16_on_videos(work: Path, videos: int) -> dict[str, Any]:
    """The evaluation benchmark's videos, default extractor, float32 vs float16 stored features."""
    from draqcore import Collection
    from draqcore.evaluation.synthetic_benchmark import build_synthetic_benchmark
    from draqcore.features import default_extractor
    from draqcore.sequence import load_sequence

    bench = build_synthetic_benchmark(work / "videos", videos=videos, classes=5, seed=0, threads=1)
    ext = default_extractor()
    with Collection.create(work / "c32", extractor=ext, feature_dtype="float32") as c32:
        c32.add([v.path for v in bench.collection], labels={v.path: v.class_name for v in bench.collection})
        recs = [r for r in c32.videos() if r.ok]
        with Collection.create(work / "c16", extractor=ext, feature_dtype="float16") as c16:
            # The same features, stored in float16 under the same names.
            c16.add_features_batch((r.path, c32.features(r), c32.frame_times(r), r.class_name) for r in recs)
            queries = [load_sequence(v.path, ext, c32.sample_fps).features for v in bench.queries]
            out = _compare(c32, c16, queries, depth=min(25, len(recs)))
    out["collection"] = len(recs)
    out["dim"] = ext.dim
    return out


def float16_on_clusters(work: Path, n: int) -> dict[str, Any]:
    from draqcore import Collection
    from draqcore.features import Precomputed

    protos = scale.prototypes(max(10, n // 100))
    ext = Precomputed(dim=scale.DIM, name="synthetic-clustered-128")
    with Collection.create(work / "s32", extractor=ext, feature_dtype="float32") as c32, \
            Collection.create(work / "s16", extractor=ext, feature_dtype="float16") as c16:
        c32.add_features_batch(scale.clips(protos, 0, n))
        c16.add_features_batch(scale.clips(protos, 0, n))
        rng = np.random.default_rng(5)
        queries = [scale.query(protos, int(i)) for i in rng.integers(0, n, size=40)]
        out = _compare(c32, c16, queries, depth=25)
    out["collection"] = n
    out["dim"] = scale.DIM
    return out


def statistics_policy(work: Path, n: int, order: str) -> dict[str, Any]:
    """Recall with frozen statistics (incremental growth) vs refreshed ones (rebuild_index)."""
    from draqcore import Collection
    from draqcore.features import Precomputed
    from draqcore.store.ann_index import AnnIndex

    classes = 50
    protos = scale.prototypes(classes, seed=11)
    ids = np.arange(n)
    if order == "by-class":
        ids = ids[np.argsort(ids % classes, kind="stable")]
    rng = np.random.default_rng(9)
    picks = rng.choice(n, size=60, replace=False)
    feats = [f for _, f in scale.clips(protos, 0, n)]
    qrng = np.random.default_rng(7)
    queries = [(int(i), feats[int(i)] + 0.2 * qrng.standard_normal(feats[int(i)].shape, dtype=np.float32))
               for i in picks]
    path = work / f"stats-{order}"

    def measure(coll: Any) -> dict[str, float]:
        own, same_class = 0, []
        for i, q in queries:
            hits = coll.search(q, top=10, candidates=50)
            own += any(h.path == f"clip{i:07d}" for h in hits)
            same_class.append(np.mean([int(h.path[4:]) % classes == i % classes for h in hits]))
        return {"own_clip_in_top10": own / len(queries), "same_class_in_top10": float(np.mean(same_class))}

    with Collection.create(path, extractor=Precomputed(dim=scale.DIM, name="synthetic-clustered-128")) as coll:
        for start in range(0, n, 1000):  # arrives in batches, as a growing dataset would
            chunk = ids[start : start + 1000]
            coll.add_features_batch((f"clip{int(i):07d}", feats[int(i)]) for i in chunk)
        frozen_from = AnnIndex.load(path / "index")
        frozen = measure(coll)
        t0 = time.perf_counter()
        coll.rebuild_index()
        rebuild_s = time.perf_counter() - t0
        fresh = measure(coll)
    return {"clips": n, "order": order, "frozen": frozen, "refreshed": fresh, "rebuild_s": rebuild_s,
            "indexed_before_rebuild": frozen_from.count}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=100)
    ap.add_argument("--clips", type=int, default=12000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="draq-quality-") as tmp:
        work = Path(tmp)
        results["float16_videos"] = float16_on_videos(work, args.videos)
        print(json.dumps(results["float16_videos"]), flush=True)
        results["float16_clusters"] = float16_on_clusters(work, args.clips)
        print(json.dumps(results["float16_clusters"]), flush=True)
        for order in ("interleaved", "by-class"):
            results[f"stats_{order}"] = statistics_policy(work, args.clips, order)
            print(json.dumps(results[f"stats_{order}"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

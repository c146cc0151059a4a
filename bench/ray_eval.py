"""``draq eval`` serially and with ``--ray`` on a local cluster, side by side in one run.

    pip install ".[ray]"
    python bench/ray_eval.py [--videos 40] [--footage carphone,bikes,cup]

Prints JSON: wall times of the protocol (``draq eval synthetic``'s work on a generated benchmark)
and of ``draq eval retime`` on real footage, serial vs Ray, each split into the runner's units
(collection features, query features, per-query scoring, Fig.-5 pairs); the cluster's start-up
on its own; the load average at each step (other processes on the machine change everything);
the ``OMP_NUM_THREADS`` a Ray worker sees; and whether the reports are equal (they must be).
A warm-up run first pays for imports and JIT compilation, so neither side carries them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from draqcore.evaluation import build_synthetic_benchmark, evaluate  # noqa: E402
from draqcore.evaluation.footage import find_footage  # noqa: E402
from draqcore.evaluation.protocol import _evaluate  # noqa: E402
from draqcore.evaluation.retime_benchmark import _evaluate_retiming, evaluate_retiming  # noqa: E402
from draqcore.evaluation.runner import SerialRunner  # noqa: E402


class Timed:
    """A runner that times each step of another."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, {}

    def add(self, *args):
        t = time.perf_counter()
        out = self.inner.add(*args)
        self.seconds["collection features"] = round(time.perf_counter() - t, 2)
        return out

    def map(self, fn, ctx, items, **kw):
        t = time.perf_counter()
        out = self.inner.map(fn, ctx, items, **kw)
        self.seconds[fn.__name__.strip("_")] = round(time.perf_counter() - t, 2)
        return out


def _worker_omp() -> str:
    return str(os.environ.get("OMP_NUM_THREADS"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--footage", default="carphone,bikes,cup")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="draq-ray-bench-"))
    try:
        b = build_synthetic_benchmark(tmp / "videos", videos=args.videos, classes=4, seed=2)
        small = build_synthetic_benchmark(tmp / "warm", videos=12, classes=3, seed=1)
        footage = [find_footage(n) for n in args.footage.split(",")]
        kw = dict(top=10, recall_depth=25, canonical_time=b.canonical_time, alignable=b.alignable, fig5_pairs=200,
                  seed=0, extractor=None, sample_fps=None, progress=False, tau_stride=5, feature_name="default")
        rkw = dict(warps=None, sample_fps=10.0, contextualize=True, band=None, extractor=None, keep_videos=False,
                   progress=False, feature_name="default", refine=True)
        evaluate(small.queries, small.collection, tmp / "warm-eval", top=3, recall_depth=5, fig5_pairs=20)
        evaluate_retiming(footage[:1], tmp / "warm-rt", warps=["freeze"])
        out: dict = {"cpus": os.cpu_count(), "collection_videos": len(b.collection), "queries": len(b.queries),
                     "retime_jobs": 5 * len(footage)}

        def run(name: str, runner, rt_runner) -> tuple:
            steps = Timed(runner)
            load = os.getloadavg()[0]
            t = time.perf_counter()
            rep = _evaluate(b.queries, b.collection, tmp / f"{name}-eval", steps, **kw)
            t_eval = time.perf_counter() - t
            t = time.perf_counter()
            rt = _evaluate_retiming(footage, tmp / f"{name}-rt", rt_runner, **rkw)
            out[name] = {"eval_s": round(t_eval, 2), "eval_steps_s": steps.seconds,
                         "retime_s": round(time.perf_counter() - t, 2), "load_before": round(load, 1)}
            return rep.to_dict(), rt.to_dict()

        serial = run("serial", SerialRunner(), SerialRunner())
        import ray

        from draqcore.distributed.ray_eval import RayRunner

        t = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                 _node_ip_address="127.0.0.1", configure_logging=False)
        out["ray_start_s"] = round(time.perf_counter() - t, 2)
        out["ray_worker_OMP_NUM_THREADS"] = ray.get(ray.remote(num_cpus=1)(_worker_omp).remote())
        on_ray = run("ray", RayRunner(ray), RayRunner(ray))
        ray.shutdown()
        run("serial_again", SerialRunner(), SerialRunner())
        out["equal"] = {"eval": on_ray[0] == serial[0], "retime": on_ray[1] == serial[1]}
        out["load_end"] = round(os.getloadavg()[0], 1)
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""``draq eval``: the paper's evaluation protocol on synthetic ground truth or labelled videos."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

from .common import (CommandError, add_extractor_options, add_ray_option, count_arg, extractor_from_args, rate_arg,
                     ray_inputs_back)


def _extractor(args: argparse.Namespace):
    """(extractor or None, name for the tables) from --extractor/--mirror-invariant/--torch-model."""
    if args.torch_model:
        if args.extractor or args.mirror_invariant:
            raise CommandError("--torch-model replaces --extractor/--mirror-invariant; give one of them")
        from ..features import TorchImageExtractor

        try:
            ex = TorchImageExtractor(args.torch_model, input_size=(args.torch_input_size, args.torch_input_size))
        except ImportError as exc:
            raise CommandError(str(exc)) from None
        return ex, f"torch:{Path(args.torch_model).name}"
    ex = extractor_from_args(args)
    name = args.extractor or "default"
    return ex, name + (" (mirror-invariant)" if args.mirror_invariant else "")

def _ray_address(args: argparse.Namespace):
    """``--ray`` alone (or ``--ray local``): None, a local cluster; otherwise the address given."""
    return None if args.ray == "local" else args.ray


def _split_queries(videos, every: int = 5):
    """Queries and collection of a labelled folder: the videos of a "val"/"test" split if any
    are marked, otherwise every ``every``-th video of each class (in path order) is a query."""
    marked = [v for v in videos if v.split in ("val", "test")]
    if marked:
        return marked, [v for v in videos if v.split not in ("val", "test")]
    queries, collection, seen = [], [], {}
    for v in sorted(videos, key=lambda v: str(v.path)):
        i = seen.get(v.class_name, 0)
        seen[v.class_name] = i + 1
        (queries if i % every == every - 1 else collection).append(v)
    return queries, collection


def _run_retime(args: argparse.Namespace) -> int:
    """``draq eval retime VIDEO...``: re-time real footage with known warps, align it back."""
    from ..evaluation.retime_benchmark import evaluate_retiming
    from .common import expand_inputs

    if not args.inputs:
        raise CommandError("retime: name at least one video (draq eval retime VIDEO...)")
    videos = expand_inputs(args.inputs)
    warps = None if not args.warps else [w.strip() for w in args.warps.split(",") if w.strip()]
    out = Path(args.out or "draq-eval-retime")
    extractor, feature_name = _extractor(args)
    started = time.perf_counter()
    if args.ray is not None:
        from ..distributed import evaluate_retiming_with_ray

        evaluate_retiming = functools.partial(evaluate_retiming_with_ray, address=_ray_address(args))
    report = evaluate_retiming(
        videos, out, warps=warps, sample_fps=args.sample_fps, contextualize=not args.no_context, band=args.band,
        extractor=extractor, feature_name=feature_name, refine=not args.no_refine,
        keep_videos=args.keep_videos, progress=not args.quiet and not args.json,
    )
    (out / "retime.json").write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    (out / "retime.md").write_text(report.markdown())
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, allow_nan=False)
        print()
    else:
        print(report.markdown())
        print(f"done in {time.perf_counter() - started:.1f} s; tables in {out / 'retime.md'}, numbers in {out / 'retime.json'}")
    return 0 if report.rows else 1


def run(args: argparse.Namespace) -> int:
    from ..evaluation import build_synthetic_benchmark, evaluate, read_labelled_dir

    ray_inputs_back(args, "inputs")

    if args.target == "retime":
        return _run_retime(args)
    if args.inputs:
        raise CommandError(f"unexpected arguments after {args.target!r}: {' '.join(args.inputs)}")
    extractor, feature_name = _extractor(args)
    started = time.perf_counter()
    canonical = alignable = None
    if args.target == "synthetic":
        out = Path(args.out or "draq-eval")
        if (out / "videos").exists() and not args.force:
            raise CommandError(f"{out}: already holds a benchmark (use --force, or --out elsewhere)")
        if args.force and out.exists():
            import shutil

            shutil.rmtree(out)
        print(f"generating {args.videos} synthetic clips in {out / 'videos'} (seed {args.seed}) ...", file=sys.stderr)
        bench = build_synthetic_benchmark(out / "videos", videos=args.videos, classes=args.classes, seed=args.seed,
                                          progress=not args.quiet and not args.json)
        queries, collection, canonical, alignable = bench.queries, bench.collection, bench.canonical_time, bench.alignable
    else:
        if not args.labels:
            raise CommandError("evaluating a folder needs --labels FILE (class and per-frame phases)")
        out = Path(args.out or Path(args.target) / "draq-eval")
        index = read_labelled_dir(args.target, args.labels)
        for note in index.notes:
            print(f"note: {note}", file=sys.stderr)
        queries, collection = _split_queries(list(index.videos))
        if not queries or not collection:
            raise CommandError(f"{args.target}: need at least one query and one collection video (have {len(index.videos)} videos)")
    print(f"{len(queries)} queries against a collection of {len(collection)} videos ...", file=sys.stderr)
    if args.ray is not None:
        from ..distributed import evaluate_with_ray

        evaluate = functools.partial(evaluate_with_ray, address=_ray_address(args))
    report = evaluate(
        queries, collection, out / "work", top=args.top, recall_depth=args.recall_depth,
        canonical_time=canonical, fig5_pairs=args.pairs, seed=args.seed, progress=not args.quiet and not args.json,
        tau_stride=args.tau_stride, alignable=alignable, extractor=extractor, feature_name=feature_name,
    )
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, allow_nan=False)
        print()
        return 0
    print(report.markdown())
    print(f"done in {time.perf_counter() - started:.1f} s; tables in {out / 'work' / 'results.md'}, "
          f"numbers in {out / 'work' / 'results.json'}, Fig. 5 plot in {out / 'work' / 'fig5.png'}")
    return 0


def register(sub) -> None:
    """Add the ``eval`` subcommand to the parser's subparsers."""
    from ..video import DEFAULT_SAMPLE_FPS

    p = sub.add_parser(
        "eval",
        help="run the paper's evaluation protocol (Tables 1, 2, 4, Fig. 5, frame-feature protocol), or measure re-timing recovery",
        description="draq eval synthetic | draq eval DIR --labels FILE | draq eval retime VIDEO...",
    )
    p.add_argument(
        "target", metavar="synthetic|DIR|retime",
        help="'synthetic' for a generated ground-truth benchmark, a folder of labelled videos, or 'retime' followed by videos",
    )
    p.add_argument("inputs", nargs="*", metavar="VIDEO", help="retime: videos (or folders of videos) to re-time with known warps")
    p.add_argument("--warps", metavar="LIST", help="retime: comma-separated warp names (default: speed0.5,speed2,freeze,ease,mix)")
    p.add_argument("--sample-fps", type=rate_arg, default=DEFAULT_SAMPLE_FPS, help="retime: frames per second sampled for features, as draq align")
    p.add_argument("--band", type=count_arg(0), default=None, help="retime: Sakoe-Chiba radius in sampled frames, as draq align")
    p.add_argument("--no-context", action="store_true", help="retime: skip contextualization (Eq. 2-3), as draq align")
    p.add_argument("--no-refine", action="store_true", help="retime: score the sampled DTW path alone (draq align refines at the native rate)")
    p.add_argument("--keep-videos", action="store_true", help="retime: keep the re-timed copies in --out")
    add_extractor_options(p)
    p.add_argument("--torch-model", metavar="FILE.pt", help="frame features from a TorchScript image model (e.g. python -m draqcore.evaluation.random_backbone)")
    p.add_argument("--torch-input-size", type=count_arg(16, 4096), default=224, help="--torch-model input height and width in pixels (default 224)")
    p.add_argument("--labels", metavar="FILE", help="labels file with class and per-frame phases (for DIR)")
    p.add_argument("--videos", type=count_arg(2, 100_000), default=200, help="synthetic: number of clips (default 200)")
    p.add_argument("--classes", type=count_arg(1, 10_000), default=10, help="synthetic: number of action classes (default 10)")
    p.add_argument("--seed", type=count_arg(0), default=0, help="random seed (synthetic clips, splits, sampled paths)")
    p.add_argument("--top", type=count_arg(1), default=10, help="AVR candidates re-ranked per query (default 10)")
    p.add_argument("--recall-depth", type=count_arg(1), default=25, help="retrieved videos re-ranked for recall@k (default 25)")
    p.add_argument("--pairs", type=count_arg(1), default=400, help="balanced pairs for Fig. 5 (default 400)")
    p.add_argument("--out", metavar="DIR", help="output directory (default ./draq-eval, DIR/draq-eval, or ./draq-eval-retime)")
    p.add_argument("--force", action="store_true", help="replace an existing synthetic benchmark")
    p.add_argument("--tau-stride", type=count_arg(1), default=5, help="frame stride of Kendall's tau in the frame-feature table (default 5, as TCC/LAV/CARL)")
    p.add_argument("--json", action="store_true", help="print every table as JSON on stdout instead of markdown (keys: docs/evaluation.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_ray_option(p, "run the evaluation's independent units (video features, queries, Fig. 5 pairs, re-timing jobs) "
                        "on a Ray cluster (pip install \"draqcore[ray]\"); without ADDRESS a local one on the loopback "
                        "interface; the tables equal a serial run's")
    p.set_defaults(func=run)

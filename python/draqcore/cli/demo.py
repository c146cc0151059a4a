"""``draq demo``: generate a small labelled collection, index, search and align it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .align import write_alignment_outputs
from .common import CommandError, count_arg, print_hits

def run(args: argparse.Namespace) -> int:
    from ..align import align_videos
    from ..collection import Collection
    from ..synthetic import generate_dataset, make_action_classes, render_clip

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise CommandError(f"{out}: exists and is not empty (use --force to overwrite, or --out elsewhere)")
    if out.exists() and args.force:
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    print(f"1/4 generating a labelled synthetic collection in {out / 'videos'} ...")
    truths = generate_dataset(
        out / "videos", classes=args.classes, clips_per_class=args.clips, hard_negatives_per_class=2, seed=args.seed
    )
    classes = make_action_classes(args.classes, seed=args.seed)
    query_class = classes[0]
    query_path = out / f"query_{query_class.name}.mp4"
    render_clip(query_class, query_path, seed=args.seed + 10_000)
    print(f"    {len(truths)} clips ({args.classes} classes, incl. hard negatives: shuffled/partial phases)")

    print("2/4 indexing ...")
    labels = {Path(t.path): f"{t.class_name}" + ("" if t.kind == "aligned" else f"[{t.kind}]") for t in truths}
    with Collection.create(out / "collection") as coll:
        report = coll.add([Path(t.path) for t in truths], labels=labels, progress=True)
        print(f"    {len(report.added)} videos indexed, {len(report.failed)} failed")
        print(f"3/4 searching with {query_path.name} (class {query_class.name}) ...")
        hits = coll.search(query_path, top=args.top, candidates=3 * args.top)
    print_hits(hits)
    (out / "ranking.json").write_text(json.dumps({"query": str(query_path), "hits": [h.to_dict() for h in hits]}, indent=2))

    best = hits[0]
    print(f"4/4 aligning the query with the best match {Path(best.path).name} ...")
    alignment = align_videos(query_path, best.path)
    written = write_alignment_outputs(alignment, out / "alignment")
    print(f"done in {time.perf_counter() - t0:.1f} s. Outputs:")
    print(f"  ranking        {out / 'ranking.json'}")
    for kind, path in written.items():
        print(f"  {kind:<14} {path}")
    return 0


def register(sub) -> None:
    """Add the ``demo`` subcommand to the parser's subparsers."""
    p = sub.add_parser("demo", help="generate a small labelled collection, index, search and align it")
    p.add_argument("--out", default="draq-demo", metavar="DIR", help="output directory (default ./draq-demo)")
    p.add_argument("--classes", type=count_arg(1, 50), default=4, help="action classes generated")
    p.add_argument("--clips", type=count_arg(1, 100), default=5, help="aligned clips per class")
    p.add_argument("--top", type=count_arg(1), default=8, help="hits shown")
    p.add_argument("--seed", type=count_arg(0), default=0, help="random seed of the generated clips")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=run)

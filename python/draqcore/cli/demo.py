"""``draq demo``: generate a small labelled collection, index, search and align it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .._text import shown
from .align import write_alignment_outputs
from .common import CommandError, count_arg, print_hits

#: What each output is and how to open it, by the key write_alignment_outputs returns it under.
_HOW_TO_OPEN = {
    "csv": "the time map, one row per frame of the query: open in any spreadsheet",
    "json": "DRAQ, costs, sampled times, the path and file names (docs/outputs.md)",
    "plot": "cost matrix with the DTW path, axes in seconds: any image viewer",
    "video": "query and match side by side, re-timed to play in sync: any browser or video player",
    "timeline": "OpenTimelineIO timeline of the match cut to the query's timing: import in DaVinci "
                "Resolve, Premiere (via OTIO adapters) or `otioview`",
    "viewer": "both videos playing in sync, with the cost matrix: open in a web browser (no server needed)",
}

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
    print("draq demo: alignable video retrieval on generated clips, end to end. Each clip shows an action made\n"
          "of phases (shapes moving in a fixed order) at its own speed. The demo indexes them, searches with a\n"
          "new clip of one action -- the best hits are clips of the same action, ranked by DRAQ (lower is more\n"
          "alignable; 'shuffled'/'partial' hard negatives have the right look but the wrong order of phases and\n"
          "should rank below) -- and aligns the query with the best hit frame by frame.\n")
    print(f"1/4 generating a labelled synthetic collection in {shown(out / 'videos')} ...")
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
    print(f"done in {time.perf_counter() - t0:.1f} s. DRAQ of the alignment {alignment.draq:.3f}. Outputs:")
    print(f"  {'ranking':<9} {shown(out / 'ranking.json')}\n            the search results above as JSON")
    for kind, path in written.items():
        print(f"  {kind:<9} {shown(path)}")
        if kind in _HOW_TO_OPEN:
            print(f"            {_HOW_TO_OPEN[kind]}")
    viewer = written.get("viewer")
    if viewer is not None:
        print(f"Start with the viewer: open {shown(Path(viewer).resolve().as_uri())} in a browser.")
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

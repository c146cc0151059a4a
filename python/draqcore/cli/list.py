"""``draq list``: the videos of a collection, with their status, class and source path."""

from __future__ import annotations

import argparse

from .._text import one_line, shown
from .common import collection_header, dump_json


def run(args: argparse.Namespace) -> int:
    from ..collection import Collection

    with Collection.open(args.collection) as coll:
        records = coll.videos() if args.status == "all" else [r for r in coll.videos() if r.status == args.status]
        missing = {r.id for r, _ in coll.outdated(content=False)}
        if args.json:
            dump_json({**collection_header(coll),
                       "videos": [{**r.to_dict(), "source_exists": r.id not in missing} for r in records]})
            return 0
        print(f"{'id':>6}  {'status':<6}  {'frames':>6}  {'seconds':>8}  {'class':<14}  video")
        for r in records:
            seconds = f"{r.duration:8.2f}" if r.duration is not None else f"{'-':>8}"
            gone = "  (source missing)" if r.id in missing else ""
            print(f"{r.id:>6}  {r.status:<6}  {r.num_frames:>6}  {seconds}  {shown(r.class_name):<14}  {shown(r.path)}{gone}")
            if not r.ok and args.reasons:
                print(f"{'':>6}  reason: {one_line(r.reason or '')}")
        ok = sum(r.ok for r in coll.videos())
        print(f"{len(records)} shown; {ok} searchable videos in {shown(coll.directory)}"
              + (f"; {len(missing)} sources missing (draq prune removes them)" if missing else ""))
    return 0


def register(sub) -> None:
    """Add the ``list`` subcommand to the parser's subparsers."""
    p = sub.add_parser("list", help="list the videos of a collection")
    p.add_argument("collection", metavar="DIR", help="collection directory")
    p.add_argument("--status", choices=("all", "ok", "failed"), default="all", help="which videos to list")
    p.add_argument("--reasons", action="store_true", help="show why each failed video failed")
    p.add_argument("--json", action="store_true",
                   help="print as JSON (collection, version, sample rate, one object per video with its absolute path)")
    p.set_defaults(func=run)

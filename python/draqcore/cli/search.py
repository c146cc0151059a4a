"""``draq search``: the most alignable videos of a collection for a query."""

from __future__ import annotations

import argparse
import json
import sys

from .common import CommandError, add_extractor_options, extractor_from_args, print_hits

def run(args: argparse.Namespace) -> int:
    from ..collection import Collection

    extractor = extractor_from_args(args)
    try:
        coll = Collection.open(args.collection, extractor=extractor)
    except ValueError as exc:
        if extractor is None:
            raise
        raise CommandError(f"--extractor {args.extractor or 'default'}: {exc}") from None
    with coll:
        hits = coll.search(
            args.query, top=args.top, candidates=max(args.candidates, args.top), method=args.method, k=args.k, seed=args.seed
        )
    if args.json:
        json.dump({"query": str(args.query), "hits": [h.to_dict() for h in hits]}, sys.stdout, indent=2)
        print()
    else:
        print_hits(hits)
    return 0


def register(sub) -> None:
    """Add the ``search`` subcommand to the parser's subparsers."""
    p = sub.add_parser("search", help="find the most alignable videos for a query")
    p.add_argument("query", metavar="QUERY", help="query video")
    p.add_argument("--collection", required=True, metavar="DIR")
    p.add_argument("--top", type=int, default=10, help="results to show (default 10)")
    p.add_argument("--candidates", type=int, default=50, help="ANN candidates re-ranked by DRAQ (default 50)")
    p.add_argument("--method", choices=("exact", "sampled"), default="exact", help="DRAQ random cost (default exact)")
    p.add_argument("--k", type=int, default=100, help="random paths for --method sampled")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    add_extractor_options(p)
    p.set_defaults(func=run)

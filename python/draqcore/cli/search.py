"""``draq search``: the most alignable videos of a collection for a query (or a folder of queries)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import CommandError, VIDEO_EXTENSIONS, add_extractor_options, extractor_from_args, print_hits


def _batch_queries(directory: str) -> list[Path]:
    """Query files of ``--batch DIR``: ``.npy`` feature arrays and videos, sorted by name."""
    root = Path(directory)
    if not root.is_dir():
        raise CommandError(f"--batch {root}: not a folder")
    files = sorted(f for f in root.iterdir() if f.is_file() and not f.name.startswith(".")
                   and not f.name.endswith(".times.npy")
                   and (f.suffix == ".npy" or f.suffix.lower() in VIDEO_EXTENSIONS))
    if not files:
        raise CommandError(f"--batch {root}: holds no query files (.npy features or videos)")
    return files


def run(args: argparse.Namespace) -> int:
    from ..collection import Collection

    if (args.query is None) == (args.batch is None):
        raise CommandError("give one QUERY or --batch QUERIES_DIR")
    queries = [Path(args.query)] if args.query is not None else _batch_queries(args.batch)
    extractor = extractor_from_args(args)
    try:
        coll = Collection.open(args.collection, extractor=extractor)
    except ValueError as exc:
        if extractor is None:
            raise
        raise CommandError(f"--extractor {args.extractor or 'default'}: {exc}") from None
    results = []
    with coll:  # opened once for all queries
        for q in queries:
            hits = coll.search(
                str(q), top=args.top, candidates=max(args.candidates, args.top), method=args.method, k=args.k,
                seed=args.seed
            )
            results.append((q, hits))
    if args.json:
        if args.batch is None:
            json.dump({"query": str(results[0][0]), "hits": [h.to_dict() for h in results[0][1]]}, sys.stdout, indent=2)
        else:
            json.dump([{"query": str(q), "hits": [h.to_dict() for h in hits]} for q, hits in results], sys.stdout,
                      indent=2)
        print()
    else:
        for q, hits in results:
            if args.batch is not None:
                print(f"query {q}")
            print_hits(hits)
    return 0


def register(sub) -> None:
    """Add the ``search`` subcommand to the parser's subparsers."""
    p = sub.add_parser("search", help="find the most alignable videos for a query")
    p.add_argument("query", metavar="QUERY", nargs="?", default=None,
                   help="query video, a .npy (T, d) features file, or (precomputed collections) a stored clip's name")
    p.add_argument("--batch", metavar="QUERIES_DIR", default=None,
                   help="search every .npy/video file of a folder (the collection is opened once)")
    p.add_argument("--collection", required=True, metavar="DIR")
    p.add_argument("--top", type=int, default=10, help="results to show (default 10)")
    p.add_argument("--candidates", type=int, default=50, help="ANN candidates re-ranked by DRAQ (default 50)")
    p.add_argument("--method", choices=("exact", "sampled"), default="exact", help="DRAQ random cost (default exact)")
    p.add_argument("--k", type=int, default=100, help="random paths for --method sampled")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    add_extractor_options(p)
    p.set_defaults(func=run)

"""``draq reindex``: rebuild a collection's ANN index with fresh standardisation statistics."""

from __future__ import annotations

import argparse
import time


def run(args: argparse.Namespace) -> int:
    from ..collection import Collection

    started = time.perf_counter()
    with Collection.open(args.collection, write=True) as coll:
        coll.rebuild_index()
        total = len(coll)
    print(f"rebuilt the index of {total} clips with fresh statistics in {time.perf_counter() - started:.1f} s")
    return 0


def register(sub) -> None:
    """Add the ``reindex`` subcommand to the parser's subparsers."""
    p = sub.add_parser("reindex", help="rebuild the ANN index from all clips with fresh standardisation statistics")
    p.add_argument("collection", metavar="DIR", help="collection directory")
    p.set_defaults(func=run)

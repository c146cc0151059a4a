"""``draq check``: verify that a collection's catalog, features and index agree."""

from __future__ import annotations

import argparse

from .._text import one_line
from .common import stage

def run(args: argparse.Namespace) -> int:
    from ..store.integrity import check_collection

    stage("check", "reading the catalog, every feature row and the index ...", enabled=not args.quiet)
    report = check_collection(args.collection)  # never raises for a damaged collection
    for line in report.lines():
        print(one_line(line))
    return 0 if report.ok else 1


def register(sub) -> None:
    """Add the ``check`` subcommand to the parser's subparsers."""
    p = sub.add_parser("check", help="verify that a collection's catalog, features and index agree")
    p.add_argument("collection", metavar="DIR", help="collection directory")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)

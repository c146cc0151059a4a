"""``draq prune``: remove the videos whose source files were deleted or changed on disk."""

from __future__ import annotations

import argparse

from .._text import shown
from .common import stage


def run(args: argparse.Namespace) -> int:
    from ..collection import Collection

    with Collection.open(args.collection, write=not args.dry_run) as coll:
        stage("prune", "checking every source file" + ("" if args.missing_only else " (hashing its content)") + " ...",
              enabled=not args.quiet)
        stale = coll.outdated(content=not args.missing_only)
        for rec, why in stale:
            print(f"{why:<10} {rec.id:>6}  {shown(rec.path)}")
        if not stale:
            print(f"nothing to prune: all {len(coll.videos())} sources are as indexed")
            return 0
        if args.dry_run:
            print(f"{len(stale)} would be removed (--dry-run: nothing changed)")
            return 0
        coll.remove([rec for rec, _ in stale])
        print(f"{len(stale)} removed; the collection holds {len(coll)} searchable videos "
              "(re-run draq index on changed files to add them again)")
    return 0


def register(sub) -> None:
    """Add the ``prune`` subcommand to the parser's subparsers."""
    p = sub.add_parser("prune", help="remove videos whose source files were deleted or changed on disk")
    p.add_argument("collection", metavar="DIR", help="collection directory")
    p.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    p.add_argument("--missing-only", action="store_true",
                   help="only sources that no longer exist (skip hashing the others to find changed ones)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)

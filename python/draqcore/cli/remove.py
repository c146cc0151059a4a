"""``draq remove``: remove videos from a collection (their files are not touched)."""

from __future__ import annotations

import argparse

from .._text import shown
from .common import CommandError, count_arg


def run(args: argparse.Namespace) -> int:
    from ..collection import Collection

    wanted = [*args.paths, *args.id]
    if not wanted:
        raise CommandError("name the videos to remove: their paths as indexed, or --id N")
    with Collection.open(args.collection, write=True) as coll:
        try:
            removed = coll.remove(wanted)
        except KeyError as exc:
            raise CommandError(f"{exc.args[0]}; nothing was removed (draq list {shown(args.collection)} shows what it holds)") from None
        for rec in removed:
            print(f"removed {rec.id}: {shown(rec.path)}")
        print(f"{len(removed)} removed; the collection holds {len(coll)} searchable videos")
    return 0


def register(sub) -> None:
    """Add the ``remove`` subcommand to the parser's subparsers."""
    p = sub.add_parser("remove", help="remove videos from a collection (the video files are not touched)")
    p.add_argument("collection", metavar="DIR", help="collection directory")
    p.add_argument("paths", nargs="*", metavar="PATH", help="source paths of the videos, as indexed")
    p.add_argument("--id", type=count_arg(1), action="append", default=[], metavar="N",
                   help="a video id (as draq list shows it); repeatable")
    p.set_defaults(func=run)

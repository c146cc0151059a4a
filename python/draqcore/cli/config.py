"""``draq config``: how the compiled core was built."""

from __future__ import annotations

import argparse

def run(args: argparse.Namespace) -> int:
    from ..config import show_config

    show_config()
    return 0


def register(sub) -> None:
    """Add the ``config`` subcommand to the parser's subparsers."""
    p = sub.add_parser("config", help="show how the compiled core was built")
    p.set_defaults(func=run)

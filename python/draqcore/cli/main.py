"""The ``draq`` parser: one module per subcommand registers itself here."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from . import align, check, config, demo, footage, index, reindex, retime, search
from . import eval as eval_command
from .common import CommandError

__all__ = ["build_parser", "main"]

#: Subcommand modules in the order ``draq --help`` lists them.
SUBCOMMANDS = (index, reindex, check, search, align, retime, demo, eval_command, footage, config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="draq",
        description="Alignable video retrieval: find videos that can be temporally aligned to a query, and align them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except CommandError as exc:
        print(f"draq {args.command}: {exc}", file=sys.stderr)
        return 1
    except (ValueError, OSError, MemoryError) as exc:
        print(f"draq {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"draq {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

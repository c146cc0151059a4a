"""The ``draq`` parser: one module per subcommand registers itself here."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from typing import Optional, Sequence

from .._text import one_line
from .common import CommandError, HelpFormatter

__all__ = ["build_parser", "main"]

#: Subcommands in the order ``draq --help`` lists them; each is the module ``draqcore.cli.<name>``.
SUBCOMMANDS = ("index", "reindex", "list", "remove", "prune", "check", "search", "align", "retime", "demo", "eval",
               "footage", "config")


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``draq`` parser.

    Parameters
    ----------
    command : str, optional
        Register only this subcommand (one of :data:`SUBCOMMANDS`): what :func:`main` does when
        the command line names one, so that ``draq search`` imports and builds nothing of the
        other twelve. Default: all of them (``draq --help`` lists every one).
    """
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="draq",
        description="Alignable video retrieval: find videos that can be temporally aligned to a query, and align them.",
        epilog="Run `draq COMMAND --help` for a command's options. Errors print `draq COMMAND: error: ...` and "
        "exit with status 1; a wrong command line exits with status 2.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"draq (draqcore) {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS if command is None else (command,):
        importlib.import_module(f"{__package__}.{name}").register(sub)
    for subparser in sub.choices.values():
        subparser.formatter_class = HelpFormatter  # every option's default in its help
    return parser


def _command_of(argv: Sequence[str]) -> Optional[str]:
    """The subcommand a command line names, if it is a known one: its first word that is not an
    option (the top-level options, ``--help`` and ``--version``, take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def _message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    return one_line(text or type(exc).__name__)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``draq``; returns the exit status (0 ok, 1 error, 2 usage error, 130 interrupted)."""
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(words))
    args = parser.parse_args(words)  # a usage error exits with status 2 (argparse)
    command = f"draq {args.command}"
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and "\0" in v for v in values):
            # No path or name can hold NUL; the OS would say only "embedded null byte".
            print(f"{command}: error: argument {name.replace('_', '-')}: contains a NUL character", file=sys.stderr)
            return 2
    try:
        with warnings.catch_warnings():
            # Warnings (e.g. ShortSequenceWarning) as one line in the command's format, without
            # Python's file:line prefix and source line.
            warnings.showwarning = lambda message, category, *_: print(
                f"{command}: warning: {one_line(str(message))}", file=sys.stderr)
            return int(args.func(args))
    except (CommandError, ValueError, OSError, MemoryError, OverflowError) as exc:
        if os.environ.get("DRAQ_TRACEBACK"):
            raise
        print(f"{command}: error: {_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or a library error we did not anticipate: still one line
        if os.environ.get("DRAQ_TRACEBACK"):
            raise
        print(f"{command}: error: {type(exc).__name__}: {_message(exc)} (set DRAQ_TRACEBACK=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

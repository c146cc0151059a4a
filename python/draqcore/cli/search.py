"""``draq search``: the most alignable videos of a collection for a query (or a folder of queries)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._text import shown
from .common import (VIDEO_EXTENSIONS, CommandError, add_extractor_options, add_ray_option, collection_header, count_arg,
                     dump_json, extractor_from_args, print_hits, ray_inputs_back, stage)

#: Candidates re-ranked when --candidates is not given: this many, or --top if larger.
DEFAULT_CANDIDATES = 50


def _batch_queries(directory: str) -> list[Path]:
    """Query files of ``--batch DIR``: ``.npy`` feature arrays and videos, sorted by name."""
    root = Path(directory)
    if not root.is_dir():
        raise CommandError(f"--batch {shown(root)}: not a folder")
    files = sorted(f for f in root.iterdir() if f.is_file() and not f.name.startswith(".")
                   and not f.name.endswith(".times.npy")
                   and (f.suffix == ".npy" or f.suffix.lower() in VIDEO_EXTENSIONS))
    if not files:
        raise CommandError(f"--batch {shown(root)}: holds no query files (.npy features or videos)")
    return files


def _query_name(q: Path) -> str:
    """A query file as an absolute path; a stored clip's name as given."""
    return str(q.absolute()) if q.exists() else str(q)


def run(args: argparse.Namespace) -> int:
    ray_inputs_back(args, "query")
    from ..collection import Collection

    if (args.query is None) == (args.batch is None):
        raise CommandError("give one QUERY or --batch QUERIES_DIR")
    candidates = args.candidates if args.candidates is not None else max(DEFAULT_CANDIDATES, args.top)
    if candidates < args.top:
        raise CommandError(f"--candidates {candidates} is below --top {args.top}: hits are chosen among the candidates")
    queries = [Path(args.query)] if args.query is not None else _batch_queries(args.batch)
    if args.html is not None and Path(args.html).exists() and not Path(args.html).is_dir():
        raise CommandError(f"--html {args.html}: exists and is not a folder")
    if args.html is not None and any(q.suffix == ".npy" for q in queries):
        raise CommandError("--html needs video queries (a .npy features file cannot be played)")
    extractor = extractor_from_args(args)
    try:
        coll = Collection.open(args.collection, extractor=extractor)
    except ValueError as exc:
        if extractor is None:
            raise
        raise CommandError(f"--extractor {args.extractor or 'default'}: {exc}") from None
    results = []
    if args.ray is not None and args.batch is None:
        coll.close()
        raise CommandError("--ray goes with --batch QUERIES_DIR")
    if args.ray is not None and args.no_windows:
        coll.close()
        raise CommandError("--no-windows is not available with --ray (workers retrieve with windows)")
    with coll:  # opened once for all queries
        if args.ray is not None:
            from ..distributed import search_with_ray

            stage("search", f"{len(queries)} queries on a Ray cluster ...", enabled=not args.json and not args.quiet)
            rankings = search_with_ray(args.collection, [str(q) for q in queries],
                                       address=None if args.ray == "local" else args.ray, top=args.top,
                                       candidates=candidates, method=args.method, k=args.k, seed=args.seed)
            results = list(zip(queries, rankings))
        for i, q in enumerate(queries if args.ray is None else [], start=1):
            where = f" {i}/{len(queries)}" if len(queries) > 1 else ""
            stage("search", f"query{where} {shown(q.name)}: decoding it and re-ranking up to {candidates} candidates by DRAQ ...",
                  enabled=not args.json and not args.quiet)
            hits = coll.search(str(q), top=args.top, candidates=candidates, method=args.method, k=args.k, seed=args.seed,
                               windows=not args.no_windows)
            results.append((q, hits))
        header = collection_header(coll)
    if args.html is not None:
        from ..outputs.search_page import write_search_page

        for q, hits in results:
            # one page per query: DIR/index.html, or DIR/<query name>/index.html for --batch
            folder = Path(args.html) if args.batch is None else Path(args.html) / q.stem
            page = write_search_page(q, hits, folder, progress=not (args.json or args.quiet))
            print(f"results page: {page}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        entries = [{"query": _query_name(q), "hits": [h.to_dict() for h in hits]} for q, hits in results]
        if args.batch is None:
            dump_json({**header, **entries[0]})
        else:
            dump_json({**header, "queries": entries})
    else:
        for q, hits in results:
            if args.batch is not None:
                print(f"query {shown(q)}")
            print_hits(hits)
    return 0


def register(sub) -> None:
    """Add the ``search`` subcommand to the parser's subparsers."""
    p = sub.add_parser("search", help="find the most alignable videos for a query")
    p.add_argument("query", metavar="QUERY", nargs="?", default=None,
                   help="query video, a .npy (T, d) features file, or (precomputed collections) a stored clip's name")
    p.add_argument("--batch", metavar="QUERIES_DIR", default=None,
                   help="search every .npy/video file of a folder (the collection is opened once)")
    add_ray_option(p, "with --batch: search the queries on a Ray cluster (pip install \"draqcore[ray]\"); "
                        "without ADDRESS a local one on the loopback interface")
    p.add_argument("--collection", required=True, metavar="DIR", help="collection directory (made by draq index)")
    p.add_argument("--top", type=count_arg(1), default=10, help="results to show")
    p.add_argument("--candidates", type=count_arg(1), default=None,
                   help=f"videos the ANN index retrieves for re-ranking by DRAQ, >= --top (default: {DEFAULT_CANDIDATES} "
                   "or --top if larger)")
    p.add_argument("--no-windows", action="store_true",
                   help="retrieve candidates by whole-video clip vectors only (default: long videos also by their 8 s windows)")
    p.add_argument("--method", choices=("exact", "sampled"), default="exact",
                   help="random-path baseline of DRAQ: exact expectation or sampled paths")
    p.add_argument("--k", type=count_arg(1), default=100, help="random paths per pair for --method sampled")
    p.add_argument("--seed", type=count_arg(0), default=0, help="random seed of --method sampled")
    p.add_argument("--json", action="store_true",
                   help="print the ranking as JSON: collection, draqcore version, sample rate, absolute paths "
                   "(with --batch: one entry per query under 'queries')")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--html", metavar="DIR", default=None,
        help="also write DIR/index.html (--batch: DIR/<query name>/index.html): the ranking with synchronised "
        "playback of the query and each hit",
    )
    add_extractor_options(p)
    p.set_defaults(func=run)

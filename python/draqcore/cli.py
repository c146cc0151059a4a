"""The ``draq`` command line: index, search, align, check, eval, demo, config."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

__all__ = ["main", "VIDEO_EXTENSIONS", "expand_inputs"]

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv", ".3gp", ".ts"}
)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit code 1."""


def expand_inputs(paths: Iterable[str]) -> list[Path]:
    """Videos named on the command line.

    A file is taken as it is. A directory that holds image files and no sub-directories with
    videos is one image-sequence video; otherwise it is searched recursively for files with a
    video extension (``VIDEO_EXTENSIONS``) and for image-sequence folders.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise CommandError(f"{p}: no such file or directory")
        if p.is_file():
            out.append(p)
            continue
        out.extend(_scan_dir(p))
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _scan_dir(directory: Path) -> list[Path]:
    entries = sorted(directory.iterdir())
    files = [e for e in entries if e.is_file()]
    videos = [f for f in files if f.suffix.lower() in VIDEO_EXTENSIONS]
    images = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
    subdirs = [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    if images and not videos and not subdirs:
        return [directory]
    found = list(videos)
    for sub in subdirs:
        found.extend(_scan_dir(sub))
    return found


def _progress(iterable, total: Optional[int], desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="video", file=sys.stderr, leave=False)


# --- commands ---------------------------------------------------------------------------


#: Files ``draq index`` never attempts in a scanned folder: draqcore's own labels files.
_LABELS_FILES = frozenset({"labels.json", "truth.json"})


def _index_inputs(paths: Iterable[str], skip: Iterable[Path] = ()) -> tuple[list[Path], int]:
    """What ``draq index`` attempts, and how many entries of scanned folders it ignored.

    A path named on the command line is attempted as it is. A folder is scanned recursively
    (in name order) and every entry in it is attempted, whatever its name or content -- so a
    corrupt, truncated, zero-frame, non-video or unreadable file is recorded in the catalog as
    failed, with the reason -- except:

    * hidden entries (name starting with ``.``) and draqcore's labels files (``labels.json``,
      ``truth.json``, and the ``--labels`` file), and folders holding a draqcore collection;
    * image files: a folder with images and neither sub-folders nor files with a video
      extension is one video (an image sequence; its other files are not attempted), and
      images anywhere else are ignored (a still image is not a video).

    A folder that cannot be listed is attempted itself (and recorded as failed with the reason);
    a folder reached again through a symbolic link is not scanned twice.
    """
    from .store.catalog import CATALOG_FILENAME
    from .video import IMAGE_SUFFIXES

    skipped = set()
    for s in skip:
        try:
            skipped.add(s.resolve())
        except (OSError, RuntimeError):
            pass
    out: list[Path] = []
    ignored = 0
    visited: set[tuple[int, int]] = set()

    def scan(directory: Path) -> None:
        nonlocal ignored
        try:
            st = directory.stat()
            if (st.st_dev, st.st_ino) in visited:
                return
            visited.add((st.st_dev, st.st_ino))
            entries = sorted(directory.iterdir())
        except OSError:
            out.append(directory)  # the reader says why it cannot be listed
            return
        dirs, files = [], []
        for e in entries:
            if e.name.startswith("."):
                ignored += 1
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(e)
        images = {f for f in files if f.suffix.lower() in IMAGE_SUFFIXES}
        if images and not dirs and not any(f.suffix.lower() in VIDEO_EXTENSIONS for f in files):
            out.append(directory)  # an image sequence
            return
        for f in files:
            try:
                own = f.resolve() in skipped
            except (OSError, RuntimeError):
                own = False
            if f.name in _LABELS_FILES or own or f in images:
                ignored += 1
            else:
                out.append(f)
        for d in dirs:
            if (d / CATALOG_FILENAME).is_file():  # a collection (maybe the one being written)
                ignored += 1
            else:
                scan(d)

    for raw in paths:
        p = Path(raw)
        if not (p.exists() or p.is_symlink()):  # a dangling link is attempted (and fails)
            raise CommandError(f"{p}: no such file or directory")
        if p.is_dir() and not (p / CATALOG_FILENAME).is_file():
            scan(p)
        else:
            out.append(p)
    seen: set[Path] = set()
    unique = []
    for p in out:
        try:
            key = p.resolve()
        except (OSError, RuntimeError):
            key = p.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, ignored


def cmd_index(args: argparse.Namespace) -> int:
    from .collection import Collection
    from .labels import read_labels

    videos, ignored = _index_inputs(args.paths, [Path(args.labels)] if args.labels else [])
    if not videos:
        raise CommandError("nothing to index in the given paths")
    labels = None
    if args.labels:
        labels = {p: lab.class_name for p, lab in read_labels(args.labels).items()}
    # Takes the writer lock (a second `draq index` fails at once) and repairs what an
    # interrupted run left; every video is committed on its own, so a rerun resumes.
    directory = Path(args.collection)
    exists = (directory / "catalog.sqlite").is_file()
    coll = None
    if not exists:
        try:
            coll = Collection.create(directory, sample_fps=args.sample_fps)
        except FileExistsError:
            if not (directory / "catalog.sqlite").is_file():
                raise
            # another run created it just now: open it (its lock then says who writes)
    if coll is None:
        coll = Collection.open(directory, write=True)  # the extractor is rebuilt from the catalog
        if args.sample_fps is not None and coll.sample_fps != args.sample_fps:
            coll.close()
            raise CommandError(f"{directory}: samples videos at {coll.sample_fps} fps, not --sample-fps {args.sample_fps}")
    with coll:
        started = time.perf_counter()
        report = coll.add(videos, labels=labels, progress=not args.quiet)
        elapsed = time.perf_counter() - started
        total = len(coll)
    print(
        f"indexed {len(report.added)} new, skipped {len(report.skipped)} unchanged, "
        f"{len(report.failed)} failed in {elapsed:.1f} s; the collection holds {total} videos"
    )
    if ignored:
        print(f"  ignored {ignored} entries of scanned folders (hidden, labels files, still images, collections)")
    for path, reason in report.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if (args.strict and report.failed) else 0


def cmd_check(args: argparse.Namespace) -> int:
    from .store.integrity import check_collection

    report = check_collection(args.collection)  # never raises for a damaged collection
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def _print_hits(hits, stream=None) -> None:
    stream = stream if stream is not None else sys.stdout
    header = f"{'rank':>4}  {'DRAQ':>7}  {'DTW':>8}  {'sim':>6}  {'class':<14}  video"
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for h in hits:
        cls = h.class_name if h.class_name is not None else "-"
        print(f"{h.rank:>4}  {h.draq:7.4f}  {h.dtw_cost:8.2f}  {h.similarity:6.3f}  {cls:<14}  {h.path}", file=stream)


def cmd_search(args: argparse.Namespace) -> int:
    from .collection import Collection

    with Collection.open(args.collection) as coll:
        hits = coll.search(
            args.query, top=args.top, candidates=max(args.candidates, args.top), method=args.method, k=args.k, seed=args.seed
        )
    if args.json:
        json.dump({"query": str(args.query), "hits": [h.to_dict() for h in hits]}, sys.stdout, indent=2)
        print()
    else:
        _print_hits(hits)
    return 0


def write_alignment_outputs(alignment, out_dir: Path, *, video: bool = True, plot: bool = True) -> dict[str, Path]:
    """alignment.csv, side_by_side.mp4, cost_matrix.png and alignment.json in ``out_dir``."""
    from .render import write_cost_plot, write_side_by_side

    out_dir.mkdir(parents=True, exist_ok=True)
    mapping = alignment.native_mapping()
    written = {"csv": mapping.write_csv(out_dir / "alignment.csv")}
    if video:
        written["video"] = write_side_by_side(alignment, out_dir / "side_by_side.mp4", mapping)
    if plot:
        written["plot"] = write_cost_plot(alignment, out_dir / "cost_matrix.png")
    summary = {
        "a": str(alignment.a.path),
        "b": str(alignment.b.path),
        "draq": alignment.draq,
        "dtw_cost": alignment.dtw_cost,
        "random_cost": alignment.random_cost,
        "sampled_frames": [len(alignment.a), len(alignment.b)],
        "contextualized": alignment.contextualized,
        "sampled_match_a_to_b": alignment.match(keep=0).tolist(),
    }
    path = out_dir / "alignment.json"
    path.write_text(json.dumps(summary, indent=2))
    written["json"] = path
    return written


def cmd_align(args: argparse.Namespace) -> int:
    from .align import align_videos

    alignment = align_videos(args.a, args.b, sample_fps=args.sample_fps, band=args.band, contextualize=not args.no_context)
    written = write_alignment_outputs(alignment, Path(args.out))
    print(f"DRAQ {alignment.draq:.4f}  (DTW {alignment.dtw_cost:.3f} / random {alignment.random_cost:.3f})")
    for kind, path in written.items():
        print(f"  {kind:<6} {path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .align import align_videos
    from .collection import Collection
    from .synthetic import generate_dataset, make_action_classes, render_clip

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.force:
        raise CommandError(f"{out}: exists and is not empty (use --force to overwrite, or --out elsewhere)")
    if out.exists() and args.force:
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    print(f"1/4 generating a labelled synthetic collection in {out / 'videos'} ...")
    truths = generate_dataset(
        out / "videos", classes=args.classes, clips_per_class=args.clips, hard_negatives_per_class=2, seed=args.seed
    )
    classes = make_action_classes(args.classes, seed=args.seed)
    query_class = classes[0]
    query_path = out / f"query_{query_class.name}.mp4"
    render_clip(query_class, query_path, seed=args.seed + 10_000)
    print(f"    {len(truths)} clips ({args.classes} classes, incl. hard negatives: shuffled/partial phases)")

    print("2/4 indexing ...")
    labels = {Path(t.path): f"{t.class_name}" + ("" if t.kind == "aligned" else f"[{t.kind}]") for t in truths}
    with Collection.create(out / "collection") as coll:
        report = coll.add([Path(t.path) for t in truths], labels=labels, progress=True)
        print(f"    {len(report.added)} videos indexed, {len(report.failed)} failed")
        print(f"3/4 searching with {query_path.name} (class {query_class.name}) ...")
        hits = coll.search(query_path, top=args.top, candidates=3 * args.top)
    _print_hits(hits)
    (out / "ranking.json").write_text(json.dumps({"query": str(query_path), "hits": [h.to_dict() for h in hits]}, indent=2))

    best = hits[0]
    print(f"4/4 aligning the query with the best match {Path(best.path).name} ...")
    alignment = align_videos(query_path, best.path)
    written = write_alignment_outputs(alignment, out / "alignment")
    print(f"done in {time.perf_counter() - t0:.1f} s. Outputs:")
    print(f"  ranking        {out / 'ranking.json'}")
    for kind, path in written.items():
        print(f"  {kind:<14} {path}")
    return 0


def _split_queries(videos, every: int = 5):
    """Queries and collection of a labelled folder: the videos of a "val"/"test" split if any
    are marked, otherwise every ``every``-th video of each class (in path order) is a query."""
    marked = [v for v in videos if v.split in ("val", "test")]
    if marked:
        return marked, [v for v in videos if v.split not in ("val", "test")]
    queries, collection, seen = [], [], {}
    for v in sorted(videos, key=lambda v: str(v.path)):
        i = seen.get(v.class_name, 0)
        seen[v.class_name] = i + 1
        (queries if i % every == every - 1 else collection).append(v)
    return queries, collection


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import build_synthetic_benchmark, evaluate, read_labelled_dir

    started = time.perf_counter()
    canonical = None
    if args.target == "synthetic":
        out = Path(args.out or "draq-eval")
        if (out / "videos").exists() and not args.force:
            raise CommandError(f"{out}: already holds a benchmark (use --force, or --out elsewhere)")
        if args.force and out.exists():
            import shutil

            shutil.rmtree(out)
        print(f"generating {args.videos} synthetic clips in {out / 'videos'} (seed {args.seed}) ...", file=sys.stderr)
        bench = build_synthetic_benchmark(out / "videos", videos=args.videos, classes=args.classes, seed=args.seed)
        queries, collection, canonical = bench.queries, bench.collection, bench.canonical_time
    else:
        if not args.labels:
            raise CommandError("evaluating a folder needs --labels FILE (class and per-frame phases)")
        out = Path(args.out or Path(args.target) / "draq-eval")
        index = read_labelled_dir(args.target, args.labels)
        for note in index.notes:
            print(f"note: {note}", file=sys.stderr)
        queries, collection = _split_queries(list(index.videos))
        if not queries or not collection:
            raise CommandError(f"{args.target}: need at least one query and one collection video (have {len(index.videos)} videos)")
    print(f"{len(queries)} queries against a collection of {len(collection)} videos ...", file=sys.stderr)
    report = evaluate(
        queries, collection, out / "work", top=args.top, recall_depth=args.recall_depth,
        canonical_time=canonical, fig5_pairs=args.pairs, seed=args.seed, progress=not args.quiet,
    )
    print(report.markdown())
    print(f"done in {time.perf_counter() - started:.1f} s; tables in {out / 'work' / 'results.md'}, "
          f"numbers in {out / 'work' / 'results.json'}, Fig. 5 plot in {out / 'work' / 'fig5.png'}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from .config import show_config

    show_config()
    return 0


# --- parser -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .video import DEFAULT_SAMPLE_FPS

    parser = argparse.ArgumentParser(
        prog="draq",
        description="Alignable video retrieval: find videos that can be temporally aligned to a query, and align them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("index", help="add videos to a collection (created if needed)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files, image-sequence folders, or folders to scan")
    p.add_argument("--collection", required=True, metavar="DIR", help="collection directory")
    p.add_argument("--labels", metavar="FILE", help="labels file (JSON or CSV path,class; see docs/video.md)")
    p.add_argument("--sample-fps", type=float, default=None, help=f"frames per second sampled for features when creating (default {DEFAULT_SAMPLE_FPS})")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file of this run failed (failures are recorded in the catalog either way)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("check", help="verify that a collection's catalog, features and index agree")
    p.add_argument("collection", metavar="DIR", help="collection directory")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("search", help="find the most alignable videos for a query")
    p.add_argument("query", metavar="QUERY", help="query video")
    p.add_argument("--collection", required=True, metavar="DIR")
    p.add_argument("--top", type=int, default=10, help="results to show (default 10)")
    p.add_argument("--candidates", type=int, default=50, help="ANN candidates re-ranked by DRAQ (default 50)")
    p.add_argument("--method", choices=("exact", "sampled"), default="exact", help="DRAQ random cost (default exact)")
    p.add_argument("--k", type=int, default=100, help="random paths for --method sampled")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the ranking as JSON")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("align", help="align two videos and write alignment.csv, a side-by-side video and a plot")
    p.add_argument("a", metavar="A", help="reference video (kept unwarped)")
    p.add_argument("b", metavar="B", help="video re-timed onto A")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--sample-fps", type=float, default=DEFAULT_SAMPLE_FPS)
    p.add_argument("--band", type=int, default=None, help="Sakoe-Chiba radius in sampled frames")
    p.add_argument("--no-context", action="store_true", help="skip feature contextualization (Eq. 2-3)")
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("demo", help="generate a small labelled collection, index, search and align it")
    p.add_argument("--out", default="draq-demo", metavar="DIR", help="output directory (default ./draq-demo)")
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--clips", type=int, default=5, help="aligned clips per class")
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("eval", help="run the paper's evaluation protocol (Tables 1, 2, 4 and Fig. 5)")
    p.add_argument("target", metavar="synthetic|DIR", help="'synthetic' for a generated ground-truth benchmark, or a folder of labelled videos")
    p.add_argument("--labels", metavar="FILE", help="labels file with class and per-frame phases (for DIR)")
    p.add_argument("--videos", type=int, default=200, help="synthetic: number of clips (default 200)")
    p.add_argument("--classes", type=int, default=10, help="synthetic: number of action classes (default 10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=10, help="AVR candidates re-ranked per query (default 10)")
    p.add_argument("--recall-depth", type=int, default=25, help="retrieved videos re-ranked for recall@k (default 25)")
    p.add_argument("--pairs", type=int, default=400, help="balanced pairs for Fig. 5 (default 400)")
    p.add_argument("--out", metavar="DIR", help="output directory (default ./draq-eval, or DIR/draq-eval)")
    p.add_argument("--force", action="store_true", help="replace an existing synthetic benchmark")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("config", help="show how the compiled core was built")
    p.set_defaults(func=cmd_config)
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

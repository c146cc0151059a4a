"""``draq index``: add videos to a collection (created if needed), resumably."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Iterable

from .._text import one_line, shown
from .common import (VIDEO_EXTENSIONS, CommandError, add_extractor_options, add_ray_option, extractor_from_args, rate_arg,
                     ray_inputs_back)

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
    from ..store.catalog import CATALOG_FILENAME
    from ..video import IMAGE_SUFFIXES

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
            raise CommandError(f"{shown(p)}: no such file or directory")
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


def _run_features(args: argparse.Namespace) -> int:
    """``draq index --features DIR``: add precomputed features (.npy, .npz, HDF5 files)."""
    from ..collection import Collection
    from ..collection.feature_files import read_clips, scan_feature_folder
    from ..features import Precomputed

    clips = scan_feature_folder(args.features)  # names and shapes only: errors before anything is added
    directory = Path(args.collection)
    if (directory / "catalog.sqlite").is_file():
        coll = Collection.open(directory, write=True)
        if not isinstance(coll.extractor, Precomputed):
            coll.close()
            raise CommandError(f"{directory}: holds videos embedded with {coll.extractor.name!r}, not precomputed features")
        if args.features_name is not None and coll.extractor.features_name != args.features_name:
            name = coll.extractor.features_name
            coll.close()
            raise CommandError(f"{directory}: holds features {name!r}, not --features-name {args.features_name!r}")
    else:
        if args.features_name is None:
            raise CommandError("--features-name NAME is needed to create a collection of precomputed features "
                               "(it says which backbone made them, e.g. resnet50-imagenet)")
        _, first, _, _ = next(read_clips(clips[:1]))
        coll = Collection.create(directory, extractor=Precomputed(dim=int(first.shape[1]), name=args.features_name),
                                 sample_fps=args.sample_fps, feature_dtype=args.feature_dtype)
    with coll:
        started = time.perf_counter()
        report = coll.add_features_batch(read_clips(clips), progress=not args.quiet)
        elapsed = time.perf_counter() - started
        total = len(coll)
    print(
        f"indexed {len(report.added)} new, skipped {len(report.skipped)} unchanged, "
        f"{len(report.replaced)} replaced in {elapsed:.1f} s; the collection holds {total} clips"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    ray_inputs_back(args, "paths")
    from ..collection import Collection
    from ..labels import read_labels

    if args.features is not None:
        if args.paths:
            raise CommandError("give either video PATHs or --features DIR, not both")
        return _run_features(args)
    if not args.paths:
        raise CommandError("nothing to index: give video PATHs or --features DIR")
    if args.features_name is not None:
        raise CommandError("--features-name goes with --features DIR")
    videos, ignored = _index_inputs(args.paths, [Path(args.labels)] if args.labels else [])
    if not videos:
        raise CommandError("nothing to index in the given paths")
    labels = None
    if args.labels:
        labels = {p: lab.class_name for p, lab in read_labels(args.labels).items()}
    # Takes the writer lock (a second `draq index` fails at once) and repairs what an
    # interrupted run left; every video is committed on its own, so a rerun resumes.
    directory = Path(args.collection)
    extractor = extractor_from_args(args)
    exists = (directory / "catalog.sqlite").is_file()
    coll = None
    if not exists:
        try:
            coll = Collection.create(directory, extractor=extractor, sample_fps=args.sample_fps,
                                     feature_dtype=args.feature_dtype)
        except FileExistsError:
            if not (directory / "catalog.sqlite").is_file():
                raise
            # another run created it just now: open it (its lock then says who writes)
    if coll is None:
        try:  # without --extractor the extractor is rebuilt from the catalog
            coll = Collection.open(directory, extractor=extractor, write=True)
        except ValueError as exc:
            if extractor is None:
                raise
            raise CommandError(f"--extractor {args.extractor or 'default'}: {exc}") from None
        if args.sample_fps is not None and coll.sample_fps != args.sample_fps:
            coll.close()
            raise CommandError(f"{directory}: samples videos at {coll.sample_fps} fps, not --sample-fps {args.sample_fps}")
    with coll:
        started = time.perf_counter()
        if args.ray is not None:
            from ..distributed import add_with_ray

            report = add_with_ray(coll, videos, labels=labels, progress=not args.quiet,
                                  address=None if args.ray == "local" else args.ray)
        else:
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
        print(f"  failed: {shown(path)}: {one_line(reason)}", file=sys.stderr)
    return 1 if (args.strict and report.failed) else 0


def register(sub) -> None:
    """Add the ``index`` subcommand to the parser's subparsers."""
    from ..video import DEFAULT_SAMPLE_FPS

    p = sub.add_parser("index", help="add videos to a collection (created if needed)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="video files, image-sequence folders, or folders to scan")
    p.add_argument("--features", metavar="DIR", default=None,
                   help="add precomputed features instead of videos: NAME.npy files (one (T, d) clip each, optional "
                        "NAME.times.npy in seconds beside it), .npz files (one clip per array key, times under key "
                        "NAME.times) and .h5/.hdf5 files (one clip per 2-D dataset, named by its path; needs "
                        "draqcore[hdf5])")
    p.add_argument("--features-name", metavar="NAME", default=None,
                   help="which backbone made the --features (required when creating; checked afterwards)")
    add_ray_option(p, "decode and extract on a Ray cluster (pip install \"draqcore[ray]\"); without ADDRESS a "
                        "local one on the loopback interface; this process commits (the collection equals a serial run)")
    p.add_argument("--feature-dtype", choices=("float32", "float16"), default=None,
                   help="storage dtype of features when creating (default float32; float16 halves the disk)")
    p.add_argument("--collection", required=True, metavar="DIR", help="collection directory")
    p.add_argument("--labels", metavar="FILE", help="labels file (JSON or CSV path,class; see docs/video.md)")
    p.add_argument("--sample-fps", type=rate_arg, default=None, help=f"frames per second sampled for features when creating (default {DEFAULT_SAMPLE_FPS})")
    add_extractor_options(p)
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file of this run failed (failures are recorded in the catalog either way)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)

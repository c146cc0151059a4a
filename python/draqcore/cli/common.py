"""What the subcommands share: the error type, input expansion, progress bars, the hit table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Optional

__all__ = ["CommandError", "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "expand_inputs", "print_hits"]

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


def progress(iterable, total: Optional[int], desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="video", file=sys.stderr, leave=False)


def print_hits(hits, stream=None) -> None:
    stream = stream if stream is not None else sys.stdout
    header = f"{'rank':>4}  {'DRAQ':>7}  {'DTW':>8}  {'sim':>6}  {'start s':>8}  {'end s':>8}  {'class':<14}  video"
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for h in hits:
        cls = h.class_name if h.class_name is not None else "-"
        start = getattr(h, "start", float("nan"))
        end = getattr(h, "end", float("nan"))
        print(
            f"{h.rank:>4}  {h.draq:7.4f}  {h.dtw_cost:8.2f}  {h.similarity:6.3f}  {start:8.2f}  {end:8.2f}  {cls:<14}  {h.path}",
            file=stream,
        )


#: ``--extractor`` choices: CLI name -> registered extractor name.
EXTRACTOR_CHOICES = {"default": "opencv-hog-color-flow", "pose": "mediapipe-pose"}


def add_extractor_options(parser) -> None:
    """``--extractor {default,pose}`` and ``--mirror-invariant`` (see docs/features.md)."""
    parser.add_argument(
        "--extractor", choices=sorted(EXTRACTOR_CHOICES), default=None,
        help="frame features: default = OpenCV HOG/colour/flow (no weights); pose = MediaPipe body "
        'landmarks (pip install "draqcore[pose]"). For an existing collection: what it was built with',
    )
    parser.add_argument(
        "--mirror-invariant", action="store_true",
        help="features that do not change when a video is mirrored left-right (twice the dimension)",
    )


def extractor_from_args(args):
    """The extractor the options ask for, or None when neither option was given."""
    name = getattr(args, "extractor", None)
    mirror = bool(getattr(args, "mirror_invariant", False))
    if name is None and not mirror:
        return None
    from ..features import OpenCVDescriptorExtractor, PoseExtractor

    try:
        if EXTRACTOR_CHOICES[name or "default"] == "mediapipe-pose":
            return PoseExtractor(mirror_invariant=mirror)
        return OpenCVDescriptorExtractor(mirror_invariant=mirror)
    except ImportError as exc:
        raise CommandError(str(exc)) from None

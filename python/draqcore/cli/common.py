"""What the subcommands share: the error type, the help formatter, checked option types, input
expansion, output checks, progress, the hit table and JSON output."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from .._text import shown

__all__ = ["CommandError", "HelpFormatter", "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "count_arg", "rate_arg",
           "check_out_dir", "collection_header", "dump_json", "expand_inputs", "print_hits", "stage",
           "add_ray_option", "ray_inputs_back"]

#: Largest count any option accepts (frames, paths, clips, candidates...): beyond it nothing fits
#: in memory anyway, and the compiled core takes 32-bit counts.
MAX_COUNT = 2**31 - 1
#: Largest frame rate an option accepts, frames per second (as draqcore.video).
MAX_RATE = 1000.0


class _RayAddress(argparse.Action):
    """``--ray [ADDRESS]``: argparse gives an optional value the next word, so ``--ray clip.mp4``
    would take the video for a cluster address. A word that names an existing file or folder is
    kept aside as an input instead (no Ray address is a path on disk); :func:`ray_inputs_back`
    puts it back among the command's positional arguments."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: Optional[str] = None) -> None:
        if isinstance(values, str) and values != self.const and os.path.exists(values):
            namespace._ray_input = values
            values = self.const
        setattr(namespace, self.dest, values)


def add_ray_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--ray [ADDRESS]`` (``"local"`` without ADDRESS) that never swallows an input path."""
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS", action=_RayAddress,
                        help=help)


def ray_inputs_back(args: argparse.Namespace, dest: str) -> None:
    """Put a path that followed ``--ray`` back first among the positional ``dest`` (a list, or a
    single optional value)."""
    taken = getattr(args, "_ray_input", None)
    if taken is None:
        return
    del args._ray_input
    current = getattr(args, dest)
    if isinstance(current, list):
        setattr(args, dest, [taken, *current])
    elif current is None:
        setattr(args, dest, taken)
    else:
        raise CommandError(f"--ray {taken}: a Ray address is expected there, and {current!r} is already the input")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help with every option's default shown (unless its help already says it, or it has none:
    flags, ``None`` defaults that the help explains)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower():
            return text
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS or default == []:
            return text
        if not action.option_strings and action.nargs in ("*", "?"):
            return text
        return f"{text} (default: %(default)s)"


def count_arg(minimum: int = 1, maximum: int = MAX_COUNT) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[minimum, maximum]`` (a usage error otherwise)."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected an integer from {minimum} to {maximum}, got {text}")
        return value

    parse.__name__ = "integer"
    return parse


def rate_arg(text: str) -> float:
    """An argparse ``type``: frames per second, a finite number in (0, MAX_RATE]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected frames per second, got {text!r}") from None
    if not (math.isfinite(value) and 0.0 < value <= MAX_RATE):
        raise argparse.ArgumentTypeError(f"expected frames per second in (0, {MAX_RATE:g}], got {text}")
    return value


rate_arg.__name__ = "rate"


def check_out_dir(path: "str | os.PathLike[str]", what: str = "--out") -> Path:
    """Make sure an output folder can be written *before* any work: created if missing (with its
    parents); a file in its place, or a folder that cannot be written, is a :class:`CommandError`."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{what} {shown(out)}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".draq-write-test-"):
            pass
    except OSError as exc:
        raise CommandError(f"{what} {shown(out)}: cannot write there ({exc.strerror or exc})") from None
    return out


def dump_json(doc: Any, stream: Any = None) -> None:
    """JSON on stdout the way every subcommand writes it: indented, non-ASCII as is, no NaN."""
    stream = stream if stream is not None else sys.stdout
    json.dump(doc, stream, indent=2, ensure_ascii=False, allow_nan=False)
    print(file=stream)


def collection_header(coll: Any) -> dict[str, Any]:
    """What every ``--json`` output about a collection starts with."""
    from .. import __version__

    return {
        "collection": str(coll.directory),
        "draqcore_version": __version__,
        "sample_fps": coll.sample_fps,
        "extractor": coll.extractor.identity()["name"],
    }


def stage(command: str, message: str, enabled: bool = True) -> None:
    """One progress line on stderr (``draq CMD: message``) for a step that can take a while."""
    if enabled:
        print(f"draq {command}: {message}", file=sys.stderr, flush=True)

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ogv", ".3gp", ".ts"}
)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


class CommandError(Exception):
    """A user-facing failure: printed as ``draq CMD: error: ...`` without a traceback, exit 1."""


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
            raise CommandError(f"{shown(p)}: no such file or directory")
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
        cls = shown(h.class_name)
        start = getattr(h, "start", float("nan"))
        end = getattr(h, "end", float("nan"))
        print(
            f"{h.rank:>4}  {h.draq:7.4f}  {h.dtw_cost:8.2f}  {h.similarity:6.3f}  {start:8.2f}  {end:8.2f}  {cls:<14}  {shown(h.path)}",
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

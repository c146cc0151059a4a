"""``draq align``: align two videos and write the alignment outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..outputs.bundle import write_alignment_outputs
from .._text import shown
from .common import add_extractor_options, check_out_dir, count_arg, extractor_from_args, rate_arg, stage

__all__ = ["register", "run", "write_alignment_outputs"]


def run(args: argparse.Namespace) -> int:
    from ..align import align_videos

    for name in (args.a, args.b):
        if not Path(name).exists():
            raise FileNotFoundError(f"{shown(name)}: no such file or directory")
    out = check_out_dir(args.out)  # before any decoding
    stage("align", f"decoding both videos, computing features and aligning ({'sampled path only' if args.no_refine else 'refined at the native frame rate'}) ...",
          enabled=not args.quiet)
    alignment = align_videos(
        args.a, args.b, extractor=extractor_from_args(args), sample_fps=args.sample_fps, band=args.band,
        contextualize=not args.no_context, refine=not args.no_refine, subsequence=args.subsequence,
    )
    written = write_alignment_outputs(
        alignment, out, height=args.height, sample_fps=args.sample_fps, progress=not args.quiet
    )
    print(f"DRAQ {alignment.draq:.4f}  (DTW {alignment.dtw_cost:.3f} / random {alignment.random_cost:.3f})")
    if alignment.segment is not None:
        seg = alignment.segment
        print(
            f"segment of B: {seg.start:.3f} s - {seg.end:.3f} s "
            f"(frames {seg.start_frame}-{seg.end_frame}, {seg.end - seg.start:.3f} s)"
        )
    for kind, path in written.items():
        print(f"  {kind:<6} {shown(path)}")
    return 0


def register(sub) -> None:
    """Add the ``align`` subcommand to the parser's subparsers."""
    from ..video import DEFAULT_SAMPLE_FPS

    p = sub.add_parser("align", help="align two videos; write alignment.csv/.json, a side-by-side video and a plot")
    p.add_argument("a", metavar="A", help="reference video (kept unwarped)")
    p.add_argument("b", metavar="B", help="video re-timed onto A")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; checked before any work)")
    p.add_argument("--sample-fps", type=rate_arg, default=DEFAULT_SAMPLE_FPS, help="frames per second sampled for features")
    p.add_argument("--band", type=count_arg(0), default=None, help="Sakoe-Chiba radius in sampled frames (default: none)")
    p.add_argument("--no-context", action="store_true", help="skip feature contextualization (Eq. 2-3)")
    p.add_argument("--height", type=count_arg(16, 8640), default=None, help="side-by-side video height in pixels (default: A's height)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_extractor_options(p)
    p.add_argument(
        "--subsequence",
        action="store_true",
        help="match all of A to the best part of a longer B (open begin/end); prints that segment",
    )
    p.add_argument(
        "--no-refine",
        action="store_true",
        help="interpolate the sampled path instead of re-aligning every frame at the native rate",
    )
    p.set_defaults(func=run)

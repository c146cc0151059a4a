"""``draq retime``: render B re-timed onto A's timeline, with audio."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._text import shown
from .common import add_extractor_options, count_arg, extractor_from_args, rate_arg, stage


def run(args: argparse.Namespace) -> int:
    from ..align import align_videos
    from ..outputs.media import check_media_path
    from ..outputs.retime import retime_video

    for name in (args.a, args.b):
        if not Path(name).exists():
            raise FileNotFoundError(f"{shown(name)}: no such file or directory")
    out = check_media_path(args.out)  # before any decoding
    stage("retime", "decoding both videos, computing features and aligning ...", enabled=not args.quiet)
    alignment = align_videos(
        args.a, args.b, extractor=extractor_from_args(args), sample_fps=args.sample_fps, band=args.band,
        contextualize=not args.no_context, refine=not args.no_refine, subsequence=args.subsequence,
    )
    path = retime_video(
        args.a, args.b, out, alignment=alignment, height=args.height, audio=args.audio, progress=not args.quiet
    )
    print(f"DRAQ {alignment.draq:.4f}  {Path(args.b).name} re-timed onto {Path(args.a).name}: {path}")
    return 0


def register(sub) -> None:
    """Add the ``retime`` subcommand to the parser's subparsers."""
    from ..video import DEFAULT_SAMPLE_FPS

    p = sub.add_parser(
        "retime",
        help="render B re-timed onto A's timeline (A's frame rate and duration), H.264 MP4 or VP9 WebM",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("a", metavar="A", help="reference video: its timeline, frame rate and duration are kept")
    p.add_argument("b", metavar="B", help="video whose frames are re-timed onto A")
    p.add_argument("--out", required=True, metavar="FILE", help="output .mp4 (H.264/AAC) or .webm (VP9/Opus)")
    p.add_argument("--height", type=count_arg(16, 8640), default=None, help="output height in pixels (default: B's height)")
    p.add_argument(
        "--audio",
        choices=("auto", "a", "b", "none"),
        default="auto",
        help="a: A's audio; b: B's audio warped by the same time map (variable speed, silent where B freezes); "
        "auto: a when A has audio",
    )
    p.add_argument("--sample-fps", type=rate_arg, default=DEFAULT_SAMPLE_FPS, help="feature sampling rate, frames/s")
    p.add_argument("--band", type=count_arg(0), default=None, help="Sakoe-Chiba radius in sampled frames")
    p.add_argument("--no-context", action="store_true", help="skip feature contextualization (Eq. 2-3)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_extractor_options(p)
    p.add_argument(
        "--subsequence", action="store_true",
        help="match all of A to the best part of a longer B: the output shows that part of B",
    )
    p.add_argument(
        "--no-refine", action="store_true",
        help="interpolate the sampled path instead of re-aligning every frame at the native rate",
    )
    p.set_defaults(func=run)

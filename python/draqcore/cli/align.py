"""``draq align``: align two videos and write the alignment outputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

def write_alignment_outputs(alignment, out_dir: Path, *, video: bool = True, plot: bool = True) -> dict[str, Path]:
    """alignment.csv, side_by_side.mp4, cost_matrix.png and alignment.json in ``out_dir``."""
    from ..render import write_cost_plot, write_side_by_side

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


def run(args: argparse.Namespace) -> int:
    from ..align import align_videos

    alignment = align_videos(args.a, args.b, sample_fps=args.sample_fps, band=args.band, contextualize=not args.no_context)
    written = write_alignment_outputs(alignment, Path(args.out))
    print(f"DRAQ {alignment.draq:.4f}  (DTW {alignment.dtw_cost:.3f} / random {alignment.random_cost:.3f})")
    for kind, path in written.items():
        print(f"  {kind:<6} {path}")
    return 0


def register(sub) -> None:
    """Add the ``align`` subcommand to the parser's subparsers."""
    from ..video import DEFAULT_SAMPLE_FPS

    p = sub.add_parser("align", help="align two videos and write alignment.csv, a side-by-side video and a plot")
    p.add_argument("a", metavar="A", help="reference video (kept unwarped)")
    p.add_argument("b", metavar="B", help="video re-timed onto A")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--sample-fps", type=float, default=DEFAULT_SAMPLE_FPS)
    p.add_argument("--band", type=int, default=None, help="Sakoe-Chiba radius in sampled frames")
    p.add_argument("--no-context", action="store_true", help="skip feature contextualization (Eq. 2-3)")
    p.set_defaults(func=run)

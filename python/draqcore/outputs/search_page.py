"""``draq search --html DIR``: the ranking as a static page with synchronised playback per hit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .timemap import TimeMap
from .viewer import media_link, render_page

__all__ = ["hit_segment", "write_search_page"]

# A hit's map comes from DTW over sampled frames (10 per second by default), a staircase whose
# slope jumps between 0, 1, 2, ... at every sample; the page plays the hit along that map
# averaged over this many seconds of the query (within half a step of it), which a video can
# follow smoothly. (viewer.html uses draq align's map, refined at the native frame rate.)
_SMOOTHING_S = 0.3

PathLike = Union[str, "os.PathLike[str]"]


def hit_segment(hit) -> tuple[float, float]:
    """Seconds of the hit that the query is matched to: ``hit.start``, ``hit.end`` when the hit
    has them (a subsequence match's segment), else from the hit's frame matched to the first
    sampled query frame to the one matched to the last."""
    start, end = getattr(hit, "start", None), getattr(hit, "end", None)
    if start is not None and end is not None and (end > start or getattr(hit, "subsequence", False)):
        return float(start), float(end)
    idx = np.asarray(hit.alignment, dtype=np.int64)
    times = np.asarray(hit.hit_times, dtype=np.float64)
    return float(times[idx[0]]), float(times[idx[-1]])


def write_search_page(
    query: PathLike,
    hits: Sequence,
    out_dir: PathLike,
    *,
    copy_media: bool = False,
    progress: bool = False,
    name: str = "index.html",
) -> Path:
    """Write ``out_dir/index.html``: the ranking table (rank, DRAQ, similarity, class, matched
    segment, file) and one card per hit in which the query (with controls) and the hit play in
    sync through their alignment (the same player as ``viewer.html``), the hit's time map
    averaged over 0.3 s of the query (:meth:`TimeMap.smoothed`).

    Parameters
    ----------
    query : path
        The query video.
    hits : sequence of draqcore.SearchHit
    out_dir : path
        Created if missing; videos browsers cannot play are copied to ``media/`` in it.
    copy_media : bool
        Copy every video to ``media/`` (a folder that can be moved as a whole).

    Returns
    -------
    pathlib.Path
        The HTML file.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "query": {"file": Path(query).name, "src": media_link(query, out, copy=copy_media, progress=progress)},
        "hits": [
            {
                "rank": int(h.rank),
                "file": Path(h.path).name,
                "path": str(Path(h.path).resolve()),
                # a precomputed-features collection names clips, not files: no video to play
                "src": media_link(h.path, out, copy=copy_media, progress=progress) if Path(h.path).exists() else None,
                "draq": float(h.draq),
                "dtw_cost": float(h.dtw_cost),
                "random_cost": float(h.random_cost),
                "similarity": float(h.similarity),
                "class_name": h.class_name,
                "segment": list(hit_segment(h)),
                "map": TimeMap.from_hit(h).smoothed(_SMOOTHING_S).to_dict(),
            }
            for h in hits
        ],
    }
    page = out / name
    page.write_text(render_page("search.html", data), encoding="utf-8")
    return page

"""``alignment.json``: everything needed to interpret an alignment without the CSV."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from .timemap import TimeMap

__all__ = ["ALIGNMENT_JSON_FORMAT", "alignment_summary", "write_alignment_json"]

PathLike = Union[str, "os.PathLike[str]"]

ALIGNMENT_JSON_FORMAT = 1
"""Version of the ``alignment.json`` layout (incremented on incompatible changes)."""


def _video_entry(seq, native_times: Optional[np.ndarray]) -> dict:
    p = Path(seq.path)
    entry = {
        "file": p.name,
        "path": str(p.resolve()),
        "sampled_times": [round(float(t), 6) for t in seq.times],
        "sampled_frames": [int(i) for i in seq.indices],
    }
    if native_times is not None:
        entry["native_frames"] = int(len(native_times))
        entry["duration"] = round(float(native_times[-1]), 6) if len(native_times) else 0.0
    return entry


def _segment(alignment) -> Optional[dict]:
    """The matched segment of B for a subsequence alignment (``alignment.segment``, if the
    alignment has one), in sampled frames and seconds of B."""
    seg = getattr(alignment, "segment", None)
    if seg is None:
        return None
    if isinstance(seg, Mapping):
        return {str(k): (v.item() if hasattr(v, "item") else v) for k, v in seg.items()}
    if hasattr(seg, "to_dict"):
        return seg.to_dict()
    start, end = (int(x) for x in seg)
    times = alignment.b.times
    return {"start": start, "end": end, "start_time": float(times[start]), "end_time": float(times[min(end, len(times) - 1)])}


def alignment_summary(
    alignment,
    *,
    sample_fps: Optional[float] = None,
    files: Optional[Mapping[str, PathLike]] = None,
    native_times: tuple[Optional[np.ndarray], Optional[np.ndarray]] = (None, None),
) -> dict:
    """The content of ``alignment.json`` as a dict (JSON-ready).

    Keys: ``format``, ``draqcore_version``, ``draq``, ``dtw_cost``, ``random_cost`` (Eq. 6:
    ``draq = dtw_cost / random_cost``), ``contextualized``, ``sample_fps``, ``a`` and ``b`` (file
    name, absolute path, sampled times in seconds, sampled frame indices, native frame count and
    duration), ``path`` (DTW path over sampled frames, ``[i_a, j_b]`` pairs from the start to the
    end), ``time_map`` (A-time to B-time knots, seconds, see :class:`TimeMap`), ``segment`` (the
    matched part of B for subsequence alignment, else ``null``) and ``files`` (names of the other
    outputs, relative to the JSON's folder).
    """
    from .. import __version__

    return {
        "format": ALIGNMENT_JSON_FORMAT,
        "draqcore_version": __version__,
        "draq": float(alignment.draq),
        "dtw_cost": float(alignment.dtw_cost),
        "random_cost": float(alignment.random_cost),
        "contextualized": bool(alignment.contextualized),
        "sample_fps": sample_fps,
        "a": _video_entry(alignment.a, native_times[0]),
        "b": _video_entry(alignment.b, native_times[1]),
        "path": np.asarray(alignment.path, dtype=np.int64).tolist(),
        "time_map": {k: [round(float(t), 6) for t in v] for k, v in TimeMap.from_alignment(alignment).to_dict().items()},
        "segment": _segment(alignment),
        "files": {k: Path(v).name for k, v in (files or {}).items()},
    }


def write_alignment_json(alignment, out_path: PathLike, **kwargs) -> Path:
    """Write :func:`alignment_summary` as UTF-8 JSON (non-ASCII file names as they are)."""
    out = Path(out_path)
    out.write_text(json.dumps(alignment_summary(alignment, **kwargs), indent=1, ensure_ascii=False), encoding="utf-8")
    return out

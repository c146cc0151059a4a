"""A ground-truth AVR benchmark built with the synthetic generator (:mod:`draqcore.synthetic`).

Per class: ``queries_per_class`` aligned clips are queries (split "val"); the remaining aligned
clips and every hard negative (shuffled or partly missing phases: same class, same look, not
alignable) form the retrieval collection (split "train"). Every frame's phase and canonical
time are known, so alignment error can be measured in canonical time as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from ..synthetic import ClipTruth, generate_dataset
from .datasets import LabelledVideo

__all__ = ["SyntheticBenchmark", "build_synthetic_benchmark"]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class SyntheticBenchmark:
    """Queries, collection and ground truth of a generated benchmark."""

    queries: list[LabelledVideo]
    collection: list[LabelledVideo]
    canonical_time: dict[Path, np.ndarray]
    truths: list[ClipTruth]


def build_synthetic_benchmark(
    out_dir: PathLike,
    *,
    videos: int = 200,
    classes: int = 10,
    queries_per_class: int = 4,
    hard_negative_fraction: float = 0.2,
    seed: int = 0,
) -> SyntheticBenchmark:
    """Generate about ``videos`` clips in ``out_dir`` and split them into queries and collection.

    Each class gets ``round(videos / classes)`` clips, of which ``hard_negative_fraction`` are
    hard negatives (alternately shuffled and partial) and ``queries_per_class`` of the aligned
    ones are queries.
    """
    per_class = max(2, round(videos / classes))
    hard = int(round(per_class * hard_negative_fraction))
    aligned = per_class - hard
    if aligned <= queries_per_class:
        raise ValueError(f"videos: {videos} videos over {classes} classes leave no aligned clip for the collection")
    truths = generate_dataset(
        Path(out_dir), classes=classes, clips_per_class=aligned, hard_negatives_per_class=hard, seed=seed
    )
    queries: list[LabelledVideo] = []
    collection: list[LabelledVideo] = []
    seen: dict[str, int] = {}
    for t in truths:
        is_query = t.kind == "aligned" and seen.get(t.class_name, 0) < queries_per_class
        if t.kind == "aligned":
            seen[t.class_name] = seen.get(t.class_name, 0) + 1
        video = LabelledVideo(path=Path(t.path), class_name=t.class_name, phases=t.phases, split="val" if is_query else "train")
        (queries if is_query else collection).append(video)
    canonical = {Path(t.path).resolve(): np.asarray(t.canonical_time) for t in truths}
    return SyntheticBenchmark(queries=queries, collection=collection, canonical_time=canonical, truths=truths)

"""A ground-truth AVR benchmark in which appearance is independent of action (:mod:`draqcore.synthetic`).

The paper's argument for DRAQ is that the optimal DTW cost is biased by appearance -- two clips
that *look* alike have a low cost whether or not their actions align -- while DRAQ, the ratio of
that cost to the cost of random alignments of the same two clips, is not. A benchmark in which
every class has its own look cannot test this: clip-level appearance alone finds the class (the
previous version of this benchmark had recall@1 = 100 % without re-ranking). So here a clip's
**look** and its **action** are drawn independently, as in real collections where the same
person or place appears in videos of many actions and one action is filmed in many places.

* ``C`` action classes (their key poses) and ``C`` **looks**: look ``l`` is class ``l``'s shapes
  and colours (:func:`draqcore.synthetic.dress`; all classes have 4 shapes) on background scene
  ``l`` (``render_clip(..., scene=...)``).
* Every clip is played under a strongly varying speed: warp speeds ``exp(U(-1.4, 1.4))``
  (0.25x-4x) in 2-4 stretches plus up to two pauses, with static lead-in and tail.
* Roles, per class ``c``, per 20 clips (other sizes in proportion, largest remainder, at least
  one query and one aligned clip):

  ========= === ================================================= ====== =========
  role      /20 how it is made                                    label  alignable
  ========= === ================================================= ====== =========
  query      4  action ``c``, ``kind="aligned"``, look ``c``        ``c``  (query)
  aligned   10  action ``c``, ``kind="aligned"``                    ``c``  yes
  scrambled  3  action ``c``'s key poses in a scrambled order       ``c``  no
                (``kind="shuffled"``)
  excerpt    3  a contiguous 35-65 % stretch of action ``c``        ``c``  partly
                (``kind="excerpt"``): a partial overlap
  ========= === ================================================= ====== =========

* Collection clips (every role but query) take the looks ``c, c+1, c+2, ...`` (mod ``C``) in
  turn, so each look is worn by clips of every action about equally often. A query (look ``c``)
  thus shares its look with same-look clips of *other* actions ("impostors") about ``C - 1``
  times as often as with clips of its own action, and most of its alignable matches look
  different.

Queries are split "val", the rest "train". ``benchmark.json`` in the output folder records every
clip's role and look. Nothing here is tuned towards a method (docs/synthetic.md says how the
design was arrived at).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..labels import VideoLabel, write_labels
from ..synthetic import ClipTruth, _write_truth, dress, make_action_classes, render_clip
from .datasets import LabelledVideo

__all__ = ["BENCHMARK_LOG_SPEED", "BENCHMARK_MIX", "ROLES", "SyntheticBenchmark", "build_synthetic_benchmark", "role_counts"]

PathLike = Union[str, Path]

ROLES: tuple[str, ...] = ("query", "aligned", "scrambled", "excerpt")
"""Roles of benchmark clips (module notes)."""

BENCHMARK_MIX: dict[str, int] = {"query": 4, "aligned": 10, "scrambled": 3, "excerpt": 3}
"""Clips of each role per 20 clips of a class."""

BENCHMARK_LOG_SPEED = 1.4
"""Warp speeds ``exp(U(-1.4, 1.4))``: 0.25x-4x."""

BENCHMARK_ACTOR_SCALE = 0.6
"""Size of the moving shapes relative to :func:`draqcore.synthetic.render_clip`'s default."""

_KIND = {"query": "aligned", "aligned": "aligned", "scrambled": "shuffled", "excerpt": "excerpt"}
_SHAPES = 4


@dataclass(frozen=True)
class SyntheticBenchmark:
    """Queries, collection and ground truth of a generated benchmark.

    Attributes
    ----------
    queries, collection : list of LabelledVideo
        Split "val" and "train".
    canonical_time : dict of Path to ndarray (N,)
        Canonical time of every native frame, by resolved path.
    truths : list of ClipTruth
        Every clip's truth, in generation order.
    roles : dict of Path to str
        Role of every clip (:data:`ROLES`), by resolved path.
    looks : dict of Path to int
        Look (shapes, colours and scene of that class index) of every clip, by resolved path.
    alignable : dict of Path to bool
        Whether a collection clip is alignable with the queries of its class (role
        ``aligned``), by resolved path.
    """

    queries: list[LabelledVideo]
    collection: list[LabelledVideo]
    canonical_time: dict[Path, np.ndarray]
    truths: list[ClipTruth]
    roles: dict[Path, str]
    looks: dict[Path, int]
    alignable: dict[Path, bool]


def role_counts(per_class: int, queries_per_class: Optional[int] = None) -> dict[str, int]:
    """Clips of each role for one class of ``per_class`` clips (module notes).

    Raises
    ------
    ValueError
        ``per_class`` below 4, or no room for the queries asked.
    """
    if per_class < 4:
        raise ValueError(f"videos: need at least 4 clips per class for the benchmark's roles, got {per_class}")
    counts = {r: 0 for r in ROLES}
    budget = per_class
    if queries_per_class is not None:
        if not 1 <= queries_per_class <= per_class - 1:
            raise ValueError(f"queries_per_class: need 1..{per_class - 1} for {per_class} clips per class, got {queries_per_class}")
        counts["query"] = queries_per_class
        budget -= queries_per_class
    for r in ("query", "aligned"):
        if counts[r] == 0:
            counts[r] = 1
            budget -= 1
    total = sum(BENCHMARK_MIX.values())
    free = [r for r in ROLES if not (r == "query" and queries_per_class is not None)]
    while budget > 0:
        want = {r: BENCHMARK_MIX[r] * per_class / total - counts[r] for r in free}
        best = max(free, key=lambda r: (want[r], -ROLES.index(r)))
        counts[best] += 1
        budget -= 1
    return counts


def build_synthetic_benchmark(
    out_dir: PathLike,
    *,
    videos: int = 200,
    classes: int = 10,
    queries_per_class: Optional[int] = None,
    seed: int = 0,
    threads: Optional[int] = None,
    progress: bool = False,
) -> SyntheticBenchmark:
    """Generate about ``videos`` clips in ``out_dir`` (module notes) and split them.

    Parameters
    ----------
    out_dir : path
        Created if needed; clips go to ``out_dir/<action>/<role>_<i>.mp4`` with ``labels.json``
        (class = the action shown, per-frame phases), ``truth.json`` (full ground truth,
        :func:`draqcore.synthetic.load_dataset`) and ``benchmark.json`` (role and look of every
        clip).
    videos : int
        Total clips, ``round(videos / classes)`` per class (at least 4).
    classes : int
        Action classes and looks, >= 2.
    queries_per_class : int, optional
        Override the query count of the mix.
    seed : int
        Seed of the classes and of every clip (a clip's seed depends only on
        ``(seed, class, role, i)``).
    threads : int, optional
        Clips rendered in parallel; default all cores.
    progress : bool, default False
        A progress bar (tqdm, on stderr) while the clips are rendered.

    Returns
    -------
    SyntheticBenchmark

    Raises
    ------
    ValueError
        Fewer than 2 classes or too few clips per class.
    """
    if classes < 2:
        raise ValueError(f"classes: the benchmark needs at least 2 action classes, got {classes}")
    per_class = max(1, round(videos / classes))
    counts = role_counts(per_class, queries_per_class)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    actions = make_action_classes(classes, seed, shape_count=_SHAPES)
    scenes = [int(np.random.default_rng([seed, 7, l]).integers(2**31)) for l in range(classes)]
    jobs = []
    for c, action in enumerate(actions):
        turn = 0  # collection clips of this class take the looks c, c+1, ... in turn
        for role in ROLES:
            for i in range(counts[role]):
                if role == "query":
                    look = c
                else:
                    look = (c + turn) % classes
                    turn += 1
                key = [seed, c, ROLES.index(role), i]
                clip_seed = int(np.random.default_rng(key).integers(0, 2**63 - 1))
                path = out / action.name / f"{role}_{i:03d}.mp4"
                jobs.append((dress(action, actions[look]), path, clip_seed, _KIND[role], look, role))

    def work(job):
        action, path, clip_seed, kind, look, _ = job
        return render_clip(
            action, path, seed=clip_seed, kind=kind, scene=scenes[look], log_speed=BENCHMARK_LOG_SPEED, actor_scale=BENCHMARK_ACTOR_SCALE,
            appearance=f"look {look}: shapes and colours of {actions[look].name}, scene {look}",
        )

    with ThreadPoolExecutor(max_workers=threads) as pool:
        rendered = pool.map(work, jobs)
        if progress:
            import sys

            from tqdm import tqdm

            rendered = tqdm(rendered, total=len(jobs), desc="generating clips", unit="clip", file=sys.stderr, leave=False)
        truths = list(rendered)
    write_labels(out / "labels.json", [VideoLabel(Path(t.path), t.class_name, t.phases) for t in truths])
    _write_truth(out / "truth.json", truths)
    entries = [
        {"path": Path(t.path).relative_to(out).as_posix(), "role": job[5], "look": job[4], "class": t.class_name, "kind": t.kind}
        for t, job in zip(truths, jobs)
    ]
    doc = {"format": "draqcore-benchmark", "version": 1, "roles": list(ROLES), "log_speed": BENCHMARK_LOG_SPEED, "clips": entries}
    (out / "benchmark.json").write_text(json.dumps(doc, indent=1))

    queries: list[LabelledVideo] = []
    collection: list[LabelledVideo] = []
    roles: dict[Path, str] = {}
    looks: dict[Path, int] = {}
    alignable: dict[Path, bool] = {}
    for t, job in zip(truths, jobs):
        role, p = job[5], Path(t.path)
        roles[p.resolve()] = role
        looks[p.resolve()] = job[4]
        is_query = role == "query"
        video = LabelledVideo(path=p, class_name=t.class_name, phases=t.phases, split="val" if is_query else "train")
        (queries if is_query else collection).append(video)
        if not is_query:
            alignable[p.resolve()] = role == "aligned"
    canonical = {Path(t.path).resolve(): np.asarray(t.canonical_time) for t in truths}
    return SyntheticBenchmark(
        queries=queries, collection=collection, canonical_time=canonical, truths=truths, roles=roles, looks=looks, alignable=alignable
    )

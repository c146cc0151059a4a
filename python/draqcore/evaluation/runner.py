"""Who runs the independent units of an evaluation: this process (here) or a Ray cluster.

:func:`~draqcore.evaluation.evaluate` and :func:`~draqcore.evaluation.retime_benchmark.evaluate_retiming`
split their work into units that depend on nothing but their inputs -- decoding and embedding a
video, scoring one query against its candidates, scoring one pair of Fig. 5, re-timing and
aligning one video under one warp -- and hand them to a runner. Everything that draws random
numbers or aggregates results stays in the calling process and runs in input order, so the
numbers do not depend on the runner. :class:`SerialRunner` runs the units here, one after the
other; ``draqcore.distributed.ray_eval`` has the Ray runner (this module never imports Ray).

A unit function has the signature ``fn(coll, ctx, items) -> list`` (one result per item, in
order): ``coll`` is an open :class:`~draqcore.Collection` (the evaluation's own here, a reader
of the same directory on a Ray worker) or ``None`` when the unit reads no collection, ``ctx`` is
read-only context shared by all items. Unit functions must be module-level (picklable).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Protocol, Sequence

__all__ = ["EvaluationRunner", "SerialRunner", "UnitFunction"]

UnitFunction = Callable[[Any, Any, list], list]


class EvaluationRunner(Protocol):
    """What :func:`~draqcore.evaluation.evaluate` needs from a runner."""

    def add(self, coll: Any, paths: Sequence[Any], labels: Optional[Mapping[Any, Optional[str]]],
            progress: bool) -> Any:
        """Index ``paths`` into ``coll`` exactly as :meth:`~draqcore.Collection.add` does."""

    def map(self, fn: UnitFunction, ctx: Any, items: Sequence[Any], *, coll: Any = None,
            desc: str = "", progress: bool = False) -> list:
        """``fn`` over ``items``; one result per item, in the order of ``items``."""


class SerialRunner:
    """Every unit in this process, one after the other (what ``draq eval`` does without ``--ray``)."""

    def add(self, coll: Any, paths: Sequence[Any], labels: Optional[Mapping[Any, Optional[str]]],
            progress: bool) -> Any:
        return coll.add(paths, labels=labels, progress=progress)

    def map(self, fn: UnitFunction, ctx: Any, items: Sequence[Any], *, coll: Any = None,
            desc: str = "", progress: bool = False) -> list:
        iterator: Any = items
        if progress:
            from tqdm import tqdm

            iterator = tqdm(items, desc=desc, leave=False)
        out: list = []
        for item in iterator:
            out.extend(fn(coll, ctx, [item]))
        return out

"""The paper's AVR evaluation protocol run end to end (Sec. 4-5; Tables 1, 2, 4 and Fig. 5).

Queries come from one split, the retrieval collection from another. For every query:

1. **retrieve** the top ``recall_depth`` collection videos by cosine similarity of standardised
   clip means (:meth:`draqcore.Collection.search`);
2. take the top ``top`` of them as the AVR candidates and, on contextualized frame features
   (Eq. 2-3), compute every candidate's DTW path, DTW cost and DRAQ in one
   :func:`draqcore.draq_batch` call; repeat without contextualization for Table 2;
3. pick the top match three ways — retrieval order (no re-ranking), lowest DRAQ, lowest DTW
   cost — and score each by cycle consistency (FPE, CPE; Table 1), and, where the generator
   knows it, by the alignment error in canonical time;
4. score APA of every candidate and of the DRAQ-chosen one, with and without contextualization
   (Table 2), and recall@k of same-class retrieval with and without DRAQ re-ranking of the
   ``recall_depth`` retrieved videos (Table 4).

Fig. 5 uses pairs of collection videos balanced between same-class and different-class pairs:
mean APA of the pairs at or below each percentile of DRAQ, DTW cost and -tau.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from ..collection import Collection
from ..context import contextualize
from ..draq import draq_batch
from ..dtw import warp
from ..features import FrameFeatureExtractor, default_extractor
from ..sequence import load_sequence
from .cycle_consistency import cycle_consistency
from .datasets import LabelledVideo
from .frame_protocol import FrameVideo, frame_feature_scores
from .indicators import balanced_pairs, indicator_curves, indicator_table, standard_indicators, write_indicator_plot
from .kendall_tau import kendall_tau
from .phase_agreement import aligned_phase_agreement
from .retrieval_recall import recall_at_k
from .runner import EvaluationRunner, SerialRunner

__all__ = ["EvaluationReport", "evaluate"]

PathLike = Union[str, Path]
SELECTIONS = ("retrieval", "DRAQ", "DTW cost")


@dataclass
class EvaluationReport:
    """Every number of one protocol run, and the tables that print them.

    ``table1[candidates][selection]`` holds mean FPE, CPE and canonical-time error of the top
    match chosen by ``selection`` among the candidates of ``candidates`` ("retrieval": the ANN
    top-k; "oracle": k random videos of the query's class). ``table2[variant]`` holds mean APA
    over all candidates ("avg") and of the DRAQ-chosen one ("top_draq") for features with and
    without contextualization. ``table4[ranking]`` maps k to recall@k. ``frame_table[variant]``
    holds the field's frame-feature protocol (Kendall's tau, phase progression R², phase
    classification accuracy; :func:`~draqcore.evaluation.frame_feature_scores`) next to APA and
    the CPE/FPE of the DRAQ-chosen retrieved match, for features with and without
    contextualization. Keys of :meth:`to_dict` are documented in ``docs/evaluation.md``.
    """

    queries: int
    collection: int
    top: int
    recall_depth: int
    table1: dict[str, dict[str, dict[str, Optional[float]]]] = field(default_factory=dict)
    table2: dict[str, dict[str, float]] = field(default_factory=dict)
    table4: dict[str, dict[int, float]] = field(default_factory=dict)
    frame_table: dict[str, dict[str, Any]] = field(default_factory=dict)
    features: str = "default"
    fig5_table: str = ""
    fig5: dict[str, Any] = field(default_factory=dict)
    fig5_pairs: int = 0
    fig5_undefined_tau: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Every number as plain JSON types; undefined values (NaN, no data) are ``None``."""
        return _json_safe({
            "queries": self.queries,
            "collection": self.collection,
            "top": self.top,
            "recall_depth": self.recall_depth,
            "features": self.features,
            "table1": self.table1,
            "table2": self.table2,
            "table4": {k: {str(kk): v for kk, v in d.items()} for k, d in self.table4.items()},
            "frame_features": self.frame_table,
            "fig5": self.fig5,
            "fig5_pairs": self.fig5_pairs,
            "fig5_undefined_tau": self.fig5_undefined_tau,
            "failed": self.failed,
        })

    def markdown(self) -> str:
        """Tables in the shape of the paper's Tables 1, 2 and 4 and the Fig.-5 table."""

        def fmt(v: Optional[float], digits: int = 3) -> str:
            return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"

        lines = [
            f"Queries: {self.queries}; collection: {self.collection} videos; "
            f"AVR candidates per query: {self.top}; recall depth: {self.recall_depth}.",
            "",
            "**Table 1 — cycle consistency of the top match** (contextualized features; FPE in "
            "squared sampled frames, CPE in phase indices, canonical error in fractions of the action)",
            "",
            "| candidates | re-ranking | FPE ↓ | CPE ↓ | canonical-time error ↓ |",
            "|---|---|---:|---:|---:|",
        ]
        for cands, by_sel in self.table1.items():
            for sel, m in by_sel.items():
                lines.append(f"| {cands} | {'–' if sel == 'retrieval' else sel} | {fmt(m['fpe'], 2)} | {fmt(m['cpe'])} | {fmt(m['canonical_error'])} |")
        lines += [
            "",
            "**Table 2 — Aligned Phase Agreement** (retrieved candidates)",
            "",
            "| features | + context | Avg. | Top-DRAQ |",
            "|---|---|---:|---:|",
        ]
        for variant, m in self.table2.items():
            lines.append(f"| {self.features} | {'✓' if variant == 'context' else '✗'} | {fmt(m['avg'])} | {fmt(m['top_draq'])} |")
        if self.frame_table:
            stride = next(iter(self.frame_table.values()))["stride"]
            lines += [
                "",
                f"**Frame-feature protocol of TCC/LAV/CARL** (per class, then averaged; τ over ordered pairs of "
                f"queries, stride {stride}; probes fitted on the collection, scored on the queries; APA, CPE and "
                "FPE of the retrieved candidates as above)",
                "",
                "| features | + context | τ ↑ | progression R² ↑ | classification ↑ | APA avg ↑ | APA top-DRAQ ↑ | CPE ↓ | FPE ↓ |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for variant, m in self.frame_table.items():
                lines.append(
                    f"| {self.features} | {'✓' if variant == 'context' else '✗'} | {fmt(m['kendall_tau'])} | {fmt(m['progression_r2'])} | "
                    f"{fmt(m['classification_accuracy'])} | {fmt(m['apa_avg'])} | {fmt(m['apa_top_draq'])} | {fmt(m['cpe'])} | {fmt(m['fpe'], 2)} |"
                )
        ks = sorted(next(iter(self.table4.values())).keys()) if self.table4 else []
        lines += [
            "",
            f"**Table 4 — recall@k of same-class retrieval** (DRAQ re-ranks the top {self.recall_depth})",
            "",
            "| method | " + " | ".join(f"R@{k}" for k in ks) + " |",
            "|---|" + "---:|" * len(ks),
        ]
        for name, rec in self.table4.items():
            lines.append(f"| {name} | " + " | ".join(f"{100 * rec[k]:.2f}" for k in ks) + " |")
        lines += [
            "",
            f"**Fig. 5 — mean APA of pairs at or below each indicator percentile** ({self.fig5_pairs} balanced pairs; "
            f"{self.fig5_undefined_tau} undefined τ counted, ranked last)",
            "",
            self.fig5_table,
        ]
        if self.failed:
            lines += ["", f"{len(self.failed)} videos could not be used: " + "; ".join(f"{p} ({r})" for p, r in self.failed)]
        return "\n".join(lines) + "\n"


def _json_safe(value: Any) -> Any:
    """Dicts, lists and numbers as JSON types, non-finite floats as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _nan_if_none(value: Optional[float]) -> float:
    return float("nan") if value is None else value


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def evaluate(
    queries: Sequence[LabelledVideo],
    collection_videos: Sequence[LabelledVideo],
    work_dir: PathLike,
    *,
    top: int = 10,
    recall_depth: int = 25,
    extractor: Optional[FrameFeatureExtractor] = None,
    sample_fps: Optional[float] = None,
    canonical_time: Optional[Mapping[Path, np.ndarray]] = None,
    fig5_pairs: int = 400,
    seed: int = 0,
    progress: bool = False,
    tau_stride: int = 5,
    feature_name: str = "default",
    alignable: Optional[Mapping[Path, bool]] = None,
) -> EvaluationReport:
    """Run the protocol; writes the collection, ``fig5.png`` and ``results.json`` in ``work_dir``.

    Parameters
    ----------
    queries, collection_videos : sequence of LabelledVideo
        Query videos need per-frame ``phases`` for CPE and APA (queries without them still count
        for FPE and recall). Collection videos need a class; phases enable APA.
    work_dir : path
        Created if needed; the collection goes to ``work_dir/collection``.
    top : int
        AVR candidates per query (the paper re-ranks the top 10).
    recall_depth : int
        Retrieved videos re-ranked for recall@k (the paper uses 25).
    canonical_time : mapping from resolved path to ndarray (N,), optional
        Canonical time of every native frame (the synthetic generator knows it): adds the
        canonical-time alignment error to Table 1.
    fig5_pairs : int
        Balanced pairs of collection videos for Fig. 5.
    tau_stride : int
        Frame stride of Kendall's tau in the frame-feature table (TCC, LAV, CARL use 5).
    feature_name : str
        Name of the features in the printed tables.
    alignable : mapping from resolved path to bool, optional
        Whether each collection video is alignable with the queries of its class (the synthetic
        benchmark knows it): adds recall@k of *alignable* same-class videos to Table 4.
    """
    return _evaluate(
        queries, collection_videos, work_dir, SerialRunner(), top=top, recall_depth=recall_depth, extractor=extractor,
        sample_fps=sample_fps, canonical_time=canonical_time, fig5_pairs=fig5_pairs, seed=seed, progress=progress,
        tau_stride=tau_stride, feature_name=feature_name, alignable=alignable,
    )


@dataclass(frozen=True)
class _ScoreContext:
    """What scoring one query needs besides the query (shared by all queries of a run)."""

    top: int
    recall_depth: int
    ids: dict[Path, int]  # resolved path -> video id of every ok collection video
    by_path: dict[Path, LabelledVideo]
    canonical: dict[Path, np.ndarray]
    align_ok: dict[Path, bool]


@dataclass
class _QueryScores:
    """One query's contributions to Tables 1, 2 and 4 (appended in query order by the caller)."""

    ranked_plain: list[str]
    ranked_draq: list[str]
    ranked_plain_al: Optional[list[str]]
    ranked_draq_al: Optional[list[str]]
    per_sel: dict[str, dict[str, dict[str, list]]]  # candidates -> selection -> metric -> values
    apa: dict[str, dict[str, list]]  # variant -> "avg"/"top_draq" -> values
    cycle: dict[str, dict[str, list]]  # variant -> "cpe"/"fpe" -> values


def _candidate_data(coll: Collection, ids: Mapping[Path, int], path: Path) -> tuple[np.ndarray, np.ndarray]:
    vid = ids[path]
    return coll.features(vid), coll.frame_indices(vid)


def _load_queries(coll: Any, ctx: tuple, paths: list) -> list:
    """Unit: decode and embed query videos; ``(True, FeatureSequence)`` or ``(False, reason)`` each."""
    extractor, fps = ctx
    out: list = []
    for p in paths:
        try:
            out.append((True, load_sequence(p, extractor, fps)))
        except ValueError as exc:
            out.append((False, str(exc)))
    return out


def _score_queries(coll: Collection, ctx: _ScoreContext, items: list) -> list[_QueryScores]:
    """Unit: retrieve, re-rank and score queries ``(LabelledVideo, FeatureSequence, oracle paths)``."""
    return [_score_query(coll, ctx, q, seq, oracle) for q, seq, oracle in items]


def _score_query(coll: Collection, ctx: _ScoreContext, q: LabelledVideo, seq: Any, oracle: list[Path]) -> _QueryScores:
    by_path, canonical, align_ok, top = ctx.by_path, ctx.canonical, ctx.align_ok, ctx.top
    q_phases = q.phases_at(seq.indices) if q.phases is not None else None
    q_canon = canonical.get(Path(q.path).resolve())
    q_canon = q_canon[seq.indices] if q_canon is not None else None

    def alignable_class(h) -> str:
        ok = align_ok.get(Path(h.path).resolve(), False)
        return (h.class_name or "") if ok else "\x00not alignable"

    hits = coll.search(seq.features, top=ctx.recall_depth, candidates=ctx.recall_depth, query_times=seq.times)
    by_similarity = sorted(hits, key=lambda h: -h.similarity)
    out = _QueryScores(
        ranked_plain=[h.class_name or "" for h in by_similarity],
        ranked_draq=[h.class_name or "" for h in sorted(hits, key=lambda h: h.draq)],
        ranked_plain_al=[alignable_class(h) for h in by_similarity] if align_ok else None,
        ranked_draq_al=[alignable_class(h) for h in sorted(hits, key=lambda h: h.draq)] if align_ok else None,
        per_sel={cands: {sel: {"fpe": [], "cpe": [], "canonical_error": []} for sel in SELECTIONS}
                 for cands in ("retrieval", "oracle")},
        apa={v: {"avg": [], "top_draq": []} for v in ("context", "no context")},
        cycle={v: {"cpe": [], "fpe": []} for v in ("context", "no context")},
    )
    retrieved = [Path(h.path).resolve() for h in by_similarity[:top]]
    for cands_name, cand_paths in (("retrieval", retrieved), ("oracle", oracle)):
        if not cand_paths:
            continue
        data = [_candidate_data(coll, ctx.ids, p) for p in cand_paths]
        variants = ("context", "no context") if cands_name == "retrieval" else ("context",)
        for variant in variants:
            prep = contextualize if variant == "context" else (lambda f: f)
            res = draq_batch(prep(seq.features), [prep(f) for f, _ in data], return_paths=True)
            assert res.paths is not None
            cand_phases = []
            for p, (_, idx) in zip(cand_paths, data):
                lab = by_path.get(p)
                cand_phases.append(lab.phases_at(idx) if lab is not None and lab.phases is not None else None)
            if cands_name == "retrieval" and q_phases is not None:
                scores = [
                    aligned_phase_agreement(q_phases, ph, path, query_class=q.class_name, candidate_class=by_path[p].class_name)
                    for p, ph, path in zip(cand_paths, cand_phases, res.paths)
                    if ph is not None
                ]
                if scores:
                    out.apa[variant]["avg"].append(float(np.mean(scores)))
                best = int(np.argmin(res.draq))
                errs = cycle_consistency(res.paths[best], q_phases)
                out.cycle[variant]["fpe"].append(errs.fpe)
                out.cycle[variant]["cpe"].append(errs.cpe)
                if cand_phases[best] is not None:
                    out.apa[variant]["top_draq"].append(
                        aligned_phase_agreement(q_phases, cand_phases[best], res.paths[best], query_class=q.class_name, candidate_class=by_path[cand_paths[best]].class_name)
                    )
            if variant != "context":
                continue
            choice = {"retrieval": 0, "DRAQ": int(np.argmin(res.draq)), "DTW cost": int(np.argmin(res.dtw_cost))}
            for sel, c in choice.items():
                path = res.paths[c]
                errs = cycle_consistency(path, q_phases)
                bucket = out.per_sel[cands_name][sel]
                bucket["fpe"].append(errs.fpe)
                bucket["cpe"].append(errs.cpe)
                c_canon = canonical.get(cand_paths[c])
                if q_canon is not None and c_canon is not None:
                    match = warp(path, keep=0)
                    bucket["canonical_error"].append(float(np.abs(q_canon - c_canon[data[c][1][match]]).mean()))
    return out


def _score_pairs(coll: Collection, ctx: tuple, pairs: list) -> list[tuple[float, float, float, float]]:
    """Unit: Fig.-5 indicators and APA of pairs ``(i, j)`` of ``labelled``: ``(draq, dtw cost, tau, apa)`` each."""
    ids, by_path, labelled = ctx
    out = []
    for i, j in pairs:
        (fa, ia), (fb, ib) = _candidate_data(coll, ids, labelled[i]), _candidate_data(coll, ids, labelled[j])
        ca, cb = contextualize(fa), contextualize(fb)
        res = draq_batch(ca, [cb], return_paths=True)
        assert res.paths is not None
        la, lb = by_path[labelled[i]], by_path[labelled[j]]
        out.append((res.draq[0], res.dtw_cost[0], kendall_tau(ca, cb),
                    aligned_phase_agreement(la.phases_at(ia), lb.phases_at(ib), res.paths[0], query_class=la.class_name, candidate_class=lb.class_name)))
    return out


def _evaluate(
    queries: Sequence[LabelledVideo],
    collection_videos: Sequence[LabelledVideo],
    work_dir: PathLike,
    runner: EvaluationRunner,
    *,
    top: int,
    recall_depth: int,
    extractor: Optional[FrameFeatureExtractor],
    sample_fps: Optional[float],
    canonical_time: Optional[Mapping[Path, np.ndarray]],
    fig5_pairs: int,
    seed: int,
    progress: bool,
    tau_stride: int,
    feature_name: str,
    alignable: Optional[Mapping[Path, bool]],
) -> EvaluationReport:
    """:func:`evaluate` with its independent units (video features, queries, Fig.-5 pairs) run by
    ``runner``; random draws and aggregation happen here, in input order, whoever runs the units."""
    if top < 1 or recall_depth < top:
        raise ValueError(f"top and recall_depth: need 1 <= top <= recall_depth, got {top}, {recall_depth}")
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    extractor = extractor if extractor is not None else default_extractor()
    canonical = {Path(p).resolve(): np.asarray(v) for p, v in (canonical_time or {}).items()}
    by_path = {Path(v.path).resolve(): v for v in collection_videos}
    rng = np.random.default_rng(seed)

    coll_dir = work / "collection"
    coll = Collection.open(coll_dir, extractor=extractor) if (coll_dir / "catalog.sqlite").exists() else Collection.create(coll_dir, extractor=extractor, sample_fps=sample_fps)
    with coll:
        added = runner.add(coll, [v.path for v in collection_videos], {v.path: v.class_name for v in collection_videos}, progress)
        report = EvaluationReport(queries=0, collection=len(coll), top=top, recall_depth=min(recall_depth, len(coll)), features=feature_name)
        report.failed.extend((str(p), r) for p, r in added.failed)
        records = {Path(r.path).resolve(): r for r in coll.videos() if r.status == "ok"}
        ids = {p: r.id for p, r in records.items()}
        by_class: dict[str, list[Path]] = {}
        for p in records:
            if p in by_path:
                by_class.setdefault(by_path[p].class_name, []).append(p)

        val_frames: dict[str, list[FrameVideo]] = {"context": [], "no context": []}
        align_ok = {Path(p).resolve(): bool(v) for p, v in (alignable or {}).items()}
        query_classes: list[str] = []
        loaded = runner.map(_load_queries, (extractor, coll.sample_fps), [q.path for q in queries],
                            desc="query features", progress=progress)
        units = []
        for q, (ok, value) in zip(queries, loaded):
            if not ok:
                report.failed.append((str(q.path), value))
                continue
            seq = value
            report.queries += 1
            q_phases = q.phases_at(seq.indices) if q.phases is not None else None
            val_frames["no context"].append(FrameVideo(seq.features, q_phases, q.class_name))
            val_frames["context"].append(FrameVideo(contextualize(seq.features), q_phases, q.class_name))
            query_classes.append(q.class_name)
            same_class = by_class.get(q.class_name, [])
            oracle = [same_class[i] for i in rng.permutation(len(same_class))[:top]]
            units.append((q, seq, oracle))
        ctx = _ScoreContext(top=top, recall_depth=report.recall_depth, ids=ids, by_path=by_path, canonical=canonical,
                            align_ok=align_ok)
        scored: list[_QueryScores] = runner.map(_score_queries, ctx, units, coll=coll, desc="queries", progress=progress)

        per_sel: dict[str, dict[str, dict[str, list]]] = {
            cands: {sel: {"fpe": [], "cpe": [], "canonical_error": []} for sel in SELECTIONS}
            for cands in ("retrieval", "oracle")
        }
        apa: dict[str, dict[str, list]] = {v: {"avg": [], "top_draq": []} for v in ("context", "no context")}
        cycle_by_variant: dict[str, dict[str, list]] = {v: {"cpe": [], "fpe": []} for v in ("context", "no context")}
        ranked_plain = [s.ranked_plain for s in scored]
        ranked_draq = [s.ranked_draq for s in scored]
        ranked_plain_al = [s.ranked_plain_al for s in scored if s.ranked_plain_al is not None]
        ranked_draq_al = [s.ranked_draq_al for s in scored if s.ranked_draq_al is not None]
        for s in scored:
            for cands, sels in s.per_sel.items():
                for sel, m in sels.items():
                    for k, vals in m.items():
                        per_sel[cands][sel][k].extend(vals)
            for variant in apa:
                for k in apa[variant]:
                    apa[variant][k].extend(s.apa[variant][k])
                for k in cycle_by_variant[variant]:
                    cycle_by_variant[variant][k].extend(s.cycle[variant][k])

        report.table1 = {
            cands: {sel: {k: _mean(v) for k, v in m.items()} for sel, m in sels.items()}
            for cands, sels in per_sel.items()
            if sels["retrieval"]["fpe"]
        }
        report.table2 = {v: {k: _nan_if_none(_mean(vals)) for k, vals in m.items()} for v, m in apa.items()}

        # The field's frame-feature protocol: probes fitted on the collection, scored on the queries.
        train_frames: dict[str, list[FrameVideo]] = {"context": [], "no context": []}
        for p, rec in records.items():
            lab = by_path.get(p)
            if lab is None:
                continue
            feats, idx = _candidate_data(coll, ids, p)
            phases = lab.phases_at(idx) if lab.phases is not None else None
            train_frames["no context"].append(FrameVideo(feats, phases, lab.class_name))
            train_frames["context"].append(FrameVideo(contextualize(feats), phases, lab.class_name))
        if report.queries:
            for variant in ("context", "no context"):
                scores = frame_feature_scores(train_frames[variant], val_frames[variant], stride=tau_stride).to_dict()
                scores.update(
                    apa_avg=_mean(apa[variant]["avg"]),
                    apa_top_draq=_mean(apa[variant]["top_draq"]),
                    cpe=_mean(cycle_by_variant[variant]["cpe"]),
                    fpe=_mean(cycle_by_variant[variant]["fpe"]),
                )
                report.frame_table[variant] = scores
        ks = [k for k in (1, 5, 10) if k <= report.recall_depth]
        if query_classes:
            report.table4 = {
                "w/o re-ranking": recall_at_k(query_classes, ranked_plain, ks),
                "DRAQ re-ranking": recall_at_k(query_classes, ranked_draq, ks),
            }
            if align_ok:
                report.table4["w/o re-ranking, alignable only"] = recall_at_k(query_classes, ranked_plain_al, ks)
                report.table4["DRAQ re-ranking, alignable only"] = recall_at_k(query_classes, ranked_draq_al, ks)

        # Fig. 5: balanced same/different-class pairs of collection videos.
        labelled = [p for p in records if p in by_path and by_path[p].phases is not None]
        if len(labelled) >= 2:
            pairs = balanced_pairs([by_path[p].class_name for p in labelled], rng, fig5_pairs)
            values = runner.map(_score_pairs, (ids, by_path, labelled), list(pairs.pairs), coll=coll,
                                desc="Fig. 5 pairs", progress=progress)
            draq_v = [v[0] for v in values]
            dtw_v = [v[1] for v in values]
            tau_v = [v[2] for v in values]
            apa_v = [v[3] for v in values]
            curves = indicator_curves(apa_v, standard_indicators(draq_v, dtw_v, tau_v))
            write_indicator_plot(curves, work / "fig5.png")
            report.fig5_table = indicator_table(curves)
            report.fig5 = {
                "percentiles": [int(p) for p in curves.percentiles],
                "apa": {name: [float(v) for v in vals] for name, vals in curves.apa.items()},
            }
            report.fig5_pairs = len(pairs.pairs)
            report.fig5_undefined_tau = int(np.isnan(np.asarray(tau_v, dtype=float)).sum())
    (work / "results.json").write_text(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    (work / "results.md").write_text(report.markdown())
    return report

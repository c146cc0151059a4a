"""The whole evaluation protocol on a small generated benchmark, through the API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from draqcore.cli import main
from draqcore.evaluation import build_synthetic_benchmark, evaluate


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    return root, build_synthetic_benchmark(root / "videos", videos=30, classes=3, queries_per_class=2, seed=1)


def test_split_and_ground_truth(bench):
    _, b = bench
    assert len(b.queries) == 6 and len(b.queries) + len(b.collection) == len(b.truths)
    assert {q.split for q in b.queries} == {"val"} and {c.split for c in b.collection} == {"train"}
    kinds = {t.kind for t in b.truths}
    assert "aligned" in kinds and kinds & {"shuffled", "partial"}
    # Queries are aligned clips only; every hard negative is in the collection.
    query_paths = {str(q.path) for q in b.queries}
    assert all(t.kind == "aligned" for t in b.truths if t.path in query_paths)
    assert all(np.asarray(b.canonical_time[q.path.resolve()]).ndim == 1 for q in b.queries)


def test_evaluate_fills_every_table(bench):
    root, b = bench
    report = evaluate(b.queries, b.collection, root / "work", top=5, recall_depth=8, canonical_time=b.canonical_time, fig5_pairs=60)
    assert report.queries == 6 and report.collection == len(b.collection)
    for cands in ("retrieval", "oracle"):
        for sel in ("retrieval", "DRAQ", "DTW cost"):
            m = report.table1[cands][sel]
            assert m["fpe"] >= 0 and 0 <= m["cpe"] and 0 <= m["canonical_error"] <= 1
    for variant in ("context", "no context"):
        assert 0 <= report.table2[variant]["avg"] <= 1 and 0 <= report.table2[variant]["top_draq"] <= 1
    # Choosing the lowest-DRAQ candidate can only help APA on average versus all candidates here:
    # the collection holds hard negatives of every class.
    assert report.table2["context"]["top_draq"] >= report.table2["context"]["avg"]
    assert set(report.table4) == {"w/o re-ranking", "DRAQ re-ranking"}
    assert all(0 <= v <= 1 for rec in report.table4.values() for v in rec.values())
    assert report.fig5_pairs == 60 and "APA (DRAQ)" in report.fig5_table
    saved = json.loads((root / "work" / "results.json").read_text())
    assert saved["queries"] == 6
    assert (root / "work" / "fig5.png").stat().st_size > 0
    assert "Table 1" in (root / "work" / "results.md").read_text()


def test_eval_cli_synthetic_and_labelled_dir(tmp_path, bench, capsys):
    assert main(["eval", "synthetic", "--videos", "24", "--classes", "3", "--pairs", "40", "--top", "4", "--recall-depth", "6", "--out", str(tmp_path / "e"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Table 1" in out and "Table 2" in out and "Table 4" in out and "Fig. 5" in out
    # The same protocol on "the user's own" labelled videos: the generated folder and its labels.
    root, _ = bench
    videos = root / "videos"
    assert main(["eval", str(videos), "--labels", str(videos / "labels.json"), "--out", str(tmp_path / "own"), "--top", "4", "--recall-depth", "6", "--pairs", "40", "--quiet"]) == 0
    assert "Table 2" in capsys.readouterr().out
    assert main(["eval", str(videos), "--out", str(tmp_path / "x")]) == 1
    assert "--labels" in capsys.readouterr().err


def test_frame_table_and_json(bench, tmp_path, capsys):
    root, b = bench
    report = evaluate(b.queries, b.collection, tmp_path / "w", top=4, recall_depth=6, fig5_pairs=20, tau_stride=2)
    for variant in ("context", "no context"):
        row = report.frame_table[variant]
        assert -1 <= row["kendall_tau"] <= 1 and row["stride"] == 2 and row["tau_pairs"] == 3 * 2
        assert row["progression_r2"] <= 1 and 0 <= row["classification_accuracy"] <= 1
        assert 0 <= row["apa_avg"] <= 1 and row["cpe"] >= 0 and row["fpe"] >= 0
    assert "Frame-feature protocol" in report.markdown()
    assert main(["eval", str(root / "videos"), "--labels", str(root / "videos" / "labels.json"), "--out", str(tmp_path / "j"), "--top", "4", "--recall-depth", "6", "--pairs", "20", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"table1", "table2", "table4", "frame_features", "fig5", "queries"}
    assert set(doc["frame_features"]["context"]) >= {"kendall_tau", "progression_r2", "classification_accuracy", "apa_avg", "cpe", "fpe"}

"""The appearance-independent synthetic benchmark (draqcore.evaluation.synthetic_benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from draqcore.evaluation.synthetic_benchmark import BENCHMARK_MIX, build_synthetic_benchmark, role_counts
from draqcore.labels import read_labels


def test_role_counts():
    assert role_counts(20) == BENCHMARK_MIX
    assert role_counts(40) == {k: 2 * v for k, v in BENCHMARK_MIX.items()}
    small = role_counts(6)
    assert sum(small.values()) == 6 and small["query"] >= 1 and small["aligned"] >= 1
    assert role_counts(8, queries_per_class=3)["query"] == 3
    with pytest.raises(ValueError, match="at least 4"):
        role_counts(3)
    with pytest.raises(ValueError, match="queries_per_class"):
        role_counts(8, queries_per_class=8)


def test_looks_are_independent_of_actions(tmp_path):
    b = build_synthetic_benchmark(tmp_path / "v", videos=18, classes=3, seed=4)
    assert len(b.queries) + len(b.collection) == len(b.truths) == 18
    # queries wear their class's own look; collection clips of one class cycle through every look
    for q in b.queries:
        assert b.looks[Path(q.path).resolve()] == int(q.class_name[-2:])
    for cls in {v.class_name for v in b.collection}:
        looks = {b.looks[Path(v.path).resolve()] for v in b.collection if v.class_name == cls}
        assert looks == {0, 1, 2}
    kinds = {b.roles[Path(t.path).resolve()]: t.kind for t in b.truths}
    assert kinds == {"query": "aligned", "aligned": "aligned", "scrambled": "shuffled", "excerpt": "excerpt"}
    assert all(b.alignable[p] == (b.roles[p] == "aligned") for p in b.alignable)
    doc = json.loads((tmp_path / "v" / "benchmark.json").read_text())
    assert len(doc["clips"]) == 18 and {c["role"] for c in doc["clips"]} == set(kinds)
    labels = read_labels(tmp_path / "v" / "labels.json")
    assert len(labels) == 18
    # strong speed variation: some aligned clip holds a phase several times longer than another clip
    durations = [np.bincount(t.phases).max() / np.bincount(t.phases).min() for t in b.truths if t.kind == "aligned"]
    assert max(durations) > 3
    with pytest.raises(ValueError, match="2 action classes"):
        build_synthetic_benchmark(tmp_path / "w", videos=10, classes=1)

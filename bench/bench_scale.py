"""Collection scale at 10,000 clips (CI size): ingest, open, add one, search, RSS, disk.

The 1,000,000-clip run is one command outside CI: ``python bench/scale.py --clips 1000000``
(see bench/scale.py and docs/benchmarks.md). Run: python -m pytest bench/bench_scale.py -s
"""

from __future__ import annotations

import json

import pytest

import scale

pytestmark = pytest.mark.benchmark(group="scale")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_scale_10k(benchmark, tmp_path, dtype):
    result = benchmark.pedantic(scale.run, args=(10_000, tmp_path / "coll"),
                                kwargs={"dtype": dtype, "queries": 20, "adds": 10}, rounds=1, iterations=1)
    print(json.dumps(result))
    assert result["self_recall_at_10"] >= 0.9
    assert result["feature_bytes_per_clip"] == pytest.approx(32 * 128 * (4 if dtype == "float32" else 2), rel=0.05)
    benchmark.extra_info.update({k: v for k, v in result.items() if isinstance(v, (int, float))})

"""Indexing throughput vs plain OpenCV decoding of the same file (issue 14; see bench/indexing.py).

The measurement itself is one command, rounds interleaved, the 2-minute 720p video built once and
cached: ``python bench/indexing.py`` (prints the table quoted in docs/benchmarks.md). Under
pytest-benchmark this runs the same code once; with ``--benchmark-disable`` (the CI smoke run) on a
4-second video so that CI does not spend minutes encoding.
Run: python -m pytest bench/bench_indexing.py -s
"""

from __future__ import annotations

import pytest

import indexing

pytestmark = pytest.mark.benchmark(group="indexing")


def test_indexing_vs_opencv_read(benchmark, request, tmp_path):
    smoke = request.config.getoption("benchmark_disable")
    path = indexing.build(4.0, tmp_path / "short.mp4") if smoke else indexing.build(120.0)
    result = benchmark.pedantic(indexing.measure, args=(path,), kwargs={"rounds": 1 if smoke else 3},
                                rounds=1, iterations=1)
    print("\n" + indexing._table(result))
    assert result["frames"] == (120 if smoke else 3600)
    assert set(result["rows"]) == {"opencv read", "opencv grab", "draqcore add"}
    assert result["ratio_add_read"] > 0
    benchmark.extra_info.update({"ratio_add_read": result["ratio_add_read"],
                                 **{f"{k} fps": v["fps"] for k, v in result["rows"].items()}})

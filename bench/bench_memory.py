"""Memory of the kernels, measured as the growth of peak RSS (VmHWM, reset just before the call
through /proc/self/clear_refs) in a fresh subprocess. Linux only.

* dtw with path on 2000 x 2000: at most 5 bytes per cell beyond the cost matrix;
* draq_batch with band=200 on 10 000 x 10 000 frames (d = 32): memory proportional to
  n x band, far below the 400 MB a whole float32 cost matrix would take.
Run with the benchmark suite; the numbers are printed and stored in extra_info.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import ctypes, json, sys
    import numpy as np
    import draqcore

    def rss_peak_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    def reset_peak():
        ctypes.CDLL("libc.so.6").malloc_trim(0)     # hand freed heap back first
        with open("/proc/self/clear_refs", "w") as f:  # "5": peak RSS := current RSS
            f.write("5")

    case = sys.argv[1]
    rng = np.random.default_rng(0)
    if case == "dtw2000":
        cost = rng.random((2000, 2000), dtype=np.float32)
        reset_peak()
        before = rss_peak_kib()
        res = draqcore.dtw(cost)
        extra = res.path.nbytes
        cells = cost.size
    else:
        q = rng.standard_normal((10_000, 32)).astype(np.float32)
        c = rng.standard_normal((10_000, 32)).astype(np.float32)
        reset_peak()
        before = rss_peak_kib()
        res = draqcore.draq_batch(q, [c], band=200, return_paths=True)
        extra = res.paths[0].nbytes
        cells = 10_000 * 10_000
    after = rss_peak_kib()
    print(json.dumps({"grew_bytes": (after - before) * 1024, "cells": cells, "result_bytes": extra}))
    """
)


def probe(case: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, case], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout)


@pytest.mark.benchmark(group="memory")
def test_dtw_2000_memory_per_cell(benchmark):
    info = benchmark.pedantic(probe, args=("dtw2000",), rounds=1, iterations=1)
    per_cell = info["grew_bytes"] / info["cells"]
    benchmark.extra_info["peak_rss_growth_bytes"] = info["grew_bytes"]
    benchmark.extra_info["bytes_per_cell"] = round(per_cell, 3)
    print(f"dtw 2000x2000 with path: peak RSS grew {info['grew_bytes'] / 2**20:.1f} MiB = {per_cell:.2f} bytes/cell")
    assert per_cell <= 5.0


@pytest.mark.benchmark(group="memory")
def test_banded_batch_memory_is_n_times_band(benchmark):
    info = benchmark.pedantic(probe, args=("band200",), rounds=1, iterations=1)
    benchmark.extra_info["peak_rss_growth_bytes"] = info["grew_bytes"]
    whole_matrix = 4 * info["cells"]
    print(f"draq_batch 10000x10000 band=200: peak RSS grew {info['grew_bytes'] / 2**20:.1f} MiB "
          f"(a whole float32 cost matrix: {whole_matrix / 2**20:.0f} MiB)")
    # traceback 10 000 x 401 bytes + one block of rows + features: well under 10 % of n x m floats
    assert info["grew_bytes"] < 0.1 * whole_matrix

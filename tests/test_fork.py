"""The kernels in forked processes: os.fork, multiprocessing fork workers, torch DataLoader workers.

After a parallel region, libgomp's thread pool does not survive fork(): a child that entered a
parallel region with more than one thread used to wait forever for workers that do not exist.
Every scenario runs in a subprocess with a timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TIMEOUT = 240  # seconds for a whole scenario; the work itself takes a few seconds


def _run(script: str, *args: str) -> str:
    try:
        out = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True,
                             text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:  # the hang this file guards against
        pytest.fail(f"scenario hung for {TIMEOUT} s (fork after a parallel region?): {exc.stdout!r}")
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


OS_FORK = """
import os, sys, time
import numpy as np
import draqcore

rng = np.random.default_rng(0)
a = rng.standard_normal((600, 64)).astype(np.float32)
query = rng.standard_normal((80, 32)).astype(np.float32)
cands = [rng.standard_normal((int(rng.integers(40, 120)), 32)).astype(np.float32) for _ in range(12)]

def work():
    c = draqcore.cost_matrix(a, a, threads=2)
    b = draqcore.draq_batch(query, cands, method="sampled", k=30, threads=2, return_paths=True)
    r = draqcore.random_path_costs(c[:200, :200], 300, seed=1, threads=2)
    e = draqcore.draq_batch(query, cands, threads=None)
    return c, b, r, e

parent = work()  # parallel regions in the parent: libgomp's pool now exists
assert not draqcore.show_config(print_out=False)["forked_child"]
children = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            cfg = draqcore.show_config(print_out=False)
            assert cfg["forked_child"] and cfg["threads"] == 1, cfg
            for _ in range(2):
                child = work()
                assert np.array_equal(child[0], parent[0])
                assert np.array_equal(child[1].draq, parent[1].draq)
                assert all(np.array_equal(p, q) for p, q in zip(child[1].paths, parent[1].paths))
                assert np.array_equal(child[2], parent[2])
                assert np.array_equal(child[3].draq, parent[3].draq)
            # a grandchild forked from the (serial) child works too
            pid2 = os.fork()
            if pid2 == 0:
                os._exit(0 if np.array_equal(work()[0], parent[0]) else 5)
            code = 0 if os.waitpid(pid2, 0)[1] == 0 else 6
        except BaseException as exc:
            print("child failed:", repr(exc), flush=True)
        os._exit(code)
    children.append(pid)
deadline = time.monotonic() + 120
for pid in children:
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert status == 0, status
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            sys.exit("child hung")
        time.sleep(0.05)
# the parent keeps its threads
assert not draqcore.show_config(print_out=False)["forked_child"]
assert np.array_equal(work()[0], parent[0])
print("ok")
"""


def test_kernels_work_in_a_forked_child_after_a_parallel_region():
    assert _run(OS_FORK).split()[-1] == "ok"


MULTIPROCESSING_SEARCH = """
import multiprocessing as mp, sys
from pathlib import Path
import draqcore
from draqcore.synthetic import generate_dataset

root = Path(sys.argv[1])
truths = generate_dataset(root / "videos", classes=2, clips_per_class=2, hard_negatives_per_class=0, seed=5,
                          size=(64, 48), frames=(24, 32))
paths = [Path(t.path) for t in truths]
with draqcore.Collection.create(root / "coll") as coll:
    coll.add(paths[1:])

def search(query):
    with draqcore.Collection.open(root / "coll") as c:
        return [(h.path, h.draq) for h in c.search(query, top=2, candidates=3)]

parent = search(paths[0])  # a search in the parent runs the batched kernel on every core
with mp.get_context("fork").Pool(2) as pool:
    got = pool.map(search, [paths[0]] * 4, chunksize=1)
assert all(g == parent for g in got), (got, parent)
print("ok", len(got))
"""


def test_collection_search_in_multiprocessing_fork_workers(tmp_path: Path):
    assert _run(MULTIPROCESSING_SEARCH, str(tmp_path)).split() == ["ok", "4"]


DATALOADER = """
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
import draqcore

rng = np.random.default_rng(2)
query = rng.standard_normal((60, 32)).astype(np.float32)
items = [[rng.standard_normal((int(rng.integers(30, 90)), 32)).astype(np.float32) for _ in range(6)] for _ in range(8)]

class Pairs(Dataset):
    def __len__(self):
        return len(items)

    def __getitem__(self, i):
        res = draqcore.draq_batch(query, items[i], threads=2)
        cost = draqcore.cost_matrix(query, items[i][0], threads=2)
        return torch.from_numpy(res.draq), torch.from_numpy(cost)

want = [Pairs()[i] for i in range(len(items))]  # parallel regions in the parent first
loader = DataLoader(Pairs(), batch_size=None, num_workers=2, multiprocessing_context="fork", timeout=120)
got = list(loader)
assert len(got) == len(want)
for (d1, c1), (d2, c2) in zip(got, want):
    assert torch.equal(d1, d2) and torch.equal(c1, c2)
print("ok")
"""


def test_torch_dataloader_workers_run_the_kernels():
    pytest.importorskip("torch")
    assert _run(DATALOADER).split()[-1] == "ok"

"""``draq`` imports only what the command needs (issue 14: a cold ``draq search`` pays for every
import). Each check runs in a fresh interpreter and reads its ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

#: Never imported by ``draq search`` (torch only for the torch extractor; the others only by the
#: commands that write plots, media, timelines or pages, or evaluate).
NEVER_FOR_SEARCH = ("torch", "matplotlib", "av", "opentimelineio", "playwright", "scipy", "numba", "librosa", "ray")
#: Also not for a search of precomputed features (no video is decoded) nor for importing the CLI.
NOT_WITHOUT_VIDEO = NEVER_FOR_SEARCH + ("cv2", "tqdm")

_RUN = """
import json, sys
from draqcore.cli.main import main
rc = main(sys.argv[1:]) if len(sys.argv) > 1 else 0
sys.stdout.flush()
print("\\nMODULES=" + json.dumps(sorted(sys.modules)))
sys.exit(rc)
"""


def _run(*argv: str) -> tuple[str, set[str]]:
    """stdout and the imported modules (full and top-level names) of ``draq ARGV`` (no ARGV: only
    the import)."""
    p = subprocess.run([sys.executable, "-c", _RUN, *argv], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out, _, modules = p.stdout.rpartition("\nMODULES=")
    names = set(json.loads(modules))
    return out, names | {m.split(".")[0] for m in names}


def test_importing_the_cli_imports_no_heavy_module():
    _, modules = _run()
    assert not modules & set(NOT_WITHOUT_VIDEO), sorted(modules & set(NOT_WITHOUT_VIDEO))
    assert "draqcore" in modules and "numpy.ma" not in modules


def test_search_of_precomputed_features_imports_no_heavy_module(tmp_path, rng):
    import draqcore
    from draqcore.features import Precomputed

    feats = [rng.standard_normal((int(rng.integers(12, 40)), 32)).astype(np.float32) for _ in range(30)]
    with draqcore.Collection.create(tmp_path / "c", extractor=Precomputed(32, "test-features")) as coll:
        coll.add_features_batch((f"clip{i}", f) for i, f in enumerate(feats))
    np.save(tmp_path / "q.npy", feats[7][2:-2])
    out, modules = _run("search", str(tmp_path / "q.npy"), "--collection", str(tmp_path / "c"), "--quiet")
    assert "clip7" in out.splitlines()[2]  # the excerpt's source clip ranks first
    assert not modules & set(NOT_WITHOUT_VIDEO), sorted(modules & set(NOT_WITHOUT_VIDEO))


def test_search_of_a_video_imports_no_torch_or_output_libraries(tmp_path, footage, rng):
    import draqcore
    from draqcore.collection.state import extract_video
    from draqcore.features import default_extractor

    query = footage("carphone")
    ext = default_extractor()
    stored = extract_video(ext, query, 10.0, ext.dim)[0]
    starts, lengths = rng.integers(0, 20, 11), rng.integers(12, 30, 11)
    with draqcore.Collection.create(tmp_path / "c") as coll:
        coll.add_features_batch([("whole", stored)] + [(f"excerpt{i}", stored[s : s + n])
                                                       for i, (s, n) in enumerate(zip(starts, lengths))])
    out, modules = _run("search", str(query), "--collection", str(tmp_path / "c"), "--quiet")
    assert "whole" in out.splitlines()[2]
    assert not modules & set(NEVER_FOR_SEARCH), sorted(modules & set(NEVER_FOR_SEARCH))
    assert "cv2" in modules  # the query was decoded
    assert "numpy.ma" not in modules  # np.unique/np.median import it (10-16 ms); video.native_fps avoids them


@pytest.mark.parametrize("argv", [["--help"], ["search", "--help"], ["bogus"]])
def test_help_and_usage_errors_still_list_the_commands(argv):
    p = subprocess.run([sys.executable, "-m", "draqcore.cli", *argv], capture_output=True, text=True, timeout=300)
    text = p.stdout + p.stderr
    if argv == ["search", "--help"]:
        assert p.returncode == 0 and "--collection" in text and "--candidates" in text
    else:
        assert p.returncode == (0 if argv == ["--help"] else 2)
        for command in ("index", "search", "align", "retime", "eval", "footage"):
            assert command in text

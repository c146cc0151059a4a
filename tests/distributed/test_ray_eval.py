"""``draq eval ... --ray``: the evaluation's units on a local Ray cluster (loopback, 2 CPUs) give
every table of the serial run, number for number -- on generated benchmark videos (Tables 1, 2, 4,
the frame-feature table, Fig. 5) and on real camera footage (``draq eval retime``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='needs pip install "draqcore[ray]"')

from draqcore.cli import main  # noqa: E402
from draqcore.evaluation import build_synthetic_benchmark, evaluate  # noqa: E402
from draqcore.evaluation.retime_benchmark import evaluate_retiming  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::ResourceWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ray-eval")
    return root, build_synthetic_benchmark(root / "videos", videos=18, classes=3, queries_per_class=2, seed=3,
                                           threads=1)


def test_evaluate_on_ray_equals_serial(bench, tmp_path: Path, local_ray) -> None:
    from draqcore.distributed import evaluate_with_ray

    _, b = bench
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    queries = [*b.queries, type(b.queries[0])(path=broken, class_name=b.queries[0].class_name)]
    kw = dict(top=3, recall_depth=5, canonical_time=b.canonical_time, alignable=b.alignable, fig5_pairs=30, seed=7)
    serial = evaluate(queries, b.collection, tmp_path / "serial", **kw)
    on_ray = evaluate_with_ray(queries, b.collection, tmp_path / "ray", **kw)
    want, got = serial.to_dict(), on_ray.to_dict()
    assert want["queries"] == len(b.queries) and want["fig5_pairs"] == 30 and len(want["failed"]) == 1
    assert want["table1"]["oracle"]["DRAQ"]["fpe"] is not None  # the oracle draws took place
    assert set(want["table4"]) == {"w/o re-ranking", "DRAQ re-ranking", "w/o re-ranking, alignable only",
                                   "DRAQ re-ranking, alignable only"}
    for key in want:  # every table, one by one (a mismatch names its table)
        assert got[key] == want[key], key
    assert (tmp_path / "ray" / "results.md").read_text() == (tmp_path / "serial" / "results.md").read_text()
    with pytest.raises(TypeError, match="unexpected keyword"):
        evaluate_with_ray(queries, b.collection, tmp_path / "x", tops=3)


def test_retime_on_ray_equals_serial_on_real_footage(footage, tmp_path: Path, local_ray) -> None:
    from draqcore.distributed import evaluate_retiming_with_ray

    src = footage("carphone")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    videos = [src, broken]
    serial = evaluate_retiming(videos, tmp_path / "serial", warps=["freeze", "mix"])
    on_ray = evaluate_retiming_with_ray(videos, tmp_path / "ray", warps=["freeze", "mix"])
    assert [r.warp for r in serial.rows] == ["freeze", "mix"] and len(serial.failed) == 1
    assert on_ray.to_dict() == serial.to_dict()
    assert not list((tmp_path / "ray").glob("**/*.mp4"))  # re-timed copies removed by the workers


def test_draq_eval_cli_ray_json_equals_serial(bench, footage, tmp_path: Path, local_ray,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = bench
    videos = root / "videos"
    args = ["eval", str(videos), "--labels", str(videos / "labels.json"), "--top", "3", "--recall-depth", "5",
            "--pairs", "20", "--json", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "s")]) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(args + ["--out", str(tmp_path / "r"), "--ray"]) == 0
    assert json.loads(capsys.readouterr().out) == want and want["queries"] > 0
    src = footage("carphone")
    args = ["eval", "retime", str(src), "--warps", "speed2", "--json", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "rs")]) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(args + ["--out", str(tmp_path / "rr"), "--ray", "local"]) == 0  # the running session
    assert json.loads(capsys.readouterr().out) == want and want["rows"][0]["frames"] > 0

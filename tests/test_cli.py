"""The draq command line, run in-process on real generated videos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from draqcore.cli import build_parser, expand_inputs, main
from draqcore.synthetic import generate_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    truths = generate_dataset(root / "videos", classes=2, clips_per_class=3, hard_negatives_per_class=1, seed=4)
    return root, truths


def test_every_command_has_help(capsys):
    for command in (None, "index", "search", "align", "check", "eval", "demo", "config"):
        argv = ["--help"] if command is None else [command, "--help"]
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        assert "usage: draq" in capsys.readouterr().out


def test_index_search_json_and_align(dataset, tmp_path, capsys):
    root, truths = dataset
    coll = tmp_path / "coll"
    assert main(["index", str(root / "videos"), "--collection", str(coll), "--labels", str(root / "videos" / "labels.json"), "--quiet"]) == 0
    assert f"the collection holds {len(truths)} videos" in capsys.readouterr().out
    query = next(t for t in truths if t.kind == "aligned")
    assert main(["search", query.path, "--collection", str(coll), "--top", "3", "--json"]) == 0
    ranking = json.loads(capsys.readouterr().out)
    hits = ranking["hits"]
    assert len(hits) == 3
    assert [h["draq"] for h in hits] == sorted(h["draq"] for h in hits)
    assert hits[0]["class_name"] == query.class_name
    # Indexing the same folder again adds nothing.
    assert main(["index", str(root / "videos"), "--collection", str(coll), "--quiet"]) == 0
    assert "indexed 0 new" in capsys.readouterr().out

    out = tmp_path / "aligned"
    assert main(["align", truths[0].path, truths[1].path, "--out", str(out)]) == 0
    for name in ("alignment.csv", "side_by_side.mp4", "cost_matrix.png", "alignment.json"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "alignment.json").read_text())
    assert 0 < summary["draq"] < 2


def test_index_records_a_corrupt_file_and_strict_fails(dataset, tmp_path, capsys):
    root, truths = dataset
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = Path(truths[0].path)
    (folder / good.name).write_bytes(good.read_bytes())
    (folder / "corrupt.mp4").write_bytes(b"garbage" * 500)
    coll = tmp_path / "coll"
    assert main(["index", str(folder), "--collection", str(coll), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "1 failed" in captured.out and "corrupt.mp4" in captured.err
    assert main(["index", str(folder / "corrupt.mp4"), "--collection", str(coll), "--quiet", "--strict"]) == 1


def test_errors_exit_nonzero_with_a_message(tmp_path, capsys):
    assert main(["index", str(tmp_path / "missing"), "--collection", str(tmp_path / "c")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "q.mp4"), "--collection", str(tmp_path / "nothing")]) == 1
    assert "draq search" in capsys.readouterr().err


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--classes", "2", "--clips", "3", "--top", "4"]) == 0
    text = capsys.readouterr().out
    assert "rank" in text and "DRAQ" in text
    for name in ("ranking.json", "alignment/side_by_side.mp4", "alignment/cost_matrix.png", "alignment/alignment.csv"):
        assert (out / name).exists(), name
    # It says what it shows and how to open each output, starting with the viewer.
    assert "alignable video retrieval on generated clips" in text
    assert "open in a web browser" in text and "any image viewer" in text
    assert f"open {(out / 'alignment' / 'viewer.html').resolve().as_uri()} in a browser" in text
    # A second run refuses to overwrite without --force.
    assert main(["demo", "--out", str(out)]) == 1


def test_expand_inputs_finds_videos_and_image_folders(tmp_path):
    import cv2
    import numpy as np

    (tmp_path / "a.mp4").write_bytes(b"x")
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(3):
        cv2.imwrite(str(seq / f"{i:03d}.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("hi")
    found = expand_inputs([str(tmp_path)])
    assert sorted(p.name for p in found) == ["a.mp4", "seq"]


def test_parser_builds():
    assert build_parser().prog == "draq"

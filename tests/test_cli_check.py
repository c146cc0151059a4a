"""``draq check``: a healthy collection passes; every kind of damage is named, never a crash.

Each damaged copy is also opened and searched: the answer must be a clear error (``ValueError``,
or exit status 1 with a message from the CLI), never a traceback and never a wrong ranking.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from draqcore.cli import main
from draqcore.collection import Collection
from draqcore.store.integrity import check_collection
from draqcore.synthetic import generate_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A collection of 6 small clips and one failed file (closed)."""
    root = tmp_path_factory.mktemp("check")
    truths = generate_dataset(root / "videos", classes=2, clips_per_class=2, hard_negatives_per_class=1, seed=7, phase_count=3,
                              size=(48, 32), frames=(24, 30), threads=2)
    clips = [Path(t.path) for t in truths]
    bad = root / "videos" / "broken.mp4"
    bad.write_bytes(b"\x00garbage" * 300)
    with Collection.create(root / "coll") as coll:
        report = coll.add(clips + [bad])
        assert len(report.added) == 6 and len(report.failed) == 1
    return root / "coll", clips


@pytest.fixture
def coll(built: tuple[Path, list[Path]], tmp_path: Path) -> Path:
    """A fresh copy to damage."""
    return Path(shutil.copytree(built[0], tmp_path / "coll"))


def _check(directory: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(["check", str(directory)])
    return code, capsys.readouterr().out.splitlines()


def _sql(directory: Path, statement: str) -> None:
    db = sqlite3.connect(str(directory / "catalog.sqlite"))
    with db:
        db.execute(statement)
    db.close()


def _generation(directory: Path) -> Path:
    return directory / "index" / json.loads((directory / "index" / "ann.json").read_text())["directory"]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_healthy_collection_passes(coll: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _check(coll, capsys)
    assert code == 0
    assert lines == [f"ok: {coll}: 6 videos ok, 1 failed, {check_collection(coll).feature_rows} feature rows, "
                     "6 videos in the index"]


def _cut_features(d: Path) -> None:
    f = d / "features/000000.f32"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _row_beyond_features(d: Path) -> None:
    _sql(d, "UPDATE videos SET row_offset = row_offset + 100000 WHERE id = (SELECT MAX(id) FROM videos WHERE status = 'ok')")


def _rows_overlap(d: Path) -> None:
    _sql(d, "UPDATE videos SET row_offset = 0 WHERE id = (SELECT MAX(id) FROM videos WHERE status = 'ok')")


def _features_modified(d: Path) -> None:
    f = d / "features/000000.f32"
    data = np.fromfile(f, dtype="<f4")
    data[len(data) // 2 : len(data) // 2 + 600] += 0.5  # same size, other values
    data.tofile(f)


def _features_nan(d: Path) -> None:
    f = d / "features/000000.f32"
    data = np.fromfile(f, dtype="<f4")
    data[7] = np.nan
    data.tofile(f)


def _clip_means_modified(d: Path) -> None:
    _flip(_generation(d) / "clip_means.npy", -5)


def _graph_modified(d: Path) -> None:
    _flip(_generation(d) / "ann.hnsw", 300)


def _manifest_not_json(d: Path) -> None:
    (d / "index" / "ann.json").write_text('{"format": "draqcore-ann", "generation": ')


def _manifest_not_utf8(d: Path) -> None:
    (d / "index" / "ann.json").write_bytes(b"\xff\xfe{}")


def _catalog_garbage(d: Path) -> None:
    (d / "catalog.sqlite").write_bytes(np.random.default_rng(0).bytes(20000))


def _catalog_cut(d: Path) -> None:
    f = d / "catalog.sqlite"
    f.write_bytes(f.read_bytes()[:5000])


def _frame_times_damaged(d: Path) -> None:
    _sql(d, "UPDATE videos SET frame_times = X'0001' WHERE status = 'ok'")


def _meta_rows_garbage(d: Path) -> None:
    _sql(d, "UPDATE meta SET value = 'many' WHERE key = 'feature_rows'")


def _features_missing(d: Path) -> None:
    (d / "features/000000.f32").unlink()


def _catalog_missing(d: Path) -> None:
    (d / "catalog.sqlite").unlink()


# (damage, words of the problem line, words of the error when opening/searching; None: opening
# works and searching gives the error)
DAMAGE: list[tuple[Callable[[Path], None], str, Optional[str]]] = [
    (_cut_features, "the file was cut short", "cut short"),
    (_row_beyond_features, "videos beyond its end", None),  # opening reads no row range: searching fails
    (_rows_overlap, "share feature rows", None),
    (_features_modified, "do not match their recorded checksum", None),
    (_features_nan, "do not match their recorded checksum", None),
    (_clip_means_modified, "does not match its recorded SHA-256", "delete"),
    (_graph_modified, "ann.hnsw does not match its recorded SHA-256", "delete"),
    (_manifest_not_json, "not valid JSON", "not valid JSON"),
    (_manifest_not_utf8, "not UTF-8 text", "not UTF-8 text"),
    (_catalog_garbage, "catalog.sqlite: cannot be opened", "catalog"),
    (_catalog_cut, "catalog.sqlite", "catalog"),
    (_frame_times_damaged, "frame times/indices do not hold", None),
    (_meta_rows_garbage, "meta 'feature_rows'", "meta 'feature_rows'"),
    (_features_missing, "features/000000.f32: missing", "missing"),
    (_catalog_missing, "not a draqcore collection", "not a draqcore collection"),
]


@pytest.mark.parametrize(("damage", "problem", "error"), DAMAGE, ids=lambda v: getattr(v, "__name__", None))
def test_damage_is_reported_and_refused(built: tuple[Path, list[Path]], coll: Path, capsys: pytest.CaptureFixture[str],
                                        damage: Callable[[Path], None], problem: str, error: Optional[str]) -> None:
    damage(coll)
    code, lines = _check(coll, capsys)
    assert code == 1, lines
    assert any(line.startswith("problem: ") and problem in line for line in lines), lines
    assert lines[-1].startswith(f"damaged: {coll}: ")
    # Opening and searching: a clear error, never a crash or a wrong answer.
    query = built[1][0]
    if error is not None:
        with pytest.raises((ValueError, FileNotFoundError), match=error):
            with Collection.open(coll) as c:
                c.search(query, top=6, candidates=6)
    else:
        with Collection.open(coll) as c, pytest.raises(ValueError):
            c.search(query, top=6, candidates=6)
            c.search(built[1][-1], top=6, candidates=6)
    assert main(["search", str(query), "--collection", str(coll), "--top", "6"]) == 1
    assert "draq search: " in capsys.readouterr().err
    assert main(["index", str(query), "--collection", str(coll), "--quiet"]) == 1 or error is None


def test_leftovers_of_an_interrupted_write_are_notes_not_problems(built: tuple[Path, list[Path]], coll: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with open(coll / "features/000000.f32", "ab") as fh:
        fh.write(b"\x01" * 1000)  # appended, never committed
    stray = coll / "index" / "g999999"
    stray.mkdir()  # a generation whose save was killed
    code, lines = _check(coll, capsys)
    assert code == 0, lines
    assert any(line.startswith("note: features/000000.f32: 1000 bytes beyond") for line in lines)
    assert any(line.startswith("note: index/g999999: left by an interrupted index save") for line in lines)
    with Collection.open(coll, write=True):  # a writer repairs both
        pass
    assert _check(coll, capsys)[1] == [f"ok: {coll}: 6 videos ok, 1 failed, {check_collection(coll).feature_rows} "
                                       "feature rows, 6 videos in the index"]
    shutil.rmtree(coll / "index")
    code, lines = _check(coll, capsys)
    assert code == 0 and lines[0].startswith("note: index/: no saved index")


def test_check_of_something_that_is_no_collection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _check(tmp_path / "nowhere", capsys)
    assert code == 1 and lines[0] == f"problem: {tmp_path / 'nowhere'}: no such directory"
    assert lines[-1] == f"not a collection: {tmp_path / 'nowhere'}"  # not "damaged": there is nothing
    (tmp_path / "empty").mkdir()
    code, lines = _check(tmp_path / "empty", capsys)
    assert code == 1 and lines[-1] == f"not a collection: {tmp_path / 'empty'}"
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "usage: draq check" in capsys.readouterr().out


def _set_identity(d: Path, change: Callable[[dict], None]) -> None:
    db = sqlite3.connect(str(d / "catalog.sqlite"))
    ident = json.loads(db.execute("SELECT value FROM meta WHERE key = 'extractor'").fetchone()[0])
    change(ident)
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'extractor'", (json.dumps(ident),))
    db.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda i: i.update(name="someone-elses-extractor"), "which this draqcore does not know"),
        (lambda i: i.update(name="bad\x1b[2Jname"), r"'bad\\x1b\[2Jname', which this draqcore does not know"),
        (lambda i: i.update(version="0.0-old"), "computes version"),
        (lambda i: i.update(dim=i["dim"] + 1), "the extractor identity says dimension"),
        (lambda i: i.pop("params"), "identity is unusable"),
    ],
)
def test_a_collection_that_cannot_be_opened_is_not_ok(coll: Path, capsys: pytest.CaptureFixture[str],
                                                       change: Callable[[dict], None], message: str) -> None:
    _set_identity(coll, change)
    with pytest.raises(ValueError):
        Collection.open(coll)
    code, lines = _check(coll, capsys)
    assert code == 1
    assert any(line.startswith("problem: catalog.sqlite: ") and re.search(message, line) for line in lines), lines
    assert lines[-1].startswith(f"damaged: {coll}")
    assert "\x1b" not in "\n".join(lines)


def test_a_collection_that_needs_its_model_passed_in_is_a_note(coll: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from draqcore.features import registered_extractors

    torch_names = [n for n in registered_extractors() if "torch" in n]
    if not torch_names:
        pytest.skip("no PyTorch extractor registered")
    _set_identity(coll, lambda i: i.update(name=torch_names[0], params={"model_sha256": "0" * 64}))
    report = check_collection(coll)
    assert any("needs its extractor passed in" in n for n in report.notes), report.notes

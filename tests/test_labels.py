from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from draqcore.labels import FORMAT, VERSION, VideoLabel, read_labels, write_labels


def write_json(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def doc_with(*videos: object) -> dict:
    return {"format": FORMAT, "version": VERSION, "videos": list(videos)}


def test_json_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "clips").mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "far.avi"
    labels = [
        VideoLabel(root / "clips" / "a.mp4", "swing", np.array([0, 0, 1, 1, 2])),
        VideoLabel(outside, "jump", None),
        VideoLabel(root / "frames", None, [3, 3, 4]),
        VideoLabel(root / "b.mp4"),
    ]
    file = root / "labels.json"
    write_labels(file, labels)
    doc = json.loads(file.read_text(encoding="utf-8"))
    assert doc["format"] == "draqcore-labels" and doc["version"] == 1
    assert [v["path"] for v in doc["videos"]] == ["clips/a.mp4", str(outside), "frames", "b.mp4"]
    assert doc["videos"][0] == {"path": "clips/a.mp4", "class": "swing", "phases": [0, 0, 1, 1, 2]}
    assert doc["videos"][3] == {"path": "b.mp4"}

    back = read_labels(file)
    assert list(back) == [label.path.resolve() for label in labels]
    for label in labels:
        got = back[label.path.resolve()]
        assert got.path == label.path.resolve()
        assert got.class_name == label.class_name
        if label.phases is None:
            assert got.phases is None
        else:
            assert got.phases.dtype == np.int64
            np.testing.assert_array_equal(got.phases, label.phases)


def test_relative_paths_are_relative_to_the_labels_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    entry = {"path": "sub/../v.mp4", "class": "x", "phases": []}
    file = write_json(folder / "labels.json", doc_with(entry))
    monkeypatch.chdir(tmp_path)  # not the labels folder
    (key, label), = read_labels(file).items()
    assert key == (folder / "v.mp4").resolve() and label.path == key
    assert label.phases is not None and label.phases.shape == (0,)


def test_video_label_copies_phases() -> None:
    phases = np.array([0, 1, 2], dtype=np.int32)
    label = VideoLabel("x.mp4", "c", phases)
    phases[0] = 7
    assert label.phases is not None
    np.testing.assert_array_equal(label.phases, [0, 1, 2])
    assert label.phases.dtype == np.int64
    with pytest.raises(ValueError):
        label.phases[0] = 5  # read-only
    assert isinstance(label.path, Path)


@pytest.mark.parametrize(
    "phases,match",
    [([0, -1], ">= 0"), ([0.5], "integers"), ([[0, 1]], "1-D"), (np.array([True]), "integers")],
)
def test_video_label_rejects_bad_phases(phases: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VideoLabel("x.mp4", "c", phases)  # type: ignore[arg-type]


def test_csv_class_labels(tmp_path: Path) -> None:
    file = tmp_path / "classes.csv"
    file.write_text('path,class\n\na.mp4,swing\n"b, c.mp4",jump\nd.mp4,\n', encoding="utf-8")
    labels = read_labels(file)
    assert [p.name for p in labels] == ["a.mp4", "b, c.mp4", "d.mp4"]
    assert [v.class_name for v in labels.values()] == ["swing", "jump", None]
    assert all(v.phases is None for v in labels.values())
    headless = tmp_path / "headless.csv"
    headless.write_text("a.mp4,swing\n", encoding="utf-8")
    assert [v.class_name for v in read_labels(headless).values()] == ["swing"]

    out = tmp_path / "out.csv"
    write_labels(out, labels.values())
    assert out.read_text(encoding="utf-8").splitlines()[0] == "path,class"
    again = read_labels(out)
    assert list(again) == list(labels)
    assert [v.class_name for v in again.values()] == ["swing", "jump", None]


def test_csv_cannot_hold_phases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CSV"):
        write_labels(tmp_path / "x.csv", [VideoLabel(tmp_path / "a.mp4", "c", [0, 1])])


def test_csv_with_wrong_field_count(tmp_path: Path) -> None:
    file = tmp_path / "bad.csv"
    file.write_text("a.mp4,swing\nb.mp4,jump,extra\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2") as err:
        read_labels(file)
    assert str(file) in str(err.value)


@pytest.mark.parametrize(
    "doc,match",
    [
        ([], "top level"),
        ({"format": "other", "version": 1, "videos": []}, '"format"'),
        ({"format": FORMAT, "version": 2, "videos": []}, '"version"'),
        ({"format": FORMAT, "version": True, "videos": []}, '"version"'),
        ({"format": FORMAT, "version": 1, "videos": {}}, '"videos" must be a list'),
        ({"format": FORMAT, "version": 1, "videos": [], "extra": 1}, "unknown top-level"),
        (doc_with("a.mp4"), r"videos\[0\]: expected an object"),
        (doc_with({"class": "x"}), r"videos\[0\]: \"path\""),
        (doc_with({"path": ""}), r"videos\[0\]: \"path\""),
        (doc_with({"path": "a.mp4"}, {"path": "b.mp4", "phase": [0]}), r"videos\[1\]: unknown key"),
        (doc_with({"path": "a.mp4", "class": 3}), r"videos\[0\] \(a.mp4\): \"class\""),
        (doc_with({"path": "a.mp4", "phases": "012"}), r"\"phases\" must be a list"),
        (doc_with({"path": "a.mp4", "phases": [0, 1.5]}), r"\"phases\"\[1\] must be an integer"),
        (doc_with({"path": "a.mp4", "phases": [0, True]}), r"\"phases\"\[1\] must be an integer"),
        (doc_with({"path": "a.mp4", "phases": [0, -2]}), r"\"phases\"\[1\] must be >= 0"),
        (doc_with({"path": "a.mp4"}, {"path": "./a.mp4"}), "listed twice"),
    ],
)
def test_malformed_json(tmp_path: Path, doc: object, match: str) -> None:
    file = write_json(tmp_path / "labels.json", doc)
    with pytest.raises(ValueError, match=match) as err:
        read_labels(file)
    assert str(file) in str(err.value)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "labels.json"
    text = '{"format": "draqcore-labels",\n "version": 1,\n "videos": [}\n'
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="line 3") as err:
        read_labels(file)
    assert str(file) in str(err.value)


def test_missing_labels_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_labels(tmp_path / "none.json")


def test_empty_video_list(tmp_path: Path) -> None:
    file = tmp_path / "labels.json"
    write_labels(file, [])
    assert read_labels(file) == {}


def test_write_rejects_duplicates_and_non_labels(tmp_path: Path) -> None:
    a = VideoLabel(tmp_path / "a.mp4", "x")
    with pytest.raises(ValueError, match="also labels"):
        write_labels(tmp_path / "l.json", [a, VideoLabel(tmp_path / "sub" / ".." / "a.mp4", "y")])
    with pytest.raises(TypeError, match=r"labels\[1\]"):
        write_labels(tmp_path / "l.json", [a, {"path": "b.mp4"}])  # type: ignore[list-item]


def test_csv_quoted_fields_round_trip_whatever_they_hold(tmp_path: Path) -> None:
    """A real CSV parser: quoted newlines, commas, quotes and CRLF line ends survive a round trip."""
    names = ["plain.mp4", "with, comma.mp4", 'with "quotes".mp4', "two\nlines.mp4", "crlf\r\nname.mp4", "ünïcödé.mp4"]
    labels = [VideoLabel(tmp_path / n, f"class {i}") for i, n in enumerate(names)]
    out = tmp_path / "labels.csv"
    write_labels(out, labels)
    back = read_labels(out)
    assert [p.name for p in back] == names
    assert [v.class_name for v in back.values()] == [f"class {i}" for i in range(len(names))]
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(b'path,class\r\n"a\r\nb.mp4",x\r\nc.mp4,y\r\n')
    assert [p.name for p in read_labels(crlf)] == ["a\r\nb.mp4", "c.mp4"]


@pytest.mark.parametrize(
    "text,match",
    [
        ('a.mp4,"swing\n', r"line 1: not valid CSV \(unexpected end of data\)"),     # unterminated quote
        ('a.mp4,x\nb.mp4,"swing"extra\n', r"line 2: not valid CSV"),                  # text after a quote
        ("a.mp4,sw\0ing\n", r"line 1: class 'sw\\x00ing' contains control characters"),
        ("a\0.mp4,swing\n", r"line 1: path 'a\\x00.mp4' contains a NUL"),
        ("a.mp4,\x1b[31mred\n", r"line 1: class .* contains control characters"),
        ("a.mp4," + "x" * 200_000 + "\n", r"line 1: not valid CSV \(field larger than field limit"),
    ],
)
def test_csv_refuses_what_a_strict_parser_refuses(tmp_path: Path, text: str, match: str) -> None:
    file = tmp_path / "bad.csv"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match) as err:
        read_labels(file)
    assert str(err.value).startswith(str(file))


def test_json_labels_refuse_nesting_nul_and_huge_phases(tmp_path: Path) -> None:
    file = tmp_path / "labels.json"
    file.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ValueError, match="nested too deeply") as err:
        read_labels(file)
    assert str(err.value).startswith(str(file))
    for entry, match in [
        ({"path": "a\0.mp4"}, "NUL"),
        ({"path": "a.mp4", "class": "a\nb"}, "control characters"),
        ({"path": "a.mp4", "phases": [0, 10**23]}, "larger than the largest phase label"),
        ({"path": "a.mp4", "phases": [0, 1e23]}, "must be an integer"),
    ]:
        file.write_text(json.dumps({"format": FORMAT, "version": 1, "videos": [entry]}), encoding="utf-8")
        with pytest.raises(ValueError, match=match):
            read_labels(file)


@pytest.mark.parametrize("values", [[1e23], [2**70], np.array([2**63], dtype=np.uint64), 5, np.float64(3.0)])
def test_phase_labels_refuse_what_int64_cannot_hold_and_scalars(values: object) -> None:
    with pytest.raises(ValueError, match="phase label|1-D sequence|Python objects"):
        VideoLabel("x.mp4", "c", values)  # type: ignore[arg-type]

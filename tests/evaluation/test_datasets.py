"""Dataset adapters (draqcore.evaluation.datasets) on tiny fixtures in each layout.

PennAction fixtures are real: 8x8 JPEG frames written with cv2.imwrite and MATLAB v5 label files
written with scipy.io.savemat. The UCF101 and Kinetics readers only parse lists and check that
files exist (nothing is decoded), so their videos are empty placeholder files.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from draqcore.evaluation import (
    DatasetIndex,
    LabelledVideo,
    read_kinetics,
    read_labelled_dir,
    read_penn_action,
    read_ucf101,
)

sio = pytest.importorskip("scipy.io")


# --- PennAction ----------------------------------------------------------------------------


def _penn_video(root: Path, video_id: str, frames: int, action: str, train: int, nframes: int | None = None) -> None:
    folder = root / "frames" / video_id
    folder.mkdir(parents=True)
    for i in range(frames):
        img = np.full((8, 8, 3), 20 * i, dtype=np.uint8)
        assert cv2.imwrite(str(folder / f"{i + 1:06d}.jpg"), img)
    _penn_mat(root, video_id, action, train, frames if nframes is None else nframes)


def _penn_mat(root: Path, video_id: str, action: str, train: int, nframes: int) -> None:
    (root / "labels").mkdir(exist_ok=True)
    sio.savemat(
        str(root / "labels" / f"{video_id}.mat"),
        {
            "action": action,
            "pose": "front",
            "nframes": np.array([[nframes]], dtype=np.float64),  # MATLAB stores doubles
            "train": np.array([[train]], dtype=np.float64),
            "x": np.zeros((nframes, 13)),
        },
    )


def _phase_file(root: Path, split: str, action: str, name: str, content: np.ndarray | str) -> Path:
    folder = root / "penn_action_labels" / split / action
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content)
    return path


@pytest.fixture
def penn(tmp_path: Path) -> Path:
    root = tmp_path / "Penn_Action"
    _penn_video(root, "0001", 4, "baseball_pitch", 1)
    _penn_video(root, "0002", 3, "bowl", -1)
    _penn_video(root, "0004", 2, "squat", -1, nframes=5)   # .mat disagrees with the images
    _penn_mat(root, "0003", "jump_rope", 1, 6)             # labels but no frames
    _phase_file(root, "train", "baseball_pitch", "0001.npy", np.array([0, 0, 1, 2]))
    # 6 labels for 3 images: resampled t -> labels[floor(t * 6 / 3)] = labels[0], [2], [4]
    _phase_file(root, "val", "bowling", "0002.txt", "0\n1\n2\n3\n4\n5\n")
    return root


def test_penn_action_layout(penn):
    idx = read_penn_action(penn)
    assert isinstance(idx, DatasetIndex) and idx.dataset == "PennAction"
    assert [v.path.name for v in idx] == ["0001", "0002", "0004"]
    v1, v2, v4 = idx.videos
    assert (v1.class_name, v1.split) == ("baseball_pitch", "train")
    np.testing.assert_array_equal(v1.phases, [0, 0, 1, 2])
    # phase folder split wins over the .mat split; class comes from the .mat ("bowl")
    assert (v2.class_name, v2.split) == ("bowl", "val")
    np.testing.assert_array_equal(v2.phases, [0, 2, 4])
    # no phase labels: official split from train = -1
    assert (v4.class_name, v4.split, v4.phases) == ("squat", "test", None)
    assert v1.path == penn / "frames" / "0001"
    assert idx.missing == (penn / "frames" / "0003",)
    assert any("0002: 6 phase labels resampled to its 3 images" in n for n in idx.notes)
    assert any("0004: 2 images but nframes = 5" in n for n in idx.notes)
    assert idx.classes == ["baseball_pitch", "bowl", "squat"]
    assert [v.path.name for v in idx.in_split("test")] == ["0004"]


def test_penn_action_phase_policies(penn):
    dropped = read_penn_action(penn, phase_length_mismatch="drop")
    assert dropped[1].phases is None and dropped[1].split == "val"
    assert any("0002: 6 phase labels for 3 images; phases dropped" in n for n in dropped.notes)
    with pytest.raises(ValueError, match="0002.txt: 6 phase labels for 3 images"):
        read_penn_action(penn, phase_length_mismatch="error")
    with pytest.raises(ValueError, match="phase_length_mismatch"):
        read_penn_action(penn, phase_length_mismatch="nearest")  # type: ignore[arg-type]
    only = read_penn_action(penn, require_phases=True)
    assert [v.path.name for v in only] == ["0001", "0002"]


def test_penn_action_phases_dir_and_orphans(penn, tmp_path):
    other = tmp_path / "elsewhere"
    (other / "train" / "golf").mkdir(parents=True)
    np.save(other / "train" / "golf" / "0004.npy", np.array([[3, 4]]))  # 2-D row vector
    np.save(other / "train" / "golf" / "0099.npy", np.array([1]))        # no such video
    idx = read_penn_action(penn, phases_dir=other)
    assert idx[0].phases is None and idx[0].split == "train"  # default phase folder not used
    np.testing.assert_array_equal(idx[2].phases, [3, 4])
    assert idx[2].split == "train"
    assert any("0099" in n for n in idx.notes)
    with pytest.raises(FileNotFoundError, match="phases_dir"):
        read_penn_action(penn, phases_dir=tmp_path / "nope")


def test_penn_action_bad_files(penn):
    _phase_file(penn, "val", "baseball_pitch", "0001.txt", "0\n1\n1\n2\n")
    with pytest.raises(ValueError, match="0001 has two phase-label files"):
        read_penn_action(penn)
    (penn / "penn_action_labels" / "val" / "baseball_pitch" / "0001.txt").unlink()
    _phase_file(penn, "train", "baseball_pitch", "0001.npy", np.array([0.5, 1, 1, 2]))
    with pytest.raises(ValueError, match="0001.npy: expected integer phase labels"):
        read_penn_action(penn)
    _phase_file(penn, "train", "baseball_pitch", "0001.npy", np.array([0, 1, 1, 2]))
    (penn / "labels" / "0005.mat").write_bytes(b"not a mat file")
    with pytest.raises(ValueError, match="0005.mat"):
        read_penn_action(penn)
    (penn / "labels" / "0005.mat").unlink()
    sio.savemat(str(penn / "labels" / "0005.mat"), {"action": "squat", "nframes": 3, "train": 0})
    with pytest.raises(ValueError, match="0005.mat: field 'train' should be 1"):
        read_penn_action(penn)
    sio.savemat(str(penn / "labels" / "0005.mat"), {"action": "squat", "train": 1})
    with pytest.raises(ValueError, match="0005.mat: has no field 'nframes'"):
        read_penn_action(penn)


def test_penn_action_needs_labels_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="root"):
        read_penn_action(tmp_path)


# --- the record ----------------------------------------------------------------------------


def test_labelled_video_phases_at_and_validation(tmp_path):
    phases = np.array([0, 0, 1, 1, 2])
    v = LabelledVideo(tmp_path / "clip.mp4", "swing", phases, "train")
    phases[0] = 9  # the record holds a copy
    np.testing.assert_array_equal(v.phases_at(np.array([0, 2, 4])), [0, 1, 2])
    assert not v.phases.flags.writeable
    with pytest.raises(ValueError, match=r"native_indices: must lie in \[0, 5\)"):
        v.phases_at(np.array([5]))
    with pytest.raises(ValueError, match="has no phase labels"):
        LabelledVideo(tmp_path / "x.mp4", "swing").phases_at(np.array([0]))
    with pytest.raises(ValueError, match="class_name"):
        LabelledVideo(tmp_path / "x.mp4", "")
    with pytest.raises(ValueError, match="phase labels must be >= 0"):
        LabelledVideo(tmp_path / "x.mp4", "swing", np.array([0, -1]))


# --- UCF101 --------------------------------------------------------------------------------


@pytest.fixture
def ucf(tmp_path: Path) -> Path:
    root = tmp_path / "ucf"
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    # CRLF line endings as in the official lists
    (lists / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n")
    (lists / "trainlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
        b"HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n"
    )
    (lists / "testlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nHandstandPushups/v_HandStandPushups_g01_c01.avi\r\n"
    )
    for rel in (
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi",  # on disk, in no list: ignored
    ):
        path = root / "UCF-101" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # placeholder: the reader never decodes
    return root


def test_ucf101_split_1(ucf):
    idx = read_ucf101(ucf)
    assert idx.dataset == "UCF101"
    got = [(v.path.name, v.class_name, v.split) for v in idx]
    assert got == [
        ("v_ApplyEyeMakeup_g08_c01.avi", "ApplyEyeMakeup", "train"),
        ("v_HandStandPushups_g08_c01.avi", "HandstandPushups", "train"),
        ("v_ApplyEyeMakeup_g01_c01.avi", "ApplyEyeMakeup", "test"),
    ]
    assert all(v.phases is None for v in idx)
    assert idx.missing == (ucf / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi",)


def test_ucf101_errors(ucf):
    with pytest.raises(ValueError, match="split: UCF101 has splits 1, 2 and 3"):
        read_ucf101(ucf, split=4)
    with pytest.raises(FileNotFoundError, match="trainlist02.txt"):
        read_ucf101(ucf, split=2)
    lists = ucf / "ucfTrainTestlist"
    (lists / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2\n")
    with pytest.raises(ValueError, match="trainlist01.txt: line 1: label 2 contradicts classInd.txt"):
        read_ucf101(ucf)
    (lists / "trainlist01.txt").write_text("Fencing/v_Fencing_g08_c01.avi 1\n")
    with pytest.raises(ValueError, match="class 'Fencing' is not in classInd.txt"):
        read_ucf101(ucf)
    (lists / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\n")
    with pytest.raises(ValueError, match="testlist01.txt: line 1: .* already listed in the train list"):
        read_ucf101(ucf)


# --- Kinetics ------------------------------------------------------------------------------


@pytest.fixture
def kinetics(tmp_path: Path) -> Path:
    root = tmp_path / "k700"
    root.mkdir()
    (root / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,-3B32lodo2M,59,69,train\n"
        '"air drumming",--nQbRBEz2s,104,114,train\n'
        "abseiling,gone1234567,0,10,train\n"
    )
    for rel in ("abseiling/-3B32lodo2M_000059_000069.mp4", "air drumming/--nQbRBEz2s_000104_000114.mp4"):
        path = root / "train" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # placeholder: the reader never decodes
    return root


def test_kinetics_layout_reports_missing(kinetics):
    idx = read_kinetics(kinetics, "train")
    assert idx.dataset == "Kinetics"
    assert [(v.path.parent.name, v.path.name, v.class_name, v.split) for v in idx] == [
        ("abseiling", "-3B32lodo2M_000059_000069.mp4", "abseiling", "train"),
        ("air drumming", "--nQbRBEz2s_000104_000114.mp4", "air drumming", "train"),
    ]
    assert idx.missing == (kinetics / "train" / "abseiling" / "gone1234567_000000_000010.mp4",)


def test_kinetics_errors(kinetics):
    with pytest.raises(FileNotFoundError, match="validate.csv"):
        read_kinetics(kinetics, "validate")
    with pytest.raises(ValueError, match="split: expected a plain"):
        read_kinetics(kinetics, "../train")
    (kinetics / "bad.csv").write_text("label,youtube_id,time_start\nabseiling,x,1\n")
    with pytest.raises(ValueError, match=r"bad.csv: missing column\(s\) \['time_end'\]"):
        read_kinetics(kinetics, "bad")
    (kinetics / "bad.csv").write_text("label,youtube_id,time_start,time_end\nabseiling,x,1.5,3\n")
    with pytest.raises(ValueError, match="bad.csv: line 2: time_start: expected an integer"):
        read_kinetics(kinetics, "bad")
    (kinetics / "bad.csv").write_text("label,youtube_id,time_start,time_end\na,x,1,3\na,x,1.0,3\n")
    with pytest.raises(ValueError, match="line 3: clip x_000001_000003.mp4 of 'a' is already on line 2"):
        read_kinetics(kinetics, "bad")


# --- the user's own folder -----------------------------------------------------------------


def test_labelled_dir(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"")  # placeholders: nothing is decoded
    (videos / "b.mp4").write_bytes(b"")
    doc = {
        "format": "draqcore-labels",
        "version": 1,
        "videos": [
            {"path": "a.mp4", "class": "swing", "phases": [0, 0, 1]},
            {"path": "b.mp4"},                        # no class: skipped, noted
            {"path": "c.mp4", "class": "swing"},      # not on disk: missing
            {"path": "../outside.mp4", "class": "x"},  # outside the folder: skipped, noted
        ],
    }
    (videos / "labels.json").write_text(json.dumps(doc))
    idx = read_labelled_dir(videos)
    assert idx.dataset == "labelled-dir"
    assert len(idx) == 1
    v = idx[0]
    assert (v.path, v.class_name, v.split) == ((videos / "a.mp4").resolve(), "swing", None)
    np.testing.assert_array_equal(v.phases, [0, 0, 1])
    assert idx.missing == ((videos / "c.mp4").resolve(),)
    assert any("no class" in n for n in idx.notes)
    assert any("1 entry of labels.json outside" in n for n in idx.notes)

    csv_file = tmp_path / "labels.csv"  # a CSV elsewhere, paths relative to it
    csv_file.write_text("path,class\nvideos/a.mp4,swing\nvideos/b.mp4,jump\n")
    idx = read_labelled_dir(videos, csv_file)
    assert [(p.path.name, p.class_name, p.phases) for p in idx] == [("a.mp4", "swing", None), ("b.mp4", "jump", None)]

    with pytest.raises(FileNotFoundError, match="labels_file"):
        read_labelled_dir(videos, tmp_path / "none.json")
    with pytest.raises(FileNotFoundError, match="directory"):
        read_labelled_dir(tmp_path / "nowhere")

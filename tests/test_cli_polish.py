"""The command line as a new user meets it: --version, help with defaults on every option, one
error format, usage errors, --out checked first, JSON output, terminal-safe names."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

import draqcore
from draqcore.cli import main
from draqcore.cli.main import build_parser


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "draqcore.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"draq (draqcore) {draqcore.__version__}"


def test_every_option_of_every_command_has_help_and_shows_its_default() -> None:
    commands = _subparsers()
    assert {"index", "check", "search", "align", "demo", "eval", "list", "remove", "prune"} <= set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"draq {name} {action.option_strings or action.dest}: no help text"
            shown_default = (action.default not in (None, False, [], argparse.SUPPRESS)
                             and (action.option_strings or action.nargs not in ("*", "?")))
            if shown_default and action.option_strings:
                # e.g. "(default: 10)" or a help text that states the default itself
                assert "default" in parser._get_formatter()._get_help_string(action).lower(), (name, action.dest)
        assert "usage: draq " + name in text


@pytest.mark.parametrize(
    "argv,message",
    [
        (["search", "q.mp4", "--collection", "c", "--candidates", "0"], "argument --candidates: expected an integer from 1"),
        (["search", "q.mp4", "--collection", "c", "--candidates", "-5"], "argument --candidates: expected an integer from 1"),
        (["search", "q.mp4", "--collection", "c", "--k", "99999999999999999999"], "argument --k: expected an integer from 1 to 2147483647"),
        (["search", "q.mp4", "--collection", "c", "--top", "2.5"], "argument --top: expected an integer, got '2.5'"),
        (["eval", "synthetic", "--classes", "0"], "argument --classes: expected an integer from 1"),
        (["align", "a", "b", "--out", "o", "--sample-fps", "1e308"], r"argument --sample-fps: expected frames per second in \(0, 1000\]"),
        (["align", "a", "b", "--out", "o", "--sample-fps", "nan"], "argument --sample-fps"),
        (["index", "x", "--collection", "c", "--sample-fps", "0"], "argument --sample-fps"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("draq"), last
    import re

    assert re.search(message, last), last


def test_errors_have_one_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["search", str(tmp_path / "q.mp4"), "--collection", str(tmp_path / "none")], "draq search: error: "),
        (["align", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "--out", str(tmp_path / "o")], "draq align: error: "),
        (["index", str(tmp_path / "missing"), "--collection", str(tmp_path / "c")], "draq index: error: "),
        (["list", str(tmp_path / "none")], "draq list: error: "),
    ]
    for argv, prefix in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(prefix), (argv, err)
    assert not (tmp_path / "o").exists()  # inputs are checked before the output folder is made


def test_out_is_checked_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from draqcore.synthetic import generate_dataset

    truths = generate_dataset(tmp_path / "v", classes=1, clips_per_class=2, hard_negatives_per_class=0, seed=1,
                              phase_count=3, size=(48, 32), frames=(20, 24), threads=1)
    a, b = (str(t.path) for t in truths[:2])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["align", a, b, "--out", str(blocker)]) == 1
    assert "--out" in capsys.readouterr().err and blocker.read_text() == "x"
    assert main(["align", a, b, "--out", str(blocker / "inside")]) == 1  # a file where a folder must go
    err = capsys.readouterr().err
    assert "cannot write there" in err and err.startswith("draq align: error: --out ")
    assert not list(tmp_path.glob("**/alignment.csv"))


def test_names_are_printed_terminal_safe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = tmp_path / "bad\nname\x1b[2J.mp4"
    assert main(["align", str(evil), str(evil), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and err.count("\n") == 1
    assert "\\x1b[2J" in err and "\\n" in err


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A collection of 4 clips (copies we may delete or change) and one failed file."""
    import shutil

    from draqcore.collection import Collection
    from draqcore.synthetic import generate_dataset

    truths = generate_dataset(tmp_path / "gen", classes=2, clips_per_class=2, hard_negatives_per_class=0, seed=2,
                              phase_count=3, size=(48, 32), frames=(20, 24), threads=1)
    src = tmp_path / "src"
    src.mkdir()
    clips = []
    for i, t in enumerate(truths):
        name = "ünïcödé clip.mp4" if i == 0 else f"clip{i}.mp4"
        clips.append(Path(shutil.copy(t.path, src / name)))
    broken = src / "broken.mp4"
    broken.write_bytes(b"\0not a video" * 50)
    with Collection.create(tmp_path / "coll") as coll:
        coll.add(clips + [broken], labels={c: ("a" if i % 2 else "b") for i, c in enumerate(clips)})
    return tmp_path / "coll", clips + [broken]


def test_list_shows_every_video_and_json_has_absolute_paths(small: tuple[Path, list[Path]],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    coll, files = small
    assert main(["list", str(coll)]) == 0
    out = capsys.readouterr().out
    for f in files:
        assert str(f.resolve()) in out
    assert "ünïcödé clip.mp4" in out and "failed" in out
    assert main(["list", str(coll), "--json"]) == 0
    raw = capsys.readouterr().out
    assert "ünïcödé" in raw  # non-ASCII written as is, not \\u escapes
    doc = json.loads(raw)
    assert doc["collection"] == str(coll.resolve()) and doc["draqcore_version"] == draqcore.__version__
    assert doc["sample_fps"] == 10.0
    assert {v["path"] for v in doc["videos"]} == {str(f.resolve()) for f in files}
    assert all(Path(v["path"]).is_absolute() and v["source_exists"] for v in doc["videos"])
    assert main(["list", str(coll), "--status", "failed", "--json"]) == 0
    assert [v["status"] for v in json.loads(capsys.readouterr().out)["videos"]] == ["failed"]


def test_search_json_names_collection_version_rate_and_absolute_paths(small: tuple[Path, list[Path]],
                                                                       capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    coll, files = small
    monkeypatch.chdir(files[1].parent)
    assert main(["search", files[1].name, "--collection", str(coll), "--top", "2", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["collection"] == str(coll.resolve()) and doc["sample_fps"] == 10.0
    assert doc["draqcore_version"] == draqcore.__version__
    assert doc["query"] == str(files[1].absolute())
    assert len(doc["hits"]) == 2 and all(Path(h["path"]).is_absolute() for h in doc["hits"])
    assert main(["search", str(files[1]), "--collection", str(coll), "--top", "3", "--candidates", "2"]) == 1
    assert "--candidates 2 is below --top 3" in capsys.readouterr().err


def test_check_reports_missing_sources_and_prune_removes_missing_and_changed(small: tuple[Path, list[Path]],
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from draqcore.collection import Collection

    coll, files = small
    files[2].unlink()
    assert main(["check", str(coll)]) == 0
    out = capsys.readouterr().out
    assert "note: 1 indexed source file(s) no longer exist" in out and str(files[2].resolve()) in out
    changed = files[1]
    changed.write_bytes(files[0].read_bytes())  # other content, same name
    assert main(["prune", str(coll), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would be removed" in out and "missing" in out and "changed" in out
    with Collection.open(coll) as c:
        assert len(c.videos()) == 5
    assert main(["prune", str(coll), "--missing-only"]) == 0
    with Collection.open(coll) as c:
        assert len(c.videos()) == 4 and all(r.path != str(files[2].resolve()) for r in c.videos())
    assert main(["prune", str(coll)]) == 0
    with Collection.open(coll) as c:
        paths = {r.path for r in c.videos()}
        assert str(changed.resolve()) not in paths and len(paths) == 3 and len(c) == 2
        ok = [r for r in c.videos() if r.ok]
        assert [h.video_id for h in c.search(c.features(ok[0].id), top=1)] == [ok[0].id]
    assert main(["check", str(coll)]) == 0
    assert "no longer exist" not in capsys.readouterr().out


def test_remove_by_path_and_id_and_unknown_removes_nothing(small: tuple[Path, list[Path]],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from draqcore.collection import Collection

    coll, files = small
    with Collection.open(coll) as c:
        first_id = c.videos()[0].id
    assert main(["remove", str(coll), str(files[4]), str(files[3].parent / "nope.mp4")]) == 1
    assert "nothing was removed" in capsys.readouterr().err
    with Collection.open(coll) as c:
        assert len(c.videos()) == 5
    assert main(["remove", str(coll), str(files[4]), "--id", str(first_id)]) == 0
    capsys.readouterr()
    with Collection.open(coll) as c:
        ids = {r.id for r in c.videos()}
        assert first_id not in ids and len(ids) == 3 and len(c) == 3
    assert main(["check", str(coll)]) == 0
    assert main(["remove", str(coll)]) == 1


def test_a_nul_in_an_argument_is_a_usage_error_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["index", "a\0b.mp4", "--collection", str(tmp_path / "c")]) == 2
    assert capsys.readouterr().err.strip() == "draq index: error: argument paths: contains a NUL character"
    assert main(["search", "q.mp4", "--collection", "c\0d"]) == 2
    assert "argument collection: contains a NUL" in capsys.readouterr().err


def test_a_dangling_link_is_reported_under_its_own_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from draqcore.collection import Collection

    folder = tmp_path / "videos"
    folder.mkdir()
    link = folder / "clip.mp4"
    link.symlink_to(tmp_path / "gone" / "target.mp4")
    assert main(["index", str(folder), "--collection", str(tmp_path / "c"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"failed: {link.parent.resolve() / 'clip.mp4'}" in err and "target.mp4:" not in err.split("failed: ")[1].split(":")[0]
    with Collection.open(tmp_path / "c") as c:
        assert [r.path for r in c.videos()] == [str(link.parent.resolve() / "clip.mp4")]


@pytest.mark.parametrize("limit", [20_000, 60_000, 150_000])
def test_a_full_disk_is_one_line_naming_the_file(tmp_path: Path, limit: int) -> None:
    """Writes that fail (a file-size limit stands in for a full disk: the same write errors)
    print one line that names the file being written, and lose nothing already committed."""
    import resource
    import signal

    from draqcore.collection import Collection
    from draqcore.synthetic import generate_dataset

    truths = generate_dataset(tmp_path / "v", classes=2, clips_per_class=3, hard_negatives_per_class=0, seed=3,
                              phase_count=3, size=(48, 32), frames=(30, 40), threads=1)

    def limited() -> None:  # pragma: no cover - runs in the child
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    coll = tmp_path / "coll"
    proc = subprocess.run([sys.executable, "-m", "draqcore.cli", "index", str(tmp_path / "v"), "--collection", str(coll),
                           "--quiet"], capture_output=True, text=True, preexec_fn=limited, timeout=300)
    if proc.returncode == 0:
        pytest.skip(f"everything fit under {limit} bytes")
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("draq index: ")]
    assert len(lines) == 1 and lines[0].startswith("draq index: error: "), proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr and "OperationalError" not in proc.stderr
    assert "DRAQ_TRACEBACK" not in proc.stderr  # an anticipated error, not a bug
    assert str(coll) in lines[0], lines[0]  # the file that could not be written
    if (coll / "catalog.sqlite").exists():
        with Collection.open(coll) as c:  # what was committed is intact
            assert all(r.ok for r in c.videos())
        assert main(["check", str(coll), "--quiet"]) == 0


def test_warnings_are_one_line_in_the_command_format(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    import draqcore.cli.check as check_command

    def warn(args: argparse.Namespace) -> int:
        warnings.warn("something odd\nabout \x1b[1mthis", UserWarning, stacklevel=2)
        return 0

    monkeypatch.setattr(check_command, "run", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["check", "x"]) == 0
    err = capsys.readouterr().err
    assert err == "draq check: warning: something odd\\nabout \\x1b[1mthis\n"


def test_remove_refuses_a_single_path_instead_of_iterating_its_characters(small: tuple[Path, list[Path]]) -> None:
    from draqcore.collection import Collection

    coll, files = small
    with Collection.open(coll) as c:
        for single in (str(files[0]), files[0], c.videos()[0].id, c.videos()[0]):
            with pytest.raises(TypeError, match="wrap it in a list"):
                c.remove(single)  # type: ignore[arg-type]
        assert len(c.videos()) == 5
        removed = c.remove([files[0]])
        assert [r.path for r in removed] == [str(files[0].resolve())] and len(c.videos()) == 4


_WRITE_OUTPUTS = """
import resource, signal, sys
from draqcore.align import align_videos
from draqcore.outputs.bundle import write_alignment_outputs
alignment = align_videos(sys.argv[1], sys.argv[2])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))
only = sys.argv[4]
try:
    write_alignment_outputs(alignment, sys.argv[3], plot=only == "plot", video=only == "video",
                            timeline=only == "timeline", viewer=False)
except OSError as exc:
    print("ERR", exc.filename, exc.strerror)
else:
    print("OK")
"""


@pytest.mark.parametrize("only", ["plot", "video", "timeline"])
def test_a_failed_output_write_fails_and_names_the_file(tmp_path: Path, only: str) -> None:
    """A write that fails midway (a file-size limit here, a full disk in life) is an error naming
    the output, never an output reported as written."""
    from draqcore.synthetic import generate_dataset

    truths = generate_dataset(tmp_path / "v", classes=1, clips_per_class=2, hard_negatives_per_class=0, seed=3,
                              phase_count=3, size=(64, 48), frames=(30, 40), threads=1)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", _WRITE_OUTPUTS, str(truths[0].path), str(truths[1].path), str(out), only],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    name = {"plot": "cost_matrix.png", "video": "side_by_side.mp4", "timeline": "timeline.otio"}[only]
    assert proc.stdout.strip().startswith(f"ERR {out / name} "), proc.stdout


def test_ray_never_takes_an_input_path_for_its_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # argparse gives `--ray [ADDRESS]` the next word: `draq eval retime --ray clip.mp4` took the
    # video for a cluster address and then said "name at least one video".
    from draqcore.cli.common import CommandError, ray_inputs_back
    from draqcore.cli.main import build_parser

    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded here")
    args = build_parser("eval").parse_args(["eval", "retime", "--ray", str(video)])
    ray_inputs_back(args, "inputs")
    assert args.ray == "local" and args.inputs == [str(video)]
    args = build_parser("index").parse_args(["index", "--ray", str(video), str(tmp_path), "--collection", "c"])
    ray_inputs_back(args, "paths")
    assert args.ray == "local" and args.paths == [str(video), str(tmp_path)]
    for address in ("auto", "ray://10.0.0.1:10001", "127.0.0.1:6379"):  # addresses stay addresses
        args = build_parser("index").parse_args(["index", str(video), "--ray", address, "--collection", "c"])
        ray_inputs_back(args, "paths")
        assert args.ray == address and args.paths == [str(video)]
    args = build_parser("search").parse_args(["search", "--batch", str(tmp_path), "--ray", str(video), "--collection", "c"])
    ray_inputs_back(args, "query")
    assert args.ray == "local" and args.query == str(video)  # then refused by run: one QUERY or --batch
    args = build_parser("search").parse_args(["search", str(video), "--ray", str(tmp_path), "--collection", "c"])
    with pytest.raises(CommandError, match="a Ray address is expected there"):
        ray_inputs_back(args, "query")
    # Through main: the video reaches the command (which then needs Ray, or refuses the mix).
    assert main(["search", "--batch", str(tmp_path), "--ray", str(video), "--collection", str(tmp_path / "c")]) != 0
    assert "give one QUERY or --batch QUERIES_DIR" in capsys.readouterr().err

"""Reliability of collections: bad inputs, SIGKILL at any moment, one writer at a time.

The crash tests kill a real ``python -m draqcore.cli index`` process: either at a named point
through the test hook ``DRAQCORE_TEST_KILL_AT`` (:mod:`draqcore.store.testhooks`), or after a
delay. Then they run the same command again and compare the collection with one built by an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional, Union

import cv2
import numpy as np
import pytest

from draqcore import ShortSequenceWarning
from draqcore.cli import main
from draqcore.collection import Collection, CollectionLockedError
from draqcore.features.base import make_identity
from draqcore.store.ann_index import AnnIndex
from draqcore.store.integrity import check_collection
from draqcore.store.testhooks import KILL_ENV
from draqcore.synthetic import generate_dataset

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals, FIFOs and flock")


class _Hung(BaseException):
    """Not an Exception: no ``except Exception`` (or ``OSError``) in the code under test eats it."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the test run) if the block takes longer than ``seconds``."""

    def expired(signum: int, frame: Any) -> None:
        raise _Hung(f"still running after {seconds} s: something blocks")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """action00/ and action01/ with 3 small clips each, labels.json and truth.json."""
    root = tmp_path_factory.mktemp("videos")
    truths = generate_dataset(root, classes=2, clips_per_class=2, hard_negatives_per_class=1, seed=11,
                              size=(48, 32), frames=(24, 30), threads=2)
    assert len(truths) == 6
    junk = root / "junk"  # files that fail, for the crash tests
    junk.mkdir()
    (junk / "corrupt.mp4").write_bytes(np.random.default_rng(5).bytes(4000))
    (junk / "notes.txt").write_text("hello\n")
    (junk / "empty.mp4").write_bytes(b"")
    return root


def _good(videos: Path) -> list[Path]:
    return sorted(videos.glob("action*/*.mp4"))


# -- a folder from the wild ------------------------------------------------------------------------


def _wild_folder(videos: Path, root: Path) -> dict[str, Optional[str]]:
    """Good videos plus every kind of bad file; returns {name: expected words in the reason}
    (None for a file that must be indexed)."""
    good = _good(videos)
    root.mkdir()
    shutil.copyfile(good[0], root / "good.mp4")
    (root / "sub").mkdir()
    shutil.copyfile(good[3], root / "sub" / "good2.mp4")
    frames = root / "frames"  # an image sequence: one video
    frames.mkdir()
    for i in range(6):
        cv2.imwrite(str(frames / f"f{i}.png"), np.full((32, 48, 3), 40 * i, np.uint8))
    rng = np.random.default_rng(3)
    (root / "corrupt.mp4").write_bytes(rng.bytes(6000))
    (root / "truncated.mp4").write_bytes(good[1].read_bytes()[:700])
    (root / "empty.mp4").write_bytes(b"")
    writer = cv2.VideoWriter(str(root / "zero.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (48, 32))
    writer.release()  # a container without a single frame
    (root / "notes.txt").write_text("not a video\n")
    (root / "data.bin").write_bytes(rng.bytes(3000))
    os.symlink(root / "gone.mp4", root / "dangling.mp4")  # unreadable: the target is missing
    os.mkfifo(root / "pipe.mp4")  # opening it for reading would block forever
    os.symlink("loop.mp4", root / "loop.mp4")  # unreadable: ELOOP
    bad_name = os.path.join(os.fsencode(root), b"caf\xe9.mp4")  # Latin-1 name, not UTF-8
    with open(bad_name, "wb") as fh:
        fh.write(good[2].read_bytes())
    expected: dict[str, Optional[str]] = {
        "good.mp4": None, "good2.mp4": None, "frames": None,
        "corrupt.mp4": "cannot open it as a video", "truncated.mp4": "cannot open it as a video",
        "empty.mp4": "empty", "zero.avi": "no decodable frames", "notes.txt": "text file",
        "data.bin": "cannot open it as a video", "dangling.mp4": "no such file", "pipe.mp4": "not a regular file",
        "loop.mp4": "symbolic links", "caf\\xe9.mp4": "not valid utf-8",
    }
    if os.geteuid() != 0:  # root reads anything: no unreadable file for it
        locked = root / "locked.mp4"
        shutil.copyfile(good[1], locked)
        locked.chmod(0)
        expected["locked.mp4"] = "permission denied"
    # Never attempted: hidden files, labels files, a still image next to videos.
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "labels.json").write_text('{"format": "draqcore-labels", "version": 1, "videos": []}')
    cv2.imwrite(str(root / "thumbnail.jpg"), np.zeros((8, 8, 3), np.uint8))
    return expected


def test_index_a_folder_from_the_wild(videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "wild"
    expected = _wild_folder(videos, folder)
    coll = tmp_path / "coll"
    with _deadline(30):
        assert main(["index", str(folder), "--collection", str(coll), "--quiet"]) == 0
    out, err = capsys.readouterr()
    n_failed = sum(v is not None for v in expected.values())
    assert f"indexed 3 new, skipped 0 unchanged, {n_failed} failed" in out and "holds 3 videos" in out
    assert "ignored 3 entries" in out  # .DS_Store, labels.json, thumbnail.jpg
    with Collection.open(coll) as c:
        rows = {Path(r.path).name: r for r in c.videos()}
        assert set(rows) == set(expected), "every file but the ignored ones is in the catalog"
        for name, words in expected.items():
            rec = rows[name]
            if words is None:
                assert rec.ok, f"{name}: {rec.reason}"
            else:
                assert rec.status == "failed" and words in (rec.reason or "").lower(), (name, rec.reason)
                assert f"failed: {rec.path}: " in err  # the summary lists every failure
        # "frames" holds 3 frames: re-ranking it by DRAQ says so.
        with pytest.warns(ShortSequenceWarning, match="10 x 3 frames"):
            assert len(c.search(folder / "good.mp4", top=3)) == 3
    assert check_collection(coll).ok
    # Strict mode: the same run exits 1 because files failed (they are retried, and fail again).
    with _deadline(30):
        assert main(["index", str(folder), "--collection", str(coll), "--quiet", "--strict"]) == 1
    assert f"{n_failed} failed" in capsys.readouterr().out


class _Flaky:
    """A tiny extractor (mean colour per frame) that fails on dark videos with a non-ValueError."""

    name = "test-flaky"
    params: dict[str, Any] = {}
    dim = 3

    def identity(self) -> dict[str, Any]:
        return make_identity(self.name, self.params, "1", self.dim)

    def extract(self, frames: Iterable[np.ndarray]) -> np.ndarray:
        rows = np.asarray([f.reshape(-1, 3).mean(axis=0) for f in frames], dtype=np.float32)
        if rows.mean() < 20:
            raise MemoryError("frame buffer exhausted")
        return rows


def test_an_extractor_crash_fails_one_video_not_the_run(videos: Path, tmp_path: Path) -> None:
    frames = tmp_path / "dark"
    frames.mkdir()
    for i in range(4):
        cv2.imwrite(str(frames / f"{i}.png"), np.zeros((16, 16, 3), np.uint8))
    with Collection.create(tmp_path / "coll", extractor=_Flaky()) as c:  # type: ignore[arg-type]
        report = c.add([frames] + _good(videos)[:2])
        assert len(report.added) == 2
        ((path, reason),) = report.failed
        assert path == str(frames) and reason == "MemoryError: frame buffer exhausted"
        assert c.videos()[0].reason == reason


# -- SIGKILL at any moment, then resume --------------------------------------------------------------


def _argv(videos: Path, run: int, coll: Path) -> list[str]:
    """The two runs of the procedure: first action00/, then the whole tree (3 new, 3 failing)."""
    target = videos / "action00" if run == 1 else videos
    return ["index", str(target), "--collection", str(coll), "--labels", str(videos / "labels.json"), "--quiet"]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _cli(argv: list[str], kill_at: Optional[str] = None, kill_after: Optional[float] = None) -> int:
    """Run ``python -m draqcore.cli ARGV``; SIGKILL it at a named point (``kill_at``), or
    ``kill_after`` seconds after its first append to ``features.f32`` shows."""
    env = dict(os.environ)
    env.pop(KILL_ENV, None)
    if kill_at is not None:
        env[KILL_ENV] = kill_at
    proc = subprocess.Popen([sys.executable, "-m", "draqcore.cli", *argv], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is not None:
        features = Path(argv[argv.index("--collection") + 1]) / "features/000000.f32"
        start, give_up = _size(features), time.monotonic() + 60
        while proc.poll() is None and _size(features) <= max(start, 0) and time.monotonic() < give_up:
            time.sleep(0.001)
        time.sleep(kill_after)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    if kill_at is None and proc.returncode != 0 and proc.returncode != -signal.SIGKILL:
        raise AssertionError(err.decode(errors="replace"))
    return proc.returncode


def _content(coll: Path, queries: list[Path]) -> dict[str, Any]:
    """Everything a user can observe, keyed by path (ids are not content: a failed file that is
    retried gets a new id, see docs/collection.md)."""
    with Collection.open(coll) as c:
        rows = {}
        for r in c.videos():
            d = r.to_dict()
            del d["id"], d["added"]
            if r.ok:
                d["frame_times"] = c.frame_times(r).tolist()
                d["frame_indices"] = c.frame_indices(r).tolist()
                d["features"] = c.features(r).tobytes()
            rows[r.path] = d
        n = len(c)
        hits = []
        for q in queries:
            for h in c.search(q, top=n, candidates=n):
                d = h.to_dict()
                del d["video_id"]
                d["similarity"] = round(d["similarity"], 5)
                hits.append(d)
        path_of = {r.id: r.path for r in c.videos()}
    index = AnnIndex.load(coll / "index")
    return {
        "rows": rows,
        "hits": hits,
        "features_file": (coll / "features/000000.f32").read_bytes(),
        "index": sorted((path_of[int(v)], m.tobytes()) for v, m in zip(index.ids, index.clip_means)),
        "index_stats": (index.mean.tobytes(), index.scale.tobytes()),
    }


@pytest.fixture(scope="module")
def reference(videos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The collection after the two runs, uninterrupted."""
    coll = tmp_path_factory.mktemp("reference") / "coll"
    assert main(_argv(videos, 1, coll)) == 0
    assert main(_argv(videos, 2, coll)) == 0
    return _content(coll, _good(videos)[::3])


# (run, kill points of the attempts before the one that completes). Run 2 commits action01's 3
# videos (commit:1..3) then the 3 junk failures (commit:4..6); action00 is skipped.
KILLS: list[tuple[int, list[Union[str, float]]]] = [
    (1, ["create"]),                     # an empty collection, lock held
    (1, ["append:1"]),                   # orphan rows of the first video ever
    (1, ["commit:2"]),                   # two videos committed, no index yet
    (1, ["index-generation"]),           # all committed, first index half-saved
    (2, ["append:1"]),                   # orphan rows; a stale index
    (2, ["commit:4"]),                   # a failed row committed
    (2, ["commit:6"]),                   # everything committed, the index stale
    (2, ["index-generation"]),           # new generation written, manifest still old
    (2, ["index-manifest"]),             # manifest replaced, old generation still there
    (2, ["append:2", "commit:1", "append:1"]),  # killed three times in a row
    (2, [0.0, 0.015, 0.03]),             # killed a moment after it starts appending, wherever it is
    (1, [0.005, 0.02]),
]


@pytest.mark.parametrize(("run", "kills"), KILLS, ids=lambda v: str(v))
def test_sigkill_then_resume_equals_an_uninterrupted_run(videos: Path, reference: dict[str, Any], tmp_path: Path,
                                                         run: int, kills: list[Union[str, float]]) -> None:
    coll = tmp_path / "coll"
    for r in (1, 2):
        if r == run:
            for kill in kills:
                if isinstance(kill, str):
                    assert _cli(_argv(videos, r, coll), kill_at=kill) == -signal.SIGKILL, kill
                else:  # a delay: most often it dies mid-run, it may also have finished
                    assert _cli(_argv(videos, r, coll), kill_after=kill) in (0, -signal.SIGKILL)
            assert _cli(_argv(videos, r, coll)) == 0  # the rerun: a real process again
        else:
            assert main(_argv(videos, r, coll)) == 0
    got = _content(coll, _good(videos)[::3])
    assert got["rows"] == reference["rows"]
    assert got["features_file"] == reference["features_file"]  # orphans cut, nothing appended twice
    assert got["index"] == reference["index"] and got["index_stats"] == reference["index_stats"]
    assert got["hits"] == reference["hits"]
    report = check_collection(coll)
    assert report.ok and report.notes == [], report.lines()


def test_orphans_are_cut_by_a_writer_and_left_alone_by_a_reader(videos: Path, tmp_path: Path) -> None:
    coll = tmp_path / "coll"
    assert main(_argv(videos, 1, coll)) == 0
    assert _cli(_argv(videos, 2, coll), kill_at="append:2") == -signal.SIGKILL
    size = (coll / "features/000000.f32").stat().st_size
    index_files = sorted(p.name for p in (coll / "index").rglob("*"))
    with Collection.open(coll) as c:  # a reader sees the 4 committed videos, touches nothing
        rows = sum(r.num_frames for r in c.videos() if r.ok)
        assert size > rows * c.dim * 4  # the 5th video's rows: appended, never committed
        assert len(c) == 4 and len(c.search(_good(videos)[0], top=4)) == 4
    assert (coll / "features/000000.f32").stat().st_size == size
    assert sorted(p.name for p in (coll / "index").rglob("*")) == index_files  # stale, not rebuilt
    with Collection.open(coll, write=True) as c:  # a writer cuts the orphans on open
        assert (coll / "features/000000.f32").stat().st_size == rows * c.dim * 4
    assert check_collection(coll).notes == ["index/: stale: holds 3 videos, the catalog 4 ok (1 not indexed yet, "
                                            "0 no longer ok); the next writer rebuilds it, searches build an "
                                            "up-to-date one in memory"]


# -- one writer at a time -----------------------------------------------------------------------------


_HOLDER = """
import sys
from draqcore.collection import Collection
coll = Collection.open(sys.argv[1], write=True)
print("holding", flush=True)
sys.stdin.read()  # until the test kills us
"""


def test_a_second_writer_is_refused_and_a_killed_writer_leaves_no_lock(
        videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    coll = tmp_path / "coll"
    good = _good(videos)
    with Collection.create(coll) as c:
        c.add(good[:3])
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(coll)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        # A second writer fails at once, with a clear message; the CLI exits 1.
        started = time.monotonic()
        assert main(["index", str(good[3]), "--collection", str(coll), "--quiet"]) == 1
        assert "locked by another writer" in capsys.readouterr().err
        assert time.monotonic() - started < 10
        with pytest.raises(CollectionLockedError, match=f"process {holder.pid}"):
            Collection.open(coll, write=True)
        # Readers need no lock.
        assert main(["search", str(good[0]), "--collection", str(coll), "--top", "2"]) == 0
        with Collection.open(coll) as reader:
            assert len(reader.search(good[1], top=3)) == 3
            with pytest.raises(CollectionLockedError):
                reader.add([good[3]])  # its first write needs the lock
            assert not reader.writer and len(reader) == 3
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    assert holder.returncode == -signal.SIGKILL
    # The operating system released the dead writer's lock: no stale lock to remove.
    with Collection.open(coll, write=True) as c:
        assert c.writer and len(c.add([good[3]]).added) == 1


def test_writers_in_one_process_exclude_each_other(videos: Path, tmp_path: Path) -> None:
    coll = tmp_path / "coll"
    good = _good(videos)
    writer = Collection.create(coll)
    try:
        assert writer.writer
        with pytest.raises(CollectionLockedError, match="locked"):
            Collection.open(coll, write=True)
        with pytest.raises(CollectionLockedError):
            Collection.create(coll, exist_ok=True)
        writer.add(good[:2])
        with Collection.open(coll) as reader:  # sees what the writer committed
            assert len(reader) == 2
            assert {Path(h.path) for h in reader.search(good[0], top=2)} == {p.resolve() for p in good[:2]}
            writer.add(good[2:4])  # the writer goes on; the open reader sees the new state
            assert len(reader) == 4
            hits = reader.search(good[3], top=4)
            assert len(hits) == 4 and Path(hits[0].path) == good[3].resolve()
            np.testing.assert_array_equal(reader.features(good[3]), writer.features(good[3]))
    finally:
        writer.close()
    with Collection.open(coll, write=True) as again:  # close() released the lock
        assert len(again) == 4


def test_an_interrupted_create_does_not_block_the_next(tmp_path: Path) -> None:
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / ".lock").write_text("12345\n")  # a lock file without a lock: a dead writer's
    (coll / "catalog.sqlite.0123456789ab.tmp").write_bytes(b"half a catalog")
    with Collection.create(coll) as c:
        assert len(c) == 0
    assert sorted(p.name for p in coll.iterdir()) == [".lock", "catalog.sqlite", "features"]


def test_readers_search_while_a_process_writes(videos: Path, tmp_path: Path) -> None:
    """Every search during a real `draq index` succeeds and sees a growing, committed state."""
    coll = tmp_path / "coll"
    assert main(_argv(videos, 1, coll)) == 0
    query = _good(videos)[0]
    proc = subprocess.Popen([sys.executable, "-m", "draqcore.cli", *_argv(videos, 2, coll)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = []
    with Collection.open(coll) as reader:
        while proc.poll() is None:
            hits = reader.search(query, top=6, candidates=6)
            seen.append(len(hits))
            assert Path(hits[0].path) == query.resolve()
        _, err = proc.communicate()
        assert proc.returncode == 0, err.decode(errors="replace")
        assert len(reader.search(query, top=6, candidates=6)) == 6  # and then the final state
    assert seen and seen == sorted(seen) and seen[0] >= 3, seen

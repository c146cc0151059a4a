"""The writer lock: exclusive across processes and within one, released by close and by death."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from draqcore.store.lock import LOCK_FILENAME, CollectionLockedError, WriterLock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals, FIFOs and flock")


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    first = WriterLock.acquire(tmp_path)
    assert first.held and first.path == tmp_path / LOCK_FILENAME
    with pytest.raises(CollectionLockedError, match="locked by another writer") as info:
        WriterLock.acquire(tmp_path)  # the same process, another open file: refused too
    assert isinstance(info.value, OSError) and info.value.errno == errno.EWOULDBLOCK
    first.release()
    first.release()  # idempotent
    assert not first.held
    with WriterLock.acquire(tmp_path) as second:
        assert second.held
    assert (tmp_path / LOCK_FILENAME).exists()  # the file stays; only the lock goes


def test_a_dropped_lock_object_releases(tmp_path: Path) -> None:
    WriterLock.acquire(tmp_path)  # not kept: garbage, released by __del__
    WriterLock.acquire(tmp_path).release()


_HOLD = "import sys; from draqcore.store.lock import WriterLock; l = WriterLock.acquire(sys.argv[1]); print('held', flush=True); sys.stdin.read()"


def test_another_process_is_excluded_until_it_dies(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        with pytest.raises(CollectionLockedError, match=rf"\(process {proc.pid}\)"):
            WriterLock.acquire(tmp_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    WriterLock.acquire(tmp_path).release()  # SIGKILL released it: no stale lock


def test_an_unwritable_place_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        WriterLock.acquire(tmp_path / "missing" / "dir")


def _child(fn) -> int:
    """Run ``fn`` in a forked child; its exit status (0 when fn returned, 1 on an exception)."""
    import os

    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            fn()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_cannot_release_the_parents_lock(tmp_path: Path) -> None:
    lock = WriterLock.acquire(tmp_path)

    def in_child() -> None:
        assert not lock.held  # the child never holds its parent's lock
        lock.release()        # only closes the child's copy of the descriptor
        lock.release()

    assert _child(in_child) == 0
    assert lock.held
    # Another process is still excluded: the parent's lock survived the child's release.
    probe = subprocess.run([sys.executable, "-c", "import sys; from draqcore.store.lock import WriterLock; "
                            "WriterLock.acquire(sys.argv[1])", str(tmp_path)], capture_output=True, text=True)
    assert probe.returncode != 0 and "locked by another writer" in probe.stderr
    with pytest.raises(CollectionLockedError):
        WriterLock.acquire(tmp_path)
    lock.release()
    WriterLock.acquire(tmp_path).release()


def test_a_child_that_exits_or_drops_the_lock_object_keeps_the_parents_lock(tmp_path: Path) -> None:
    import gc
    import multiprocessing

    lock = WriterLock.acquire(tmp_path)
    assert _child(lambda: (gc.collect(), None)) == 0
    ctx = multiprocessing.get_context("fork")
    worker = ctx.Process(target=lock.release)
    worker.start()
    worker.join(30)
    assert worker.exitcode == 0
    with pytest.raises(CollectionLockedError):
        WriterLock.acquire(tmp_path)
    lock.release()

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

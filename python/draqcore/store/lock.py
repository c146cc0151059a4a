"""The writer lock of a collection: an advisory lock on ``<collection>/.lock``.

At most one :class:`WriterLock` of a collection exists at a time, across processes and within
one process. It is an ``flock(LOCK_EX | LOCK_NB)`` on the file ``.lock`` (``msvcrt.locking`` on
Windows), held through an open file descriptor for as long as the writer lives:

* a second writer fails at once with :class:`CollectionLockedError` (it never waits, so a stuck
  writer cannot hang another one);
* :meth:`WriterLock.release` (from :meth:`draqcore.collection.Collection.close`) unlocks it, and
  the operating system unlocks it when the process dies in any way (SIGKILL, power cut of the
  process, ``os._exit``): there is no stale lock to clean up. The file itself stays (removing a
  lock file that another process may be opening breaks the lock), it is empty but for the pid
  of the last writer, shown in the error message.

Only the process that took the lock releases it. ``flock`` locks belong to the open file
description, which a forked child shares through its copy of the descriptor: a child that unlocked
it would admit a second writer while the parent still writes. So a child forgets every lock it
inherited the moment it is forked (``os.register_at_fork``: its copy of the descriptor is closed,
which leaves the parent's lock in place), :attr:`WriterLock.held` is False in it, and
:meth:`WriterLock.release` from any other process than the owner only closes that process's copy.

Readers take no lock. ``flock`` locks belong to an open file description, so two writers in one
process exclude each other too. They are advisory (only draqcore honours them) and, like SQLite's
WAL mode, need a local file system: on a network file system the lock may not exclude a writer
on another machine.
"""

from __future__ import annotations

import errno
import os
import weakref
from pathlib import Path
from typing import Optional, Union

try:  # POSIX
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None  # type: ignore[assignment]

__all__ = ["CollectionLockedError", "LOCK_FILENAME", "WriterLock"]

LOCK_FILENAME: str = ".lock"


class CollectionLockedError(OSError):
    """The collection is being written by someone else (another process or Collection).

    An ``OSError`` (``errno`` ``EWOULDBLOCK``): the resource is busy, try again when the other
    writer has finished.
    """


def _try_lock(fd: int) -> bool:
    """Take an exclusive lock without waiting; False if another holder has it."""
    if _fcntl is not None:
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True
    import msvcrt  # pragma: no cover - Windows

    try:  # pragma: no cover - Windows
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover - Windows
        return False
    return True  # pragma: no cover - Windows


def _unlock(fd: int) -> None:
    if _fcntl is not None:
        _fcntl.flock(fd, _fcntl.LOCK_UN)
        return
    import msvcrt  # pragma: no cover - Windows

    os.lseek(fd, 0, os.SEEK_SET)  # pragma: no cover - Windows
    msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # pragma: no cover - Windows


#: Locks of this process, forgotten in a forked child (see the module notes).
_LIVE: "weakref.WeakSet[WriterLock]" = weakref.WeakSet()


def _forget_inherited_locks() -> None:
    for lock in list(_LIVE):
        lock._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_locks)


class WriterLock:
    """The exclusive writer lock of one collection directory; see the module notes.

    Use :meth:`acquire`; :meth:`release` (idempotent) or a ``with`` block gives it back.
    """

    def __init__(self, path: Path, fd: int) -> None:
        # Private: use WriterLock.acquire.
        self._path = path
        self._fd: Optional[int] = fd
        self._owner = os.getpid()
        _LIVE.add(self)

    @classmethod
    def acquire(cls, directory: Union[str, "os.PathLike[str]"]) -> "WriterLock":
        """Lock ``directory/.lock`` (created if missing) without waiting.

        Raises
        ------
        CollectionLockedError
            Another writer holds the lock; the message names the collection and, if known,
            the process id of the holder.
        OSError
            The lock file cannot be created or opened (e.g. a read-only directory).
        """
        root = Path(directory)
        path = root / LOCK_FILENAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            if not _try_lock(fd):
                holder = ""
                try:
                    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    if text.isdigit():
                        holder = f" (process {text})"
                except (OSError, AttributeError):
                    pass
                exc = CollectionLockedError(
                    f"collection {root}: is locked by another writer{holder}; only one process may "
                    "add to a collection at a time (searching needs no lock). Try again when it "
                    "has finished"
                )
                exc.errno = errno.EWOULDBLOCK
                raise exc
            # Informational only: the lock is the flock, not this content.
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    @property
    def path(self) -> Path:
        """The lock file."""
        return self._path

    @property
    def held(self) -> bool:
        """True until :meth:`release`, and only in the process that acquired it."""
        return self._fd is not None and self._owner == os.getpid()

    @property
    def owner(self) -> int:
        """Process id of the process that acquired the lock."""
        return self._owner

    def _forget(self) -> None:
        """Close this process's copy of the descriptor without unlocking (a forked child)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def release(self) -> None:
        """Unlock and close the lock file (idempotent). The file is left in place.

        In any process but the one that acquired the lock this only closes that process's
        descriptor: the owner keeps its lock.
        """
        if self._owner != os.getpid():
            self._forget()
            return
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "WriterLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a writer dropped without close(): do not keep the lock forever
        try:
            self.release()
        except Exception:
            pass

"""A file opened once and read later, only while it is still the file that was verified.

An index of a million clips need not keep every byte it verified in memory: most of
``clip_means.npy`` is never looked at again (a search needs the rows of its few candidates).
:class:`PinnedFile` keeps the file open and reads ranges of it on demand with ``os.pread``;
after every read it compares the file's identity (device, inode, size, mtime and ctime:
:func:`draqcore.store.verdicts.identity`) with the one taken when the file was opened, and
refuses (``ValueError`` naming the file) bytes from a file that was written to, truncated,
``chmod``-ed or ``utime``-d since. A file replaced or removed (what a writer's save does to older
generations) is not affected: the open descriptor still reads the verified inode. Unlinking sets
a file's ctime too, so for a file with no name left (``st_nlink == 0``) only its device, inode,
size and mtime are compared: a write to it then goes unnoticed only if the writer opened it
before it was unlinked and set its mtime back afterwards.

Why not a memory map: a map of a file that someone truncates later raises ``SIGBUS`` on the next
access to a page beyond the new end, which kills the interpreter; ``pread`` returns fewer bytes
instead, which is reported as an error.

Only settled files may be read this way (their ctime at least
:data:`~draqcore.store.verdicts.RACY_NS` older than the first read): a write within the same
timestamp tick as the verified state could otherwise keep the identity unchanged. The caller
checks that (:func:`~draqcore.store.verdicts.settled`) before relying on later reads.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Union

from . import verdicts

__all__ = ["PinnedFile"]


class PinnedFile:
    """An open, read-only file and the identity it had when opened.

    Parameters
    ----------
    path : path-like
        Opened at once (``O_RDONLY``); the descriptor is closed when the object is garbage
        collected or :meth:`close` is called.

    Raises
    ------
    OSError
        The file cannot be opened.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self.identity: verdicts.FileIdentity = verdicts.identity(os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd)

    @property
    def size(self) -> int:
        """Size in bytes when opened."""
        return int(self.identity[2])

    @property
    def fd(self) -> int:
        """The open descriptor (for a library that must open the same inode: ``/proc/self/fd/N``)."""
        if not self._closer.alive:
            raise ValueError(f"{self.path}: already closed")
        return self._fd

    def unchanged(self) -> bool:
        """Whether the open file still has the identity it had when opened.

        One change is allowed: the file was unlinked (no name left, ``st_nlink == 0``), which sets
        its ctime but leaves its bytes; a writer's save removes old generations this way while a
        reader may still hold them. Device, inode, size and mtime must still be the same.
        """
        try:
            st = os.fstat(self.fd)
        except OSError:
            return False
        now = verdicts.identity(st)
        return now == self.identity or (st.st_nlink == 0 and now[:4] == self.identity[:4])

    def pread_many(self, ranges: list[tuple[int, int]]) -> list[bytearray]:
        """:meth:`pread` of several ``(nbytes, offset)`` ranges, the identity checked once after
        all of them (a search reads a few dozen rows at a time).

        Raises
        ------
        ValueError
            As :meth:`pread`.
        """
        out = [self._read(nbytes, offset) for nbytes, offset in ranges]
        if not self.unchanged():
            raise ValueError(f"{self.path}: changed since it was verified (modified or truncated in place)")
        return out

    def pread(self, nbytes: int, offset: int) -> bytearray:
        """``nbytes`` bytes at ``offset``, from the file as it was opened (read into one new
        buffer: no second copy, whatever the size).

        Raises
        ------
        ValueError
            The range lies beyond the end, the file became shorter, or it changed in any way
            since it was opened (the message names the file).
        """
        buf = self._read(nbytes, offset)
        if not self.unchanged():
            raise ValueError(f"{self.path}: changed since it was verified (modified or truncated in place)")
        return buf

    def _read(self, nbytes: int, offset: int) -> bytearray:
        """The bytes, all of them or ValueError (the identity is the caller's to check)."""
        if offset < 0 or nbytes < 0 or offset + nbytes > self.size:
            raise ValueError(f"{self.path}: bytes {offset}..{offset + nbytes} lie outside its {self.size} bytes")
        buf = bytearray(nbytes)
        view = memoryview(buf)
        got = 0
        try:
            while got < nbytes:
                part = view[got : got + min(nbytes - got, 1 << 30)]
                if hasattr(os, "preadv"):
                    n = os.preadv(self.fd, [part], offset + got)
                else:  # no preadv on this platform: one copy of each chunk
                    chunk = os.pread(self.fd, len(part), offset + got)
                    n = len(chunk)
                    part[:n] = chunk
                if n <= 0:
                    break
                got += n
        except OSError as exc:
            raise ValueError(f"{self.path}: cannot be read ({exc.strerror or exc})") from None
        finally:
            view.release()
        if got != nbytes:
            raise ValueError(f"{self.path}: changed since it was verified (modified or truncated in place)")
        return buf

    def close(self) -> None:
        """Close the descriptor (further reads raise ``ValueError``)."""
        self._closer()

"""A file read on demand only while it is still the file that was opened (and verified)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from draqcore.store.pinned_file import PinnedFile


def test_reads_ranges_of_the_file_as_opened(tmp_path: Path) -> None:
    f = tmp_path / "data.bin"
    data = bytes(range(256)) * 40
    f.write_bytes(data)
    pinned = PinnedFile(f)
    assert pinned.size == len(data) and pinned.unchanged()
    assert bytes(pinned.pread(10, 5)) == data[5:15]
    assert bytes(pinned.pread(len(data), 0)) == data
    assert bytes(pinned.pread(0, len(data))) == b""
    with pytest.raises(ValueError, match="outside its 10240 bytes"):
        pinned.pread(11, len(data) - 10)
    with pytest.raises(ValueError, match="outside"):
        pinned.pread(1, -1)


def test_a_file_written_in_place_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "data.bin"
    f.write_bytes(b"a" * 4096)
    pinned = PinnedFile(f)
    st = f.stat()
    with open(f, "r+b") as fh:  # same size, same bytes even, and the mtime put back
        fh.write(b"a")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert not pinned.unchanged()
    with pytest.raises(ValueError, match="data.bin: changed since it was verified"):
        pinned.pread(16, 0)


def test_a_truncated_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    f = tmp_path / "data.bin"
    f.write_bytes(b"b" * 8192)
    pinned = PinnedFile(f)
    os.truncate(f, 100)
    with pytest.raises(ValueError, match="changed since it was verified"):
        pinned.pread(4096, 4096)
    with pytest.raises(ValueError, match="changed since it was verified"):
        pinned.pread(10, 0)  # inside the new size, but the file is not the one opened


def test_a_replaced_or_removed_file_still_reads_the_opened_bytes(tmp_path: Path) -> None:
    """What a writer's save does to older generations (a reader may still hold them)."""
    f = tmp_path / "data.bin"
    f.write_bytes(b"old!" * 100)
    pinned = PinnedFile(f)
    other = tmp_path / "new.bin"
    other.write_bytes(b"new!" * 100)
    os.replace(other, f)
    assert bytes(pinned.pread(4, 0)) == b"old!"
    f.unlink()
    assert pinned.unchanged() and bytes(pinned.pread(8, 392)) == b"old!old!"
    pinned.close()
    with pytest.raises(ValueError, match="closed"):
        pinned.pread(4, 0)


def test_platforms_without_preadv_read_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "data.bin"
    data = bytes(range(256)) * 9
    f.write_bytes(data)
    pinned = PinnedFile(f)
    monkeypatch.delattr(os, "preadv")
    assert bytes(pinned.pread(700, 300)) == data[300:1000]
    assert [bytes(b) for b in pinned.pread_many([(3, 0), (5, 2000)])] == [data[:3], data[2000:2005]]

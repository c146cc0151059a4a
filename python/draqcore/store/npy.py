"""Read a ``.npy`` file of a known dtype and shape, checking its header before any data.

``np.load`` believes the header: a forged shape makes it allocate what the header claims, a
damaged header raises errors that do not name the file, and object arrays would need pickle.
:func:`read_npy` parses the header alone (NumPy's own ``read_magic`` / ``read_array_header``),
compares dtype, order and shape with what the caller expects and the file size with what they
imply, and only then reads the data. Every error is a ``ValueError`` that names the file.
:func:`read_untrusted_npy` does the same for arrays of any real dtype and shape (a user's
features), with a cap on the bytes a header may declare.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Union

import numpy as np
from numpy.lib import format as _npy_format

__all__ = ["read_npy", "npy_from_bytes", "npy_data_offset", "read_untrusted_npy", "untrusted_npy_stream",
           "check_array_bytes", "memory_cap"]


def read_npy(path: Union[str, "os.PathLike[str]"], dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The array in ``path``, which must be exactly ``dtype`` (byte order included) and ``shape``.

    Parameters
    ----------
    path : path-like
    dtype : numpy.dtype
        Expected dtype, e.g. ``np.dtype("<f4")``.
    shape : tuple of int
        Expected shape.

    Returns
    -------
    ndarray of shape ``shape``, ``dtype``
        A new, writable, C-contiguous array.

    Raises
    ------
    ValueError
        Not a ``.npy`` file, a damaged header, another dtype/shape/order, or a size that does not
        match; the message starts with the path.
    """
    f = Path(path)
    want = np.dtype(dtype)
    try:
        with open(f, "rb") as fh:
            _, nbytes = _check_header(fh, str(f), want, shape, os.fstat(fh.fileno()).st_size)
            data = fh.read(nbytes)
    except OSError as exc:
        raise ValueError(f"{f}: cannot be read ({exc.strerror or exc})") from None
    if len(data) != nbytes:
        raise ValueError(f"{f}: changed while being read")
    return np.frombuffer(data, dtype=want).reshape(shape).copy()


def npy_from_bytes(data: bytes, what: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The array held by the bytes of a ``.npy`` file, checked as :func:`read_npy` checks a file.

    Parameters
    ----------
    data : bytes
        The whole file, already read (e.g. once for hashing and parsing).
    what : str
        Names the file in errors.
    dtype, shape
        What it must hold exactly.

    Returns
    -------
    ndarray of shape ``shape``, ``dtype``
        A read-only view of ``data`` (no copy).
    """
    want = np.dtype(dtype)
    start, _ = _check_header(io.BytesIO(data), what, want, shape, len(data))
    return np.frombuffer(data, dtype=want, count=int(np.prod(shape, dtype=np.int64)), offset=start).reshape(shape)


def memory_cap() -> int:
    """Bytes one clip's array may hold: half the machine's physical memory."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2
    except (ValueError, OSError, AttributeError):
        return 1 << 34


def check_array_bytes(where: str, shape: tuple[int, ...], dtype: np.dtype) -> int:
    """The bytes an array of ``shape`` and ``dtype`` holds; refused above :func:`memory_cap` (a
    forged header or a compression bomb must not make us allocate what it claims)."""
    nbytes = int(np.prod(shape, dtype=object)) * int(dtype.itemsize)
    cap = memory_cap()
    if nbytes > cap:
        raise ValueError(f"{where}: declares a {dtype} array of shape {tuple(shape)} ({nbytes / 2**30:.1f} GiB), "
                         f"more than half of this machine's memory ({2 * cap / 2**30:.1f} GiB); one clip's "
                         "features must fit in memory")
    return nbytes


def untrusted_npy_stream(fh: Any, data_bytes: int, where: str, *, max_ndim: int) -> np.ndarray:
    """The array of a ``.npy`` stream (file or ``.npz`` member) of ``data_bytes`` bytes in all,
    its header checked before any data is read.

    The header must describe a real (``f``/``i``/``u``) array of at most ``max_ndim`` dimensions,
    of at most :func:`memory_cap` bytes, exactly as many as follow the header. Never unpickles.
    Every error is a ``ValueError`` starting with ``where``. Returns a read-only array (any byte
    order and memory order the file has)."""
    shape, fortran, dtype = _read_header(fh, where, "not a readable .npy array (header: {})")
    if dtype.kind not in "fiu" or dtype.fields is not None or len(shape) > max_ndim:
        raise ValueError(f"{where}: expected a real array of at most {max_ndim} dimensions, got dtype {dtype} "
                         f"and shape {tuple(shape)}")
    nbytes = check_array_bytes(where, tuple(shape), dtype)
    start = int(fh.tell())
    if data_bytes - start != nbytes:
        raise ValueError(f"{where}: holds {data_bytes - start} data bytes, but its header ({dtype} "
                         f"{tuple(shape)}) needs {nbytes}")
    data = fh.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"{where}: ends after {len(data)} of {nbytes} data bytes (changed while being read?)")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def read_untrusted_npy(path: Union[str, "os.PathLike[str]"], *, max_ndim: int) -> np.ndarray:
    """A ``.npy`` file from anywhere (a user's features or labels), read as
    :func:`untrusted_npy_stream` reads it; errors are ``ValueError`` naming the file
    (``FileNotFoundError`` if there is none)."""
    f = Path(path)
    try:
        with open(f, "rb") as fh:
            return untrusted_npy_stream(fh, os.fstat(fh.fileno()).st_size, str(f), max_ndim=max_ndim)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"{f}: not a readable .npy array ({exc.strerror or exc})") from None


def npy_data_offset(head: Union[bytes, bytearray], size: int, what: str, dtype: np.dtype,
                    shape: tuple[int, ...]) -> int:
    """Where the data of a ``.npy`` file start, from its first bytes and its size alone.

    For a file whose data are read later, in parts (:class:`~draqcore.store.pinned_file.PinnedFile`):
    the header is checked as :func:`read_npy` checks it and the size must be exactly what the
    header implies.

    Parameters
    ----------
    head : bytes-like
        The file's first bytes (at least its header: 64 KiB hold any header NumPy writes).
    size : int
        The file's size in bytes.
    what : str
        Names the file in errors.
    dtype, shape
        What it must hold exactly.

    Returns
    -------
    int
        Offset of the first data byte.
    """
    return _check_header(io.BytesIO(bytes(head)), what, np.dtype(dtype), shape, size)[0]


def _read_header(fh: Any, what: str, problem: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` header at the start of ``fh`` (NumPy's own
    parsers; never unpickles). A damaged header is a ``ValueError`` ``"{what}: " + problem``, the
    ``{}`` in ``problem`` filled with the parser's error."""
    try:
        version = _npy_format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = _npy_format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = _npy_format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, SyntaxError, TypeError, EOFError, RecursionError, MemoryError) as exc:
        raise ValueError(f"{what}: " + problem.format(f"{type(exc).__name__}: {exc}")) from None
    return tuple(shape), bool(fortran), dtype


def _check_header(fh: Any, what: str, want: np.dtype, shape: tuple[int, ...], size: int) -> tuple[int, int]:
    """Read a ``.npy`` header from ``fh`` and check it holds exactly ``want`` of ``shape`` (C
    order) and that the whole file, ``size`` bytes, is that header and those data; returns the
    offset of the data and their byte count. Errors name ``what``."""
    got_shape, fortran, got_dtype = _read_header(fh, what, "not a valid .npy header ({})")
    if got_dtype != want or got_shape != tuple(shape) or (fortran and len(shape) > 1):
        order = " in Fortran order" if fortran else ""
        raise ValueError(f"{what} is {got_dtype} {got_shape}{order}, expected {want} {tuple(shape)}")
    start = int(fh.tell())
    nbytes = int(np.prod(shape, dtype=np.int64)) * want.itemsize
    if size - start != nbytes:
        raise ValueError(f"{what}: holds {size - start} data bytes, {want} {tuple(shape)} needs {nbytes}")
    return start, nbytes

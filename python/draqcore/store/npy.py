"""Read a ``.npy`` file of a known dtype and shape, checking its header before any data.

``np.load`` believes the header: a forged shape makes it allocate what the header claims, a
damaged header raises errors that do not name the file, and object arrays would need pickle.
:func:`read_npy` parses the header alone (NumPy's own ``read_magic`` / ``read_array_header``),
compares dtype, order and shape with what the caller expects and the file size with what they
imply, and only then reads the data. Every error is a ``ValueError`` that names the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

import numpy as np
from numpy.lib import format as _npy_format

__all__ = ["read_npy", "npy_from_bytes"]


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
            start = _check_header(fh, str(f), want, shape)
            size = os.fstat(fh.fileno()).st_size
            nbytes = int(np.prod(shape, dtype=np.int64)) * want.itemsize
            if size - start != nbytes:
                raise ValueError(f"{f}: holds {size - start} data bytes, {want} {tuple(shape)} needs {nbytes}")
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
    import io

    want = np.dtype(dtype)
    fh = io.BytesIO(data)
    start = _check_header(fh, what, want, shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * want.itemsize
    if len(data) - start != nbytes:
        raise ValueError(f"{what}: holds {len(data) - start} data bytes, {want} {tuple(shape)} needs {nbytes}")
    return np.frombuffer(data, dtype=want, count=int(np.prod(shape, dtype=np.int64)), offset=start).reshape(shape)


def _check_header(fh: Any, what: str, want: np.dtype, shape: tuple[int, ...]) -> int:
    """Read a ``.npy`` header from ``fh`` and check it holds exactly ``want`` of ``shape`` (C
    order); returns the offset of the data. Errors name ``what``."""
    try:
        version = _npy_format.read_magic(fh)
        if version == (1, 0):
            got_shape, fortran, got_dtype = _npy_format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            got_shape, fortran, got_dtype = _npy_format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, SyntaxError, TypeError, EOFError, RecursionError, MemoryError) as exc:
        raise ValueError(f"{what}: not a valid .npy header ({type(exc).__name__}: {exc})") from None
    if got_dtype != want or tuple(got_shape) != tuple(shape) or (fortran and len(shape) > 1):
        order = " in Fortran order" if fortran else ""
        raise ValueError(f"{what} is {got_dtype} {tuple(got_shape)}{order}, expected {want} {tuple(shape)}")
    return int(fh.tell())

"""Showing names from files and folders in messages and on the terminal.

A file name or class read from someone else's files may hold newlines, NUL or ANSI escape
sequences; printed raw they forge extra lines or recolour and rewrite the terminal. :func:`shown`
gives the name itself when every character is printable and its Python ``repr`` (quotes,
``\\n``, ``\\x1b``) otherwise, so the reader can see exactly what is there.
"""

from __future__ import annotations

import os
from typing import Union

__all__ = ["one_line", "shown"]


def shown(name: Union[str, "os.PathLike[str]", None]) -> str:
    """``name`` as is when printable (non-ASCII letters included), else its ``repr``."""
    if name is None:
        return "-"
    text = os.fspath(name)
    if isinstance(text, bytes):
        return repr(text)
    if text.isprintable():
        return text
    return repr(text)


def one_line(text: str) -> str:
    """``text`` with every non-printable character (newline, tab, NUL, ESC...) written as its
    escape (``\\n``, ``\\x1b``): one line that cannot forge others or drive the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)

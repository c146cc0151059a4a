"""Parse a JSON document from a file someone else may have written.

``json.loads`` raises ``RecursionError`` (not a ``ValueError``) on deeply nested input and its
``JSONDecodeError`` does not name the file. :func:`load_json_text` turns both into one
``ValueError`` that does.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["load_json_text"]


def load_json_text(text: str, what: str) -> Any:
    """``json.loads(text)``; ``what`` (e.g. the file's path) starts every error message.

    Raises
    ------
    ValueError
        Not valid JSON (with line and column), or nested too deeply to parse.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"{what}: not a valid document (JSON nested too deeply to read)") from None

"""Test hook: kill the process at a named point of a write, to test crash safety for real.

Only for tests (``tests/test_collection_reliability.py``). When the environment variable
``DRAQCORE_TEST_KILL_AT`` is ``"<point>"`` or ``"<point>:<n>"``, the process sends itself
``SIGKILL`` the ``n``-th time (1-based, default 1) it reaches ``<point>``: no ``finally``, no
``atexit``, no flush, exactly like ``kill -9`` or the OOM killer. Unset (always, in normal use)
the hook costs one dictionary lookup. The points:

``create``
    :meth:`Collection.create` has put the catalog in place (empty collection, lock held).
``append``
    A video's features are appended to ``features.f32`` and ``fsync``-ed; its catalog row is
    not committed yet.
``commit``
    A video's catalog row (ok or failed) is committed.
``index-generation``
    A new index generation is written, ``ann.json`` still names the previous one.
``index-manifest``
    ``ann.json`` names the new generation; older generations are not removed yet.
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_ENV", "kill_point"]

KILL_ENV: str = "DRAQCORE_TEST_KILL_AT"

_reached: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process if ``DRAQCORE_TEST_KILL_AT`` names this point and count."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] == (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        os._exit(137)  # pragma: no cover - where SIGKILL does not exist

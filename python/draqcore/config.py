"""Build and run-time configuration: version, OpenMP, threads, SIMD level, memory limit."""

from __future__ import annotations

from typing import Any

from . import _core

__all__ = ["show_config", "memory_limit", "set_memory_limit"]


def show_config(print_out: bool = True) -> dict[str, Any]:
    """Report how the compiled core was built and what it will use.

    Returns (and, when ``print_out``, prints) a dict with ``version``, ``openmp`` (bool),
    ``threads`` (OpenMP threads used when ``threads=None``), ``simd`` (the widest instruction set
    the dispatched cost-matrix kernel uses on this CPU: ``"avx512f"``, ``"avx2"`` or ``"sse2"``),
    ``memory_limit_bytes`` and ``compiler``.
    """
    cfg: dict[str, Any] = dict(_core.show_config())
    if print_out:
        width = max(len(k) for k in cfg)
        for key, value in cfg.items():
            print(f"{key:<{width}}  {value}")
    return cfg


def memory_limit() -> int:
    """Working memory, in bytes, one kernel call may allocate (default 8 GiB).

    Every kernel estimates its working memory before allocating anything and raises
    ``MemoryError`` (``draqcore.MemoryLimitError``) naming the function when the estimate is
    above this limit.
    """
    return int(_core.memory_limit())


def set_memory_limit(nbytes: int | None) -> None:
    """Set the limit returned by :func:`memory_limit`; ``None`` or 0 restores the default."""
    if nbytes is None:
        nbytes = 0
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"nbytes: expected a non-negative integer or None, got {nbytes!r}")
    if nbytes >= 2**64:
        raise ValueError(f"nbytes: must be below 2**64 (the size of the address space), got {nbytes}")
    _core.set_memory_limit(nbytes)

"""Loads the compiled core with a short OpenMP spin (imported by ``draqcore/__init__.py`` first).

libgomp reads its wait policy once, when it is loaded — which is when ``draqcore._core`` is
imported, unless another extension loaded the same libgomp before. By default an idle libgomp
worker spins for 300 000 iterations (tens of milliseconds on a busy machine) after every parallel
region, taking a core from whatever runs next: NumPy's BLAS right after a draqcore call, or the
other threads of the next region. With ``GOMP_SPINCOUNT=10000`` (about 0.1-0.3 ms) workers still
catch the next barrier of a running kernel while spinning, and sleep soon after a call returns.
The variable is set only for the moment of loading, and only when the user has set neither
``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT`` (their choice wins); child processes do not see it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

SPIN_COUNT = "10000"


def load_core() -> ModuleType:
    """Import and return ``draqcore._core`` with the short spin (see the module docstring)."""
    ours = "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ
    if ours:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        return importlib.import_module("draqcore._core")
    finally:
        if ours:
            os.environ.pop("GOMP_SPINCOUNT", None)

"""Loads the compiled core with a short OpenMP spin (imported by ``draqcore/__init__.py`` first).

libgomp reads its wait policy once, when it is loaded — which is when ``draqcore._core`` is
imported, unless another extension loaded the same libgomp before. By default an idle libgomp
worker spins for 300 000 iterations (tens of milliseconds on a busy machine) after every parallel
region, taking a core from whatever runs next: NumPy's BLAS right after a draqcore call, or the
other threads of the next region. With ``GOMP_SPINCOUNT=10000`` (about 0.1-0.3 ms) workers still
catch the next barrier of a running kernel while spinning, and sleep soon after a call returns.
The variable is set only for the moment of loading, and only when the user has set neither
``OMP_WAIT_POLICY`` nor ``GOMP_SPINCOUNT`` (their choice wins); child processes do not see it.

NumPy's OpenBLAS does the same after every multi-threaded BLAS call, for 2**28 TSC cycles
(about 0.1 s) by default, and reads its limit once, when NumPy is imported
(``OPENBLAS_THREAD_TIMEOUT=N`` means 2**N cycles). When draqcore is imported before NumPy, it
imports NumPy with ``OPENBLAS_THREAD_TIMEOUT=22`` (about 1.5 ms): back-to-back NumPy calls still
find the workers awake (measured: 256 x 256 matmuls in a loop are as fast as with the default),
while a draqcore call made after a matmul no longer shares the cores with a spinning worker for
the next 0.1 s. Same rules: only for the moment of loading, only when neither
``OPENBLAS_THREAD_TIMEOUT`` nor ``GOTO_THREAD_TIMEOUT`` is set. When NumPy was imported first
(the usual order) nothing can be changed safely from here: set the variable yourself.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

SPIN_COUNT = "10000"
BLAS_THREAD_TIMEOUT = "22"
"""``OPENBLAS_THREAD_TIMEOUT`` used when draqcore imports NumPy itself (2**22 cycles, ~1.5 ms)."""
_BLAS_VARIABLES = ("OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT")


def _import_with(module: str, variable: str, value: str, *, unless: tuple[str, ...]) -> ModuleType:
    """Import ``module`` with ``variable=value`` in the environment for the moment of loading,
    unless the module is loaded already or the user set any of ``unless`` (their choice wins)."""
    ours = module not in sys.modules and not any(v in os.environ for v in unless)
    if ours:
        os.environ[variable] = value
    try:
        return importlib.import_module(module)
    finally:
        if ours:
            os.environ.pop(variable, None)


def load_numpy() -> ModuleType:
    """Import and return NumPy, with a short OpenBLAS spin if it is not loaded yet (module docstring)."""
    return _import_with("numpy", "OPENBLAS_THREAD_TIMEOUT", BLAS_THREAD_TIMEOUT, unless=_BLAS_VARIABLES)


def load_core() -> ModuleType:
    """Import and return ``draqcore._core`` with the short spin (see the module docstring)."""
    load_numpy()
    return _import_with("draqcore._core", "GOMP_SPINCOUNT", SPIN_COUNT, unless=("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))

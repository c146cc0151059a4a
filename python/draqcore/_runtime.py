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
``OPENBLAS_THREAD_TIMEOUT`` nor ``GOTO_THREAD_TIMEOUT`` is set.

When NumPy was imported first (the usual order in scripts), its OpenBLAS pool already runs with
the long spin, and so does SciPy's own OpenBLAS. Then :func:`quiet_blas_pools`, called by the
kernels that run on several threads (:func:`draqcore.draq_batch`, :func:`draqcore.cost_matrix`)
before a call of at least :data:`QUIET_MIN_WORK` multiply-adds, stops the worker threads of every
OpenBLAS loaded in the process with OpenBLAS's own ``blas_thread_shutdown_`` (what OpenBLAS itself
does before a ``fork``); OpenBLAS starts them again at its next multi-threaded call (measured:
about 60 us to stop, a thread start added to the next NumPy call). That is safe only when no
other thread can be inside a BLAS call, so it is done only when the calling thread is the
process's only Python thread (``sys._current_frames()``; NumPy's BLAS is reached only from Python
threads). ``DRAQ_QUIET_BLAS=0`` turns it off.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any, Callable

SPIN_COUNT = "10000"
BLAS_THREAD_TIMEOUT = "22"
"""``OPENBLAS_THREAD_TIMEOUT`` used when draqcore imports NumPy itself (2**22 cycles, ~1.5 ms)."""
_BLAS_VARIABLES = ("OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT")
_loaded_with_ours: set[str] = set()  # modules imported here with our variable (e.g. NumPy's short spin)


def _import_with(module: str, variable: str, value: str, *, unless: tuple[str, ...]) -> ModuleType:
    """Import ``module`` with ``variable=value`` in the environment for the moment of loading,
    unless the module is loaded already or the user set any of ``unless`` (their choice wins)."""
    ours = module not in sys.modules and not any(v in os.environ for v in unless)
    if ours:
        os.environ[variable] = value
    try:
        loaded = importlib.import_module(module)
    finally:
        if ours:
            os.environ.pop(variable, None)
    if ours:
        _loaded_with_ours.add(module)
    return loaded


def load_numpy() -> ModuleType:
    """Import and return NumPy, with a short OpenBLAS spin if it is not loaded yet (module docstring)."""
    return _import_with("numpy", "OPENBLAS_THREAD_TIMEOUT", BLAS_THREAD_TIMEOUT, unless=_BLAS_VARIABLES)


#: Kernel calls of fewer multiply-adds (about 0.1 ms on one core) leave the BLAS pools alone: the
#: stop and the next restart would cost more than a spinning neighbour takes from them.
QUIET_MIN_WORK = 1 << 23
_QUIET_VARIABLE = "DRAQ_QUIET_BLAS"
_pools_scanned_at = -1  # len(sys.modules) at the last scan of the loaded libraries
_pool_stops: list[Callable[[], Any]] = []
_CPUS = os.cpu_count() or 1


def _blas_pool_stops() -> list[Callable[[], Any]]:
    """``blas_thread_shutdown_`` of every OpenBLAS loaded in the process (found in
    ``/proc/self/maps``; looked up again only after new modules were imported). NumPy's own is
    left out when it was loaded with the short spin (it sleeps within ~1.5 ms by itself)."""
    global _pools_scanned_at, _pool_stops
    if len(sys.modules) == _pools_scanned_at:
        return _pool_stops
    _pools_scanned_at = len(sys.modules)
    try:
        with open("/proc/self/maps", "rb") as fh:
            maps = fh.read()
    except OSError:  # not Linux
        _pool_stops = []
        return _pool_stops
    paths = []
    for line in maps.split(b"\n"):
        at = line.find(b"/")
        if at >= 0 and b"openblas" in line[at:].lower():
            path = line[at:].decode("utf-8", "surrogateescape")
            if path not in paths and not ("numpy" in _loaded_with_ours and "numpy" in path):
                paths.append(path)
    import ctypes  # here: most processes never need it (cold start of the CLI)

    stops = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)  # only if loaded already
            stop = lib.blas_thread_shutdown_
        except (OSError, AttributeError):  # gone, or an OpenBLAS without its own pthread pool
            continue
        stop.restype, stop.argtypes = ctypes.c_int, []
        stops.append(stop)
    _pool_stops = stops
    return stops


def quiet_blas_pools(threads: int, work: float) -> None:
    """Stop OpenBLAS's busy-waiting worker threads before a multi-threaded kernel call.

    Parameters
    ----------
    threads : int
        The call's thread request as :func:`draqcore._validate.as_threads` returns it (0 = all
        cores); nothing is done for 1.
    work : float
        Multiply-adds the call will do (e.g. ``n * m * d`` for a cost matrix); nothing is done
        below :data:`QUIET_MIN_WORK`.

    See the module docstring for why and when this is safe; ``DRAQ_QUIET_BLAS=0`` disables it.
    """
    if threads == 1 or _CPUS < 2 or work < QUIET_MIN_WORK or os.environ.get(_QUIET_VARIABLE) == "0":
        return
    stops = _blas_pool_stops()
    if not stops:
        return
    frames = getattr(sys, "_current_frames", None)
    if frames is None or len(frames()) != 1:  # another Python thread may be inside NumPy's BLAS
        return
    for stop in stops:
        stop()


def load_core() -> ModuleType:
    """Import and return ``draqcore._core`` with the short spin (see the module docstring)."""
    load_numpy()
    return _import_with("draqcore._core", "GOMP_SPINCOUNT", SPIN_COUNT, unless=("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))

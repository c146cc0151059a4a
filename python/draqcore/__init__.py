"""draqcore: alignable video retrieval with DTW and DRAQ.

The compiled core (C++/OpenMP) computes cosine cost matrices, DTW with traceback, the paper's
random-path baseline (sampled, or its exact expectation) and DRAQ for many candidate pairs at
once; the Python layer adds video decoding, frame features, an hnswlib collection and the
``draq`` command line. Method: Dave et al., "Sync from the Sea: Retrieving Alignable Videos from
Large-Scale Datasets" (Sec. 3-4).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._runtime import load_core

load_core()  # first: libgomp reads its spin policy when it is loaded (see _runtime)

from ._core import MemoryLimitError
from .config import memory_limit, set_memory_limit, show_config
from .context import contextualize, contextualize_batch
from .cost import METRICS, cost_matrix
from .draq import METHODS, DraqBatchResult, draq, draq_batch
from .diagnostics import MIN_DRAQ_FRAMES, ShortSequenceWarning
from .dtw import DtwResult, dtw, warp
from .random_paths import expected_random_cost, random_path, random_path_costs

__version__: str = str(show_config(print_out=False).get("version", "0+unknown"))

# The video pipeline (OpenCV, hnswlib, SQLite) loads on first use, so that code using only the
# kernels does not pay for it.
_LAZY = {
    "Collection": ("collection", "Collection"),
    "SearchHit": ("collection", "SearchHit"),
    "AddReport": ("collection", "AddReport"),
    "CollectionLockedError": ("store", "CollectionLockedError"),
    "Alignment": ("align", "Alignment"),
    "align_videos": ("align", "align_videos"),
    "retime_video": ("outputs.retime", "retime_video"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'draqcore' has no attribute {name!r}")

__all__ = [
    "AddReport",
    "Alignment",
    "Collection",
    "CollectionLockedError",
    "SearchHit",
    "align_videos",
    "retime_video",
    "METHODS",
    "METRICS",
    "MIN_DRAQ_FRAMES",
    "DraqBatchResult",
    "DtwResult",
    "MemoryLimitError",
    "ShortSequenceWarning",
    "contextualize",
    "contextualize_batch",
    "cost_matrix",
    "draq",
    "draq_batch",
    "dtw",
    "expected_random_cost",
    "memory_limit",
    "random_path",
    "random_path_costs",
    "set_memory_limit",
    "show_config",
    "warp",
    "__version__",
]

"""Storage of a collection: the SQLite catalog, the packed frame features and the ANN index.

These are the building blocks of :class:`draqcore.collection.Collection`; most users need only
that class. Each piece lives in its own module:

- :mod:`~draqcore.store.catalog` -- :class:`Catalog`, one row per video (the source of truth);
- :mod:`~draqcore.store.feature_store` -- :class:`FeatureStore`, frame features of all videos in
  one float32 file read through a memory map;
- :mod:`~draqcore.store.ann_index` -- :class:`AnnIndex`, hnswlib cosine index of standardised
  clip vectors;
- :mod:`~draqcore.store.pinned_file` -- :class:`~draqcore.store.pinned_file.PinnedFile`, a verified
  file read later (on demand) only while it is unchanged;
- :mod:`~draqcore.store.lock` -- :class:`WriterLock`, the one-writer-at-a-time file lock;
- :mod:`~draqcore.store.integrity` -- :func:`check_collection`, what ``draq check`` runs;
- :mod:`~draqcore.store.testhooks` -- a kill switch for crash-safety tests (inactive unless an
  environment variable names it).
"""

from __future__ import annotations

from .ann_index import INDEX_DIRNAME, MANIFEST_FILENAME, STD_FLOOR, AnnIndex, AnnParams, standardization_stats
from .catalog import CATALOG_FILENAME, SCHEMA_VERSION, Catalog, VideoRecord
from .feature_store import FEATURES_FILENAME, FeatureStore
from .integrity import CheckReport, check_collection
from .lock import LOCK_FILENAME, CollectionLockedError, WriterLock

__all__ = [
    "AnnIndex",
    "AnnParams",
    "CATALOG_FILENAME",
    "Catalog",
    "CheckReport",
    "CollectionLockedError",
    "FEATURES_FILENAME",
    "FeatureStore",
    "INDEX_DIRNAME",
    "LOCK_FILENAME",
    "MANIFEST_FILENAME",
    "SCHEMA_VERSION",
    "STD_FLOOR",
    "VideoRecord",
    "WriterLock",
    "check_collection",
    "standardization_stats",
]

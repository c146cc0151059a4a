"""Storage of a collection: the SQLite catalog, the packed frame features and the ANN index.

These are the building blocks of :class:`draqcore.collection.Collection`; most users need only
that class. Each piece lives in its own module:

- :mod:`~draqcore.store.catalog` -- :class:`Catalog`, one row per video (the source of truth);
- :mod:`~draqcore.store.feature_store` -- :class:`FeatureStore`, frame features of all videos in
  one float32 file read through a memory map;
- :mod:`~draqcore.store.ann_index` -- :class:`AnnIndex`, hnswlib cosine index of standardised
  clip vectors.
"""

from __future__ import annotations

from .ann_index import MANIFEST_FILENAME, STD_FLOOR, AnnIndex, AnnParams, standardization_stats
from .catalog import CATALOG_FILENAME, SCHEMA_VERSION, Catalog, VideoRecord
from .feature_store import FEATURES_FILENAME, FeatureStore

__all__ = [
    "AnnIndex",
    "AnnParams",
    "CATALOG_FILENAME",
    "Catalog",
    "FEATURES_FILENAME",
    "FeatureStore",
    "MANIFEST_FILENAME",
    "SCHEMA_VERSION",
    "STD_FLOOR",
    "VideoRecord",
    "standardization_stats",
]

"""A searchable collection of videos: index once, then retrieve alignable videos (paper Sec. 3).

A collection is a directory::

    <directory>/
        .lock               the writer lock (draqcore.store.lock)
        catalog.sqlite      one row per video + meta (schema version, extractor identity,
                            feature dimension, sample fps, creation time, committed feature
                            rows); the source of truth, SQLite in WAL mode
        features.f32        frame features of all ok videos, float32 (sum T_i, d), appended
        index/              hnswlib cosine index of standardised clip vectors (see
                            draqcore.store.ann_index): ann.json + g<generation>/...

One writer at a time (a file lock), any number of readers that see the last committed state;
a writer killed at any moment leaves a collection the next writer repairs and resumes (see
:class:`Collection` and docs/collection.md).

Search follows the paper's pipeline: (1) the query's clip vector (mean of its frame features),
standardised with the collection's statistics, retrieves ``candidates`` videos by cosine
similarity; (2) all of them are re-ranked by DRAQ (Eq. 6) on contextualized frame features
(Eq. 2-3) in one :func:`draqcore.draq_batch` call; (3) the DTW path of every returned hit gives
the alignment, with the query kept unwarped.
"""

from ..store.ann_index import INDEX_DIRNAME
from ..store.lock import CollectionLockedError
from .facade import Collection
from .results import AddReport, SearchHit

__all__ = ["AddReport", "Collection", "CollectionLockedError", "SearchHit", "INDEX_DIRNAME"]

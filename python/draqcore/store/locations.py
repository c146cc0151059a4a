"""Where a clip's features are: feature-store rows and checksum, packed as five int64 per clip.

A search reads the features of ~50 candidate clips. Their row ranges and checksums are in their
catalog rows, and at a million clips each row is a random disk read made one after another by
SQLite (about 4 ms per search on a cold page cache, most of the gap to a 10k collection). The
clip index therefore keeps the same values for each of its rows in memory (its row data,
:attr:`draqcore.store.ann_index.AnnIndex.row_data`; 40 bytes per clip), and a search reads
catalog rows only for the hits it returns, where it checks that they agree
(:meth:`draqcore.collection.Collection.search`).

Columns of a packed row: ``row_offset, row_count, has_digest, digest[0:8], digest[8:16]``
(``row_offset``/``row_count`` as in the catalog; the BLAKE2b-128 features digest as two
little-endian int64; ``has_digest`` 0 for rows written before checksums, whose digest columns
are then 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: Columns of a packed location.
WIDTH: int = 5


@dataclass(frozen=True)
class Located:
    """The features of one ok clip, as :meth:`draqcore.collection.Collection` reads them: the
    fields of a :class:`~draqcore.store.catalog.VideoRecord` that locate and check them."""

    id: int
    row_offset: int
    num_frames: int
    features_digest: Optional[str]
    path: str = ""  # unknown until the catalog row is read (only for errors)


def pack_locations(ranges: np.ndarray, digests: Sequence[Optional[str]]) -> np.ndarray:
    """(k, :data:`WIDTH`) int64 from row ranges (k, 2) ``row_offset, row_count`` and the
    catalog's hex digests (None: no checksum)."""
    r = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    if len(digests) != r.shape[0]:
        raise ValueError(f"digests: expected {r.shape[0]}, got {len(digests)}")
    out = np.zeros((r.shape[0], WIDTH), dtype=np.int64)
    out[:, :2] = r
    for i, d in enumerate(digests):
        if d is not None:
            raw = bytes.fromhex(d)
            if len(raw) != 16:
                raise ValueError(f"digests: expected 32 hex digits, got {d!r}")
            out[i, 2] = 1
            out[i, 3:5] = np.frombuffer(raw, dtype="<i8")
    return out


def located(video_id: int, row: np.ndarray) -> Located:
    """The :class:`Located` of one packed row."""
    digest = np.asarray(row[3:5], dtype="<i8").tobytes().hex() if int(row[2]) else None
    return Located(int(video_id), int(row[0]), int(row[1]), digest)


"""Packed feature locations (row range and checksum per clip) of store.locations."""

from __future__ import annotations

import numpy as np
import pytest

from draqcore.store.feature_store import features_digest
from draqcore.store.locations import WIDTH, Located, located, pack_locations


def test_pack_and_unpack_round_trip_with_and_without_digest(rng: np.random.Generator) -> None:
    digests = [features_digest(rng.normal(size=(t, 4)).astype(np.float32)) for t in (3, 9)] + [None]
    ranges = np.array([[0, 3], [3, 9], [2**40, 7]])
    packed = pack_locations(ranges, digests)
    assert packed.shape == (3, WIDTH) and packed.dtype == np.int64
    got = [located(10 + i, row) for i, row in enumerate(packed)]
    assert got == [Located(10, 0, 3, digests[0]), Located(11, 3, 9, digests[1]), Located(12, 2**40, 7, None)]
    assert packed[2, 2:].tolist() == [0, 0, 0]  # no checksum: flag and digest columns 0


def test_a_digest_of_the_wrong_length_or_count_is_refused() -> None:
    with pytest.raises(ValueError, match="32 hex digits"):
        pack_locations(np.array([[0, 3]]), ["abcd"])
    with pytest.raises(ValueError, match="expected 1"):
        pack_locations(np.array([[0, 3]]), [])

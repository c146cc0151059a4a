from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every test sees the same data on every run."""
    return np.random.default_rng(20261124)


@pytest.fixture(scope="session")
def footage():
    """``footage(name) -> Path`` of a real video fetched by ``draq footage fetch``.

    A source that has not been fetched skips the test with the command to fetch it, except when
    ``DRAQ_REQUIRE_FOOTAGE=1`` (CI sets it): then it is a failure, so real-data tests cannot
    silently stop running.
    """
    import os

    from draqcore.evaluation.footage import FootageNotFoundError, find_footage

    def get(name: str):
        try:
            return find_footage(name)
        except FootageNotFoundError as exc:
            if os.environ.get("DRAQ_REQUIRE_FOOTAGE") == "1":
                pytest.fail(str(exc))
            pytest.skip(str(exc))

    return get

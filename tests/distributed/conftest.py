"""One local Ray cluster for every test of tests/distributed (starting one costs seconds).

Loopback only, 2 CPUs at most: tasks take one CPU each and the driver none, so the cluster never
waits for a CPU it cannot get.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def local_ray():
    ray = pytest.importorskip("ray", reason='needs pip install "draqcore[ray]"')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
             configure_logging=False)
    yield ray
    ray.shutdown()

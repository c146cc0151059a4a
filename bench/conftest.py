from __future__ import annotations

import platform

import pytest

import draqcore


def pytest_report_header(config):
    cfg = draqcore.show_config(print_out=False)
    return [
        f"platform: {platform.platform()} / {platform.processor() or platform.machine()}",
        "draqcore: " + ", ".join(f"{k}={v}" for k, v in cfg.items()),
    ]


@pytest.fixture(scope="session")
def rerank():
    from workloads import rerank_workload

    return rerank_workload()

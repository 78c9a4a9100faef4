"""Fixtures of the end-to-end suites: the wired app and the running services.

A module using `system` names the services it runs in a module-level SERVICES tuple
and provides an `env` fixture (its seeded settings)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env
from tests.system import RunningSystem


@pytest.fixture
def system(env: Env, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    running = RunningSystem(env.environ, tmp_path / "logs")
    running.start(request.module.SERVICES)
    yield running
    assert all(code == 0 for code in running.stop().values())


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    orderflow = bootstrap(env.settings)
    yield orderflow
    orderflow.close()

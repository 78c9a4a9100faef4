"""Fixtures of the end-to-end suites: the wired app and the running services.

A module using `system` names the services it runs in a module-level SERVICES tuple
and provides an `env` fixture (its seeded settings). A module whose tests start (and
kill) services themselves sets `STARTS_ITS_OWN = True`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.support import ManualClock
from tests.system import RunningSystem


@pytest.fixture
def system(env: Env, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningSystem]:
    """The services as OS processes; whatever runs at the end must stop cleanly (exit 0)."""
    running = RunningSystem(env.environ, tmp_path / "logs")
    if not getattr(request.module, "STARTS_ITS_OWN", False):
        running.start(request.module.SERVICES)
    yield running
    codes = running.stop()
    assert all(code == 0 for code in codes.values()), codes


@pytest.fixture
def clock(tmp_path: Path) -> ManualClock:
    """The services' clock, for modules that put `clock.environ` into their env: a test
    moves it past a deadline once its premise holds, instead of racing the wall clock."""
    return ManualClock(tmp_path / "clock")


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    orderflow = bootstrap(env.settings)
    yield orderflow
    orderflow.close()


@pytest.fixture
def up_env(kafka: str, make_env: MakeEnv) -> Env:
    """A migrated SQLite store set and the run's topics: what `orderflow up` needs."""
    made = make_env("sqlite", bootstrap=kafka)
    app = bootstrap(made.settings)
    try:
        app.upgrade()
        app.create_topics()
    finally:
        app.close()
    return made

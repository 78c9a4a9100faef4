"""Fixtures of the end-to-end suites: the wired app and the running services.

A module using `system` names the services it runs in a module-level SERVICES tuple
and provides an `env` fixture (its seeded settings). A module whose tests start (and
kill) services themselves sets `STARTS_ITS_OWN = True`. A module using `up` (a running
`orderflow up`, as a user starts it) provides an `env` fixture made from `up_env`."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.bootstrap import SERVICES, Orderflow, bootstrap
from services.supervisor import UP_STATE
from tests.conftest import Env, MakeEnv
from tests.support import CLI, ManualClock, user_environ, wait_until
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


def serving(logs: Path, service: str) -> bool:
    log = logs / f"{service}.log"
    return log.exists() and f"{service}: running" in log.read_text(errors="replace")


@pytest.fixture
def up(env: Env, tmp_path: Path) -> Iterator[Path]:
    """A running `orderflow up`; its state file. It must stop cleanly (exit 0)."""
    state, logs = env.settings.data_dir / UP_STATE, env.settings.data_dir / "logs"
    with (tmp_path / "up.err").open("wb") as err:
        process = subprocess.Popen([CLI, "up"], env=user_environ(env.environ),
                                   stdout=subprocess.DEVNULL, stderr=err,
                                   stdin=subprocess.DEVNULL)
    try:
        wait_until(state.exists, 60, "up's state file")
        wait_until(lambda: all(serving(logs, s) for s in SERVICES), 90, "every service")
        yield state
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0, (tmp_path / "up.err").read_text()

"""Fixtures of the fault suite: a seeded environment, the app, the fleet, the figures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path as FilePath

import pytest

from adapters.credentials import ADMIN
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.faults.checks import Figures
from tests.faults.harness import Fleet, seeded
from tests.faults.harness import fleet as running_fleet
from tests.faults.scale import scale
from tests.integration.test_exactly_once import Broker, opened


@pytest.fixture
def system_store(request: pytest.FixtureRequest) -> str:
    """A scenario for one store (its `store` marker) runs on that store, whatever the run's."""
    marker = request.node.get_closest_marker("store")
    return str(marker.args[0]) if marker else os.environ.get("ORDERFLOW_TEST_STORE", "sqlite")


@pytest.fixture
def seeded_env(kafka: str, make_env: MakeEnv, system_store: str) -> tuple[Env, dict[str, int]]:
    return seeded(make_env, kafka, system_store)


@pytest.fixture
def env(seeded_env: tuple[Env, dict[str, int]]) -> Env:
    return seeded_env[0]


@pytest.fixture
def added(seeded_env: tuple[Env, dict[str, int]]) -> dict[str, int]:
    return seeded_env[1]


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    with opened(env) as orderflow:
        yield orderflow


@pytest.fixture
def fleet(env: Env, tmp_path: FilePath) -> Iterator[Fleet]:
    yield from running_fleet(env, tmp_path / "logs")


@pytest.fixture
def broker(env: Env) -> Broker:
    return Broker(env.settings.kafka(ADMIN))  # the admin reads every topic, secured or not


@pytest.fixture
def figures(request: pytest.FixtureRequest, system_store: str) -> Iterator[Figures]:
    name = request.node.name.removeprefix("test_")
    recorded = Figures(name, system_store, scale().name,
                       os.environ.get("ORDERFLOW_FAULT_KAFKA", "plain"))
    yield recorded
    if recorded.facts:
        recorded.publish()

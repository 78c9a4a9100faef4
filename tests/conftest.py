"""Real services for the test session.

Kafka: KAFKA_BOOTSTRAP_SERVERS when set and answering; else testcontainers when a
Docker engine answers; else the local broker (official jars), started here and
stopped at the end. PostgreSQL: ORDERFLOW_TEST_POSTGRES_URL, else testcontainers;
skipped with a reason only where neither exists, and never under CI.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from adapters.kafka.admin import PortState, probe
from adapters.kafka.broker import LocalBroker
from adapters.kafka.jars import KAFKA_VERSION
from adapters.settings import PROJECT_ROOT, Settings
from tests.support import dedicated_cluster, fault_kafka, free_port_pair


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    return done.returncode == 0


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | Mapping[str, str]]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if fault_kafka()[1]:  # the fault suite's secured pass: its own cluster, its environment
        cluster = dedicated_cluster(tmp_path_factory.mktemp("secured"))
        cluster.start()
        yield cluster.environment()  # a Mapping: make_env takes either
        cluster.stop()
    elif configured and probe(configured.split(",")[0]) is PortState.KAFKA:
        yield configured
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(f"apache/kafka:{KAFKA_VERSION}").with_kraft() as container:
            yield container.get_bootstrap_server()
    else:
        broker = LocalBroker(cache_dir=PROJECT_ROOT / ".cache", port=free_port_pair(),
                             home=tmp_path_factory.mktemp("broker"))
        broker.start()
        yield broker.address
        broker.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    configured = os.environ.get("ORDERFLOW_TEST_POSTGRES_URL")
    if configured:
        yield configured
    elif _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16", driver="psycopg") as container:
            yield container.get_connection_url()
    elif os.environ.get("CI"):
        pytest.fail("CI must provide PostgreSQL (ORDERFLOW_TEST_POSTGRES_URL)")
    else:
        pytest.skip("no PostgreSQL: set ORDERFLOW_TEST_POSTGRES_URL or run a Docker engine")


@pytest.fixture
def prefix() -> str:
    """A fresh topic prefix (and PostgreSQL schema namespace) per test."""
    return f"t{uuid.uuid4().hex[:10]}."


def store_kinds() -> list[str]:
    return ["sqlite", "postgresql"]


@dataclass
class Env:
    """Settings for one test, plus the same as environment variables for subprocesses."""

    settings: Settings
    environ: dict[str, str]


MakeEnv = Callable[..., Env]


@pytest.fixture
def make_env(tmp_path: Path, prefix: str, request: pytest.FixtureRequest) -> Iterator[MakeEnv]:
    schemas: list[tuple[str, str]] = []
    brokers: set[str] = set()

    def make(store: str = "sqlite", bootstrap: str | Mapping[str, str] | None = None) -> Env:
        """`bootstrap`: the broker's address, or a secured cluster's environment."""
        environ = {"ORDERFLOW_DATA_DIR": str(tmp_path / "data"), "ORDERFLOW_TOPIC_PREFIX": prefix,
                   "ORDERFLOW_CACHE_DIR": str(PROJECT_ROOT / ".cache")}
        if isinstance(bootstrap, Mapping):
            environ |= bootstrap
        elif bootstrap is not None:
            environ["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
            brokers.add(bootstrap)
        if store == "postgresql":
            url = request.getfixturevalue("postgres_url")
            environ["ORDERFLOW_DATABASE_URL"] = url
            schemas.append((url, prefix))
        return Env(Settings.from_env(environ), environ)

    yield make
    for url, used_prefix in schemas:
        _drop_schemas(url, used_prefix)
    for bootstrap in brokers:
        _delete_topics(bootstrap, prefix)


def _delete_topics(bootstrap: str, used_prefix: str) -> None:
    """Each test's ~60 partitions go with it: a session broker holding every test's
    partitions at once runs out of file descriptors."""
    if probe(bootstrap.split(",")[0], 2.0) is not PortState.KAFKA:
        return  # a test that stopped or broke its own broker
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [t for t in admin.list_topics(timeout=10).topics if t.startswith(used_prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result()


def _drop_schemas(url: str, used_prefix: str) -> None:
    like = used_prefix.lower().replace(".", "_").replace("-", "_") + "%"
    engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"))
    with engine.begin() as connection:
        rows = connection.execute(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :p"),
                                  {"p": like}).scalars().all()
        for schema in rows:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture
def system_store() -> str:
    """The store the system-level integration tests run on (ORDERFLOW_TEST_STORE)."""
    return os.environ.get("ORDERFLOW_TEST_STORE", "sqlite")


STORES = ("sqlite", "postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ORDERFLOW_TEST_STORE set (as each of CI's two runs does), tests written for
    both stores run only for that one, and tests that touch no store (unit tests, the
    broker, topics, the tutorial) only in the SQLite run; the other run covers the rest."""
    chosen = os.environ.get("ORDERFLOW_TEST_STORE")
    if chosen not in STORES:
        return
    keep, drop = [], []
    for item in items:
        (drop if _other_store(item, chosen) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _other_store(item: pytest.Item, chosen: str) -> bool:
    if item.get_closest_marker("store_independent") or "unit" in item.path.parts:
        return chosen != "sqlite"  # no store involved: the SQLite run covers it once
    marker = item.get_closest_marker("store")
    if marker is not None:
        return bool(marker.args[0] != chosen)
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return any(value in STORES and value != chosen for value in params)

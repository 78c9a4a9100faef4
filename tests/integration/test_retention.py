"""Bounded storage on SQLite and PostgreSQL: what `prune` deletes and what it never does,
in chunks; the service's own pruner; `orderflow db prune`; the longest topic prefix."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from adapters.settings import PREFIX_MAX
from adapters.sql.engine import STORES
from adapters.sql.retention import CHUNK, Pruned, prune, prune_step, pruner
from adapters.sql.tables import (
    consumer_positions,
    events,
    outbox,
    processed_messages,
    timers,
)
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration.test_exactly_once import opened
from tests.support import run_cli, wait_until
from tests.system import RunningSystem

KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
WEEK = timedelta(hours=168)
OLD = NOW - WEEK - timedelta(seconds=1)  # just outside the window
RECENT = NOW - WEEK + timedelta(seconds=1)  # just inside it
LONGEST = f"t{uuid.uuid4().hex}-"[:PREFIX_MAX]  # unique per run, and as long as allowed


def at(moment: datetime) -> str:
    return moment.isoformat()


def processed(engine: Engine, when: datetime | None, n: int = 1, group: str = "g") -> None:
    rows = [{"group_id": group, "message_id": str(uuid.uuid4()),
             "processed_at": None if when is None else at(when)} for _ in range(n)]
    with engine.begin() as connection:
        connection.execute(processed_messages.insert(), rows)


def queued(engine: Engine, *, published: datetime | None, quarantined: datetime | None = None,
           n: int = 1) -> None:
    rows = [{"message_id": str(uuid.uuid4()), "topic": "t.orders", "key": "k", "value": b"{}",
             "headers": "[]", "created_at": at(OLD - WEEK),
             "published_at": None if published is None else at(published),
             "quarantined_at": None if quarantined is None else at(quarantined)}
            for _ in range(n)]
    with engine.begin() as connection:
        connection.execute(outbox.insert(), rows)


def truth(engine: Engine) -> None:
    """An old event, position and timer: the tables prune never touches."""
    with engine.begin() as connection:
        connection.execute(events.insert(), [{
            "event_id": str(uuid.uuid4()), "stream_id": "order-1", "version": 1,
            "type": "order.placed.v1", "data": "{}", "occurred_at": at(OLD - WEEK),
            "correlation_id": "order-1"}])
        connection.execute(consumer_positions.insert(), [{
            "group_id": "g", "topic": "t.orders", "partition": 0, "next_offset": 7,
            "updated_at": at(OLD - WEEK)}])
        connection.execute(timers.insert(), [{"kind": "expiry", "key": "order-1",
                                              "due_at": at(OLD - WEEK)}])


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {table.name: int(connection.execute(
                    sa.select(sa.func.count()).select_from(table)).scalar_one())
                for table in (events, outbox, processed_messages, consumer_positions, timers)}


def kept_outbox(engine: Engine) -> set[tuple[str | None, str | None]]:
    with engine.connect() as connection:
        return {(r.published_at, r.quarantined_at) for r in connection.execute(
            sa.select(outbox.c.published_at, outbox.c.quarantined_at))}


@pytest.fixture(params=KINDS)
def env(request: pytest.FixtureRequest, make_env: MakeEnv) -> Env:
    made = make_env(request.param)
    with opened(made) as app:
        app.upgrade()
    return made


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    with opened(env) as orderflow:
        yield orderflow


@pytest.fixture
def sqlite_store(make_env: MakeEnv) -> Iterator[Engine]:
    """The inventory store on SQLite, for what works the same on every store."""
    with opened(make_env("sqlite")) as app:
        app.upgrade()
        yield app.store("inventory")


def test_prune_deletes_only_old_processed_ids_and_old_published_rows(app: Orderflow) -> None:
    engine = app.store("payment")
    processed(engine, OLD, n=2)
    # just before and just after a cutoff without microseconds: as text, still in order
    processed(engine, NOW - WEEK - timedelta(microseconds=500))
    processed(engine, NOW - WEEK + timedelta(microseconds=500))
    processed(engine, None)  # unknown age: kept
    queued(engine, published=OLD, n=2)
    queued(engine, published=RECENT)
    queued(engine, published=None)  # unpublished, however old
    queued(engine, published=None, quarantined=OLD)
    queued(engine, published=OLD, quarantined=OLD)  # quarantined is never pruned
    truth(engine)
    assert prune(engine, WEEK, NOW) == Pruned(processed_ids=3, outbox_rows=2)
    assert counts(engine) == {"events": 1, "outbox": 4, "processed_messages": 2,
                              "consumer_positions": 1, "timers": 1}
    assert kept_outbox(engine) == {(at(RECENT), None), (None, None), (None, at(OLD)),
                                   (at(OLD), at(OLD))}
    assert prune(engine, WEEK, NOW) == Pruned()  # idempotent


def test_prune_goes_in_chunks_of_at_most_chunk_rows(app: Orderflow) -> None:
    engine = app.store("order")
    processed(engine, OLD, n=CHUNK + 1)
    queued(engine, published=OLD, n=CHUNK + 2)
    assert prune_step(engine, WEEK, NOW) == Pruned(processed_ids=CHUNK, outbox_rows=CHUNK)
    assert prune_step(engine, WEEK, NOW) == Pruned(processed_ids=1, outbox_rows=2)
    processed(engine, OLD, n=12)
    queued(engine, published=OLD, n=7)
    assert prune(engine, WEEK, NOW, chunk=5) == Pruned(processed_ids=12, outbox_rows=7)
    assert counts(engine)["processed_messages"] == counts(engine)["outbox"] == 0


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.store("sqlite")
def test_the_pruner_runs_when_due_and_carries_on_while_chunks_are_full(
        sqlite_store: Engine) -> None:
    clock = Clock()
    tick = pruner(sqlite_store, WEEK, clock, every=timedelta(minutes=10))
    processed(sqlite_store, OLD, n=CHUNK + 3)
    assert tick() == CHUNK  # due at once; a full chunk: due again at the next tick
    assert tick() == 3
    processed(sqlite_store, OLD)
    assert tick() == 0  # not due for ten minutes
    clock.now += timedelta(minutes=10)
    assert tick() == 1


@pytest.mark.store("sqlite")
@pytest.mark.parametrize(("window", "interval"), [(3.6, 3.6), (0.2, 1.0)],
                         ids=["every window", "at most once a second"])
def test_a_short_window_is_pruned_that_often(sqlite_store: Engine, window: float,
                                            interval: float) -> None:
    clock = Clock()
    tick = pruner(sqlite_store, timedelta(seconds=window), clock)
    assert tick() == 0  # due at once, nothing to delete yet
    processed(sqlite_store, NOW - timedelta(hours=1))
    clock.now = NOW + timedelta(seconds=interval - 0.001)
    assert tick() == 0
    clock.now = NOW + timedelta(seconds=interval)
    assert tick() == 1


def test_db_prune_reports_what_it_deleted_per_store(env: Env, app: Orderflow) -> None:
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    processed(app.store("order"), hour_ago, n=2)
    queued(app.store("projector"), published=hour_ago, n=3)
    queued(app.store("projector"), published=None)
    result = run_cli(["db", "prune", "--json"],
                     {**env.environ, "ORDERFLOW_RETENTION_HOURS": "0.5"})
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == set(STORES)
    assert document["order"] == {"processed_ids": 2, "outbox_rows": 0}
    assert document["projector"] == {"processed_ids": 0, "outbox_rows": 3}
    assert counts(app.store("projector"))["outbox"] == 1
    again = run_cli(["db", "prune"], {**env.environ, "ORDERFLOW_RETENTION_HOURS": "0.5"})
    assert again.code == 0 and "stores pruned" in again.stdout, again.stderr
    assert max(len(line) for line in again.stdout.splitlines()) <= 80


@pytest.mark.kafka
@pytest.mark.store("sqlite")
def test_a_running_service_prunes_its_own_store(make_env: MakeEnv, kafka: str,
                                                tmp_path: Path) -> None:
    env = make_env("sqlite", bootstrap=kafka)
    for args in (["db", "upgrade"], ["topics", "create"]):
        assert run_cli(args, env.environ).code == 0
    with opened(env) as app:
        engine = app.store("payment")
        processed(engine, datetime.now(UTC) - timedelta(hours=2))
        processed(engine, datetime.now(UTC))
        running = RunningSystem({**env.environ, "ORDERFLOW_RETENTION_HOURS": "1"}, tmp_path)
        running.start(["payment"])
        try:
            wait_until(lambda: counts(engine)["processed_messages"] == 1, 60,
                       "the payment service to prune the old processed id")
        finally:
            assert running.stop() == {"payment": 0}, running.log("payment")


@pytest.mark.postgres
@pytest.mark.parametrize("prefix", [LONGEST], ids=["longest-prefix"])
def test_the_longest_prefix_migrates_and_every_store_takes_outbox_rows_on_postgresql(
        make_env: MakeEnv, prefix: str) -> None:
    env = make_env("postgresql")
    assert len(prefix) == PREFIX_MAX
    with opened(env) as app:
        app.upgrade()
        app.orders().place(customer_id="alice", items=[("BOOK-1", 1)], ship_to="DE",
                           flow="choreography", channel="cli")
        for store in STORES:  # orchestrator: the longest schema, and NOTIFY channel
            with listening(app, store) as listener:
                queued(app.store(store), published=None)
                assert len(list(listener.notifies(timeout=10, stop_after=1))) == 1, store
        assert counts(app.store("order"))["outbox"] == 2


@contextmanager
def listening(app: Orderflow, store: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """LISTEN where the store's relay does: `outbox_<schema>`, as migration 0005 notifies."""
    url = app.engine(store).url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as db:
        db.execute(f'LISTEN "outbox_{app.schema(store)}"')
        yield db

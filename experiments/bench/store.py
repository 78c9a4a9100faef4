"""Raw store baseline (the real event store, batched) and the read-side probes the
bench polls: how many of a phase's orders are final, and their event times."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from adapters.settings import Settings
from adapters.sql import migrate
from adapters.sql.engine import READONLY, make_engine, schema_name
from adapters.sql.event_store import Context, EventStore
from adapters.sql.tables import consumer_positions
from domain.streams import order_stream
from experiments.bench.workload import Placed
from projections.tables import order_view

TERMINAL = ("confirmed", "rejected")
Tick = Callable[[int], None]


@dataclass(frozen=True)
class StoreBaseline:
    store: str
    events: int
    batch: int
    events_per_s: float  # each event with its outbox row, as every pipeline message has
    rows_per_s: float


def store_baseline(settings: Settings, orders: list[Placed], batch: int,
                   tick: Tick) -> StoreBaseline:
    """Append OrderPlaced events (event + outbox rows) with `EventStore.append_many`,
    `batch` events per transaction, to a scratch order store migrated here."""
    engine = make_engine(settings, "order")
    schema = schema_name(settings, "order") if settings.is_postgres else None
    migrate.upgrade(engine, "order", schema)
    store = EventStore(settings.topic_prefix)
    began = time.perf_counter()
    for start in range(0, len(orders), batch):
        chunk = orders[start:start + batch]
        context = Context(correlation_id=chunk[0].order_id, causation_id=None,
                          flow="choreography", now=chunk[0].event.placed_at)
        with engine.begin() as connection:
            store.append_many(connection, {order_stream(p.order_id): (0, [p.event])
                                           for p in chunk}, context)
        tick(start + len(chunk))
    elapsed = time.perf_counter() - began
    engine.dispose()
    kind = "postgresql" if settings.is_postgres else "sqlite"
    return StoreBaseline(kind, len(orders), batch, len(orders) / elapsed,
                         2 * len(orders) / elapsed)


def drop_schemas(url: str, prefix: str) -> None:
    """Remove a run's PostgreSQL schemas (every store, and the scratch one)."""
    engine = sa.create_engine(sa.engine.make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as connection:
            names = connection.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"),
                {"p": prefix}).scalars().all()
            for name in names:
                connection.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        engine.dispose()


class Board:
    """The projector's order_view, read the way a person would: by flow and time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def settled(self, flow: str, since: str) -> int:
        query = sa.select(sa.func.count()).where(*_phase(flow, since))
        with self._reading() as connection:
            return int(connection.execute(query).scalar_one())

    def outcomes(self, flow: str, since: str) -> dict[str, int]:
        query = sa.select(order_view.c.status, order_view.c.reason).where(*_phase(flow, since))
        with self._reading() as connection:
            rows = connection.execute(query).all()
        return dict(Counter(r.status + (f" ({r.reason})" if r.reason else "") for r in rows))

    def times(self, flow: str, since: str) -> list[tuple[datetime, datetime]]:
        """(placed, final) event times of a phase's final orders."""
        query = sa.select(order_view.c.created_at, order_view.c.updated_at) \
            .where(*_phase(flow, since))
        with self._reading() as connection:
            rows = connection.execute(query).all()
        return [(datetime.fromisoformat(r.created_at), datetime.fromisoformat(r.updated_at))
                for r in rows]

    def position(self) -> int:
        """How far the projector has read, summed over its partitions: it moves while
        a backlog is worked through even when no order has reached its final status."""
        query = sa.select(sa.func.coalesce(sa.func.sum(consumer_positions.c.next_offset), 0))
        with self._reading() as connection:
            return int(connection.execute(query).scalar_one())

    def _reading(self) -> Connection:
        return self.engine.connect().execution_options(**READONLY)


def _phase(flow: str, since: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (order_view.c.flow == flow, order_view.c.created_at >= since,
            order_view.c.status.in_(TERMINAL))

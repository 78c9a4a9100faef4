"""The outbox relay: publishes a store's outbox rows to Kafka, in commit order.

Rows are read as "every unpublished row, lowest id first", never "rows after the
last id I saw": a transaction that took a lower id but commits after a higher one
(PostgreSQL sequence gaps) is therefore picked up on the next pass, never skipped.
A row is marked published only after its delivery report; a crash in between
publishes it again on restart (consumers dedupe by message id).

The relay wakes when rows can be there: at once after a commit in its own process, and
through a watcher for commits from other processes (the CLI placing an order) —
LISTEN/NOTIFY on PostgreSQL, `PRAGMA data_version` on SQLite. Backing-off polls remain
as the safety net, should the watcher miss something or lose its connection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from confluent_kafka import KafkaError, Message, Producer
from psycopg import sql
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError

from adapters import faults
from adapters.kafka.admin import quiet_client_config
from adapters.kafka.errors import KafkaClientError
from adapters.sql.engine import READONLY
from adapters.sql.tables import outbox

logger = logging.getLogger(__name__)

# Seconds between polls while idle; a watcher's wake-up cuts any of them short.
IDLE_WAITS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)
SQLITE_WATCH_INTERVAL = 0.005  # seconds between two reads of PRAGMA data_version (~1 % CPU)


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    return {**quiet_client_config(bootstrap), "enable.idempotence": True, "acks": "all",
            "linger.ms": 2, "batch.num.messages": 10000, "queue.buffering.max.ms": 2,
            **overrides}


class OutboxRelay:
    def __init__(self, engine: Engine, bootstrap: str, *, batch_size: int = 1000,
                 name: str = "relay") -> None:
        self.engine = engine
        self.bootstrap = bootstrap
        self.batch_size = batch_size
        self.name = name
        self.wakeup = threading.Event()
        self.watching = threading.Event()  # the commit watcher sees other processes' commits
        self._producer: Producer | None = None
        event.listen(engine, "commit", lambda _conn: self.wakeup.set())  # same-process appends

    @property
    def producer(self) -> Producer:
        if self._producer is None:  # lazy: nothing connects until there is work
            self._producer = Producer(producer_config(self.bootstrap))
        return self._producer

    def pending(self) -> int:
        with self.engine.connect().execution_options(**READONLY) as connection:
            query = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
            return int(connection.execute(query).scalar() or 0)

    def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; return how many were marked published."""
        rows = self._next_batch()
        if not rows:
            return 0
        faults.point("relay.before_produce")
        delivered = self._produce(rows)
        faults.point("relay.after_produce")
        self._mark(delivered)
        return len(delivered)

    def run(self, stop: threading.Event) -> None:
        watcher = threading.Thread(target=self.watch, args=(stop,), daemon=True,
                                   name=f"{self.name}-watch")
        watcher.start()
        idle = 0
        while not stop.is_set():
            try:
                published = self.publish_pending()
            except DBAPIError as exc:  # the store is unavailable: wait, the rows are safe
                logger.error("%s: store unavailable (%s), retrying", self.name,
                             type(exc).__name__)
                stop.wait(1.0)
                continue
            if published >= self.batch_size:
                continue
            idle = 0 if published else min(idle + 1, len(IDLE_WAITS) - 1)
            self.wakeup.wait(IDLE_WAITS[idle])
            self.wakeup.clear()
        self.close()

    def watch(self, stop: threading.Event) -> None:
        """Set `wakeup` whenever another connection commits to the store (never fails:
        without it the relay still polls)."""
        while not stop.is_set():
            try:
                if self.engine.dialect.name == "postgresql":
                    self._listen(stop)
                else:
                    self._watch_data_version(stop)
            except (psycopg.Error, sqlite3.Error, DBAPIError) as exc:
                self.watching.clear()
                logger.warning("%s: commit watcher failed (%s), polling meanwhile", self.name, exc)
                stop.wait(1.0)

    def _watch_data_version(self, stop: threading.Event) -> None:
        path = self.engine.url.database or ""
        with closing(sqlite3.connect(path, isolation_level=None)) as db:  # reads only
            seen = db.execute("PRAGMA data_version").fetchone()[0]
            self.watching.set()
            while not stop.wait(SQLITE_WATCH_INTERVAL):
                version = db.execute("PRAGMA data_version").fetchone()[0]
                if version != seen:
                    seen = version
                    self.wakeup.set()

    def _listen(self, stop: threading.Event) -> None:
        with self.engine.connect() as connection:  # the store's schema, as the trigger names it
            channel = f"outbox_{connection.exec_driver_sql('SELECT current_schema()').scalar()}"
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self.watching.set()
            while not stop.is_set():
                for _ in db.notifies(timeout=0.5, stop_after=1):
                    self.wakeup.set()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None

    def _next_batch(self) -> list[Any]:
        query = (sa.select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value,
                           outbox.c.headers)
                 .where(outbox.c.published_at.is_(None)).order_by(outbox.c.id)
                 .limit(self.batch_size))
        with self.engine.connect().execution_options(**READONLY) as connection:
            return list(connection.execute(query))

    def _produce(self, rows: list[Any]) -> list[int]:
        reports: dict[int, KafkaError | None] = {}
        for row in rows:
            self._produce_one(row, reports)
        while len(reports) < len(rows):
            if self.producer.flush(30) > 0:
                break
        delivered = [row.id for row in rows if row.id in reports and reports[row.id] is None]
        failed = [(i, e) for i, e in reports.items() if e is not None]
        if failed or len(reports) < len(rows):
            self._report_failure(failed, len(rows) - len(reports))
        return _prefix_of(rows, delivered)

    def _produce_one(self, row: Any, reports: dict[int, KafkaError | None]) -> None:
        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            reports[row.id] = error

        headers = [(k, v.encode()) for k, v in orjson.loads(row.headers)]
        while True:
            try:
                self.producer.produce(row.topic, key=row.key.encode(), value=row.value,
                                      headers=headers, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                self.producer.poll(0.1)
        self.producer.poll(0)

    def _mark(self, ids: list[int]) -> None:
        if not ids:
            return
        now = datetime.now(UTC).isoformat()
        with self.engine.begin() as connection:
            connection.execute(outbox.update().where(outbox.c.id.in_(ids))
                               .values(published_at=now))
        logger.debug("%s published %d outbox rows (last id %d)", self.name, len(ids), ids[-1])

    def _report_failure(self, failed: list[tuple[int, KafkaError]], unreported: int) -> None:
        if failed:
            first_id, error = failed[0]
            logger.error("%s: delivery failed for outbox row %d (%d rows failed): %s",
                         self.name, first_id, len(failed), KafkaClientError("produce", error))
        if unreported:
            logger.error("%s: %d rows got no delivery report in time", self.name, unreported)


def _prefix_of(rows: list[Any], delivered: list[int]) -> list[int]:
    """Mark only the unbroken run of delivered rows from the start of the batch, so a
    failed row is retried before anything after it is considered done."""
    done = set(delivered)
    prefix: list[int] = []
    for row in rows:
        if row.id not in done:
            break
        prefix.append(row.id)
    return prefix

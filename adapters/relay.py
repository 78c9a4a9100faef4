"""The outbox relay: publishes a store's outbox rows to Kafka, in commit order.

Rows are read as "every unpublished row, lowest id first", never "rows after the
last id I saw": a transaction that took a lower id but commits after a higher one
(PostgreSQL sequence gaps) is therefore picked up on the next pass, never skipped.
A row is marked published only after its delivery report; a crash in between
publishes it again on restart (consumers dedupe by message id). Every delivered row is
marked, so a row that fails never makes the rows after it go out again. A row the
broker refuses for good (`REFUSALS`: too large, not authorised, ...) is tried
`RELAY_TRIES` times and then quarantined: counted, logged, never published, and out
of the way. A broker that is away is not the rows' fault: nothing is counted, the
relay backs off and tries again until it is back. Should the producer's local queue stay
full (kafka/client.py's `produce` gives up), the rows already handed over are awaited and
the rest of the pass waits for the next one.

The relay wakes when rows can be there: at once after a commit in its own process, and
through a watcher for commits from other processes (the CLI placing an order) —
LISTEN/NOTIFY on PostgreSQL, `PRAGMA data_version` on SQLite. Backing-off polls remain
as the safety net, should the watcher miss something or lose its connection.

A relay publishes the rows of one publisher: the store's own relay those with no
`publisher` (every row a service writes), the CLI's relay those marked `cli` — the
copies `orderflow dlq redrive` sends back to a source topic, which on a secured cluster
the consuming service may read but not write (services/dead_letters.py).

Two histograms (adapters/metrics.py) time the relay's hops: a delivered row's
`created_at` to the read of the pass that published it (pick-up), and each produce call
to its delivery report, the broker's ack (publish).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from psycopg import sql
from sqlalchemy import Engine

from adapters import faults
from adapters.credentials import Kafka
from adapters.kafka.client import DELIVERY_TIMEOUT_MS, produce, producer_config
from adapters.kafka.errors import KafkaClientError, QueueFull
from adapters.metrics import RELAY_PICKUP_SECONDS, RELAY_PUBLISH_SECONDS
from adapters.retry import backoff, log_retry
from adapters.sql.engine import READONLY
from adapters.sql.plain import chunks, in_list, run
from adapters.sql.tables import outbox
from adapters.sql.transaction import on_commit
from domain.errors import OrderflowError

logger = logging.getLogger(__name__)

# Seconds between polls while idle; a watcher's wake-up cuts any of them short.
IDLE_WAITS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)
SQLITE_WATCH_INTERVAL = 0.005  # seconds between two reads of PRAGMA data_version (~1 % CPU)
RELAY_TRIES = 5  # refusals (non-retriable errors) before a row is quarantined
# What the broker or the client says about one record, for good. Anything else (a
# timeout, a broker away, a leader moving, a topic not there yet) is an outage: the row
# waits, uncounted, however long it lasts.
REFUSALS = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE,
                      KafkaError.INVALID_RECORD, KafkaError.TOPIC_EXCEPTION,
                      KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.POLICY_VIOLATION,
                      KafkaError._INVALID_ARG})


class PublishFailed(OrderflowError):
    """Some rows of a pass were not delivered; the relay backs off and tries again."""


@dataclass
class Reports:
    """What the broker said about each row of one pass (None: delivered)."""

    expected: int
    errors: dict[int, KafkaError | None] = field(default_factory=dict)

    @property
    def delivered(self) -> list[int]:
        return [i for i, error in self.errors.items() if error is None]

    @property
    def refused(self) -> dict[int, KafkaError]:
        return {i: e for i, e in self.errors.items() if e is not None and e.code() in REFUSALS}

    @property
    def complete(self) -> bool:
        return len(self.errors) >= self.expected


# Seconds a stopping relay still waits for the reports of what it has produced; past
# them the rows stay unmarked and the next start publishes them (consumers dedupe).
STOP_GRACE = 5.0


class OutboxRelay:
    def __init__(self, engine: Engine, bootstrap: Kafka, *, batch_size: int = 1000,
                 name: str = "relay", publisher: str | None = None,
                 delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS) -> None:
        self.engine = engine
        self.bootstrap = bootstrap
        self.batch_size = batch_size
        self.name = name
        self.publisher = publisher  # None: the store's own rows (outbox.publisher NULL)
        self._next_query = _next_batch(publisher)
        self.delivery_timeout_ms = delivery_timeout_ms  # a broker away: how long a pass waits
        self.wakeup = threading.Event()
        self._stopping = threading.Event()  # set by run(): stop waiting for reports
        self.watching = threading.Event()  # the commit watcher sees other processes' commits
        self._producer: Producer | None = None
        on_commit(engine, self.wakeup.set)  # same-process appends, once they are visible

    @property
    def producer(self) -> Producer:
        if self._producer is None:  # lazy: nothing connects until there is work
            self._producer = Producer(producer_config(
                self.bootstrap, **{"message.timeout.ms": self.delivery_timeout_ms}))
        return self._producer

    def pending(self) -> int:
        """Rows waiting to be published (quarantined rows are not waiting)."""
        return self._count(sa.and_(_WAITING, _published_by(self.publisher)))

    def quarantined(self) -> int:
        return self._count(outbox.c.quarantined_at.is_not(None))

    def _count(self, where: Any) -> int:
        with self.engine.connect().execution_options(**READONLY) as connection:
            return int(connection.execute(sa.select(sa.func.count()).where(where)).scalar() or 0)

    def publish_pending(self) -> int:
        """Publish one batch of waiting rows; return how many were marked published.
        Raises PublishFailed, after marking what was delivered, if any row was not."""
        rows = self._next_batch()
        if not rows:
            return 0
        read_at = time.time()
        faults.point("relay.before_produce")
        reports = self._produce(rows)
        faults.point("relay.after_produce")
        self._mark(reports.delivered)
        _observe_pickup([row for row in rows if reports.errors.get(row.id, False) is None],
                        read_at)
        self._refuse(reports.refused)
        if len(reports.delivered) < len(rows):
            raise PublishFailed(self._failure(rows, reports))
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        self._stopping = stop
        watcher = threading.Thread(target=self.watch, args=(stop,), daemon=True,
                                   name=f"{self.name}-watch")
        watcher.start()
        idle = failures = 0
        while not stop.is_set():
            try:
                published = self.publish_pending()
                failures = 0
            except Exception as exc:  # the rows are safe in the store: wait, try again
                failures += 1
                log_retry(logger, f"{self.name}: publishing", exc, failures)
                stop.wait(backoff(failures))
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
        failures = 0
        while not stop.is_set():
            try:
                if self.engine.dialect.name == "postgresql":
                    self._listen(stop)
                else:
                    self._watch_data_version(stop)
            except Exception as exc:  # the relay polls meanwhile
                failures = 1 if self.watching.is_set() else failures + 1  # a new outage?
                self.watching.clear()
                log_retry(logger, f"{self.name}: commit watcher", exc, failures)
                stop.wait(backoff(failures))

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
        with self.engine.connect().execution_options(**READONLY) as connection:
            return list(run(connection, self._next_query,
                            {"limit": self.batch_size, "publisher": self.publisher}))

    def _produce(self, rows: list[Any]) -> Reports:
        reports = Reports(len(rows))
        for index, row in enumerate(rows):
            try:
                self._produce_one(row, reports)
            except QueueFull as exc:  # the broker takes nothing: the rest wait, uncounted
                logger.warning("%s: %s; %d rows wait for the next pass", self.name, exc,
                               len(rows) - index)
                reports.expected = index
                break
        deadline = time.monotonic() + self.delivery_timeout_ms / 1000 + 5
        while not reports.complete and time.monotonic() < deadline:
            if self._stopping.is_set():  # stopping: what is in flight gets a short grace
                deadline = min(deadline, time.monotonic() + STOP_GRACE)
            self.producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if not reports.complete or any(e is not None and e.fatal()
                                       for e in reports.errors.values()):
            self._discard_producer()
        return reports

    def _produce_one(self, row: Any, reports: Reports) -> None:
        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            reports.errors[row.id] = error
            if error is None:
                RELAY_PUBLISH_SECONDS.observe(time.perf_counter() - sent)

        headers = [(k, v.encode()) for k, v in orjson.loads(row.headers)]
        sent = time.perf_counter()
        try:
            produce(self.producer, topic=row.topic, key=row.key.encode(), value=row.value,
                    headers=headers, on_delivery=on_delivery)
        except KafkaException as exc:  # refused before sending (e.g. too large)
            reports.errors[row.id] = exc.args[0]

    def _discard_producer(self) -> None:
        """A producer with a fatal error, or reports missing past their timeout, is
        replaced; whatever it still held is produced again on the next pass."""
        if self._producer is not None:
            self._producer.purge()
            self._producer = None

    def _mark(self, ids: list[int]) -> None:
        if not ids:
            return
        now = datetime.now(UTC).isoformat()
        with self.engine.begin() as connection:
            for chunk in chunks(ids):
                marks, params = in_list(chunk)
                run(connection, f"UPDATE outbox SET published_at = :now WHERE id IN ({marks})",
                    {**params, "now": now})
        logger.debug("%s published %d outbox rows (last id %d)", self.name, len(ids), ids[-1])

    def _refuse(self, refused: dict[int, KafkaError]) -> None:
        """Count a refusal on each row; a row refused RELAY_TRIES times is quarantined."""
        if not refused:
            return
        now = datetime.now(UTC).isoformat()
        with self.engine.begin() as connection:
            for row_id, error in refused.items():
                connection.execute(outbox.update().where(outbox.c.id == row_id).values(
                    attempts=outbox.c.attempts + 1, last_error=str(KafkaClientError(
                        "produce", error))[:2000]))
            done = connection.execute(sa.select(outbox.c.id, outbox.c.topic, outbox.c.key,
                                                outbox.c.message_id, outbox.c.last_error)
                                      .where(outbox.c.id.in_(list(refused)),
                                             outbox.c.attempts >= RELAY_TRIES)).all()
            connection.execute(outbox.update().where(outbox.c.id.in_([r.id for r in done]))
                               .values(quarantined_at=now))
        for row in done:  # its key is not always an order id (stock is keyed by SKU)
            logger.error("%s: quarantined outbox row %d (topic %s, key %s, message %s) after"
                         " %d refusals: %s", self.name, row.id, row.topic, row.key,
                         row.message_id, RELAY_TRIES, row.last_error,
                         extra={"topic": row.topic})

    @staticmethod
    def _failure(rows: list[Any], reports: Reports) -> str:
        failed = [(i, e) for i, e in reports.errors.items() if e is not None]
        unanswered = len(rows) - len(reports.errors)
        first = f"; first: row {failed[0][0]}: {KafkaClientError('produce', failed[0][1])}" \
            if failed else ""
        return (f"{len(failed)} of {len(rows)} rows failed, {unanswered} unanswered"
                f" ({len(reports.refused)} refused for good){first}")


def _observe_pickup(rows: list[Any], read_at: float) -> None:
    """Each delivered row's age when the pass that published it read it (a row read
    again after a failed pass counts once, at its last read). The rows of one unit of
    work share their `created_at` and come in a run: a stamp is parsed once per run."""
    stamp, at = None, None
    for row in rows:
        if row.created_at != stamp:
            stamp, at = row.created_at, _epoch(row.created_at)
        if at is not None:
            RELAY_PICKUP_SECONDS.observe(max(0.0, read_at - at))


def _epoch(stamp: str) -> float | None:
    """A stored UTC ISO-8601 stamp as epoch seconds (None if unreadable: a metric must
    never stop the relay)."""
    try:
        at = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


_WAITING = sa.and_(outbox.c.published_at.is_(None), outbox.c.quarantined_at.is_(None))


def _published_by(publisher: str | None) -> Any:
    return outbox.c.publisher.is_(None) if publisher is None else outbox.c.publisher == publisher


def _next_batch(publisher: str | None) -> str:
    """The waiting rows of one publisher, as the pending index (ix_outbox_pending) covers
    them: lowest id first."""
    mine = "publisher IS NULL" if publisher is None else "publisher = :publisher"
    return ("SELECT id, topic, key, value, headers, created_at FROM outbox WHERE"
            f" published_at IS NULL AND quarantined_at IS NULL AND {mine} ORDER BY id"
            " LIMIT :limit")

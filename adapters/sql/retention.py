"""Bounded storage: processed ids and published outbox rows older than the retention go.

This keeps whatever dedupe still needs. A processed id (`processed_messages`) is only
needed while a copy of that message can still arrive, and a copy comes only from:

- a relay re-publishing a row it produced but had not yet marked published (it crashed
  in between, and publishes the row again when it restarts), or
- a participant re-sending its latest event, same id, in reply to a repeated command
  (the orchestrator's step retries),

both within minutes of the original. Kafka itself never hands a group an old record
again: positions only move forward (the consumer runtime guarantees it) and a group
seeks to its stored position, so no record below it is redelivered. `processed_at` is
when the group applied the message, not when it was published, so a consumer that lags
behind loses nothing either. The window must exceed the longest time a relay can stay
down holding produced-but-unmarked rows; the default, a week (ORDERFLOW_RETENTION_HOURS),
does by far. Anything that re-sends older copies must dedupe by state instead.

A published outbox row (`published_at` set) is done: the relay only reads unpublished
ones. Unpublished and quarantined rows stay whatever their age (work still to do, or to
look at), and so do dead letters not yet redriven: `orderflow dlq` reads them from the
store, and a dead letter must not vanish before somebody decided what becomes of it.
`events`, `consumer_positions` and `timers`, the truth, are never touched.

Rows go in chunks of at most CHUNK, one transaction each, so a SQLite writer holds the
lock for milliseconds and the consumer, relay and timers interleave. The timestamps are
ISO-8601 UTC text from the wall clock, so comparing the text compares the instants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import Delete, Engine

from adapters.kafka.topics import DLQ_SUFFIX
from adapters.sql.tables import outbox, processed_messages

CHUNK = 5_000  # rows per transaction
MIN_INTERVAL = timedelta(seconds=1)  # a pruner never runs more often, however short the window

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Pruned:
    """How many rows one prune deleted."""

    processed_ids: int = 0
    outbox_rows: int = 0

    @property
    def total(self) -> int:
        return self.processed_ids + self.outbox_rows

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(self.processed_ids + other.processed_ids,
                      self.outbox_rows + other.outbox_rows)


def prune(engine: Engine, retention: timedelta, now: datetime, chunk: int = CHUNK) -> Pruned:
    """Delete every processed id and published outbox row older than `now - retention`."""
    done = Pruned()
    while True:
        step = prune_step(engine, retention, now, chunk)
        done += step
        if not _filled(step, chunk):
            return done


def prune_step(engine: Engine, retention: timedelta, now: datetime,
               chunk: int = CHUNK) -> Pruned:
    """Delete at most `chunk` rows of each table, each table in a transaction of its own."""
    cutoff = (now - retention).astimezone(UTC).isoformat()
    return Pruned(processed_ids=_delete(engine, _processed_before(cutoff, chunk)),
                  outbox_rows=_delete(engine, _published_before(cutoff, chunk)))


def pruner(engine: Engine, retention: timedelta, clock: Clock,
           every: timedelta = timedelta(minutes=10)) -> Callable[[], int]:
    """A ticker: when due, deletes one chunk per table and returns how many rows went (0 when
    not due). Due at once, then again right away while chunks come back full, then every
    `every` (or `retention`, if shorter; never more often than MIN_INTERVAL). One chunk per
    call keeps the other tickers (deadlines) running between chunks of a large backlog."""
    return _Pruner(engine, retention, clock, max(min(every, retention), MIN_INTERVAL))


@dataclass
class _Pruner:
    engine: Engine
    retention: timedelta
    clock: Clock
    interval: timedelta
    due: datetime | None = None

    def __call__(self) -> int:
        now = self.clock()
        if self.due is not None and now < self.due:
            return 0
        self.due = now + self.interval  # also after a failure: try again next time
        step = prune_step(self.engine, self.retention, now)
        if _filled(step, CHUNK):
            self.due = now  # more to delete: carry on at the next tick
        return step.total


def _filled(step: Pruned, chunk: int) -> bool:
    return max(step.processed_ids, step.outbox_rows) >= chunk


def _processed_before(cutoff: str, limit: int) -> Delete:
    """A row-value IN: portable (SQLite >= 3.15, PostgreSQL) to the composite key."""
    key = (processed_messages.c.group_id, processed_messages.c.message_id)
    old = sa.select(*key).where(processed_messages.c.processed_at < cutoff).limit(limit)
    return processed_messages.delete().where(sa.tuple_(*key).in_(old))


def _published_before(cutoff: str, limit: int) -> Delete:
    old = (sa.select(outbox.c.id)
           .where(outbox.c.published_at.is_not(None), outbox.c.published_at < cutoff,
                  outbox.c.quarantined_at.is_(None),
                  sa.or_(outbox.c.redriven_at.is_not(None),
                         sa.not_(outbox.c.topic.like(f"%{DLQ_SUFFIX}"))))
           .limit(limit))
    return outbox.delete().where(outbox.c.id.in_(old))


def _delete(engine: Engine, statement: Delete) -> int:
    with engine.begin() as connection:
        return connection.execute(statement).rowcount

"""Dead letters and quarantined rows as a store holds them: outbox rows.

A dead letter is an outbox row for `<topic>.dlq`, written in the failing batch's own
transaction (adapters/kafka/dlq.py); a quarantined row is one the relay set aside after
Kafka refused it for good (adapters/relay.py). Both stay in the store that wrote them,
so that is where they are read and redriven, each store on its own.

The redrive marks are conditional updates (`... WHERE redriven_at IS NULL`, `... WHERE
quarantined_at IS NOT NULL`) whose row counts say whether this transaction made the
change: two redrives of one dead letter racing each other write one copy, because the
second finds the mark set (PostgreSQL re-checks the condition once the first commits;
SQLite writers are serialised by BEGIN IMMEDIATE) and writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from adapters.codec import Envelope, envelope_for
from adapters.kafka.topics import DLQ_SUFFIX
from adapters.notices import DeadLetterRedriven, MessageDeadLettered
from adapters.sql.event_store import outbox_row
from adapters.sql.tables import outbox

DEAD_LETTER = "dead letter"
QUARANTINED = "quarantined"

_NOTICES = uuid.UUID("6d1c1a52-29a4-4f4e-9a0e-3b8f0c5d7e21")  # notice ids from letter ids
_IS_DEAD_LETTER = outbox.c.topic.like(f"%{DLQ_SUFFIX}")
# what `dlq list` shows: every dead letter, every quarantined row, and the quarantined
# rows already redriven (their redriven_at says so once quarantined_at is cleared)
_LISTED = sa.or_(_IS_DEAD_LETTER, outbox.c.quarantined_at.is_not(None),
                 outbox.c.redriven_at.is_not(None))
_COLUMNS = [c for c in outbox.c if c.name != "value"]  # values are read one at a time
# `Letter.waiting` as SQL: a dead letter not redriven yet, a row still quarantined
_WAITING = sa.or_(sa.and_(_IS_DEAD_LETTER, outbox.c.redriven_at.is_(None)),
                  sa.and_(sa.not_(_IS_DEAD_LETTER), outbox.c.quarantined_at.is_not(None)))


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter or quarantined row, where it came from and what went wrong."""

    store: str
    row: int
    message_id: str  # a dead letter's is a uuid5 of (group, topic, partition, offset)
    kind: str  # DEAD_LETTER | QUARANTINED
    topic: str  # the outbox row's own topic (`<source>.dlq` for a dead letter)
    source_topic: str  # where the record came from, and where a redrive sends it
    partition: int | None  # None: a quarantined row never reached a partition
    offset: int | None
    key: str
    order_id: str | None
    group: str | None  # the consumer group that dead-lettered it
    error_type: str
    error: str
    at: str  # when it failed (dead letter) or was set aside (quarantined)
    created_at: str
    published_at: str | None
    quarantined_at: str | None
    redriven_at: str | None
    attempts: int
    headers: tuple[tuple[str, str], ...]

    @property
    def waiting(self) -> bool:
        """Still to be redriven: a dead letter goes back once, a quarantined row whenever
        it is quarantined (whether its value allows a redrive is the use case's call)."""
        if self.kind == DEAD_LETTER:
            return self.redriven_at is None
        return self.quarantined_at is not None


def letters(connection: Connection, store: str,
            sources: Sequence[str] | None = None) -> list[Letter]:
    """The store's dead letters and quarantined rows, oldest row first; `sources`: only
    those that came from these topics."""
    where: list[ColumnElement[bool]] = [_LISTED]
    if sources is not None:
        where.append(outbox.c.topic.in_([*sources, *(s + DLQ_SUFFIX for s in sources)]))
    query = sa.select(*_COLUMNS).where(*where).order_by(outbox.c.id)
    return [_letter(store, row) for row in connection.execute(query)]


def waiting_count(connection: Connection) -> int:
    """How many of the store's letters are `waiting`, counted by the database."""
    query = sa.select(sa.func.count()).select_from(outbox).where(_WAITING)
    return int(connection.execute(query).scalar_one())


def matching(connection: Connection, store: str, id_prefix: str) -> list[Letter]:
    """The listed rows whose message id starts with `id_prefix` (hex digits and dashes
    only: the caller checked, so LIKE sees no wildcard)."""
    query = (sa.select(*_COLUMNS)
             .where(_LISTED, outbox.c.message_id.like(f"{id_prefix.lower()}%"))
             .order_by(outbox.c.id))
    return [_letter(store, row) for row in connection.execute(query)]


def value(connection: Connection, row: int) -> bytes | None:
    found = connection.execute(sa.select(outbox.c.value).where(outbox.c.id == row)).scalar()
    return None if found is None else bytes(found)


def mark_redriven(connection: Connection, row: int, now: str) -> bool:
    """Mark a dead letter redriven; False if it already was (nothing changed)."""
    done = connection.execute(outbox.update().where(
        outbox.c.id == row, _IS_DEAD_LETTER, outbox.c.redriven_at.is_(None))
        .values(redriven_at=now))
    return bool(done.rowcount == 1)


def enqueue(connection: Connection, row: dict[str, Any]) -> int:
    """A new outbox row for the relay to publish; its id."""
    return int(connection.execute(outbox.insert().values(**row)
                                  .returning(outbox.c.id)).scalar_one())


def release(connection: Connection, message_id: str, now: str) -> int:
    """Give a quarantined message's rows back to the relay (their refusals forgotten, the
    last error kept); how many rows that was (0: not quarantined any more)."""
    done = connection.execute(outbox.update().where(
        outbox.c.message_id == message_id, outbox.c.quarantined_at.is_not(None),
        sa.not_(_IS_DEAD_LETTER))
        .values(quarantined_at=None, attempts=0, redriven_at=now))
    return int(done.rowcount)


def _letter(store: str, row: Any) -> Letter:
    headers = tuple((str(k), str(v)) for k, v in orjson.loads(row.headers))
    if row.topic.endswith(DLQ_SUFFIX):
        return _dead_letter(store, row, headers)
    return _quarantined(store, row, headers)


def _dead_letter(store: str, row: Any, headers: tuple[tuple[str, str], ...]) -> Letter:
    named = dict(headers)
    return Letter(
        store=store, row=row.id, message_id=row.message_id, kind=DEAD_LETTER, topic=row.topic,
        source_topic=named.get("original_topic", row.topic.removesuffix(DLQ_SUFFIX)),
        partition=_int(named.get("original_partition")),
        offset=_int(named.get("original_offset")), key=row.key,
        order_id=named.get("correlation_id") or None, group=named.get("consumer_group"),
        error_type=named.get("error_type", ""), error=named.get("error", ""),
        at=named.get("failed_at", row.created_at), created_at=row.created_at,
        published_at=row.published_at, quarantined_at=row.quarantined_at,
        redriven_at=row.redriven_at, attempts=row.attempts, headers=headers)


def _quarantined(store: str, row: Any, headers: tuple[tuple[str, str], ...]) -> Letter:
    error_type, error = _refusal(row.last_error or "")
    return Letter(
        store=store, row=row.id, message_id=row.message_id, kind=QUARANTINED, topic=row.topic,
        source_topic=row.topic, partition=None, offset=None, key=row.key,
        order_id=dict(headers).get("correlation_id") or row.key, group=None,
        error_type=error_type, error=error, at=row.quarantined_at or row.created_at,
        created_at=row.created_at, published_at=row.published_at,
        quarantined_at=row.quarantined_at, redriven_at=row.redriven_at,
        attempts=row.attempts, headers=headers)


def _refusal(last_error: str) -> tuple[str, str]:
    """The relay writes `produce: NAME: description` (KafkaClientError)."""
    parts = last_error.split(": ", 2)
    return (parts[1], parts[2]) if len(parts) == 3 else ("refused", last_error)


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def notice_row(notice: MessageDeadLettered | DeadLetterRedriven, prefix: str, now: datetime,
               item: Envelope | None = None) -> dict[str, Any]:
    """The outbox row of a notice: keyed by the order (or the dead letter), so an order's
    notices stay in order; its id derives from the dead letter's, so a copy is a no-op."""
    kind = type(notice).__name__
    envelope = envelope_for(
        notice, event_id=str(uuid.uuid5(_NOTICES, f"{kind}\n{notice.dead_letter_id}")),
        aggregate_id=notice.dead_letter_id, aggregate_version=0, occurred_at=now,
        correlation_id=notice.order_id or notice.dead_letter_id,
        causation_id=item.event_id if item else None, flow=item.flow if item else None)
    return outbox_row(envelope, prefix)

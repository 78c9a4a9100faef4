"""Event store with optimistic concurrency and a transactional outbox.

`append` writes a stream's new events and, for every event that has a topic, its
outbox row, on the caller's connection: the caller's transaction makes them one
atomic write. A (stream, version) clash means somebody appended first: it raises
`ConcurrencyError`, and the command handler reloads and retries.

Each row records the schema version its data was written at (the registration's), and
every load (`state`, `read`, `load`) runs the upcasters from that version up to the
code's, exactly as a Kafka decode does: a stream written by an older release folds as
if written today, and is never rewritten. A row that cannot be brought up (newer than
the code, no upcaster, an upcaster that fails) is an `UnreadableEvent` naming it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from adapters.codec import (
    DecodeError,
    Envelope,
    OrderFacts,
    encode,
    envelope_for,
    from_data,
    headers,
    to_data,
)
from adapters.registry import Registration, registration
from adapters.sql.fold_cache import FoldCache
from adapters.sql.tables import events, outbox
from adapters.upcasters import SchemaError, upcast
from domain.errors import OrderflowError
from domain.streams import StreamId


class ConcurrencyError(OrderflowError):
    """Another writer appended to the stream first (expected version is stale)."""


class UnreadableEvent(OrderflowError):
    """A stored event this code cannot read (e.g. written by a newer release)."""


@dataclass(frozen=True, kw_only=True)
class Context:
    """Why these events are written: the order they belong to and what caused them."""

    correlation_id: str
    causation_id: str | None
    flow: str | None
    now: datetime
    order: OrderFacts | None = None  # carried forward on choreography events


@dataclass(frozen=True)
class Recorded:
    position: int
    envelope: Envelope


S = TypeVar("S")


class EventStore:
    def __init__(self, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix
        self.folds = FoldCache()

    def state(self, connection: Connection, stream: StreamId, initial: S,
              evolve: Callable[[S, Any], S]) -> S:
        """The stream's folded state: the cached fold caught up with only the events
        after its version (see fold_cache.py), so long streams stay cheap."""
        key = (id(connection.engine), str(stream), evolve)
        version, state = self.folds.get(connection, key) or (0, initial)
        rows = connection.execute(
            sa.select(events.c.stream_id, events.c.version, events.c.type,
                      events.c.schema_version, events.c.data)
            .where(events.c.stream_id == key[1], events.c.version > version)
            .order_by(events.c.version))
        for row in rows:
            state = evolve(state, stored_body(row)[1])
            version = row.version
        self.folds.put(connection, key, (version, state))
        return state

    def load(self, connection: Connection, stream: StreamId) -> list[Any]:
        """The stream's domain events, oldest first (fold them to get the state)."""
        return [r.envelope.body for r in self.read(connection, stream)]

    def read(self, connection: Connection, stream: StreamId) -> list[Recorded]:
        rows = connection.execute(
            sa.select(events).where(events.c.stream_id == str(stream))
            .order_by(events.c.version))
        return [Recorded(row.position, stored_envelope(row)) for row in rows]

    def version(self, connection: Connection, stream: StreamId) -> int:
        found = connection.execute(sa.select(sa.func.max(events.c.version))
                                   .where(events.c.stream_id == str(stream))).scalar()
        return int(found or 0)

    def append(self, connection: Connection, stream: StreamId, expected_version: int,
               new_events: Sequence[object], context: Context) -> list[Envelope]:
        return self.append_many(connection, {stream: (expected_version, new_events)}, context)

    def append_many(self, connection: Connection,
                    changes: Mapping[StreamId, tuple[int, Sequence[object]]],
                    context: Context) -> list[Envelope]:
        """Append to several streams in the caller's transaction (all or nothing)."""
        pairs = [(str(stream), new_envelope(stream, expected + i, event, context))
                 for stream, (expected, batch) in sorted(changes.items())
                 for i, event in enumerate(batch, start=1)]
        if not pairs:
            return []
        self._check_expected(connection, changes)
        try:
            connection.execute(events.insert(), [event_row(e, s) for s, e in pairs])
        except IntegrityError as exc:
            raise ConcurrencyError(f"stream {pairs[0][0]} changed concurrently") from exc
        rows = [self._outbox_row(e) for _, e in pairs if registration(e.body).topic]
        if rows:
            connection.execute(outbox.insert(), rows)
        return [e for _, e in pairs]

    @staticmethod
    def _check_expected(connection: Connection,
                        changes: Mapping[StreamId, tuple[int, Sequence[object]]]) -> None:
        """An expected version ahead of the stream would leave a gap; the unique
        (stream, version) index already catches every stale one."""
        for stream, (expected, batch) in changes.items():
            if expected == 0 or not batch:
                continue
            at = sa.select(events.c.position).where(events.c.stream_id == str(stream),
                                                    events.c.version == expected)
            if connection.execute(at).first() is None:
                raise ConcurrencyError(f"stream {stream} is not at version {expected}")

    def send(self, connection: Connection, commands: Sequence[object],
             context: Context) -> list[Envelope]:
        """Queue commands in the outbox (they are messages, not events of a stream)."""
        written = [envelope_for(c, event_id=str(uuid.uuid4()), aggregate_id=context.correlation_id,
                                aggregate_version=0, occurred_at=context.now,
                                correlation_id=context.correlation_id,
                                causation_id=context.causation_id, flow=context.flow)
                   for c in commands]
        if written:
            connection.execute(outbox.insert(), [self._outbox_row(e) for e in written])
        return written

    def republish_last(self, connection: Connection, stream: StreamId,
                       context: Context) -> Envelope | None:
        """Queue a stream's latest event again, same id: the reply to a repeated command
        is the first outcome (a consumer that already has it ignores it by id)."""
        recorded = self.read(connection, stream)
        if not recorded:
            return None
        last = recorded[-1].envelope
        again = envelope_for(last.body, event_id=last.event_id, aggregate_id=last.aggregate_id,
                             aggregate_version=last.aggregate_version,
                             occurred_at=last.occurred_at, correlation_id=last.correlation_id,
                             causation_id=last.causation_id, flow=context.flow,
                             order=context.order)
        connection.execute(outbox.insert(), [self._outbox_row(again)])
        return again

    def _outbox_row(self, envelope: Envelope) -> dict[str, Any]:
        return outbox_row(envelope, self.topic_prefix)


def outbox_row(envelope: Envelope, topic_prefix: str) -> dict[str, Any]:
    """The outbox row that publishes an envelope on its registered topic."""
    topic = registration(envelope.body).topic
    return {"message_id": envelope.event_id, "topic": f"{topic_prefix}{topic}",
            "key": message_key(envelope), "value": encode(envelope),
            "headers": orjson.dumps(headers_text(envelope)).decode(),
            "created_at": envelope.occurred_at.isoformat()}


def new_envelope(stream: StreamId, version: int, event: object, context: Context) -> Envelope:
    """A new event of `stream` at `version`, written for the reasons in `context`."""
    return envelope_for(event, event_id=str(uuid.uuid4()), aggregate_id=stream.key,
                        aggregate_version=version, occurred_at=context.now,
                        correlation_id=context.correlation_id,
                        causation_id=context.causation_id, flow=context.flow,
                        order=context.order)


def message_key(envelope: Envelope) -> str:
    """Kafka key: the order id, so one order's messages stay ordered in one partition."""
    return str(getattr(envelope.body, "order_id", None) or envelope.aggregate_id)


def headers_text(envelope: Envelope) -> list[tuple[str, str]]:
    return [(k, v.decode()) for k, v in headers(envelope)]


def event_row(envelope: Envelope, stream: str) -> dict[str, Any]:
    return {"event_id": envelope.event_id, "stream_id": stream,
            "version": envelope.aggregate_version, "type": envelope.type,
            "schema_version": envelope.schema_version,
            "data": orjson.dumps(to_data(envelope.body)).decode(),
            "occurred_at": envelope.occurred_at.isoformat(),
            "correlation_id": envelope.correlation_id, "causation_id": envelope.causation_id,
            "flow": envelope.flow}


def stored_envelope(row: Any) -> Envelope:
    """The row as this code's version of its message (what a decode of it would give)."""
    reg, body = stored_body(row)
    return Envelope(event_id=row.event_id, type=reg.wire, schema_version=reg.schema_version,
                    aggregate_id=row.stream_id.split(":", 1)[1],
                    aggregate_version=row.version,
                    occurred_at=datetime.fromisoformat(row.occurred_at),
                    correlation_id=row.correlation_id, causation_id=row.causation_id,
                    flow=row.flow, body=body)


def stored_body(row: Any) -> tuple[Registration, Any]:
    """The stored data, upcast from the version it was written at to the code's."""
    try:
        reg, data = upcast(row.type, row.schema_version, orjson.loads(row.data))
        return reg, from_data(reg.cls, data, reg.wire)
    except (SchemaError, DecodeError, orjson.JSONDecodeError) as exc:
        raise UnreadableEvent(f"stored event {row.stream_id} version {row.version} "
                              f"({row.type}, schema_version {row.schema_version}) cannot be "
                              f"read: {exc}") from exc

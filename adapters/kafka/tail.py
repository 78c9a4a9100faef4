"""`orderflow tail`: every message of a run as it flows, one decoded line each.

It reads every topic of the run (events, commands, sagas, dead-letter notices and the
DLQs) with a consumer of its own, from now or from the beginning, and stops after a
quiet spell, as the tutorial's listener does. A record that does not decode is shown
too (with why), never skipped: tail is for watching what really travels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Message

from adapters.codec import DecodeError, decode
from adapters.credentials import Kafka
from adapters.kafka.reading import assigned_consumer, messages, position

TYPES_KEPT = 100_000  # causes remembered by event id, to name what caused each message


@dataclass(frozen=True)
class Seen:
    at: datetime  # the envelope's occurred_at, else the record's Kafka timestamp
    topic: str  # without the run's prefix
    partition: int
    offset: int
    type: str | None  # None: it did not decode
    order_id: str | None
    event_id: str | None
    flow: str | None
    caused_by: str | None  # the causing message's type when tail saw it, else its id
    error: str | None = None


def tail(bootstrap: Kafka, topics: list[str], prefix: str, *, from_beginning: bool,
         idle_timeout: float) -> Iterator[Seen]:
    consumer = assigned_consumer(bootstrap, topics, from_beginning=from_beginning, who="tail")
    types: dict[str, str] = {}
    try:
        for message in messages(consumer, idle_timeout):
            seen = _seen(message, prefix, types)
            if seen.event_id is not None and seen.type is not None and len(types) < TYPES_KEPT:
                types[seen.event_id] = seen.type
            yield seen
    finally:
        consumer.close()


def _seen(message: Message, prefix: str, types: dict[str, str]) -> Seen:
    topic, partition, offset = position(message)
    where = (topic.removeprefix(prefix), partition, offset)
    try:
        envelope = decode(message.value())
    except DecodeError as exc:
        key = (message.key() or b"").decode("utf-8", "replace") or None
        return Seen(_kafka_time(message), *where, type=None, order_id=key, event_id=None,
                    flow=None, caused_by=None, error=str(exc)[:200])
    cause = envelope.causation_id
    return Seen(envelope.occurred_at.astimezone(UTC), *where, type=envelope.type,
                order_id=envelope.correlation_id, event_id=envelope.event_id,
                flow=envelope.flow, caused_by=types.get(cause or "", cause))


def _kafka_time(message: Message) -> datetime:
    _kind, millis = message.timestamp()
    return datetime.fromtimestamp(max(millis, 0) / 1000, UTC)

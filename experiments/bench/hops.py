"""Where light-load latency is spent, hop by hop, from what the records themselves say.

Every envelope carries `occurred_at`, the time its unit of work started (a service
handling the message that caused it, or the placer); every Kafka record carries the
time the relay produced it (CreateTime). So for each message on the saga's path:

- **decide → produce**: its `occurred_at` to its record's timestamp: the handler, the
  transaction's COMMIT, the relay noticing the row and reading it, and the produce call;
- **produce → apply**: its record's timestamp to the `occurred_at` of each message it
  caused: produce with acks=all, the consumer's fetch, and the wait for a batch to start.

Both clocks are this machine's, so the figures need no synchronisation. They are read
after the phase from the topics, from the offsets the phase began at.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, Message

from adapters.codec import DecodeError, decode
from adapters.credentials import Kafka
from adapters.kafka.reading import assigned_consumer, messages
from adapters.registry import BY_WIRE
from domain.commands import ALL_COMMAND_CLASSES


@dataclass(frozen=True)
class Hops:
    flow: str
    messages: int
    decide_to_produce_p50_ms: float
    decide_to_produce_p99_ms: float
    produce_to_apply_p50_ms: float
    produce_to_apply_p99_ms: float
    # p50 ms per service that decided (decide → produce) or applied (produce → apply)
    by_service: dict[str, dict[str, float]]
    coordination: int  # messages some service acts on (its message table has a row)
    feed: int          # messages only the read models read


class HopProbe:
    """Opened before a phase (at the topics' ends), read after it."""

    def __init__(self, bootstrap: Kafka, topics: Sequence[str]) -> None:
        self.consumer: Consumer = assigned_consumer(bootstrap, topics, from_beginning=False,
                                                    who="bench-hops")

    def read(self, flow: str, acted_on: Collection[str], idle: float = 2.0) -> Hops:
        """`acted_on`: the wire types some service's message table has a row for in
        `flow` (coordination); every other message feeds only the read models."""
        seen: dict[str, tuple[datetime, float, str | None, str]] = {}
        coordination = 0
        try:
            for message in messages(self.consumer, idle):
                if _note(message, flow, seen) in acted_on:
                    coordination += 1
        finally:
            self.consumer.close()
        decide: dict[str, list[float]] = {}
        apply: dict[str, list[float]] = {}
        for decided, at, cause, service in seen.values():
            decide.setdefault(service, []).append(1000 * (at - decided.timestamp()))
            if cause in seen:
                apply.setdefault(service, []).append(1000 * (decided.timestamp() - seen[cause][1]))
        by_service = {service: {"decide_to_produce_p50_ms": _p50_p99(decide.get(service, []))[0],
                                "produce_to_apply_p50_ms": _p50_p99(apply.get(service, []))[0]}
                      for service in sorted(decide)}
        return Hops(flow, len(seen), *_p50_p99([v for vs in decide.values() for v in vs]),
                    *_p50_p99([v for vs in apply.values() for v in vs]), by_service,
                    coordination, len(seen) - coordination)


def _note(message: Message, flow: str,
          seen: dict[str, tuple[datetime, float, str | None, str]]) -> str | None:
    """Record one message of `flow` (new ids only); return its wire type, if it was."""
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return None
    try:
        envelope = decode(message.value())
    except DecodeError:
        return None  # a dead letter's copy or a notice of another shape: not on the path
    if envelope.flow != flow or envelope.event_id in seen:
        return None
    seen[envelope.event_id] = (envelope.occurred_at, millis / 1000, envelope.causation_id,
                               _decided_by(envelope.type))
    return envelope.type


def _decided_by(wire: str) -> str:
    """The service that decides a message of this type (commands: the orchestrator)."""
    registered = BY_WIRE.get(wire)
    if registered is None or registered.cls in ALL_COMMAND_CLASSES or wire.startswith("saga."):
        return "orchestrator"
    return wire.split(".", 1)[0]


def _p50_p99(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    if len(values) < 2:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]

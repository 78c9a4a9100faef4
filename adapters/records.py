"""A consumed record as the runtime's parts pass it on: plain data, no Kafka client.

The partition source (adapters/kafka/source.py) turns each librdkafka message into a
`Record`; the batch applier (adapters/sql/batches.py) and the dead-letter builder
(adapters/kafka/dlq.py) take records, so a test hands them records it made itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.codec import Envelope

Key = tuple[str, int]  # (topic, partition)
Positions = dict[Key, int]  # the next offset to read of each partition


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None  # CreateTime: when the producer was handed the record

    @property
    def where(self) -> str:
        return where(self.topic, self.partition, self.offset)


@dataclass(frozen=True)
class Incoming:
    """A decoded record and where it came from (for logs, timelines and the DLQ)."""

    envelope: Envelope
    topic: str
    partition: int
    offset: int

    @property
    def where(self) -> str:
        return where(self.topic, self.partition, self.offset)

    @property
    def order_id(self) -> str | None:
        """The order the message is about (None: stock or credit administration, whose
        correlation id is a SKU or a customer), as logs name it."""
        order = getattr(self.envelope.body, "order_id", None)
        return None if order is None else str(order)


def where(topic: str, partition: int, offset: int) -> str:
    """How logs and dead letters name a record: `topic[partition]@offset`."""
    return f"{topic}[{partition}]@{offset}"


def next_positions(records: list[Record]) -> Positions:
    """The position after the last record of each partition (records come in order)."""
    return {(r.topic, r.partition): r.offset + 1 for r in records}

"""Raw Kafka: the produce→consume baseline, and the high watermarks of a run's topics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from adapters.credentials import Kafka
from adapters.kafka import admin
from adapters.kafka.client import produce, producer_config, reader_config
from adapters.kafka.topics import EVENT_PARTITIONS, TopicSpec
from experiments.bench.config import BenchError

Tick = Callable[[int], None]  # records done so far
RAW_LINGER_MS = 5


@dataclass(frozen=True)
class KafkaBaseline:
    records: int
    record_bytes: int
    produce_per_s: float
    consume_per_s: float
    end_to_end_per_s: float


def kafka_baseline(bootstrap: Kafka, topic: str, value: bytes,
                   headers: list[tuple[str, bytes]], records: int,
                   tick: Tick) -> KafkaBaseline:
    """Produce `records` copies of a real envelope (idempotent, acks=all, with linger,
    as the relay does), then consume them all, on a fresh topic. Both clients are
    connected before the clock starts: this measures throughput, not connection setup."""
    admin.create_topics(bootstrap, [TopicSpec(topic, EVENT_PARTITIONS)])
    producer, consumer = _producer(bootstrap, topic), _consumer(bootstrap, topic)
    try:
        began = time.perf_counter()
        _produce(producer, topic, value, headers, records, tick)
        produced = time.perf_counter()
        _consume(consumer, records + 1, lambda n: tick(records + n))  # + the warming record
        consumed = time.perf_counter()
    finally:
        consumer.close()
    return KafkaBaseline(records, len(value), records / (produced - began),
                         records / (consumed - produced), records / (consumed - began))


def _producer(bootstrap: Kafka, topic: str) -> Any:
    producer = Producer(producer_config(bootstrap, **{"linger.ms": RAW_LINGER_MS,
                                                      "queue.buffering.max.ms": RAW_LINGER_MS}))
    produce(producer, topic=topic, key=b"warm-up", value=b"{}")
    if producer.flush(30):
        raise BenchError(f"raw Kafka: could not produce to {topic}")
    return producer


def _consumer(bootstrap: Kafka, topic: str) -> Any:
    consumer = Consumer(reader_config(bootstrap, "bench-raw", **{"fetch.wait.max.ms": 10}))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                     for p in range(EVENT_PARTITIONS)])
    consumer.consume(num_messages=1, timeout=1.0)  # connect and fetch once (may get nothing)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                     for p in range(EVENT_PARTITIONS)])  # from the start again
    return consumer


def _produce(producer: Any, topic: str, value: bytes, headers: list[tuple[str, bytes]],
             records: int, tick: Tick) -> None:
    failed: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            failed.append(error)

    for index in range(records):
        produce(producer, topic=topic, key=str(uuid.uuid4()).encode(), value=value,
                headers=headers, on_delivery=on_delivery, wait=0.05)
        if index % 5000 == 0:
            tick(index)
    if producer.flush(60) or failed:
        raise BenchError(f"raw produce failed: {failed[:1] or 'not delivered in time'}")
    tick(records)


def _consume(consumer: Any, records: int, tick: Tick) -> None:
    seen, deadline = 0, time.monotonic() + 120
    while seen < records and time.monotonic() < deadline:
        batch = consumer.consume(num_messages=min(10_000, records - seen), timeout=0.5)
        seen += sum(1 for m in batch if m.error() is None)
        tick(seen)
    if seen < records:
        raise BenchError(f"raw consume saw {seen} of {records} records")


class Watermarks:
    """Sums the high watermarks of a run's topics: every record ever appended to them."""

    def __init__(self, bootstrap: Kafka, topics: Sequence[str]) -> None:
        self.topics = list(topics)
        self.consumer = Consumer(reader_config(bootstrap, "bench-watermarks"))
        metadata = self.consumer.list_topics(timeout=10)
        self.partitions = [TopicPartition(name, p) for name in self.topics
                           for p in metadata.topics[name].partitions]

    def total(self) -> int:
        return sum(admin.watermarks(self.consumer, tp, cached=False)[1] for tp in self.partitions)

    def close(self) -> None:
        self.consumer.close()


def delete_topics(bootstrap: Kafka, prefix: str) -> int:
    client = admin.admin_client(bootstrap)
    names = [t for t in client.list_topics(timeout=10).topics if t.startswith(prefix)]
    for future in client.delete_topics(names, operation_timeout=30).values() if names else ():
        future.result()
    return len(names)

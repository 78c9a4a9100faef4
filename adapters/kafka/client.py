"""Every Kafka client's configuration, and the one way to produce a record.

Each producer, consumer and admin client orderflow opens gets its configuration here, so
each guarantee is said once and holds for every client of its kind:

- librdkafka's own log lines go to the `librdkafka` logger, never straight to stderr;
- a producer is idempotent with acks=all: an acknowledged record is on every in-sync
  replica, and librdkafka's retries within `DELIVERY_TIMEOUT_MS` never write it twice;
- a service's consumer neither commits nor stores offsets by itself: the consumer
  runtime keeps its positions in the database and commits to Kafka after the database
  commit (consumer.py), so Kafka redelivery changes nothing; a new group starts from
  the earliest record;
- an observer (tail, the tutorial's listener, a benchmark) reads in a fresh group of its
  own and commits nothing, so it never moves a service's group.

`produce` never spins: while librdkafka's local queue is full (`BufferError`) it serves
delivery reports for `wait` seconds and tries again, at most `attempts` times, then
raises `QueueFull` naming the topic. A broker that takes nothing becomes an error the
caller handles (the relay leaves the rest of its batch for the next pass), not a loop
that hangs. After each record it serves the delivery callbacks that are due (`poll(0)`).
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from adapters.credentials import Kafka, connection
from adapters.kafka.errors import QueueFull

# librdkafka reports every message within this. It is long on purpose: a record whose
# local timeout expired may still have been written, and producing it again would be a
# second copy (harmless on event topics, whose consumers dedupe, but a DLQ counts them).
# Within the timeout the idempotent producer retries in its own session, and the broker
# drops the copies, even across a broker restart.
DELIVERY_TIMEOUT_MS = 300_000
PRODUCE_ATTEMPTS = 100  # tries while the local queue is full, `PRODUCE_WAIT` s apart
PRODUCE_WAIT = 0.1

OnDelivery = Callable[[KafkaError | None, Message], None]


def base_config(bootstrap: Kafka) -> dict[str, Any]:
    """Where the cluster is and how this principal authenticates (adapters/credentials.py);
    librdkafka prints connection errors itself: route them to our logger instead."""
    kafka = connection(bootstrap)
    return {"bootstrap.servers": kafka.bootstrap, **kafka.security,
            "logger": logging.getLogger("librdkafka")}


def producer_config(bootstrap: Kafka, **overrides: Any) -> dict[str, Any]:
    return {**base_config(bootstrap), "enable.idempotence": True, "acks": "all",
            "linger.ms": 2, "batch.num.messages": 10000, "queue.buffering.max.ms": 2,
            "message.timeout.ms": DELIVERY_TIMEOUT_MS,
            "message.max.bytes": 8 * 1024 * 1024,  # dead letters of oversized poison
            **overrides}


def consumer_config(bootstrap: Kafka, group: str, **overrides: Any) -> dict[str, Any]:
    """A member of a service's group; its positions live in the database."""
    return {**base_config(bootstrap), "group.id": group,
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,  # data still returns at once
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,  # dead members go soon
            **overrides}


def reader_config(bootstrap: Kafka, who: str, **overrides: Any) -> dict[str, Any]:
    """An observer that assigns partitions itself: a throwaway group, nothing committed."""
    return {**base_config(bootstrap), "enable.auto.commit": False,
            "group.id": f"orderflow-{who}-{uuid.uuid4()}", **overrides}


def produce(producer: Producer, *, topic: str, key: bytes | None, value: bytes | None,
            headers: Sequence[tuple[str, bytes]] | None = None,
            on_delivery: OnDelivery | None = None, attempts: int = PRODUCE_ATTEMPTS,
            wait: float = PRODUCE_WAIT) -> None:
    """Hand one record to `producer`; raises QueueFull after `attempts` full queues, and
    lets a KafkaException (a record refused before sending, e.g. too large) through."""
    for tried in itertools.count(1):
        try:
            producer.produce(topic, key=key, value=value, on_delivery=on_delivery,
                             headers=None if headers is None else [*headers])
            break
        except BufferError as exc:  # local queue full: serve delivery reports, then retry
            if tried >= attempts:
                raise QueueFull(topic, tried, exc) from exc
            producer.poll(wait)
    producer.poll(0)

"""The Kafka tutorial's steps, literally: produce one order event, consume `orders`,
and print `Order {key} received with status {status}` for matching statuses.

Records of the real system on `orders` carry a top-level "status", so the same
consumer works against it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer

from adapters.credentials import Kafka
from adapters.kafka.admin import create_topics
from adapters.kafka.client import produce, producer_config
from adapters.kafka.errors import KafkaClientError
from adapters.kafka.reading import assigned_consumer, messages, position
from adapters.kafka.topics import EVENT_PARTITIONS, TopicSpec

logger = logging.getLogger(__name__)

TUTORIAL_KEY = "order-123"
TUTORIAL_VALUE = {"status": "created"}


def status_line(key: str, status: str) -> str:
    return f"Order {key} received with status {status}"


def run_tutorial(bootstrap: Kafka, topic: str, listen_status: str = "created",
                 timeout: float = 30.0) -> Iterator[str]:
    """Create the topic, produce the tutorial's event, and yield the lines the listener prints."""
    create_topics(bootstrap, [TopicSpec(topic, EVENT_PARTITIONS)])
    consumer = assigned_consumer(bootstrap, [topic], from_beginning=False, who="tutorial")
    try:
        partition, offset = _produce_one(bootstrap, topic, TUTORIAL_KEY, TUTORIAL_VALUE)
        for message in messages(consumer, idle_timeout=timeout):
            line = _matching_line(message, listen_status)
            if line is not None:
                yield line
            if (message.partition(), message.offset()) == (partition, offset):
                return
        raise KafkaClientError("tutorial", f"did not read back its own event within {timeout}s")
    finally:
        consumer.close()


def listen(bootstrap: Kafka, topic: str, listen_status: str, *, from_beginning: bool,
           idle_timeout: float) -> Iterator[str]:
    """Assign now (nothing produced after this returns is missed), then yield one line per
    matching record until `idle_timeout` seconds pass without records."""
    consumer = assigned_consumer(bootstrap, [topic], from_beginning=from_beginning,
                                 who="tutorial")
    return _listen(consumer, listen_status, idle_timeout)


def _listen(consumer: Consumer, listen_status: str, idle_timeout: float) -> Iterator[str]:
    try:
        for message in messages(consumer, idle_timeout=idle_timeout):
            line = _matching_line(message, listen_status)
            if line is not None:
                yield line
    finally:
        consumer.close()


def _produce_one(bootstrap: Kafka, topic: str, key: str, value: dict[str, Any]) -> tuple[int, int]:
    producer = Producer(producer_config(bootstrap))
    reports: list[KafkaError | Message] = []
    produce(producer, topic=topic, key=key.encode(), value=json.dumps(value).encode(),
            on_delivery=lambda err, msg: reports.append(err or msg))
    producer.flush(30)
    if not reports or not isinstance(reports[0], Message):
        raise KafkaClientError(f"producing to {topic}", reports[0] if reports else "no report")
    _topic, partition, offset = position(reports[0])
    return partition, offset


def _matching_line(message: Message, listen_status: str) -> str | None:
    key = (message.key() or b"").decode("utf-8", "replace")
    try:
        status = json.loads(message.value() or b"null").get("status")
    except (ValueError, AttributeError):
        logger.warning("skipping %s[%d]@%d: value is not a JSON object",
                       message.topic(), message.partition(), message.offset())
        return None
    return status_line(key, status) if status == listen_status else None

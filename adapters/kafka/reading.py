"""Reading topics as an observer: a consumer of its own (a fresh group, nothing
committed) assigned every partition at explicit offsets, so nothing produced after the
assignment is missed, and a loop that ends after a quiet spell. The tutorial's listener
and `orderflow tail` read this way; services use the consumer runtime instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from adapters.credentials import Kafka
from adapters.kafka.admin import watermarks
from adapters.kafka.client import reader_config
from adapters.kafka.errors import KafkaClientError

logger = logging.getLogger(__name__)


def assigned_consumer(bootstrap: Kafka, topics: Sequence[str], *, from_beginning: bool,
                      who: str) -> Consumer:
    """Every partition of `topics`, from its start or from its end (now)."""
    consumer = Consumer(reader_config(bootstrap, who))
    try:
        consumer.assign([TopicPartition(topic, partition, offset)
                         for topic in topics
                         for partition, offset in _starts(consumer, topic, from_beginning)])
    except BaseException:
        consumer.close()
        raise
    return consumer


def _starts(consumer: Consumer, topic: str, from_beginning: bool) -> list[tuple[int, int]]:
    metadata = consumer.list_topics(topic, timeout=10)
    if metadata.topics[topic].error is not None:
        raise KafkaClientError(f"reading topic {topic}", metadata.topics[topic].error)
    starts = []
    for partition in metadata.topics[topic].partitions:
        try:
            low, high = watermarks(consumer, TopicPartition(topic, partition))
        except KafkaException as exc:
            raise KafkaClientError(f"reading offsets of {topic}", exc.args[0]) from exc
        starts.append((partition, low if from_beginning else high))
    return starts


def messages(consumer: Consumer, idle_timeout: float) -> Iterator[Message]:
    """Records as they arrive, until `idle_timeout` seconds pass without one."""
    last_seen = time.monotonic()
    while time.monotonic() - last_seen < idle_timeout:
        for message in consumer.consume(num_messages=500, timeout=0.2):
            if message.error() is not None:
                logger.warning("consumer error: %s", message.error())
                continue
            last_seen = time.monotonic()
            yield message


def position(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a record read or delivered without error: librdkafka
    sets all three there (its stubs type them Optional for the error events)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None, message.error()
    return topic, partition, offset

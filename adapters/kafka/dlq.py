"""Dead letters: a record that cannot be decoded or handled goes to `<topic>.dlq`, with
the original bytes and the error in headers, so nothing is dropped and nothing blocks.

A dead letter is an outbox row, written in the failing batch's own transaction and
published by the store's relay: no Kafka I/O happens inside a database transaction, a
rolled-back batch leaves no dead letter behind, and a committed one is never lost. Its
id is derived from where the record came from — (group, topic, partition, offset) —
and recorded as processed, so a record read again (a replay, a rebalance) is
dead-lettered once per group. It keeps the original key (the order id), so one order's
dead letters stay in order; a key that is not text goes as hex, and the exact bytes
always travel in the `original_key_hex` header.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Message

from adapters.kafka.topics import DLQ_SUFFIX

logger = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    row: dict[str, Any]  # an outbox row for `<topic>.dlq`


def dead_letter(group: str, message: Message, error: BaseException,
                order_id: str | None = None) -> DeadLetter:
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    where = f"{topic}[{partition}]@{offset}"
    message_id = str(uuid.uuid5(_NAMESPACE, f"{group}\n{where}"))
    now = datetime.now(UTC).isoformat()
    logger.warning("dead letter %s (group %s, order %s): %s: %s", where, group,
                   order_id or "?", type(error).__name__, str(error)[:300])
    headers = [("event_id", message_id), ("original_topic", topic),
               ("original_partition", str(partition)), ("original_offset", str(offset)),
               ("original_key_hex", (message.key() or b"").hex()),
               ("error_type", type(error).__name__), ("error", str(error)[:2000]),
               ("consumer_group", group), ("correlation_id", order_id or ""),
               ("failed_at", now)]
    row = {"message_id": message_id, "topic": dlq_topic(topic), "key": _text_key(message.key()),
           "value": message.value(), "headers": orjson.dumps(headers).decode(),
           "created_at": now}
    return DeadLetter(message_id, row)


def _text_key(key: bytes | None) -> str:
    try:
        text = (key or b"").decode()
    except UnicodeDecodeError:
        return (key or b"").hex()
    return text if len(text) <= 255 else (key or b"").hex()[:255]

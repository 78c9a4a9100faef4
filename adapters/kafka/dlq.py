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

With a notices topic, the same transaction also queues a `MessageDeadLettered` notice
(adapters/notices.py) for the read models.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from adapters.codec import Envelope
from adapters.kafka.topics import DLQ_SUFFIX
from adapters.notices import MessageDeadLettered, short
from adapters.records import Record
from adapters.sql.dead_letters import notice_row
from domain.ids import InvalidIdentifier, validate_order_id

logger = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    rows: list[dict[str, Any]]  # outbox rows: for `<topic>.dlq`, then the notice if any


def dead_letter(group: str, record: Record, error: BaseException,
                item: Envelope | None = None, notice_prefix: str | None = None) -> DeadLetter:
    """The dead letter of a record, and its notice when `notice_prefix` gives the run's
    topic prefix (None: no notice, e.g. a rebuild's replay)."""
    topic, partition, offset, where = record.topic, record.partition, record.offset, record.where
    message_id = str(uuid.uuid5(_NAMESPACE, f"{group}\n{where}"))
    order_id = item.correlation_id if item is not None else None
    now = datetime.now(UTC)
    logger.warning("dead letter %s (group %s, order %s): %s: %s", where, group,
                   order_id or "?", type(error).__name__, str(error)[:300])
    headers = [("event_id", message_id), ("original_topic", topic),
               ("original_partition", str(partition)), ("original_offset", str(offset)),
               ("original_key_hex", (record.key or b"").hex()),
               ("error_type", type(error).__name__), ("error", str(error)[:2000]),
               ("consumer_group", group), ("correlation_id", order_id or ""),
               ("failed_at", now.isoformat())]
    row = {"message_id": message_id, "topic": dlq_topic(topic), "key": _text_key(record.key),
           "value": record.value, "headers": orjson.dumps(headers).decode(),
           "created_at": now.isoformat()}
    if notice_prefix is None:
        return DeadLetter(message_id, [row])
    notice = MessageDeadLettered(
        dead_letter_id=message_id, order_id=_order_id(order_id), group=group, topic=topic,
        partition=partition, offset=offset, message_type=item.type if item else None,
        error=short(f"{type(error).__name__}: {error}"))
    return DeadLetter(message_id, [row, notice_row(notice, notice_prefix, now, item)])


def _order_id(text: str | None) -> str | None:
    try:
        return None if text is None else validate_order_id(text)
    except InvalidIdentifier:
        return None


def _text_key(key: bytes | None) -> str:
    try:
        text = (key or b"").decode()
    except UnicodeDecodeError:
        return (key or b"").hex()
    return text if len(text) <= 255 else (key or b"").hex()[:255]

"""Dead letters: a record that cannot be decoded or handled goes to `<topic>.dlq`, with
the original bytes and the error in headers, so nothing is dropped and nothing blocks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from adapters.kafka.admin import quiet_client_config
from adapters.kafka.errors import KafkaClientError

logger = logging.getLogger(__name__)
DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


class DeadLetters:
    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap, self.group = bootstrap, group
        self._producer: Producer | None = None
        self._errors: list[KafkaError] = []
        self._pending = 0

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({**quiet_client_config(self.bootstrap),
                                       "enable.idempotence": True, "acks": "all",
                                       "message.max.bytes": 8 * 1024 * 1024})
        return self._producer

    def add(self, message: Message, error: BaseException, item: Any = None) -> None:
        where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
        order = getattr(getattr(item, "envelope", None), "correlation_id", None)
        logger.warning("dead letter %s (order %s): %s: %s", where, order or "?",
                       type(error).__name__, error)
        headers = [("original_topic", message.topic()),
                   ("original_partition", str(message.partition())),
                   ("original_offset", str(message.offset())),
                   ("error_type", type(error).__name__), ("error", str(error)[:2000]),
                   ("consumer_group", self.group), ("failed_at", datetime.now(UTC).isoformat())]
        self.producer.produce(dlq_topic(message.topic()), key=message.key(),
                              value=message.value(), headers=[(k, v.encode()) for k, v in headers],
                              on_delivery=self._on_delivery)
        self._pending += 1

    def flush(self) -> None:
        """Block until every dead letter is acknowledged; raise if any was not."""
        if not self._pending:
            return
        remaining = self.producer.flush(30)
        errors, self._errors, self._pending = self._errors, [], 0
        if remaining or errors:
            raise KafkaClientError("writing to the dead-letter topic",
                                   errors[0] if errors else f"{remaining} unacknowledged")

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._errors.append(error)

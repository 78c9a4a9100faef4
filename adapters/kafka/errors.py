"""Kafka-side errors: each one is a single line a CLI user can act on."""

from __future__ import annotations

from typing import Any

from domain.errors import OrderflowError


class BrokerError(OrderflowError):
    """The local broker cannot be resolved, started, stopped or reached."""


class KafkaClientError(OrderflowError):
    """A confluent-kafka operation failed; carries librdkafka's code and description."""

    def __init__(self, action: str, error: Any) -> None:
        self.code = error.code() if hasattr(error, "code") else None
        self.name = error.name() if hasattr(error, "name") else type(error).__name__
        description = error.str() if hasattr(error, "str") else str(error)
        super().__init__(f"{action}: {self.name}: {description}")


class QueueFull(KafkaClientError):
    """A producer's local queue stayed full through every try: the broker takes nothing."""

    def __init__(self, topic: str, tries: int, error: BufferError) -> None:
        self.topic = topic
        super().__init__(f"producing to {topic} (queue still full after {tries} tries)", error)


class AuthenticationFailed(BrokerError):
    """The cluster refused this principal's credentials (a wrong password, an unknown user)."""

"""Placeholder replaced by the projector implementation (helper in progress)."""

from typing import Any


class Projector:
    def __init__(self, topic_prefix: str) -> None:
        self.topics: list[str] = [topic_prefix + "orders"]

    def handle(self, connection: Any, incoming: Any) -> None:
        return None

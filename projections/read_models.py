"""Placeholder replaced by the read-model queries (helper in progress)."""

from typing import Any


class ReadModels:
    def __init__(self, engine: Any) -> None:
        self.engine = engine

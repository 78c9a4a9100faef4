"""Folded aggregate states, cached per process, so a long stream (a popular SKU) is
caught up from its cached version instead of replayed from the start.

Only committed states are shared: a writer's folds stay on its own connection until
the engine's commit event publishes them, and a rollback drops them (and, being rare,
the whole cache). Keys include the evolve function, so two folds of one stream never
mix.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

Key = tuple[int, str, Callable[..., Any]]
Entry = tuple[int, Any]  # (version, state)
_STAGED = "orderflow_staged_folds"


class FoldCache:
    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._committed: OrderedDict[Key, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._watched: set[int] = set()

    def get(self, connection: Connection, key: Key) -> Entry | None:
        self._watch(connection.engine)
        staged = connection.info.get(_STAGED)
        if staged is not None and key in staged:
            return staged[key]  # type: ignore[no-any-return]
        with self._lock:
            return self._committed.get(key)

    def put(self, connection: Connection, key: Key, entry: Entry) -> None:
        if _readonly(connection):
            self._publish({key: entry})  # a reader only ever sees committed rows
        else:
            connection.info.setdefault(_STAGED, {})[key] = entry

    def _publish(self, entries: dict[Key, Entry]) -> None:
        with self._lock:
            for key, entry in entries.items():
                current = self._committed.get(key)
                if current is None or current[0] <= entry[0]:  # never go back in time
                    self._committed[key] = entry
                    self._committed.move_to_end(key)
            while len(self._committed) > self.limit:
                self._committed.popitem(last=False)

    def _watch(self, engine: Engine) -> None:
        if id(engine) in self._watched:
            return
        self._watched.add(id(engine))
        sa.event.listen(engine, "commit", self._on_commit)
        sa.event.listen(engine, "rollback", self._on_rollback)
        sa.event.listen(engine, "rollback_savepoint", self._on_rollback_savepoint)

    def _on_commit(self, connection: Connection) -> None:
        self._publish(connection.info.pop(_STAGED, {}))

    def _on_rollback(self, connection: Connection) -> None:
        if connection.info.pop(_STAGED, None) is not None:
            with self._lock:
                self._committed.clear()  # rare; also covers a commit that failed late

    def _on_rollback_savepoint(self, connection: Connection, *_: Any) -> None:
        connection.info.pop(_STAGED, None)


def _readonly(connection: Connection) -> bool:
    return bool(connection.get_execution_options().get("orderflow_readonly", False))

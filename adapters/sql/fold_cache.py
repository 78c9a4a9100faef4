"""Folded aggregate states, cached per process, so a long stream (a popular SKU) is
caught up from its cached version instead of replayed from the start.

Only committed states are shared. A writer's folds stay staged on its own transaction
and are published by an `after_commit` hook (transaction.py), which runs only once the
database confirmed the COMMIT: a rolled-back transaction, a rolled-back savepoint or a
COMMIT that fails leaves no trace. Keys include the evolve function, so two folds of one
stream never mix.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from adapters.sql.transaction import after_commit

Key = tuple[int, str, Callable[..., Any]]
Entry = tuple[int, Any]  # (version, state)
_STAGED = "orderflow_staged_folds"


class FoldCache:
    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        self._committed: OrderedDict[Key, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, connection: Connection, key: Key) -> Entry | None:
        staged = connection.info.get(_STAGED)
        if staged is not None and key in staged:
            return staged[key]  # type: ignore[no-any-return]
        with self._lock:
            return self._committed.get(key)

    def put(self, connection: Connection, key: Key, entry: Entry) -> None:
        if _readonly(connection):
            self._publish({key: entry})  # a reader only ever sees committed rows
            return
        staged = connection.info.get(_STAGED)
        if staged is None:
            staged = connection.info[_STAGED] = {}
            after_commit(connection, lambda: self._publish(staged))
        staged[key] = entry

    def _publish(self, entries: dict[Key, Entry]) -> None:
        with self._lock:
            for key, entry in entries.items():
                current = self._committed.get(key)
                if current is None or current[0] <= entry[0]:  # never go back in time
                    self._committed[key] = entry
                    self._committed.move_to_end(key)
            while len(self._committed) > self.limit:
                self._committed.popitem(last=False)



def _unstage(connection: Connection, *_: Any) -> dict[Key, Entry] | None:
    return connection.info.pop(_STAGED, None)  # type: ignore[no-any-return]


def _discard(connection: Connection, *_: Any) -> None:
    """Staged folds end with their transaction; a savepoint rolled back may have staged
    some of them, so they all go (the next read folds them from the store again)."""
    staged = _unstage(connection)
    if staged is not None:
        staged.clear()


# Once, for every engine, when this module is first imported (before any engine exists
# and before any thread runs): SQLAlchemy's listener collections must not change while
# another thread's transaction iterates them.
sa.event.listen(Engine, "commit", _unstage)  # the hook publishes them, if confirmed
for _name in ("begin", "rollback", "rollback_savepoint"):
    sa.event.listen(Engine, _name, _discard)


def _readonly(connection: Connection) -> bool:
    return bool(connection.get_execution_options().get("orderflow_readonly", False))

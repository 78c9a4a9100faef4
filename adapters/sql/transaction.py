"""The write transaction every writer uses, and what runs once its COMMIT is confirmed.

SQLAlchemy's `commit` event fires *before* the DBAPI COMMIT, so a cache that shared its
state there would keep what a failed COMMIT never stored, and a relay woken there would
look for rows nobody can see yet (and then sleep). `write(engine)` runs the hooks
registered with `after_commit` (this transaction's) and `on_commit` (every transaction
of the engine) only after the database confirmed the COMMIT; if the body, or the COMMIT
itself, fails, they are dropped. Outside `write` nothing registered runs at all: a
writer that bypasses it is slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

_HOOKS = "orderflow_after_commit"
_ENGINE_HOOKS: dict[int, list[Callable[[], None]]] = {}  # id(engine) → hooks of every commit


def on_commit(engine: Engine, hook: Callable[[], None]) -> None:
    """Run `hook` after every confirmed COMMIT of a `write(engine)` (e.g. wake the relay)."""
    _ENGINE_HOOKS.setdefault(id(engine), []).append(hook)


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction; on a confirmed COMMIT, the `after_commit` hooks run."""
    with engine.connect() as connection:
        hooks: list[Callable[[], None]] = []
        connection.info[_HOOKS] = hooks
        try:
            with connection.begin():
                yield connection
        finally:
            connection.info.pop(_HOOKS, None)
        for hook in [*hooks, *_ENGINE_HOOKS.get(id(engine), ())]:
            hook()


def after_commit(connection: Connection, hook: Callable[[], None]) -> bool:
    """Run `hook` once this connection's transaction has committed; False (and it never
    runs) when the connection is not inside `write`."""
    hooks = connection.info.get(_HOOKS)
    if hooks is None:
        return False
    hooks.append(hook)
    return True

"""Durable deadlines, set and cleared in the transaction of the events that cause them.

Times are stored as UTC ISO-8601 strings, which sort like the instants they name.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from adapters.sql.tables import timers
from adapters.sql.upserts import upsert


def set_timer(connection: Connection, kind: str, key: str, due_at: datetime) -> None:
    upsert(connection, timers, [{"kind": kind, "key": key, "due_at": _text(due_at)}], _moved)


def _moved(new: Any) -> dict[str, Any]:
    return {"due_at": new.due_at}


def clear_timer(connection: Connection, kind: str, key: str) -> None:
    connection.execute(timers.delete().where(timers.c.kind == kind, timers.c.key == key))


def due_timers(connection: Connection, kind: str, now: datetime, limit: int = 200) -> list[str]:
    rows = connection.execute(sa.select(timers.c.key)
                              .where(timers.c.kind == kind, timers.c.due_at <= _text(now))
                              .order_by(timers.c.due_at).limit(limit))
    return list(rows.scalars())


def timers_of(connection: Connection, keys: Collection[str]) -> dict[str, set[str]]:
    """Kind → those of `keys` that have a timer row now (what `compare` samples)."""
    found: dict[str, set[str]] = {}
    if keys:
        rows = connection.execute(sa.select(timers.c.kind, timers.c.key)
                                  .where(timers.c.key.in_(sorted(keys))))
        for kind, key in rows:
            found.setdefault(kind, set()).add(key)
    return found


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()

"""Insert-or-update on SQLite and PostgreSQL, with arithmetic done by the database.

Counter views (stock, credit) add deltas in SQL (`x = x + excluded.x`) rather than
read-modify-write, so two projector consumers on different partitions touching the
same SKU or customer can never lose an update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from adapters.sql.tracking import upsert_insert

Excluded = Any  # the dialect's `excluded` pseudo-table
SetClause = Callable[[Excluded], Mapping[str, Any]]


def upsert(connection: Connection, table: sa.Table, row: Mapping[str, Any],
           set_: SetClause) -> None:
    insert = upsert_insert(connection, table).values(**row)
    keys = [c.name for c in table.primary_key.columns]
    connection.execute(insert.on_conflict_do_update(index_elements=keys,
                                                    set_=dict(set_(insert.excluded))))


def insert_new(connection: Connection, table: sa.Table, row: Mapping[str, Any]) -> bool:
    """Insert unless the key exists; True when this call inserted the row."""
    # RETURNING, not rowcount: SQLAlchemy only promises rowcount for UPDATE and DELETE.
    key = next(iter(table.primary_key.columns))
    insert = upsert_insert(connection, table).values(**row).on_conflict_do_nothing()
    return connection.execute(insert.returning(key)).first() is not None


def later(current: sa.ColumnElement[Any], candidate: sa.ColumnElement[Any]) -> Any:
    """The later of two stamps (GREATEST on one database, MAX on the other: use CASE)."""
    return sa.case((candidate > current, candidate), else_=current)

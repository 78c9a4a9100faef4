"""Helpers of the counter views; the upsert itself is `adapters.sql.upserts.upsert`.

Counter views (stock, credit) add deltas in SQL (`x = x + excluded.x`) rather than
read-modify-write, so two projector consumers on different partitions touching the
same SKU or customer can never lose an update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from adapters.sql.upserts import dialect_insert

Excluded = Any  # the dialect's `excluded` pseudo-table


def insert_new(connection: Connection, table: sa.Table, keys: Sequence[Any]) -> set[Any]:
    """Insert a row per key (a one-column primary key) unless it exists; return the keys
    this call inserted. One statement per batch, and safe against a concurrent insert."""
    # RETURNING, not rowcount: SQLAlchemy only promises rowcount for UPDATE and DELETE.
    if not keys:
        return set()
    key = next(iter(table.primary_key.columns))
    insert = dialect_insert(connection, table).on_conflict_do_nothing().returning(key)
    rows = [{key.name: value} for value in dict.fromkeys(keys)]
    return set(connection.execute(insert, rows).scalars())


def later(current: sa.ColumnElement[Any], candidate: sa.ColumnElement[Any]) -> Any:
    """The later of two stamps (GREATEST on one database, MAX on the other: use CASE)."""
    return sa.case((candidate > current, candidate), else_=current)

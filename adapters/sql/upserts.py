"""INSERT ... ON CONFLICT on SQLite and PostgreSQL, rendered once per dialect.

SQLAlchemy 2.0 does not cache the dialect-specific INSERT (`inherit_cache = False`),
so an upsert built per call is compiled per call, which costs more than running it.
An upsert that runs per message is built once, rendered with named parameters, and
kept as text; both databases share the ON CONFLICT ... excluded syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import TextClause

Insert = sqlite.Insert | postgresql.Insert
_RENDERERS = {"sqlite": sqlite.dialect(paramstyle="named"),
              # SQLAlchemy leaves the psycopg2 dialect's __init__ unannotated
              "postgresql": postgresql.dialect(paramstyle="named")}  # type: ignore[no-untyped-call]
_RENDERED: dict[tuple[str, Callable[[Any], Mapping[str, Any]], str], TextClause] = {}


def dialect_insert(connection: Connection, table: sa.Table) -> Insert:
    """The INSERT of the connection's dialect, which knows ON CONFLICT."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(connection: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
           set_: Callable[[Any], Mapping[str, Any]]) -> None:
    """Insert rows (every column given), or on a primary-key clash update them with
    `set_(excluded)`: a module-level function of the dialect's `excluded` pseudo-table,
    so that the statement is rendered once per (table, function, dialect)."""
    if not rows:
        return
    dialect = connection.dialect.name
    text = _RENDERED.get((table.name, set_, dialect))
    if text is None:
        insert = dialect_insert(connection, table)
        statement = insert.on_conflict_do_update(
            index_elements=[c.name for c in table.primary_key.columns],
            set_=dict(set_(insert.excluded)))
        text = sa.text(str(statement.compile(dialect=_RENDERERS[dialect])))
        _RENDERED[(table.name, set_, dialect)] = text
    connection.execute(text, list(rows))

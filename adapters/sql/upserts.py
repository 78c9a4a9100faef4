"""INSERT ... ON CONFLICT on SQLite and PostgreSQL, rendered once per dialect.

SQLAlchemy 2.0 does not cache the dialect-specific INSERT (`inherit_cache = False`),
so an upsert built per call is compiled per call, which costs more than running it.
An upsert that runs per message is built once, rendered with named parameters, and
kept as text; both databases share the ON CONFLICT ... excluded syntax.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import TextClause

Insert = sqlite.Insert | postgresql.Insert
_RENDERERS = {"sqlite": sqlite.dialect(paramstyle="named"),
              "postgresql": postgresql.dialect(paramstyle="named")}
_RENDERED: dict[tuple[Hashable, str], TextClause] = {}


def dialect_insert(connection: Connection, table: sa.Table) -> Insert:
    """The INSERT of the connection's dialect, which knows ON CONFLICT."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def rendered(connection: Connection, key: Hashable,
             build: Callable[[Insert], sa.Executable], table: sa.Table) -> TextClause:
    """`build(insert)` for this dialect, compiled on first use; parameters are named
    after the table's columns, and every column must be given."""
    dialect = connection.dialect.name
    text = _RENDERED.get((key, dialect))
    if text is None:
        statement = build(dialect_insert(connection, table))
        text = sa.text(str(statement.compile(dialect=_RENDERERS[dialect])))
        _RENDERED[(key, dialect)] = text
    return text


def upsert(connection: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
           set_: Callable[[Any], Mapping[str, Any]]) -> None:
    """Insert rows, or on a primary-key clash update them with `set_(excluded)`:
    a function of the dialect's `excluded` pseudo-table, fixed per call site."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]

    def build(insert: Insert) -> sa.Executable:
        return insert.on_conflict_do_update(index_elements=keys, set_=dict(set_(insert.excluded)))

    connection.execute(rendered(connection, (table.name, set_), build, table), list(rows))

"""Plain DBAPI statements for the hot path, on SQLite and PostgreSQL alike.

SQLAlchemy's statement machinery (compile cache lookups, parameter processing, result
metadata) was a third of a consumer's CPU per message. What runs per batch is written
here as SQL text with `:name` placeholders, which SQLite's driver takes as they are and
which become psycopg's `%(name)s` once per statement; `exec_driver_sql` hands it
straight to the driver (a list of dicts: one `executemany`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, CursorResult

IN_CHUNK = 500  # values per IN (...): well under every driver's parameter limit


@cache
def _pyformat(statement: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s`."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement.replace("%", "%%"))


def run(connection: Connection, statement: str,
        params: dict[str, Any] | list[dict[str, Any]]) -> CursorResult[Any]:
    """One statement (a dict of parameters: execute; a list of dicts: executemany)."""
    if connection.dialect.name != "sqlite":
        statement = _pyformat(statement)
    return connection.exec_driver_sql(statement, params)


def in_list(values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """Placeholders and parameters for `IN (...)` of these values (at most IN_CHUNK)."""
    names = {f"v{i}": value for i, value in enumerate(values)}
    return ", ".join(":" + name for name in names), names


def chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    return [values[i:i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]

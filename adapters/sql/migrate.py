"""Run the Alembic history against one store; tell a user when a store needs it.

Checking a store (`ensure_migrated`, on every command that opens one) reads Alembic's
version table with plain SQL and compares it with `migrations.HEAD`; Alembic itself,
with its template engine and every dialect's DDL, is imported only to upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Engine

import migrations
from adapters.sql.engine import READONLY
from domain.errors import OrderflowError

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(migrations.__file__).resolve().parent
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


class NotMigrated(OrderflowError):
    """A store's schema is missing or older than this code."""


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def head_revision() -> str:
    """The newest revision as Alembic reads it from the history (`migrations.HEAD` must agree)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, store: str, schema: str | None, target: str = "head") -> str:
    """Migrate one store to `target` (an older revision: to set up an upgrade test)."""
    from alembic import command

    config = _config()
    with engine.begin() as connection:
        if schema is not None:
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        config.attributes.update(connection=connection, store=store, schema=schema)
        command.upgrade(config, target)
    return current_revision(engine, schema) or "none"


def current_revision(engine: Engine, schema: str | None) -> str | None:
    """The store's revision (None before its first upgrade); one row in a linear history."""
    version = sa.table(VERSION_TABLE, sa.column("version_num"), schema=schema)
    with engine.connect().execution_options(**READONLY) as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE, schema=schema):
            return None
        found = connection.execute(sa.select(version.c.version_num)).scalar_one_or_none()
        return None if found is None else str(found)


def ensure_migrated(engine: Engine, store: str, schema: str | None) -> None:
    if current_revision(engine, schema) != migrations.HEAD:
        raise NotMigrated(f"the {store} store is not migrated; run `orderflow db upgrade`")

"""Run the Alembic history against one store; tell a user when a store needs it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from adapters.sql.engine import READONLY
from domain.errors import OrderflowError

SCRIPT_LOCATION = Path(migrations.__file__).resolve().parent


class NotMigrated(OrderflowError):
    """A store's schema is missing or older than this code."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def upgrade(engine: Engine, store: str, schema: str | None) -> str:
    config = _config()
    with engine.begin() as connection:
        if schema is not None:
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        config.attributes.update(connection=connection, store=store, schema=schema)
        command.upgrade(config, "head")
    return current_revision(engine, schema) or "none"


def current_revision(engine: Engine, schema: str | None) -> str | None:
    with engine.connect().execution_options(**READONLY) as connection:
        context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
        return context.get_current_revision()


def ensure_migrated(engine: Engine, store: str, schema: str | None) -> None:
    if current_revision(engine, schema) != head_revision():
        raise NotMigrated(f"the {store} store is not migrated; run `orderflow db upgrade`")

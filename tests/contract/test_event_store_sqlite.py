"""The event store contract on SQLite: a temporary file store, migrated with Alembic."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from adapters.sql import migrate
from adapters.sql.engine import make_engine
from tests.conftest import MakeEnv

pytest.register_assert_rewrite("tests.contract.event_store_contract")
from tests.contract.event_store_contract import EventStoreContract  # noqa: E402

pytestmark = pytest.mark.store("sqlite")


class TestSQLiteEventStore(EventStoreContract):
    def make_engine(self, make_env: MakeEnv) -> Engine:
        engine = make_engine(make_env("sqlite").settings, "order")
        migrate.upgrade(engine, "order", None)
        return engine

"""The event store contract on PostgreSQL: a fresh schema per test, dropped afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from adapters.sql import migrate
from services.bootstrap import bootstrap
from tests.conftest import MakeEnv

pytest.register_assert_rewrite("tests.contract.event_store_contract")
from tests.contract.event_store_contract import EventStoreContract  # noqa: E402

pytestmark = [pytest.mark.postgres, pytest.mark.store("postgresql")]


class TestPostgreSQLEventStore(EventStoreContract):
    def make_engine(self, make_env: MakeEnv) -> Engine:
        app = bootstrap(make_env("postgresql").settings)
        engine = app.engine("order")
        migrate.upgrade(engine, "order", app.schema("order"))
        return engine

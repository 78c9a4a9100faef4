"""`orderflow db upgrade` migrates every store, on SQLite and PostgreSQL; unmigrated is a hint."""

import json

import pytest
import sqlalchemy as sa

from adapters.sql.engine import STORES
from adapters.sql.migrate import NotMigrated, head_revision
from services.bootstrap import bootstrap
from tests.conftest import MakeEnv
from tests.support import run_cli


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_upgrade_migrates_every_store_idempotently(make_env: MakeEnv, store: str) -> None:
    env = make_env(store)
    for _ in range(2):
        result = run_cli(["db", "upgrade", "--json"], env.environ)
        assert result.code == 0, result.stderr
        document = json.loads(result.stdout)
        assert set(document) == set(STORES)
        assert {d["revision"] for d in document.values()} == {head_revision()}
    app = bootstrap(env.settings)
    with app.store("inventory").connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
    assert {"events", "outbox", "consumer_positions", "processed_messages"} <= tables
    app.close()


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_an_unmigrated_store_says_to_run_db_upgrade(make_env: MakeEnv, store: str) -> None:
    app = bootstrap(make_env(store).settings)
    with pytest.raises(NotMigrated, match="run `orderflow db upgrade`"):
        app.store("order")
    app.close()

"""Scenario 8: bad input to every CLI command → one line on stderr, a non-zero exit,
no traceback, and no row written in any store.

`cli.main.run` runs in-process (NUL bytes and huge arguments reach the code exactly as
typed) against migrated stores of the store under test, seeded with one order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from adapters.sql.engine import STORES
from adapters.sql.tables import processed_messages
from cli.main import run
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration.test_exactly_once import opened

pytestmark = pytest.mark.kafka
SQL = "'; DROP TABLE events;--"
HUGE = str(10**40)
NUL = "BOOK\x00-1"
ID = str(uuid.uuid4())  # well-formed, but no such order
PLACE = ["place", "--flow", "choreography", "--customer", "alice", "--ship-to", "DE"]

CASES: dict[str, list[str]] = {
    "place: SQL customer": ["place", "--flow", "orchestration", "--customer", SQL,
                            "--item", "BOOK-1=1"],
    "place: NUL customer": ["place", "--flow", "choreography", "--customer", "a\x00b",
                            "--item", "BOOK-1=1"],
    "place: huge quantity": [*PLACE, "--item", f"BOOK-1={HUGE}"],
    "place: zero quantity": [*PLACE, "--item", "BOOK-1=0"],
    "place: negative quantity": [*PLACE, "--item", "BOOK-1=-3"],
    "place: NUL SKU": [*PLACE, "--item", f"{NUL}=1"],
    "place: SQL SKU": [*PLACE, "--item", f"{SQL}=1"],
    "place: malformed item": [*PLACE, "--item", "BOOK-1==2"],
    "place: unknown flow": ["place", "--flow", "both", "--customer", "alice", "--item",
                            "BOOK-1=1"],
    "place: SQL country": [*PLACE[:-2], "--ship-to", SQL, "--item", "BOOK-1=1"],
    "place: unknown flag": [*PLACE, "--item", "BOOK-1=1", "--priority", "high"],
    "place: no customer": ["place", "--flow", "choreography", "--item", "BOOK-1=1"],
    "stock add: SQL SKU": ["stock", "add", SQL, "1"],
    "stock add: NUL SKU": ["stock", "add", NUL, "1"],
    "stock add: zero": ["stock", "add", "BOOK-1", "0"],
    "stock add: negative": ["stock", "add", "BOOK-1", "--", "-5"],
    "stock add: huge": ["stock", "add", "BOOK-1", HUGE],
    "stock add: exponent": ["stock", "add", "BOOK-1", "1e3"],
    "stock show: SQL SKU": ["stock", "show", SQL],
    "stock show: NUL SKU": ["stock", "show", NUL],
    "stock show: empty SKU": ["stock", "show", ""],
    "credit set: NUL customer": ["credit", "set", "a\x00b", "10"],
    "credit set: negative": ["credit", "set", "alice", "--", "-10"],
    "credit set: huge": ["credit", "set", "alice", HUGE],
    "credit set: nan": ["credit", "set", "alice", "nan"],
    "credit set: zero-width customer": ["credit", "set", "", "10"],
    "credit show: SQL customer": ["credit", "show", SQL],
    "status: malformed id": ["status", "not-an-order"],
    "status: SQL id": ["status", SQL],
    "status: NUL id": ["status", ID[:-1] + "\x00"],
    "status: unknown order": ["status", ID],
    "status: negative wait": ["status", ID, "--wait", "-1"],
    "status: huge wait": ["status", ID, "--wait", HUGE],
    "list: zero limit": ["list", "--limit", "0"],
    "list: negative limit": ["list", "--limit", "-5"],
    "list: huge limit": ["list", "--limit", HUGE],
    "list: unknown flow": ["list", "--flow", SQL],
    "list: unknown status": ["list", "--status", "lost"],
    "trace: malformed id": ["trace", "12345"],
    "trace: unknown format": ["trace", ID, "--format", "xml"],
    "trace: unknown order": ["trace", ID],
    "inspect: SQL table": ["inspect", "order_view; DROP TABLE events"],
    "inspect: NUL table": ["inspect", "order\x00view"],
    "inspect: zero limit": ["inspect", "order_view", "--limit", "0"],
    "tables: unknown flag": ["tables", "--all"],
    "sagas show: malformed id": ["sagas", "show", "saga-1"],
    "sagas show: unknown order": ["sagas", "show", ID],
    "sagas list: unknown state": ["sagas", "list", "--state", "sleeping"],
    "sagas list: huge limit": ["sagas", "list", "--limit", HUGE],
    "dlq list: unknown topic": ["dlq", "list", "--topic", "billing"],
    "dlq list: SQL topic": ["dlq", "list", "--topic", SQL],
    "dlq show: unknown id": ["dlq", "show", ID],
    "dlq show: unknown short id": ["dlq", "show", "deadbeef"],
    "dlq show: SQL id": ["dlq", "show", SQL],
    "dlq show: NUL id": ["dlq", "show", "dead\x00beef"],
    "dlq show: too short": ["dlq", "show", "ab"],
    "dlq redrive: unknown id": ["dlq", "redrive", ID],
    "dlq redrive: wildcard id": ["dlq", "redrive", "dead%"],
    "dlq redrive: no id": ["dlq", "redrive"],
    "dlq redrive: id and --all": ["dlq", "redrive", ID, "--all"],
    "dlq redrive: --topic without --all": ["dlq", "redrive", ID, "--topic", "orders"],
    "dlq redrive --all: unknown topic": ["dlq", "redrive", "--all", "--topic", "billing"],
    "run: unknown service": ["run", "billing"],
    "run: injected service": ["run", "order; rm -rf /"],
    "run: NUL service": ["run", "order\x00"],
    "run: no service": ["run"],
    "broker start: port 0": ["broker", "start", "--port", "0"],
    "broker start: port too big": ["broker", "start", "--port", "70000"],
    "broker start: port text": ["broker", "start", "--port", "kafka"],
    "tutorial listen: zero timeout": ["tutorial", "listen", "--timeout", "0"],
    "tutorial listen: unknown flag": ["tutorial", "listen", "--follow"],
    "compare: -n 0": ["compare", "-n", "0"],
    "compare: -n negative": ["compare", "-n", "-1"],
    "compare: -n huge": ["compare", "-n", HUGE],
    "compare: zero timeout": ["compare", "--timeout", "0"],
    "compare: --html in a missing directory": ["compare", "--html", "/nonexistent-dir/x.html"],
    "compare: --html to a directory": ["compare", "--html", "/tmp"],
    "compare: --markdown in a missing directory": ["compare", "--markdown", "/nonexistent/x.md"],
    "demo: -n 0": ["demo", "-n", "0"],
    "demo: -n too many": ["demo", "-n", "1001"],
    "projections rebuild: unknown flag": ["projections", "rebuild", "--force"],
    "db upgrade: unknown flag": ["db", "upgrade", "--to", "head"],
    "db prune: unknown flag": ["db", "prune", "--older-than", "1"],
    "unknown command": ["explode"],
    "unknown global flag": ["--colour", "list"],
}


@pytest.fixture
def env(make_env: MakeEnv, system_store: str, kafka: str,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    made = make_env(system_store, bootstrap=kafka)
    for key in [k for k in os.environ if k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))]:
        monkeypatch.delenv(key)
    for key, value in made.environ.items():
        monkeypatch.setenv(key, value)
    assert run(["db", "upgrade"]) == 0
    with opened(made) as app:
        app.inventory().add_stock("BOOK-1", 5)
        app.payment().set_credit("alice", 10_000)
        app.orders().place(customer_id="alice", items=[("BOOK-1", 1)], ship_to="DE",
                           flow="choreography", channel="cli")
    yield made


def row_counts(app: Orderflow) -> dict[tuple[str, str], int]:
    counts = {}
    for store in STORES:
        engine, schema = app.engine(store), app.schema(store)
        for table in sa.inspect(engine).get_table_names(schema=schema):
            named = sa.table(table, schema=schema)
            with engine.connect() as connection:
                counts[(store, table)] = int(connection.execute(
                    sa.select(sa.func.count()).select_from(named)).scalar_one())
    return counts


@pytest.mark.parametrize("argv", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_and_writes_nothing(env: Env, argv: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with opened(env) as app:
        before = row_counts(app)
    capsys.readouterr()
    code = run(argv)
    out, err = capsys.readouterr()
    assert code != 0, f"accepted: {argv!r}\n{out}"
    assert err.count("\n") == 1 and err.startswith("orderflow: error: "), err
    assert "Traceback" not in err + out and "internal error" not in err, err
    with opened(env) as app:
        assert row_counts(app) == before


ENVIRONMENT: dict[str, tuple[str, str]] = {
    "retention 0": ("ORDERFLOW_RETENTION_HOURS", "0"),
    "retention -1": ("ORDERFLOW_RETENTION_HOURS", "-1"),
    "retention abc": ("ORDERFLOW_RETENTION_HOURS", "abc"),
    "prefix too long": ("ORDERFLOW_TOPIC_PREFIX", "p" * 35),
}


@pytest.mark.parametrize(("name", "value"), list(ENVIRONMENT.values()), ids=list(ENVIRONMENT))
def test_db_prune_with_a_bad_environment_is_one_line_and_deletes_nothing(
        env: Env, name: str, value: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    with opened(env) as app:
        mark_processed_long_ago(app)
        before = row_counts(app)
    monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = run(["db", "prune"])
    out, err = capsys.readouterr()
    assert code != 0, out
    assert err.count("\n") == 1 and err.startswith(f"orderflow: error: {name}: "), err
    with opened(env) as app:
        assert row_counts(app) == before


def test_db_prune_against_an_unmigrated_store_is_one_line_and_deletes_nothing(
        env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    with opened(env) as app:
        mark_processed_long_ago(app)
        with app.engine("projector").begin() as connection:  # the last store pruned
            connection.execute(sa.text("DELETE FROM alembic_version"))
        before = row_counts(app)
    capsys.readouterr()
    code = run(["db", "prune"])
    out, err = capsys.readouterr()
    assert code != 0, out
    assert err == ("orderflow: error: the projector store is not migrated;"
                   " run `orderflow db upgrade`\n")
    with opened(env) as app:
        assert row_counts(app) == before


def mark_processed_long_ago(app: Orderflow) -> None:
    """A processed id that `db prune` would delete, were it to run."""
    with app.store("order").begin() as connection:
        connection.execute(processed_messages.insert(), [
            {"group_id": "g", "message_id": "m", "processed_at": "2000-01-01T00:00:00+00:00"}])

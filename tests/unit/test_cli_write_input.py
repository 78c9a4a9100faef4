"""Bad input to the write commands (and to `db prune`, which deletes): one line on
stderr, non-zero exit, nothing appended or deleted.

Runs `cli.main.run` in-process against SQLite stores in a temporary data dir (so NUL
bytes and 1 MB arguments reach the code exactly as typed), then looks into every store.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.sql.engine import STORES
from adapters.sql.tables import events, outbox, processed_messages
from cli.main import run

SQL = "'; DROP TABLE events;--"
MEGABYTE = "A" * 1_000_000
PLACE = ["place", "--flow", "choreography"]


def place(customer: str = "alice", *items: str, ship_to: str = "DE") -> list[str]:
    argv = [*PLACE, "--customer", customer, "--ship-to", ship_to]
    for item in items or ("BOOK-1=1",):
        argv += ["--item", item]
    return argv


SKUS = ["BOOK-1", "MUG-1", "TSHIRT-M", "TSHIRT-L", "HOODIE-M", "STICKER-1", "HEADPHONES-1",
        "LAPTOP-15"]
FIFTY_ONE = [f"{SKUS[i % len(SKUS)]}=1" for i in range(51)]

# (argv, a fragment the one error line must contain, so it fails for the right reason)
CASES: dict[str, tuple[list[str], str]] = {
    "place: unknown SKU": (place("alice", "NOPE-1=1"), "unknown SKU"),
    "place: quantity 0": (place("alice", "BOOK-1=0"), "between 1 and 10000"),
    "place: quantity -1": (place("alice", "BOOK-1=-1"), "between 1 and 10000"),
    "place: quantity 10**12": (place("alice", f"BOOK-1={10**12}"), "between 1 and 10000"),
    "place: quantity abc": (place("alice", "BOOK-1=abc"), "SKU=QUANTITY"),
    "place: quantity 1.5": (place("alice", "BOOK-1=1.5"), "SKU=QUANTITY"),
    "place: 51 lines": (place("alice", *FIFTY_ONE), "between 1 and 50 lines"),
    "place: item without =": (place("alice", "BOOK-1"), "SKU=QUANTITY"),
    "place: item without quantity": (place("alice", "BOOK-1="), "SKU=QUANTITY"),
    "place: item without SKU": (place("alice", "=2"), "SKU=QUANTITY"),
    "place: item with two =": (place("alice", "BOOK-1=2=3"), "SKU=QUANTITY"),
    "place: item with colon": (place("alice", "BOOK-1:2"), "SKU=QUANTITY"),
    "place: same SKU twice": (place("alice", "BOOK-1=1", "BOOK-1=2"), "more than once"),
    "place: no item": ([*PLACE, "--customer", "alice"], "--item"),
    "place: unknown country ZZ": (place("alice", ship_to="ZZ"), "ISO 3166-1 alpha-2"),
    "place: lowercase country": (place("alice", ship_to="de"), "ISO 3166-1 alpha-2"),
    "place: three-letter country": (place("alice", ship_to="DEU"), "ISO 3166-1 alpha-2"),
    "place: unknown flow": (["place", "--flow", "anarchy", "--customer", "alice", "--item",
                             "BOOK-1=1"], "--flow"),
    "place: SQL as customer": (place(SQL), "customer id must be"),
    "place: SQL as SKU": (place("alice", f"{SQL}=1"), "SKU must be"),
    "place: NUL in customer": (place("ali\x00ce"), "customer id must be"),
    "place: NUL in SKU": (place("alice", "BOOK\x00-1=1"), "SKU must be"),
    "place: 1 MB customer": (place(MEGABYTE), "customer id must be"),
    "place: 1 MB item": (place("alice", f"{MEGABYTE}=1"), "SKU=QUANTITY"),
    "place: 1 MB country": (place("alice", ship_to=MEGABYTE), "ISO 3166-1 alpha-2"),
    "stock: quantity 0": (["stock", "add", "BOOK-1", "0"], "between 1 and"),
    "stock: quantity -1": (["stock", "add", "BOOK-1", "-1"], "No such option: -1"),
    "stock: quantity -- -1": (["stock", "add", "BOOK-1", "--", "-1"], "between 1 and"),
    "stock: quantity 10**12": (["stock", "add", "BOOK-1", str(10**12)], "between 1 and"),
    "stock: quantity abc": (["stock", "add", "BOOK-1", "abc"], "whole number"),
    "stock: quantity 1.5": (["stock", "add", "BOOK-1", "1.5"], "whole number"),
    "stock: quantity 1 MB": (["stock", "add", "BOOK-1", "9" * 1_000_000], "whole number"),
    "stock: SQL as SKU": (["stock", "add", SQL, "1"], "SKU must be"),
    "stock: NUL in SKU": (["stock", "add", "BOOK\x00-1", "1"], "SKU must be"),
    "stock: 1 MB SKU": (["stock", "add", MEGABYTE, "1"], "SKU must be"),
    "stock: SKU with a colon": (["stock", "add", "stock:BOOK-1", "1"], "SKU must be"),
    "credit: amount nan": (["credit", "set", "alice", "nan"], "amount like 1250"),
    "credit: amount inf": (["credit", "set", "alice", "inf"], "amount like 1250"),
    "credit: amount 1e400": (["credit", "set", "alice", "1e400"], "amount like 1250"),
    "credit: amount 1.234": (["credit", "set", "alice", "1.234"], "amount like 1250"),
    "credit: amount -5": (["credit", "set", "alice", "-5"], "No such option: -5"),
    "credit: amount -- -5": (["credit", "set", "alice", "--", "-5"], "amount like 1250"),
    "credit: amount 1,5": (["credit", "set", "alice", "1,5"], "amount like 1250"),
    "credit: 1 MB amount": (["credit", "set", "alice", "9" * 1_000_000], "amount like 1250"),
    "credit: SQL as customer": (["credit", "set", SQL, "100"], "customer id must be"),
    "credit: NUL in customer": (["credit", "set", "ali\x00ce", "100"], "customer id must be"),
    "credit: 1 MB customer": (["credit", "set", MEGABYTE, "100"], "customer id must be"),
}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every store, migrated once by `orderflow db upgrade`; each test gets a copy."""
    template = tmp_path_factory.mktemp("migrated") / "data"
    with pytest.MonkeyPatch.context() as patch:
        clean_environment(patch, template)
        assert run(["db", "upgrade", "--json"]) == 0
    yield template


@pytest.fixture
def data_dir(migrated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> Path:
    capsys.readouterr()
    copy = tmp_path / "data"
    shutil.copytree(migrated, copy)
    assert written(copy) == {}
    clean_environment(monkeypatch, copy)
    return copy


def clean_environment(patch: pytest.MonkeyPatch, data_dir: Path) -> None:
    for name in ("ORDERFLOW_DATABASE_URL", "ORDERFLOW_TOPIC_PREFIX", "ORDERFLOW_FAULT",
                 "ORDERFLOW_DEBUG", "ORDERFLOW_RETENTION_HOURS"):
        patch.delenv(name, raising=False)
    patch.setenv("ORDERFLOW_DATA_DIR", str(data_dir))


def written(data_dir: Path) -> dict[str, tuple[int, int]]:
    """(events, outbox rows) in every store that has any."""
    found: dict[str, tuple[int, int]] = {}
    for store in STORES:
        engine = sa.create_engine(f"sqlite:///{data_dir / f'{store}.db'}")
        with engine.connect() as connection:
            counts = tuple(int(connection.execute(sa.select(sa.func.count()).select_from(t))
                               .scalar_one()) for t in (events, outbox))
        engine.dispose()
        if any(counts):
            found[store] = (counts[0], counts[1])
    return found


@pytest.mark.parametrize(("argv", "fragment"), CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_a_nonzero_exit_and_nothing_written(
        argv: list[str], fragment: str, data_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code = run(argv)
    out, err = capsys.readouterr()
    assert code != 0
    assert err.endswith("\n") and err.count("\n") == 1, err[:300]
    assert err.startswith("orderflow: error: ") and fragment in err, err[:300]
    assert "Traceback" not in err and "internal error" not in err
    assert len(err) < 400  # the input is not echoed back in full
    assert out == ""
    assert written(data_dir) == {}


@pytest.mark.parametrize(("argv", "store"), [
    (["stock", "add", "BOOK-1", "1"], "inventory"),
    (["credit", "set", "alice", "1250.50"], "payment"),
    (place("alice", "BOOK-1=2", "MUG-1=1", ship_to="US"), "order"),
], ids=["stock", "credit", "place"])
def test_the_same_commands_with_good_input_append_one_event(
        argv: list[str], store: str, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the control: proves `written` sees an append by each command
    assert run(argv) == 0, capsys.readouterr().err
    assert written(data_dir) == {store: (1, 1)}


# (variable, value, the command run with it, a fragment the one error line must contain)
ENVIRONMENT: dict[str, tuple[str, str, list[str], str]] = {
    "retention 0": ("ORDERFLOW_RETENTION_HOURS", "0", ["db", "prune"], "expected hours"),
    "retention -1": ("ORDERFLOW_RETENTION_HOURS", "-1", ["db", "prune"], "expected hours"),
    "retention abc": ("ORDERFLOW_RETENTION_HOURS", "abc", ["db", "prune"], "expected hours"),
    "retention abc, place": ("ORDERFLOW_RETENTION_HOURS", "abc", place(), "expected hours"),
    "prefix too long": ("ORDERFLOW_TOPIC_PREFIX", "p" * 35, place(), "at most 34 characters"),
    "prefix too long, prune": ("ORDERFLOW_TOPIC_PREFIX", "p" * 35, ["db", "prune"],
                               "at most 34 characters"),
}


@pytest.mark.parametrize(("name", "value", "argv", "fragment"), ENVIRONMENT.values(),
                         ids=ENVIRONMENT.keys())
def test_a_bad_environment_is_one_line_naming_the_variable_and_nothing_written(
        name: str, value: str, argv: list[str], fragment: str, data_dir: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seed_old_processed_id(data_dir)
    monkeypatch.setenv(name, value)
    code = run(argv)
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"orderflow: error: {name}: "), err
    assert fragment in err, err
    assert written(data_dir) == {} and old_processed_ids(data_dir) == 1


def test_db_prune_against_an_unmigrated_store_is_one_line_and_prunes_nothing(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed_old_processed_id(data_dir)  # in the order store, pruned first were it to go ahead
    (data_dir / "projector.db").unlink()
    code = run(["db", "prune"])
    out, err = capsys.readouterr()
    assert code != 0 and out == ""
    assert err == ("orderflow: error: the projector store does not exist yet;"
                   " run `orderflow db upgrade`\n")
    assert old_processed_ids(data_dir) == 1 and not (data_dir / "projector.db").exists()


def seed_old_processed_id(data_dir: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'order.db'}")
    with engine.begin() as connection:
        connection.execute(processed_messages.insert(), [
            {"group_id": "g", "message_id": "m", "processed_at": "2000-01-01T00:00:00+00:00"}])
    engine.dispose()


def old_processed_ids(data_dir: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'order.db'}")
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(processed_messages))
        found = int(count.scalar_one())
    engine.dispose()
    return found

"""The query commands in-process (`cli.main.run`) on SQLite stores in a temporary data dir.

Bad input gets one line on stderr and a non-zero exit, writes nothing; `--json` is one
JSON document. The read models are filled by the projector itself, no Kafka involved.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.main import run
from tests.support import projected_stores
from tests.unit.test_projections_support import Topics, happy_saga, placed

DONE, OPEN = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
MISSING = "00000000-0000-4000-8000-0000000000ff"
SQL = "order_view; DROP TABLE order_view;--"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Migrated stores with DONE confirmed and OPEN still created."""
    topics = Topics("q.")
    projected_stores(tmp_path / "data", monkeypatch,
                     [*happy_saga(topics, DONE), placed(topics, OPEN, seconds=5)], "q.")
    capsys.readouterr()
    yield


def ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def one_line_error(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> str:
    assert run(argv) == code
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.usefixtures("data")
def test_status_shows_an_order_for_people_and_for_scripts(
        capsys: pytest.CaptureFixture[str]) -> None:
    shown = dict(line.split(None, 1) for line in ok(["status", DONE], capsys).splitlines()[3:])
    assert {k: shown[k].strip() for k in ("status", "reason", "flow", "channel")} == {
        "status": "confirmed", "reason": "-", "flow": "choreography", "channel": "cli"}
    document = json.loads(ok(["status", DONE.upper(), "--json"], capsys))
    assert (document["order_id"], document["status"], document["total_cents"],
            document["channel"]) == (DONE, "confirmed", 2500, "cli")


@pytest.mark.usefixtures("data")
def test_status_of_an_unknown_order_is_one_line_and_exit_1(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert f"no order {MISSING} (yet)" in one_line_error(["status", MISSING], 1, capsys)
    started = time.monotonic()
    one_line_error(["status", MISSING, "--wait", "0.3"], 1, capsys)
    assert time.monotonic() - started >= 0.3


@pytest.mark.usefixtures("data")
def test_waiting_on_an_open_order_ends_at_the_deadline_with_its_current_status(
        capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    assert json.loads(ok(["status", OPEN, "--wait", "0.3", "--json"], capsys))["status"] == (
        "created")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    ok(["status", DONE, "--wait", "30"], capsys)  # final already: no waiting
    assert time.monotonic() - started < 5


@pytest.mark.usefixtures("data")
def test_list_trace_tables_and_inspect_print_one_json_document(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert [o["order_id"] for o in json.loads(ok(["list", "--json"], capsys))] == [OPEN, DONE]
    listed = json.loads(ok(["list", "--status", "confirmed", "--json"], capsys))
    assert [o["order_id"] for o in listed] == [DONE]
    trace = json.loads(ok(["trace", DONE, "--format", "json"], capsys))
    assert [r["seq"] for r in trace] == list(range(1, 6))
    assert ok(["trace", DONE, "--format", "mermaid"], capsys).startswith("sequenceDiagram\n")
    assert f"trace {DONE}" in ok(["trace", DONE], capsys)
    assert json.loads(ok(["tables", "--json"], capsys))["order_view"] == 2
    inspected = json.loads(ok(["inspect", "stock_view", "--json"], capsys))
    assert inspected["rows"] == [{"sku": "BOOK-1", "available": -2, "reserved": 2, "total": 0,
                                  "updated_at": "2026-01-01T12:00:01.000000+00:00"}]


@pytest.mark.usefixtures("data")
@pytest.mark.parametrize(("argv", "code", "needle"), [
    (["status", "not-a-uuid"], 2, "not a valid UUID"),
    (["status", SQL], 2, "not a valid UUID"),
    (["status", DONE, "--wait", "-1"], 2, "--wait"),
    (["status", MISSING, "--wait", "nan"], 2, "--wait"),
    (["status", MISSING, "--wait", "inf"], 2, "--wait"),
    (["trace", MISSING], 1, f"no order {MISSING} (yet)"),
    (["trace", "42"], 2, "not a valid UUID"),
    (["trace", DONE, "--format", "svg"], 2, "--format"),
    (["list", "--limit", "-5"], 2, "--limit"),
    (["list", "--limit", "0"], 2, "--limit"),
    (["list", "--limit", "10001"], 2, "--limit"),
    (["list", "--status", "shipped"], 2, "--status"),
    (["list", "--flow", SQL], 2, "--flow"),
    (["inspect", "orders"], 2, "valid tables: order_view, order_timeline"),
    (["inspect", SQL], 2, "valid tables: order_view, order_timeline"),
    (["inspect", "projected_events"], 2, "valid tables"),
    (["inspect", "order_view", "--limit", "-5"], 2, "--limit"),
])
def test_bad_input_is_one_line_a_non_zero_exit_and_writes_nothing(
        argv: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert needle in one_line_error(argv, code, capsys)
    assert json.loads(ok(["tables", "--json"], capsys)) == {
        "order_view": 2, "order_timeline": 6, "stock_view": 1, "credit_view": 1,
        "shipment_view": 1, "saga_view": 0, "dead_letter_view": 0}


def test_bad_input_before_any_store_exists_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ORDERFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    one_line_error(["status", SQL], 2, capsys)
    one_line_error(["inspect", SQL], 2, capsys)
    assert "db upgrade" in one_line_error(["status", MISSING], 1, capsys)
    assert not (tmp_path / "data").exists()

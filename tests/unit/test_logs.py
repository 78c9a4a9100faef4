"""Structured logs (adapters/logs.py): with ORDERFLOW_LOG_FORMAT=json each line is one JSON
object with every key, filled in from the service the process runs and the record the
consumer runtime is applying; text stays the default; an unknown format is one line on
stderr and exit 2."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from adapters import logs
from adapters.codec import encode, envelope_for
from adapters.records import Incoming, Record
from adapters.settings import Settings, SettingsError, parse_log_format
from adapters.sql.batches import BatchApplier
from adapters.sql.migrate import upgrade
from cli.main import run
from domain.payment_events import PaymentCancelled
from domain.stock import StockAdded

KEYS = {"time", "level", "logger", "message", "service", "order_id", "topic", "partition",
        "offset", "trace_id"}
ORDER, EVENT = "00000000-0000-4000-8000-0000000000aa", "00000000-0000-4000-8000-0000000000bb"


class Captured:
    """What a logger of its own writes, in one format (every line is kept)."""

    def __init__(self, log_format: str) -> None:
        self.out = io.StringIO()
        self.handler = logs.handler(log_format, self.out)
        self.logger = logging.getLogger(f"test_logs.{log_format}")
        self.logger.handlers = [self.handler]
        self.logger.propagate, self.logger.level = False, logging.DEBUG

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def json_log() -> Captured:
    return Captured("json")


@pytest.fixture
def every_json_line() -> Iterator[Captured]:
    """Every logger's lines too (the runtime's own), through the root."""
    captured = Captured("json")
    logging.getLogger().addHandler(captured.handler)
    yield captured
    logging.getLogger().removeHandler(captured.handler)


@pytest.fixture
def serving() -> Iterator[None]:
    logs.name_service("payment")
    yield
    logs.name_service(logs.CLI)


@pytest.mark.usefixtures("serving")
def test_a_line_logged_while_a_record_is_applied_carries_each_field(json_log: Captured) -> None:
    with logs.applying("orders", 3, 42, ORDER):
        json_log.logger.warning("declined %s", "c1")
    (document,) = json_log.documents()
    assert set(document) == KEYS
    assert {key: document[key] for key in KEYS - {"time"}} == {
        "level": "WARNING", "logger": "test_logs.json", "message": "declined c1",
        "service": "payment", "order_id": ORDER, "topic": "orders", "partition": 3,
        "offset": 42, "trace_id": None}
    assert document["time"].endswith("+00:00") and "T" in document["time"]


def test_a_line_without_a_record_is_still_one_json_object_with_every_key(
        json_log: Captured) -> None:
    json_log.logger.info("started")
    with logs.applying("orders", 0, 1):
        pass
    json_log.logger.info("stopped")  # the context ends with the record
    documents = json_log.documents()
    assert [set(d) for d in documents] == [KEYS, KEYS]
    assert all((d["service"], d["order_id"], d["topic"], d["partition"], d["offset"])
               == ("cli", None, None, None, None) for d in documents)


def test_extra_wins_and_an_exception_is_kept_on_the_same_line(json_log: Captured) -> None:
    with logs.applying("orders", 0, 1, ORDER):
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            json_log.logger.exception("failed", extra={"topic": "payments"})
    (line,) = json_log.lines()
    document = json.loads(line)
    assert (document["topic"], document["order_id"]) == ("payments", ORDER)
    assert document["exception"].startswith("Traceback") and "ValueError: bad" in line


def test_another_thread_never_borrows_the_record_being_applied(json_log: Captured) -> None:
    with logs.applying("orders", 0, 1, ORDER):
        relay = threading.Thread(target=json_log.logger.info, args=("published",))
        relay.start()
        relay.join()
    assert json_log.documents()[0]["order_id"] is None


def test_text_stays_the_format_for_people() -> None:
    text = Captured("text")
    with logs.applying("orders", 0, 1, ORDER):
        text.logger.warning("declined")
    (line,) = text.lines()
    assert line.endswith(" WARNING test_logs.text: declined") and "{" not in line


def test_the_runtime_names_the_record_and_its_order_in_what_a_handler_logs(
        every_json_line: Captured) -> None:
    """The batch applier sets the context (one place): a handler logs no ids itself, and
    the runtime's own lines about the message (its dead letter) say them."""
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    upgrade(engine, "inventory", None)

    def handler(_connection: Any, item: Any) -> None:
        every_json_line.logger.info("handled %s", item.envelope.type)
        raise ValueError("poison")  # in the batch, alone, then dead-lettered

    value = encode(envelope_for(PaymentCancelled(order_id=ORDER), event_id=EVENT,
                                aggregate_id=ORDER, aggregate_version=1,
                                occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                                correlation_id=ORDER, causation_id=None, flow=None))
    BatchApplier(engine=engine, group="g", handler=handler).apply(
        [Record("t.orders", 2, 7, ORDER.encode(), value)])
    about = [d for d in every_json_line.documents()
             if d["message"].startswith(("handled", "dead letter"))]
    assert [d["message"].split()[0] for d in about] == ["handled", "handled", "dead"]
    assert all((d["order_id"], d["topic"], d["partition"], d["offset"])
               == (ORDER, "t.orders", 2, 7) for d in about), about


def test_the_supervisor_writes_its_line_in_the_log_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(logs._process, "format", "json")
    document = json.loads(logs.line(logging.WARNING, "services.supervisor", "restarting",
                                    "payment"))
    assert set(document) == KEYS and document["service"] == "payment"
    monkeypatch.setitem(logs._process, "format", "text")
    assert logs.line(logging.WARNING, "x", "restarting", "payment").endswith(
        " WARNING x: restarting")


@pytest.mark.parametrize("value", ["xml", "JSONL", "yes"])
def test_an_unknown_format_is_a_settings_error(value: str) -> None:
    with pytest.raises(SettingsError, match="ORDERFLOW_LOG_FORMAT"):
        parse_log_format(value)
    with pytest.raises(SettingsError, match="ORDERFLOW_LOG_FORMAT"):
        Settings.from_env({"ORDERFLOW_LOG_FORMAT": value})
    assert Settings.from_env({"ORDERFLOW_LOG_FORMAT": " JSON "}).log_format == "json"
    assert Settings.from_env({}).log_format == "text"


def test_the_cli_refuses_an_unknown_format_with_one_line_and_exit_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_LOG_FORMAT", "xml")
    assert run(["catalog", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "ORDERFLOW_LOG_FORMAT: 'xml'" in err


def test_stock_and_credit_administration_names_no_order() -> None:
    def incoming(body: Any, correlation_id: str) -> Incoming:
        return Incoming(envelope_for(body, event_id=EVENT, aggregate_id=correlation_id,
                                     aggregate_version=1, occurred_at=datetime(2026, 1, 1,
                                                                               tzinfo=UTC),
                                     correlation_id=correlation_id, causation_id=None,
                                     flow=None), "t.inventory", 0, 1)

    assert incoming(StockAdded(sku="BOOK-1", quantity=1), "BOOK-1").order_id is None
    assert incoming(PaymentCancelled(order_id=ORDER), ORDER).order_id == ORDER

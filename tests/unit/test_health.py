"""`orderflow lag` and `orderflow health` without Kafka: what makes a service unhealthy
(services/health.py), when a group last committed a batch, the tables at 80 columns,
`--json` as one document, and exit codes a script can trust (0 healthy, 1 not, 1 with
no broker, one line)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from adapters.sql.migrate import upgrade
from adapters.sql.tracking import read_last_applied, save_positions
from cli import health as cli_health
from cli.main import run
from projections.live import Process
from services import health
from services.bootstrap import KNOWN_SERVICES, Orderflow
from services.supervisor import is_alive

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
ALIVE, DEAD = Process(4_194_304, 3, True), Process(4_194_305, 9, False)


def judged(process: Process | None = ALIVE, lag: int | None = 0, ago: float | None = 1.0,
           letters: int | None = 0) -> tuple[str, ...]:
    last = None if ago is None else NOW - timedelta(seconds=ago)
    return health.service_health("payment", process, lag, last, letters, NOW,
                                 stalled_after=30).problems


def test_a_service_that_runs_caught_up_with_no_dead_letters_is_healthy() -> None:
    assert judged() == ()
    assert judged(ago=None) == ()  # never committed, nothing to apply: an idle new service
    assert judged(lag=5, ago=29) == ()  # records wait, and it applied a batch just now


@pytest.mark.parametrize(("kwargs", "problems"), [
    ({"process": DEAD}, ("down",)),
    ({"process": None}, ("down",)),  # no running up runs it
    ({"lag": 5, "ago": 31}, ("stalled",)),
    ({"lag": 5, "ago": None}, ("stalled",)),
    ({"process": DEAD, "lag": 5, "ago": 31}, ("down",)),  # down says it
    ({"letters": 2}, ("dead letters",)),
    ({"lag": None}, ("unknown",)),
    ({"letters": None}, ("unknown",)),
    ({"process": DEAD, "letters": 1, "lag": None}, ("down", "dead letters", "unknown")),
])
def test_each_problem(kwargs: dict[str, Any], problems: tuple[str, ...]) -> None:
    assert judged(**kwargs) == problems


def test_the_report_document_says_each_fact_and_the_verdict() -> None:
    well = health.service_health("order", ALIVE, 0, NOW - timedelta(seconds=2), 0, NOW)
    down = health.service_health("payment", DEAD, 3, None, 1, NOW)
    report = health.Health(NOW, 777, (well, down))
    assert not report.healthy and report.unhealthy == ["payment"]
    assert report.document() == {
        "at": NOW.isoformat(), "healthy": False, "up": {"pid": 777}, "services": {
            "order": {"up": True, "pid": ALIVE.pid, "lag": 0, "caught_up": True,
                      "last_batch_age": 2.0, "dead_letters": 0, "healthy": True,
                      "problems": []},
            "payment": {"up": False, "pid": DEAD.pid, "lag": 3, "caught_up": False,
                        "last_batch_age": None, "dead_letters": 1, "healthy": False,
                        "problems": ["down", "dead letters"]}}}


def test_the_last_batch_is_the_newest_position_a_group_committed() -> None:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    upgrade(engine, "payment", None)
    assert read_last_applied(engine, "g") is None
    before = datetime.now(UTC)
    with engine.begin() as connection:
        save_positions(connection, "g", {("t", 0): 5, ("t", 1): 2})
        save_positions(connection, "other", {("t", 0): 9})
    last = read_last_applied(engine, "g")
    assert last is not None and before <= last <= datetime.now(UTC)


@pytest.mark.parametrize(("seconds", "shown"), [(None, "never"), (0.43, "0.4s ago"),
                                                 (12.9, "12s ago"), (300, "5m ago"),
                                                 (7200, "2h ago"), (200_000, "2d ago")])
def test_ages_are_compact(seconds: float | None, shown: str) -> None:
    assert cli_health.age(seconds) == shown


# -- what people and scripts see ---------------------------------------------------------

LONG = [*KNOWN_SERVICES]


class FakeLag:
    def by_topic(self, names: list[str]) -> dict[str, dict[str, int] | None]:
        return {name: None if name == "fraud" else
                {"a-rather-long-run-prefix.inventory.commands": 12_345_678,
                 "a-rather-long-run-prefix.orders": 0} for name in names}


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[health.Health]]:
    """Orderflow with a broker that answers and the reports `health` measures, in turn."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / ("d" * 60)))  # a long headline
    reports: list[health.Health] = []
    monkeypatch.setattr(Orderflow, "require_broker", lambda _self: None)
    monkeypatch.setattr(Orderflow, "services_shown", lambda _self: (777, {}, LONG))
    monkeypatch.setattr(Orderflow, "lag", lambda _self: FakeLag())
    monkeypatch.setattr(Orderflow, "health", lambda _self, _stalled: reports.pop(0))
    monkeypatch.setattr(cli_health, "SECOND_LOOK", 0.0)
    yield reports


def every(process: Process, lag: int, ago: float | None, letters: int) -> health.Health:
    last = None if ago is None else NOW - timedelta(seconds=ago)
    return health.Health(NOW, 777, tuple(health.service_health(
        name, process, lag, last, letters, NOW) for name in LONG))


def shown(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 0) -> str:
    assert run(argv) == code
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_lag_fits_80_columns_per_service_and_topic_and_json_is_one_document(
        wired: list[health.Health], capsys: pytest.CaptureFixture[str]) -> None:
    lines = shown(["lag"], capsys).splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, "\n".join(lines)
    rows = [line.split() for line in lines[3:]]
    assert ["payment", "a-rather-long-run-prefix.inventory.commands", "12345678"] in rows
    assert ["fraud", "-", "-"] in rows  # its store cannot be read: unknown, never 0
    document = json.loads(shown(["lag", "--json"], capsys))
    assert document["fraud"] == {"lag": None, "topics": None}
    assert document["order"]["lag"] == 12_345_678


def test_health_exits_0_when_every_service_is_healthy(
        wired: list[health.Health], capsys: pytest.CaptureFixture[str]) -> None:
    wired.append(every(ALIVE, 0, 3.0, 0))
    lines = shown(["health"], capsys).splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, "\n".join(lines)
    assert lines[-1] == "healthy"
    wired.append(every(ALIVE, 0, 3.0, 0))
    assert json.loads(shown(["health", "--json"], capsys))["healthy"] is True


def test_health_exits_1_naming_what_is_unhealthy_in_80_columns(
        wired: list[health.Health], capsys: pytest.CaptureFixture[str]) -> None:
    wired.extend([every(ALIVE, 1_234_567, 200_000, 99_999)] * 2)  # widest; looked at twice
    lines = shown(["health"], capsys, code=1).splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, "\n".join(lines)
    rows = [line for line in lines if line.startswith("orchestrator ")]
    assert rows and rows[0].endswith("stalled, dead letters"), "\n".join(lines)
    assert lines[-1] == f"unhealthy: {', '.join(LONG)}"
    wired.append(every(DEAD, 0, None, 0))
    document = json.loads(shown(["health", "--json"], capsys, code=1))
    assert document["services"]["payment"]["problems"] == ["down"]


def test_a_service_seen_stalled_is_looked_at_again(
        wired: list[health.Health], capsys: pytest.CaptureFixture[str]) -> None:
    wired.extend([every(ALIVE, 1, 600, 0), every(ALIVE, 0, 0.1, 0)])  # a record just came
    assert json.loads(shown(["health", "--json"], capsys))["healthy"] is True
    assert wired == []


@pytest.mark.parametrize("command", ["lag", "health"])
def test_no_broker_is_one_line_and_exit_1(command: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path))
    assert run([command, "--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "no Kafka broker answers" in err


def test_a_process_that_exited_but_was_not_reaped_is_down() -> None:
    """A frozen supervisor has not reaped its dead child yet: signal 0 still reaches it."""
    child = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, left unreaped
        assert not is_alive(child.pid)
    finally:
        child.wait()

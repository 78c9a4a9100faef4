"""`orderflow lag`, `orderflow health` and JSON logs against a real `orderflow up` (the
test broker, SQLite stores), run as a user runs them: with every service up and caught
up, lag is 0 everywhere and health exits 0; a service killed while its supervisor is
frozen (so nothing restarts it) makes health exit 1 naming it, and once restarted it
is healthy again. Every line the services logged is one JSON object, and the
orchestrator's say which order, topic, partition and offset they were about. Tables fit
80 columns (COLUMNS=80). One `up` for all of it: the suite is long enough."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from services.bootstrap import SERVICES
from tests.conftest import Env
from tests.support import run_cli, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.store("sqlite")]
KEYS = {"time", "level", "logger", "message", "service", "order_id", "topic", "partition",
        "offset", "trace_id"}


@pytest.fixture
def env(up_env: Env) -> Env:
    up_env.environ["COLUMNS"] = "80"
    up_env.environ["ORDERFLOW_LOG_FORMAT"] = "json"  # `up` and every service it starts
    return up_env


def health(env: Env) -> tuple[int, dict[str, Any]]:
    done = run_cli(["health", "--json"], env.environ)
    assert done.code in (0, 1) and done.stderr == "", done.stderr
    return done.code, json.loads(done.stdout)


def healthy(env: Env) -> dict[str, Any] | None:
    code, report = health(env)
    return report if code == 0 else None


def settled(env: Env) -> dict[str, Any] | None:
    """Healthy, and every service caught up (healthy alone allows a lag that drains)."""
    report = healthy(env)
    caught_up = report and all(s["caught_up"] for s in report["services"].values())
    return report if caught_up else None


def test_lag_health_and_json_logs_of_a_running_up(up: Path, env: Env) -> None:
    for argv in (["stock", "add", "BOOK-1", "10"], ["credit", "set", "c1", "50.00"]):
        assert run_cli(argv, env.environ).code == 0
    placed = run_cli(["place", "--flow", "orchestration", "--customer", "c1", "--item",
                      "BOOK-1=1", "--json"], env.environ)
    order = json.loads(placed.stdout)["order_id"]
    report = wait_until(lambda: settled(env), 60, "every service healthy and caught up")
    assert set(report["services"]) == set(SERVICES) and report["healthy"]
    assert all(s["caught_up"] and s["up"] for s in report["services"].values())
    assert report["services"]["orchestrator"]["last_batch_age"] is not None

    lag = run_cli(["lag", "--json"], env.environ)
    assert lag.code == 0 and {name: s["lag"] for name, s in json.loads(lag.stdout).items()} \
        == dict.fromkeys(SERVICES, 0)
    for argv in (["lag"], ["health"]):
        shown = run_cli(argv, env.environ)
        assert shown.code == 0 and max(map(len, shown.stdout.splitlines())) <= 80, shown.stdout
    assert shown.stdout.splitlines()[-1] == "healthy"

    logged_as_json_with_the_order(env.settings.data_dir / "logs", order)
    a_killed_service_is_named_until_it_is_restarted(up, env)


def logged_as_json_with_the_order(logs: Path, order: str) -> None:
    for service in SERVICES:
        lines = (logs / f"{service}.log").read_text().splitlines()
        documents = [json.loads(line) for line in lines]
        assert documents and all(set(d) >= KEYS and d["service"] == service
                                 for d in documents), service
    sent = [d for d in map(json.loads, (logs / "orchestrator.log").read_text().splitlines())
            if d["message"].endswith(" sent") and d["order_id"] == order]
    assert sent and all(isinstance(d["partition"], int) and isinstance(d["offset"], int)
                        and d["topic"] for d in sent), sent


def a_killed_service_is_named_until_it_is_restarted(up: Path, env: Env) -> None:
    state = json.loads(up.read_text())
    os.kill(state["pid"], signal.SIGSTOP)  # the supervisor, frozen: nothing restarts
    try:
        os.kill(state["services"]["payment"]["pid"], signal.SIGKILL)
        code, report = wait_until(lambda: _unhealthy(env), 30, "payment seen down")
        assert code == 1 and [name for name, s in report["services"].items()
                              if not s["healthy"]] == ["payment"]
        assert report["services"]["payment"]["problems"] == ["down"]
        shown = run_cli(["health"], env.environ)
        assert shown.code == 1 and shown.stdout.splitlines()[-1] == "unhealthy: payment"
    finally:
        os.kill(state["pid"], signal.SIGCONT)
    wait_until(lambda: healthy(env), 60, "payment restarted and healthy")


def _unhealthy(env: Env) -> tuple[int, dict[str, Any]] | None:
    code, report = health(env)
    return (code, report) if code == 1 else None

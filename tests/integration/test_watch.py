"""`orderflow watch` against a real `orderflow up` (every service its own process, the
test broker, SQLite stores), run as a user runs it: the orders placed are counted per
flow (confirmed, rejected by reason), every service is up with its lag and dead letters,
a killed service's restart shows; without an `up` every service is down, and Ctrl-C ends
a running watch cleanly. Tables fit 80 columns (COLUMNS=80)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.bootstrap import SERVICES
from services.supervisor import is_alive
from tests.conftest import Env
from tests.support import CLI, run_cli, user_environ, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.store("sqlite")]
CHOR, ORCH = "choreography", "orchestration"
ORDERS_READERS = {"inventory", "payment", "shipping", "orchestrator", "projector"}


@pytest.fixture
def env(up_env: Env) -> Env:
    up_env.environ["COLUMNS"] = "80"
    return up_env


def snapshot(env: Env) -> dict[str, Any]:
    done = run_cli(["watch", "--once", "--json"], env.environ)
    assert done.code == 0 and done.stderr == "", done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def place(env: Env, flow: str, customer: str) -> str:
    done = run_cli(["place", "--flow", flow, "--customer", customer, "--item", "BOOK-1=1",
                    "--json"], env.environ)
    assert done.code == 0, done.stderr
    return str(json.loads(done.stdout)["order_id"])


def settled(env: Env) -> dict[str, Any] | None:
    """The snapshot once the three orders are final and every group has caught up."""
    shot = snapshot(env)
    flows = shot["flows"]
    done = (flows[CHOR]["confirmed"], flows[ORCH]["confirmed"],
            flows[ORCH]["rejected_by_reason"]) == (1, 1, {"over_credit": 1})
    caught_up = all(s["lag"] == 0 for s in shot["services"].values())
    return shot if done and caught_up else None


def test_watch_shows_the_orders_and_the_services_of_a_running_up(
        up: Path, env: Env) -> None:
    for argv in (["stock", "add", "BOOK-1", "10"], ["credit", "set", "c1", "50.00"],
                 ["credit", "set", "c2", "10.00"]):
        assert run_cli(argv, env.environ).code == 0
    for flow, customer in ((CHOR, "c1"), (ORCH, "c1"), (ORCH, "c2")):  # 24.99 each
        place(env, flow, customer)
    shot = wait_until(lambda: settled(env), 60, "the orders final, every lag 0")
    assert shot["up"]["pid"] == json.loads(up.read_text())["pid"]
    assert shot["flows"][CHOR] == {"in_flight": 0, "in_flight_by_step": {}, "confirmed": 1,
                                   "rejected": 0, "rejected_by_reason": {}, "timed_out": 0}
    assert shot["flows"][ORCH]["rejected"] == 1 and shot["flows"][ORCH]["timed_out"] == 0
    assert set(shot["services"]) == set(SERVICES)
    assert all((s["up"], s["restarts"], s["dead_letters"]) == (True, 0, 0)
               for s in shot["services"].values())

    shows_tables_in_80_columns_and_json_lines(env)

    payment = json.loads(up.read_text())["services"]["payment"]["pid"]
    os.kill(payment, signal.SIGKILL)
    restarted = wait_until(lambda: _restarted(env, payment), 60, "payment restarted")
    assert restarted["up"] and is_alive(restarted["pid"])

    assert run_cli(["drill", "poison", "orders"], env.environ).code == 0
    letters = wait_until(lambda: _dead_lettered(env), 60, "poison dead-lettered")
    assert letters == {name: int(name in ORDERS_READERS) for name in SERVICES}


def shows_tables_in_80_columns_and_json_lines(env: Env) -> None:
    shown = run_cli(["watch", "--once"], env.environ)
    assert shown.code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(map(len, lines)) <= 80 and "`orderflow up` runs (pid" in lines[0]
    states = {words[0]: words[1] for words in map(str.split, lines)
              if words and words[0] in SERVICES}
    assert states == dict.fromkeys(SERVICES, "up")
    assert any(line.split() == ["confirmed", "1", "1"] for line in lines), shown.stdout
    streamed = run_cli(["watch", "--json", "--count", "2"], env.environ)
    assert streamed.code == 0 and len(streamed.stdout.splitlines()) == 2


def _restarted(env: Env, old_pid: int) -> dict[str, Any] | None:
    payment: dict[str, Any] = snapshot(env)["services"]["payment"]
    return payment if payment["restarts"] == 1 and payment["pid"] != old_pid else None


def _dead_lettered(env: Env) -> dict[str, int] | None:
    counts = {name: s["dead_letters"] for name, s in snapshot(env)["services"].items()}
    return counts if sum(counts.values()) == len(ORDERS_READERS) else None


def test_without_up_every_service_is_down_and_ctrl_c_ends_a_watch(env: Env) -> None:
    shot = snapshot(env)
    assert shot["up"] is None
    assert all((s["up"], s["pid"], s["restarts"], s["lag"]) == (False, None, None, 0)
               for s in shot["services"].values())
    watching = subprocess.Popen([CLI, "watch", "--json"], env=user_environ(env.environ),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert watching.stdout is not None
    first = watching.stdout.readline()
    watching.send_signal(signal.SIGINT)
    out, err = watching.communicate(timeout=30)
    assert watching.returncode == 0 and err == "", err
    assert json.loads(first)["up"] is None and all(json.loads(line) for line in
                                                   out.splitlines())

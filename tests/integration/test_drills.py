"""The stage drills against a real `orderflow up` (every service its own process, the test
broker, SQLite stores), run as a user runs them: a killed service comes back under a new
pid, a paused one is stopped for the pause and resumed after it, poison on `orders` is
dead-lettered by every group that reads `orders`, and bad input is one line on stderr, a
non-zero exit, and nothing done. `up` stops cleanly (exit 0) after every drill."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.kafka.broker import LocalBroker
from services.bootstrap import SERVICES, bootstrap
from services.supervisor import UP_STATE, is_alive
from tests.conftest import Env, MakeEnv
from tests.support import CLI, CliResult, run_cli, stopped, user_environ, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.store("sqlite")]


@pytest.fixture
def env(up_env: Env) -> Env:
    return up_env


@dataclass
class RunningUp:
    """An `orderflow up` subprocess, its state file and the drills run against it."""

    environ: dict[str, str]
    state: Path
    logs: Path

    def services(self) -> dict[str, Any]:
        return dict(json.loads(self.state.read_text())["services"])

    def replaced(self, service: str, pid: int) -> dict[str, Any] | None:
        """The service's entry, once it names a process other than `pid`."""
        entry: dict[str, Any] = self.services()[service]
        return entry if entry["pid"] != pid else None

    def drill(self, *argv: str) -> CliResult:
        return run_cli(["drill", *argv], self.environ)

    def drilling(self, *argv: str) -> subprocess.Popen[str]:
        """A drill left running, for a test that looks at the system during it."""
        return subprocess.Popen([CLI, "drill", *argv], env=user_environ(self.environ),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def serving(self, service: str, times: int = 1) -> bool:
        """The service's log says it is running, `times` times (once per start)."""
        log = self.logs / f"{service}.log"
        return log.exists() and log.read_text(errors="replace").count(
            f"{service}: running") >= times


@pytest.fixture
def up(env: Env, tmp_path: Path) -> Iterator[RunningUp]:
    running = RunningUp(env.environ, env.settings.data_dir / UP_STATE,
                        env.settings.data_dir / "logs")
    with (tmp_path / "up.out").open("wb") as out, (tmp_path / "up.err").open("wb") as err:
        process = subprocess.Popen([CLI, "up"], env=user_environ(env.environ), stdout=out,
                                   stderr=err, stdin=subprocess.DEVNULL)
    try:
        wait_until(running.state.exists, 60, "up's state file")
        wait_until(lambda: all(running.serving(s) for s in SERVICES), 90, "every service")
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(60)
    assert code == 0, (tmp_path / "up.err").read_text()
    assert not running.state.exists()


def one_line(result: CliResult) -> str:
    assert result.stdout == "" and result.stderr.count("\n") == 1, result
    return result.stderr


def test_a_killed_service_is_restarted_under_a_new_pid(up: RunningUp) -> None:
    before = up.services()["payment"]
    killed = up.drill("kill", "payment")
    assert killed.code == 0, killed.stderr
    assert f"killed payment (pid {before['pid']}) with SIGKILL" in killed.stdout
    assert "watch: `up` says on its stderr that payment exited" in killed.stdout
    after = wait_until(lambda: up.replaced("payment", before["pid"]), 30, "payment's new pid")
    assert after["restarts"] == 1 and before["restarts"] == 0
    assert not is_alive(before["pid"]) and is_alive(after["pid"])
    wait_until(lambda: up.serving("payment", times=2), 60, "the new payment serving")
    assert all(v["restarts"] == 0 for k, v in up.services().items() if k != "payment")


def test_a_paused_service_is_stopped_for_the_pause_and_resumed_after(up: RunningUp) -> None:
    inventory = up.services()["inventory"]
    drill = up.drilling("pause", "inventory", "1")
    try:
        wait_until(lambda: stopped(inventory["pid"]), 10, "inventory stopped by SIGSTOP")
    finally:
        out, err = drill.communicate(timeout=30)
    assert drill.returncode == 0, err
    assert f"paused inventory (pid {inventory['pid']}) with SIGSTOP for 1 s" in out
    assert f"resumed inventory (pid {inventory['pid']}) with SIGCONT" in out
    assert not stopped(inventory["pid"]) and up.services()["inventory"] == inventory

    # a pause cut short, as a script's `timeout` does it, still resumes the service
    long = up.drilling("pause", "inventory", "600")
    try:
        wait_until(lambda: stopped(inventory["pid"]), 10, "inventory stopped again")
    finally:
        long.send_signal(signal.SIGTERM)
        _, err = long.communicate(timeout=30)
    assert long.returncode == 130 and err.endswith("orderflow: error: interrupted\n"), err
    assert not stopped(inventory["pid"]) and up.services()["inventory"] == inventory


def dead_letters(up: RunningUp, stores: set[str]) -> list[dict[str, Any]] | None:
    """The dead letters of `orders`, once every one of `stores` has one."""
    listed = run_cli(["dlq", "list", "--topic", "orders", "--json"], up.environ)
    assert listed.code == 0, listed.stderr
    letters: list[dict[str, Any]] = json.loads(listed.stdout)
    return letters if {letter["store"] for letter in letters} >= stores else None


def test_poison_is_dead_lettered_by_every_group_that_reads_the_topic(
        up: RunningUp, env: Env) -> None:
    app = bootstrap(env.settings)
    try:  # what the services subscribe to when they run
        readers = {s for s in SERVICES if app.topic("orders") in app.plan(s).topics}
    finally:
        app.close()
    assert readers == {"inventory", "payment", "shipping", "orchestrator", "projector"}

    done = up.drill("poison", "orders")
    assert done.code == 0, done.stderr
    found = re.search(r"poisoned orders\[(\d+)\]@(\d+)", done.stdout)
    assert found, done.stdout
    partition, offset = int(found[1]), int(found[2])
    assert "inventory, payment, shipping, orchestrator and projector each dead-letter" \
        in done.stdout
    letters = wait_until(lambda: dead_letters(up, readers), 60, "every reader's dead letter")
    assert sorted((letter["store"], letter["consumer_group"], letter["partition"],
                   letter["offset"], letter["error_type"]) for letter in letters) == \
        sorted((s, f"{env.settings.topic_prefix}orderflow.{s}", partition, offset,
                "DecodeError") for s in readers)


def test_bad_input_is_one_line_a_non_zero_exit_and_nothing_done(
        up: RunningUp, env: Env, tmp_path: Path) -> None:
    before = up.services()
    assert "'nosuch' is not a service of the running `orderflow up`" in \
        one_line(up.drill("kill", "nosuch"))
    assert "it runs: order, inventory, payment" in one_line(up.drill("pause", "nosuch", "1"))
    assert "'nosuch' is not a topic of this run" in one_line(up.drill("poison", "nosuch"))
    assert "is not a topic" in one_line(up.drill("poison", "orders.dlq"))
    assert "SECONDS" in one_line(up.drill("pause", "payment", "0"))
    # a broker that `orderflow broker start` did not start (none under this cache dir)
    foreign = run_cli(["drill", "pause-broker", "1"],
                      {**env.environ, "ORDERFLOW_CACHE_DIR": str(tmp_path / "no-broker")})
    assert foreign.code == 2
    assert "was not started by `orderflow broker start`" in one_line(foreign)
    assert up.drill("kill", "nosuch").code == 1
    assert up.services() == before  # nothing killed, nothing restarted
    assert all(not stopped(service["pid"]) for service in before.values())


def test_pause_broker_stops_the_local_broker_for_the_pause(up: RunningUp, env: Env) -> None:
    broker = LocalBroker(cache_dir=env.settings.cache_dir,
                         port=env.settings.first_broker_port).status()
    if broker.pid is None:
        pytest.skip(f"the test broker on {broker.address} is not orderflow's local broker")
    pid = broker.pid
    drill = up.drilling("pause-broker", "1")
    try:
        wait_until(lambda: stopped(pid), 10, "the broker stopped by SIGSTOP")
    finally:
        out, err = drill.communicate(timeout=30)
    assert drill.returncode == 0, err
    assert f"paused the broker on {broker.address} (pid {pid}) with SIGSTOP for 1 s" in out
    assert f"resumed the broker on {broker.address} (pid {pid}) with SIGCONT" in out
    assert not stopped(pid)


def test_without_a_running_up_every_drill_refuses_and_makes_nothing(
        kafka: str, make_env: MakeEnv) -> None:
    fresh = make_env("sqlite", bootstrap=kafka)
    for argv in (["kill", "payment"], ["pause", "payment", "1"], ["pause-broker", "1"],
                 ["poison", "orders"]):
        refused = run_cli(["drill", *argv], fresh.environ)
        assert refused.code == 1
        assert "no `orderflow up` runs on data dir" in one_line(refused)
    assert not fresh.settings.data_dir.exists()

"""A supervised service never stays dead: SIGKILLed from outside, it is restarted after
a backoff, and the restart is said on stderr and in the service's own log with its count;
`stop()` leaves nothing running and restarts nothing, even with a restart pending. Real
`orderflow run SERVICE` children, the test broker and a migrated SQLite store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.supervisor import Backoff, Child, Supervisor, is_alive
from tests.conftest import Env
from tests.support import CLI, stopped, user_environ, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.store("sqlite")]
KILLED = "payment exited with code 137 (SIGKILL); restarting in {delay} s (restart {count})"


@pytest.fixture
def env(up_env: Env) -> Env:
    return up_env


def child_environ(env: Env) -> dict[str, str]:
    """This process's environment without its own orderflow settings, plus the test's."""
    return user_environ(env.environ)


@pytest.fixture
def said() -> list[str]:
    return []


@pytest.fixture
def supervisor(env: Env, tmp_path: Path, said: list[str],
               request: pytest.FixtureRequest) -> Iterator[Supervisor]:
    backoff = getattr(request, "param", Backoff())
    running = Supervisor(["payment"], tmp_path / "logs", environ=child_environ(env),
                         on_restart=said.append, backoff=backoff)
    yield running
    running.stop()


def kill_and_wait_for_restart(child: Child, count: int) -> int:
    """SIGKILL the child's process; return the pid of the one that replaces it."""
    old = child.process.pid
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: child.restarts == count and child.process.pid != old, 30,
               f"restart {count} of {child.service}")
    new = child.process.pid
    assert is_alive(new) and not is_alive(old)
    return new


def after(child: Child, line: str) -> str:
    """What the child's log says after the last `line`."""
    return child.log.read_text(errors="replace").rsplit(line, 1)[-1]


def test_a_killed_service_is_restarted_with_backoff_and_said(
        supervisor: Supervisor, said: list[str]) -> None:
    [child] = supervisor.start()
    pids = [child.process.pid, kill_and_wait_for_restart(child, 1)]
    first = KILLED.format(delay="0.5", count=1)
    wait_until(lambda: first in child.log.read_text(errors="replace"), 10, "the log's line")
    pids.append(kill_and_wait_for_restart(child, 2))  # a quick second exit: the wait doubles
    assert said == [first, KILLED.format(delay="1.0", count=2)]
    assert child.log.read_text(errors="replace").count("restarting in") == 2
    wait_until(lambda: "payment: running" in after(child, said[-1]), 60, "payment serving")

    supervisor.stop()
    assert not any(is_alive(pid) for pid in pids)
    assert child.process.returncode == 0 and "payment: stopped" in after(child, said[-1])
    assert not any(t.name == "supervisor" for t in threading.enumerate())  # nothing restarts
    assert (child.restarts, child.process.pid) == (2, pids[-1])


@pytest.mark.parametrize("supervisor", [Backoff(first=600.0, cap=600.0)], indirect=True)
def test_stop_cancels_a_pending_restart(supervisor: Supervisor, said: list[str]) -> None:
    [child] = supervisor.start()
    killed = child.process.pid
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: said, 30, "the restart to be scheduled")
    assert said == [KILLED.format(delay="600.0", count=1)]

    supervisor.stop()
    assert (child.restarts, child.process.pid) == (0, killed)
    assert not any(t.name == "supervisor" for t in threading.enumerate())


def test_a_paused_service_is_not_restarted_and_a_stop_still_ends_it_cleanly(
        supervisor: Supervisor, said: list[str]) -> None:
    [child] = supervisor.start()
    wait_until(lambda: "payment: running" in child.log.read_text(errors="replace"), 60,
               "payment serving")
    paused = child.process.pid
    supervisor.pause("payment")
    wait_until(lambda: stopped(paused), 10, "payment stopped by SIGSTOP")
    supervisor.stop(timeout=20)  # SIGTERM alone waits on a stopped process: it needs SIGCONT
    assert said == [] and child.restarts == 0
    assert child.process.returncode == 0 and "payment: stopped" in child.log.read_text()


def test_the_state_file_names_every_child_and_follows_a_restart(
        env: Env, tmp_path: Path, said: list[str]) -> None:
    state = tmp_path / "up.json"
    running = Supervisor(["payment"], tmp_path / "logs", environ=child_environ(env),
                         on_restart=said.append, state_file=state)
    try:
        [child] = running.start()
        first = json.loads(state.read_text())
        assert first["pid"] == os.getpid()
        assert first["services"]["payment"] == {"pid": child.process.pid, "restarts": 0,
                                                "log": str(child.log)}
        new = kill_and_wait_for_restart(child, 1)
        wait_until(lambda: json.loads(state.read_text())["services"]["payment"]["pid"] == new,
                   10, "the state file to name the new pid")
    finally:
        running.stop()
    assert not state.exists()


def children_of(pid: int) -> dict[str, int]:
    """`service → pid` of the `orderflow run SERVICE` children of process `pid` (of any of
    its threads: a restarted child is the watcher thread's)."""
    listed = [p for task in Path(f"/proc/{pid}/task").glob("*/children") for p in _read(task)]
    found: dict[str, int] = {}
    for child in map(int, listed):
        try:
            found[Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[-2].decode()] = child
        except (OSError, IndexError):
            continue  # gone meanwhile
    return found


def _read(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []  # a thread that ended meanwhile


def both_children(pid: int, old_payment: int = 0) -> dict[str, int] | None:
    """Both children of `orderflow run payment projector`, once payment is not `old_payment`."""
    found = children_of(pid)
    return found if len(found) == 2 and found.get("payment", old_payment) != old_payment else None


def test_run_of_several_services_restarts_one_and_says_so_on_stderr(
        env: Env, tmp_path: Path) -> None:
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        run = subprocess.Popen([CLI, "run", "payment", "projector"], env=child_environ(env),
                               stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    try:
        before = wait_until(lambda: both_children(run.pid), 60, "both children")
        os.kill(before["payment"], signal.SIGKILL)
        wait_until(lambda: KILLED.format(delay="0.5", count=1) in err.read_text(), 30,
                   "the restart line on stderr")
        after = wait_until(lambda: both_children(run.pid, before["payment"]), 30, "a new pid")
    finally:
        run.send_signal(signal.SIGTERM)
        code = run.wait(60)
    assert code == 0 and "stopped" in out.read_text()
    assert not any(is_alive(pid) for pid in (*before.values(), *after.values()))
    assert "restart 1" in (env.settings.data_dir / "logs" / "payment.log").read_text()

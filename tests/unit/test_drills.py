"""The stage drills refuse before they act, and a pause always ends in SIGCONT.

No processes are signalled: the state files are written here, the live pid is this
test's own (only ever checked, never signalled) and the signal sender is a recorder.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from adapters.settings import Settings
from cli.main import run
from domain.errors import OrderflowError
from experiments import drills
from experiments.drills import NoRunningUp, NotATopic, NotUnderUp
from services.bootstrap import SERVICES, bootstrap

DEAD = 2**31 - 1  # above any pid_max: no process has it
LIVE = os.getpid()


def write_state(data_dir: Path, state: Any) -> Path:
    """A state file as the supervisor writes it (services/supervisor.py)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "up.json"
    path.write_text(json.dumps(state))
    return path


def state_of(supervisor: int, **pids: int) -> dict[str, Any]:
    return {"pid": supervisor, "services": {
        name: {"pid": pid, "restarts": 2, "log": f"/logs/{name}.log"}
        for name, pid in pids.items()}}


class Sent:
    """A signal sender that records, and can fail on one signal."""

    def __init__(self, gone_on: int | None = None) -> None:
        self.signals: list[tuple[int, int]] = []
        self.gone_on = gone_on

    def __call__(self, pid: int, signum: int) -> None:
        if signum == self.gone_on:
            raise ProcessLookupError(pid)
        self.signals.append((pid, signum))


def test_every_refusal_is_an_orderflow_error_for_the_cli_to_show_as_one_line() -> None:
    assert all(issubclass(e, OrderflowError) for e in (NoRunningUp, NotUnderUp, NotATopic))


def test_no_state_file_is_no_running_up(tmp_path: Path) -> None:
    with pytest.raises(NoRunningUp, match=r"no `orderflow up` runs on data dir .*start one"):
        drills.running_up(tmp_path)


def test_a_state_file_whose_supervisor_is_gone_is_no_running_up(tmp_path: Path) -> None:
    write_state(tmp_path, state_of(DEAD, payment=LIVE))
    with pytest.raises(NoRunningUp, match=rf"pid {DEAD}\) is no longer running"):
        drills.running_up(tmp_path)


@pytest.mark.parametrize("state", [
    "not json", [], {"pid": LIVE}, state_of(LIVE, payment=-1), state_of(LIVE, payment=0),
    state_of(0, payment=LIVE), state_of(True, payment=LIVE),
    {"pid": LIVE, "services": {"payment": {"pid": "12"}}}])
def test_a_state_file_that_is_not_ups_is_refused_and_no_pid_below_2_is_taken(
        tmp_path: Path, state: Any) -> None:
    path = tmp_path / "up.json"
    path.write_text(state if isinstance(state, str) else json.dumps(state))
    with pytest.raises(NoRunningUp, match="cannot be read"):
        drills.running_up(tmp_path)


def test_a_running_up_names_its_services(tmp_path: Path) -> None:
    write_state(tmp_path, state_of(LIVE, payment=LIVE, projector=LIVE))
    up = drills.running_up(tmp_path)
    assert up.pid == LIVE and list(up.services) == ["payment", "projector"]
    assert up.service("payment") == drills.Supervised("payment", LIVE, 2,
                                                      Path("/logs/payment.log"))


def test_a_service_the_up_does_not_run_is_refused_naming_those_it_does(
        tmp_path: Path) -> None:
    write_state(tmp_path, state_of(LIVE, payment=LIVE, projector=LIVE))
    with pytest.raises(NotUnderUp, match=r"'inventory' is not a service .*: payment, projector"):
        drills.running_up(tmp_path).service("inventory")


def test_a_service_being_restarted_is_refused(tmp_path: Path) -> None:
    write_state(tmp_path, state_of(LIVE, payment=DEAD))
    with pytest.raises(NotUnderUp, match=rf"payment \(pid {DEAD}\) has exited and `up` is"):
        drills.running_up(tmp_path).service("payment")


def test_kill_sends_sigkill_and_a_gone_process_is_a_refusal() -> None:
    sent = Sent()
    drills.kill(4242, send=sent)
    assert sent.signals == [(4242, signal.SIGKILL)]
    with pytest.raises(NotUnderUp, match="pid 4242 has exited meanwhile"):
        drills.kill(4242, send=Sent(gone_on=signal.SIGKILL))


def test_a_pause_interrupted_by_ctrl_c_still_resumes_the_process() -> None:
    sent = Sent()
    with pytest.raises(KeyboardInterrupt), drills.paused(4242, send=sent):
        assert sent.signals == [(4242, signal.SIGSTOP)]
        raise KeyboardInterrupt
    assert sent.signals == [(4242, signal.SIGSTOP), (4242, signal.SIGCONT)]


def test_a_pause_of_a_process_killed_meanwhile_ends_quietly() -> None:
    sent = Sent(gone_on=signal.SIGCONT)
    with drills.paused(4242, send=sent):
        pass
    assert sent.signals == [(4242, signal.SIGSTOP)]


def test_a_process_gone_before_the_pause_is_refused_and_not_resumed() -> None:
    sent = Sent(gone_on=signal.SIGSTOP)
    with pytest.raises(NotUnderUp), drills.paused(4242, send=sent):
        pytest.fail("the pause ran without its SIGSTOP")
    assert sent.signals == []


@pytest.mark.parametrize(("base", "name"), [("orders", "t1.orders"),
                                            ("inventory.commands", "t1.inventory.commands"),
                                            ("dead-letters", "t1.dead-letters")])
def test_a_topic_is_named_with_the_prefix(base: str, name: str) -> None:
    assert drills.topic_of(base, "t1.") == name


@pytest.mark.parametrize("base", ["nosuch", "orders.dlq", "t1.orders", ""])
def test_a_topic_the_run_does_not_have_is_refused_listing_those_it_has(base: str) -> None:
    with pytest.raises(NotATopic, match=r"choose from orders, inventory, .*fraud\.commands"
                                        r" \(names without the prefix 't1\.'\)"):
        drills.topic_of(base, "t1.")


@pytest.mark.parametrize(("topic", "expected"), [
    ("t1.orders", ["inventory", "payment", "shipping", "orchestrator", "projector"]),
    ("t1.orders.commands", ["order", "projector"]),
    ("t1.sagas", ["projector"])])
def test_the_readers_of_a_topic_come_from_the_message_tables(
        topic: str, expected: list[str]) -> None:
    app = bootstrap(Settings(topic_prefix="t1."))
    assert drills.readers(app, topic, SERVICES) == expected
    assert drills.readers(app, topic, ["order", "payment"]) == \
        [s for s in expected if s in ("order", "payment")]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.mark.parametrize("argv", [["kill", "payment"], ["pause", "payment", "1"],
                                  ["pause-broker", "1"], ["poison", "orders"]])
def test_the_cli_without_a_running_up_says_one_line_exits_1_and_makes_nothing(
        argv: list[str], cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["drill", *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "start one with `orderflow up`" in err
    assert not cli_env.exists()


@pytest.mark.parametrize(("argv", "needle"), [
    (["kill", "nosuch"], "'nosuch' is not a service of the running `orderflow up`"),
    (["poison", "nosuch"], "'nosuch' is not a topic of this run")])
def test_the_cli_refuses_an_unknown_service_or_topic_with_one_line(
        argv: list[str], needle: str, cli_env: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    state = write_state(cli_env, state_of(LIVE, payment=DEAD))
    assert run(["drill", *argv]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and needle in err
    assert sorted(p.name for p in cli_env.iterdir()) == [state.name]

"""Scenario 3: the broker (a dedicated one, never the session's) is SIGKILLed and
restarted, and paused with SIGSTOP/SIGCONT, while orders of both flows flow."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path as FilePath

import pytest

from adapters.kafka.admin import PortState, probe
from adapters.kafka.broker import LocalBroker
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, Placer, seeded, settle
from tests.faults.scale import scale
from tests.integration.test_exactly_once import Broker, mix
from tests.support import dedicated_cluster, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]


@pytest.fixture
def dedicated(tmp_path: FilePath) -> Iterator[LocalBroker]:
    """This module's broker: one node, or in the secured pass a cluster of three, whose
    node 1 is the one the faults hit."""
    broker = dedicated_cluster(tmp_path / "broker")
    broker.start()
    yield broker
    pid = broker.nodes[0].live_pid()
    if pid is not None:
        os.kill(pid, signal.SIGCONT)  # a paused broker cannot stop
    broker.stop()


def kill_and_restart(broker: LocalBroker) -> None:
    node = broker.nodes[0]
    node.kill()
    wait_until(lambda: probe(node.address, 0.5) is PortState.FREE, 30, "the broker to die")
    broker.start()


def pause(broker: LocalBroker, seconds: float) -> None:
    pid = broker.nodes[0].live_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)  # the deliberate fault: the broker answers nobody meanwhile
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.fixture
def seeded_env(dedicated: LocalBroker, make_env: MakeEnv,
               system_store: str) -> tuple[Env, dict[str, int]]:
    """This module's system runs on the dedicated broker."""
    return seeded(make_env, dedicated.environment(), system_store)


def test_broker_killed_and_paused(dedicated: LocalBroker, env: Env, app: Orderflow,
                                  fleet: Fleet, added: dict[str, int],
                                  figures: Figures) -> None:
    size, chance = scale(), random.Random()
    faults = ["kill"] * size.broker_kills + ["pause"] * size.broker_pauses
    chance.shuffle(faults)
    window = len(faults) * (sum(size.kill_interval) / 2 + size.pause_seconds)
    fleet.start(ALL)
    fleet.wait_up()
    placer = Placer(env, mix(size.broker_orders), burst=max(1, size.broker_orders // 40),
                    pause=window / 40)
    placer.start()
    for fault in faults:
        time.sleep(chance.uniform(*size.kill_interval))  # the deliberate random interval
        if fault == "kill":
            kill_and_restart(dedicated)
        else:
            pause(dedicated, size.pause_seconds)
    placed = placer.result(size.settle_timeout)
    broker = Broker(dedicated.admin())
    settle(app, broker, placed, fleet, size.settle_timeout)
    check_everything(app, broker, placed, added, figures)
    figures.record(broker_kills=size.broker_kills, broker_pauses=size.broker_pauses,
                   pause_seconds=size.pause_seconds, service_restarts=fleet.restarts,
                   rebalances=fleet.rebalances())

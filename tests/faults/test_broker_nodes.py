"""Scenario 13: broker nodes of a replicated three-node cluster (a dedicated one) fail
while orders of both flows flow: one node at a time is SIGKILLed and restarted, then
every node is restarted in turn (a rolling restart), then the active controller is
SIGKILLed. Topics have three replicas and `min.insync.replicas` 2, so one node down
never stops a write; the checks are the usual ones, and the figures say how long the
system stalled."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path as FilePath

import pytest

from adapters.kafka.admin import under_replicated
from adapters.kafka.broker import LocalBroker, LocalNode
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.faults.checks import Figures, check_everything, longest_stall
from tests.faults.harness import ALL, Fleet, Placer, seeded, settle
from tests.faults.scale import scale
from tests.integration.test_exactly_once import Broker, mix
from tests.support import dedicated_cluster, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]
if scale().name == "small":  # CI's size: two and a half minutes, so once, on SQLite;
    pytestmark.append(pytest.mark.store("sqlite"))  # `make faults` runs both stores
NODES = 3
REJOIN = 120.0  # seconds a restarted node has to catch up with every partition


@pytest.fixture
def cluster(tmp_path: FilePath) -> Iterator[LocalBroker]:
    nodes = dedicated_cluster(tmp_path / "cluster", NODES)  # secured in the secured pass
    nodes.start()
    yield nodes
    nodes.stop()


@pytest.fixture
def seeded_env(cluster: LocalBroker, make_env: MakeEnv,
               system_store: str) -> tuple[Env, dict[str, int]]:
    """This module's system runs on the dedicated cluster."""
    return seeded(make_env, cluster.environment(), system_store)


def back_in_sync(cluster: LocalBroker) -> None:
    """`start` brings back the node that is down; then wait until it holds every
    partition again, as an operator waits between two nodes of a rolling restart."""
    cluster.start()
    wait_until(lambda: under_replicated(cluster.admin()) == 0, REJOIN,
               "every partition to be fully replicated again")


def crash(cluster: LocalBroker, node: LocalNode) -> None:
    node.kill()
    assert cluster.status().state == "degraded"
    back_in_sync(cluster)


def restart(cluster: LocalBroker, node: LocalNode) -> None:
    assert node.stop() == "stopped"  # a controlled shutdown moves its leaders away first
    back_in_sync(cluster)


def test_broker_nodes_killed_restarted_and_the_controller_killed(
        cluster: LocalBroker, env: Env, app: Orderflow, fleet: Fleet,
        added: dict[str, int], figures: Figures) -> None:
    size, chance = scale(), random.Random()
    fleet.start(ALL)
    fleet.wait_up()
    faults = 2 + size.node_kills + NODES  # each about 15 s on a busy machine
    placer = Placer(env, mix(size.node_orders), burst=max(1, size.node_orders // 40),
                    pause=faults * 15.0 / 40)
    placer.start()
    for _ in range(size.node_kills):
        time.sleep(chance.uniform(*size.kill_interval))  # the deliberate random interval
        crash(cluster, chance.choice(cluster.nodes))
    for node in cluster.nodes:
        restart(cluster, node)
    controller = cluster.active_controller()
    assert controller is not None, "no node recorded a quorum leader"
    crash(cluster, cluster.node(controller))
    placed = placer.result(size.settle_timeout)
    broker = Broker(cluster.admin())
    settle(app, broker, placed, fleet, size.settle_timeout)
    check_everything(app, broker, placed, added, figures)
    figures.record(nodes=NODES, node_kills=size.node_kills, rolling_restarts=1,
                   controller_killed=controller, longest_stall_s=longest_stall(app, placed),
                   service_restarts=fleet.restarts, rebalances=fleet.rebalances())

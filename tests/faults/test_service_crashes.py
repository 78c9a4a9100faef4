"""Scenario 1: orders of every path in both flows while random services (orchestrator
and projector included) are SIGKILLed at random 1–5 s intervals and restarted."""

from __future__ import annotations

import random
import time

import pytest

from services.bootstrap import Orderflow
from tests.conftest import Env
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, Placer, settle
from tests.faults.scale import scale
from tests.integration.test_exactly_once import Broker, mix

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]


def test_services_sigkilled_at_random(env: Env, app: Orderflow, fleet: Fleet, broker: Broker,
                                      added: dict[str, int], figures: Figures) -> None:
    size, chance = scale(), random.Random()
    fleet.start(ALL)
    window = size.crash_kills * sum(size.kill_interval) / 2  # orders keep coming meanwhile
    placer = Placer(env, mix(size.crash_orders), burst=max(1, size.crash_orders // 40),
                    pause=window / 40)
    placer.start()
    victims = []
    for _ in range(size.crash_kills):
        time.sleep(chance.uniform(*size.kill_interval))  # the deliberate random interval
        victim = chance.choice(ALL)
        fleet.kill(victim)
        fleet.start([victim])
        victims.append(victim)
    placed = placer.result(size.settle_timeout)
    settle(app, broker, placed, fleet, size.settle_timeout)
    check_everything(app, broker, placed, added, figures)
    figures.record(kills=fleet.kills, killed=sorted(set(victims)), restarts=len(victims),
                   rebalances=fleet.rebalances())

"""Scenario 5: two instances of every service in one consumer group (two relays on one
outbox, too), one instance joining or leaving every few seconds while orders flow."""

from __future__ import annotations

import itertools
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


def test_instances_join_and_leave(env: Env, app: Orderflow, fleet: Fleet, broker: Broker,
                                  added: dict[str, int], figures: Figures) -> None:
    size, chance, serial = scale(), random.Random(), itertools.count(3)
    fleet.start([*ALL, *(f"{s}#2" for s in ALL)])
    window = size.scale_moves * sum(size.scale_interval) / 2
    placer = Placer(env, mix(size.scale_orders), burst=max(1, size.scale_orders // 40),
                    pause=window / 40)
    placer.start()
    joins = leaves = 0
    for move in range(size.scale_moves):
        time.sleep(chance.uniform(*size.scale_interval))  # the deliberate random interval
        if move % 2 == 0:  # one leaves (SIGTERM: it finishes its batch and leaves the group)
            crowded = [n for n in fleet.processes
                       if sum(Fleet.service_of(m) == Fleet.service_of(n)
                              for m in fleet.processes) > 1]
            leaver = chance.choice(crowded)
            assert fleet.stop([leaver]) == {leaver: 0}
            leaves += 1
        else:  # one joins
            fleet.start([f"{chance.choice(ALL)}#{next(serial)}"])
            joins += 1
    placed = placer.result(size.settle_timeout)
    settle(app, broker, placed, fleet, size.settle_timeout)
    check_everything(app, broker, placed, added, figures)
    figures.record(instances=len(fleet.processes), joins=joins, leaves=leaves,
                   rebalances=fleet.rebalances())

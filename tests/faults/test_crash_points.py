"""Scenario 2: a process exits hard (137) at each critical point while orders flow.

The point is armed in every process at once (ORDERFLOW_FAULT=<point>:<n>); whatever
dies is restarted, re-armed a bounded number of times, until every order has ended.
"""

from __future__ import annotations

import pytest

from services.bootstrap import Orderflow
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, settle
from tests.faults.scale import scale
from tests.integration.test_exactly_once import Broker, mix, place_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]
POINTS = ("relay.before_produce", "relay.after_produce", "consumer.mid_batch", "compensation")


@pytest.mark.parametrize("point", POINTS)
def test_crash_point(app: Orderflow, fleet: Fleet, broker: Broker, added: dict[str, int],
                     figures: Figures, point: str) -> None:
    size = scale()
    armed = {"ORDERFLOW_FAULT": f"{point}:2"}

    def rearm(instance: str) -> dict[str, str]:
        return armed if fleet.crashes[instance] < size.point_rearms else {}

    fleet.start(ALL, armed)
    placed = place_all(app, mix(size.point_orders))
    settle(app, broker, placed, fleet, size.settle_timeout, rearm)
    crashed = sum(fleet.crashes.values())
    assert crashed > 0, f"no process reached {point}"
    for instance in fleet.crashes:
        assert f"fault injected at {point}" in fleet.log(instance), instance
    check_everything(app, broker, placed, added, figures)
    figures.record(point=point, crashes=crashed, crashed=sorted(fleet.crashes),
                   restarts=fleet.restarts)

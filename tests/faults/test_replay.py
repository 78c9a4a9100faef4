"""Scenario 4: after a run, every consumer group (the projector's too) starts over.

Kafka's committed offsets are deleted and the stored positions forgotten, so every
record on every input topic is delivered again. Processed ids (and the projector's own
ledger) must turn each copy into a no-op: no new event, no outbox row, no command, and
the read models stay byte-identical.
"""

from __future__ import annotations

import pytest

from adapters.sql.tables import consumer_positions
from services.bootstrap import Orderflow
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, settle
from tests.faults.scale import scale
from tests.integration.test_exactly_once import (
    SERVICES,
    Broker,
    input_topics,
    mix,
    place_all,
    snapshot,
)
from tests.unit.test_projections_support import dump

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]


def test_every_group_replays_from_the_start(app: Orderflow, fleet: Fleet, broker: Broker,
                                            added: dict[str, int], figures: Figures) -> None:
    size = scale()
    fleet.start(ALL)
    placed = place_all(app, mix(size.replay_orders))
    settle(app, broker, placed, fleet, size.settle_timeout)
    check_everything(app, broker, placed, added, figures)
    assert fleet.stop() == dict.fromkeys(ALL, 0)
    before = (snapshot(app, SERVICES), dump(app.store("projector")))
    topics = input_topics(app, ALL)
    ends = broker.high_watermarks({t for names in topics.values() for t in names})
    redelivered = sum(end for (topic, _), end in ends.items()
                      for names in topics.values() if topic in names)

    # when every group forgets where it was, in Kafka and in its store
    broker.delete_groups([app.group(service) for service in ALL])
    for service in ALL:
        with app.store(service).begin() as db:
            db.execute(consumer_positions.delete())
    fleet.start(ALL)
    settle(app, broker, placed, fleet, size.settle_timeout)  # idle: every group caught up

    # then nothing was written again, anywhere
    assert (snapshot(app, SERVICES), dump(app.store("projector"))) == before
    check_everything(app, broker, placed, added, figures)
    figures.record(groups=len(ALL), records_redelivered=redelivered)

"""Scenario 10: the broker (a dedicated one) is away while work waits for it.

Every service runs when poison lands on every input topic and the broker is SIGKILLed
right after: what the consumers had fetched they dead-letter into their own outboxes,
the rest waits on the broker's disk. While it is away, orders are placed (the CLI writes
only to the order store), so the relays' backlog grows. When the broker is back every
outbox drains, every poison record is dead-lettered exactly once per group that reads
it, and every order ends on its path: an outage is not poison, and it loses nothing.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import sqlalchemy as sa

from adapters.kafka.admin import PortState, probe
from adapters.kafka.broker import LocalBroker
from adapters.kafka.topics import COMMAND_TOPICS, EVENT_TOPICS
from adapters.sql.engine import STORES
from adapters.sql.tables import outbox
from services.bootstrap import Orderflow
from tests.faults import test_broker_faults as on_its_own
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, settle
from tests.faults.scale import scale
from tests.faults.test_poison import decode_poisons, produce, unknown_order
from tests.integration.test_dead_letters import where
from tests.integration.test_exactly_once import Broker, mix, place_all, unpublished
from tests.support import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]
dedicated, seeded_env = on_its_own.dedicated, on_its_own.seeded_env  # scenario 3's broker fixtures
KINDS = ("non-utf8", "invalid-json", "unknown-type", "missing-field", "tombstone")
LETTERS = outbox.c.topic.like("%.dlq")


def poison(app: Orderflow, broker: Broker,
           copies: int) -> tuple[list[tuple[str, int, bytes | None]], Counter[str]]:
    """Records no group can use on every input topic, and the dead letters they make:
    one per record and group that reads its topic (test_poison's count)."""
    kinds = decode_poisons()
    records, expected = [], Counter[str]()
    for base in (*EVENT_TOPICS, *COMMAND_TOPICS):
        topic = app.topic(base)
        groups = sum(topic in app.plan(s).topics for s in ALL)
        partitions = broker.partitions(topic)
        for i, kind in enumerate(KINDS * copies):
            records.append((topic, partitions[i % len(partitions)], kinds[kind]))
            expected[topic + ".dlq"] += groups
        if (value := unknown_order(base)) is not None:
            records.append((topic, partitions[-1], value))
            expected[topic + ".dlq"] += 1  # the order service's group only
    return records, expected


def kill(broker: LocalBroker) -> None:
    """Every node: the whole cluster away."""
    for node in broker.nodes:
        node.kill()
    wait_until(lambda: all(probe(n.address, 0.5) is PortState.FREE for n in broker.nodes), 30,
               "the broker to die")


def letters(app: Orderflow, *where: sa.ColumnElement[bool]) -> int:
    """Dead letters written to the outboxes (of every store) so far."""
    query = sa.select(sa.func.count()).select_from(outbox).where(LETTERS, *where)
    total = 0
    for store in STORES:
        with app.store(store).connect() as connection:
            total += int(connection.execute(query).scalar_one())
    return total


def test_broker_away_while_work_waits(dedicated: LocalBroker, app: Orderflow, fleet: Fleet,
                                      added: dict[str, int], figures: Figures) -> None:
    size, broker = scale(), Broker(dedicated.admin())
    records, expected = poison(app, broker, size.away_poison)
    fleet.start(ALL)
    fleet.wait_up()
    wait_until(lambda: all("caught up with the backlog" in fleet.log(n) for n in ALL), 90,
               "every consumer in its group")
    produce(broker.bootstrap, records)
    kill(dedicated)
    away = time.monotonic()
    placed = place_all(app, mix(size.away_orders))
    placing = time.monotonic() - away
    time.sleep(max(0.0, size.away_seconds - (time.monotonic() - away)))  # the deliberate fault
    backlog, waiting = unpublished(app, STORES), letters(app, outbox.c.published_at.is_(None))
    published = letters(app, outbox.c.published_at.is_not(None))
    down = time.monotonic() - away
    dedicated.start()
    back = time.monotonic()
    outage = back - away  # down, then starting until it answers
    wait_until(lambda: unpublished(app, STORES) == 0, size.settle_timeout, "the backlog to drain")
    drained = time.monotonic() - back
    assert backlog >= size.away_backlog, f"only {backlog} outbox rows waited for the broker"
    assert published < sum(expected.values()), "no poison record waited for the broker"
    assert waiting > 0, "no dead letter waited in an outbox: nothing was fetched before the kill"

    settle(app, broker, placed, fleet, size.settle_timeout)
    dead = [m for name in expected for m in broker.read_all(name)]
    twice = {w: n for w, n in Counter(where(m) for m in dead).items() if n > 1}
    assert not twice, f"dead letters published more than once: {list(twice.items())[:5]}"
    check_everything(app, broker, placed, added, figures, dlq=expected)
    figures.record(down_seconds=round(down, 1), outage_seconds=round(outage, 1),
                   placing_seconds=round(placing, 1),
                   backlog_peak=backlog,
                   poison_records=len(records), dead_letters=len(dead),
                   dead_letters_waiting_in_outbox=waiting, dead_letters_before_outage=published,
                   drain_seconds=round(drained, 1), rebalances=fleet.rebalances())

"""Scenario 12: bounded storage under load.

Every process runs with a retention of seconds (ORDERFLOW_RETENTION_HOURS), so its pruner
deletes the processed ids and published outbox rows older than that, while thousands of
orders of both flows run through. While they run no row outlives two windows and a bit
(the pruner runs once a window); a window after the system went idle nothing is left;
and nothing was applied twice, so no pruned id was still needed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.kafka.topics import topic_specs
from adapters.sql.engine import STORES
from adapters.sql.tables import outbox, processed_messages
from services.bootstrap import Orderflow
from tests.conftest import Env
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, Placer, settle
from tests.faults.scale import scale
from tests.integration.test_exactly_once import Broker, mix, opened
from tests.support import wait_until

# Three times the others' orders: on 2 busy cores a full-size run takes 10-15 minutes.
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(2 * scale().test_timeout)]
SLACK = 10.0  # seconds: late ticks of a busy machine
STAMPED = {"processed_ids": (processed_messages, processed_messages.c.processed_at),
           "published_rows": (outbox, outbox.c.published_at)}


@dataclass(frozen=True)
class Held:
    """What the prunable tables hold at one moment."""

    rows: dict[tuple[str, str], int]  # (table, store) -> rows
    oldest: dict[str, float]  # table -> age in seconds of its oldest row, in any store

    def total(self, table: str) -> int:
        return sum(n for (name, _store), n in self.rows.items() if name == table)


def held(app: Orderflow) -> Held:
    now, rows, oldest = datetime.now(UTC), {}, dict.fromkeys(STAMPED, 0.0)
    for name, (table, stamp) in STAMPED.items():
        query = sa.select(sa.func.count(), sa.func.min(stamp)).select_from(table)
        for store in STORES:
            with app.store(store).connect() as connection:
                count, first = connection.execute(query.where(stamp.is_not(None))).one()
            rows[(name, store)] = int(count)
            if first is not None:
                age = (now - datetime.fromisoformat(first)).total_seconds()
                oldest[name] = max(oldest[name], age)
    return Held(rows, oldest)


class Sampler(threading.Thread):
    """Samples the prunable tables of every store once a second until stopped."""

    def __init__(self, env: Env) -> None:
        super().__init__(daemon=True)
        self.env, self.samples, self.done = env, list[Held](), threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with opened(self.env) as app:
                while not self.done.wait(1.0):
                    self.samples.append(held(app))
        except BaseException as exc:  # reported by result()
            self.error = exc

    def result(self) -> list[Held]:
        self.done.set()
        self.join(30)
        if self.error is not None:
            raise self.error
        return self.samples


def prunes_seen(samples: list[Held]) -> int:
    """Times a table of some store shrank between two samples (a prune, at least)."""
    return sum(after.rows[key] < before.rows[key]
               for before, after in itertools.pairwise(samples)
               for key in before.rows)


def through(app: Orderflow, broker: Broker) -> dict[str, int]:
    """Rows that went through each table: every record on the run's topics was an outbox
    row, and every record a group read made one processed id at most (none when ignored)."""
    read = Counter(t for s in ALL for t in app.plan(s).topics)
    ends = broker.high_watermarks(s.name for s in topic_specs(app.settings.topic_prefix))
    return {"published_rows": sum(ends.values()),
            "processed_ids": sum(n * read[t] for (t, _p), n in ends.items())}


def test_retention_keeps_the_tables_bounded(env: Env, app: Orderflow, fleet: Fleet,
                                            broker: Broker, added: dict[str, int],
                                            figures: Figures) -> None:
    size = scale()
    window = size.retention_hours * 3600
    fleet.start(ALL, {"ORDERFLOW_RETENTION_HOURS": str(size.retention_hours)})
    sampler = Sampler(env)
    sampler.start()
    placer = Placer(env, mix(size.retention_orders), burst=max(1, size.retention_orders // 100),
                    pause=size.retention_window / 100)
    placer.start()
    began = time.monotonic()
    placed = placer.result(2 * size.test_timeout)  # as fast as the system takes them
    settle(app, broker, placed, fleet, size.settle_timeout)
    ran = time.monotonic() - began
    samples = sampler.result()
    wait_until(lambda: not any(held(app).rows.values()), 3 * window + 30,
               "every processed id and published row to be pruned")
    emptied = time.monotonic() - began - ran
    check_everything(app, broker, placed, added, figures)

    oldest = {name: max(s.oldest[name] for s in samples) for name in STAMPED}
    assert all(age <= 2 * window + SLACK for age in oldest.values()), oldest
    totals = through(app, broker)
    tables = {name: {"through": totals[name], "left": 0,
                     "peak": max(s.total(name) for s in samples),
                     "oldest_seconds": round(oldest[name], 1)} for name in STAMPED}
    figures.record(retention_seconds=window, run_seconds=round(ran, 1),
                   emptied_seconds=round(emptied, 1), tables=tables,
                   prunes_seen=prunes_seen(samples), samples=len(samples),
                   rebalances=fleet.rebalances())

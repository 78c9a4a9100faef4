"""The one checker every fault scenario ends with, and the figures it records.

After a scenario: every order terminal, none lost; no effect twice (events tables and
read models); stock and credit conserved; read models equal to a fold of the event
stores; no outbox row waiting; the DLQ topics hold exactly the injected poison.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.settings import PROJECT_ROOT
from adapters.sql.engine import STORES
from adapters.sql.tables import events
from domain.order import Order
from projections.tables import credit_view, order_view, stock_view
from services.bootstrap import Orderflow
from tests.integration.test_exactly_once import (
    CREDIT,
    Broker,
    Path,
    _reserved_lines,
    assert_compensated_once,
    dead_letters,
    event_counts,
    unpublished,
)

FIGURES = PROJECT_ROOT / ".orderflow" / "fault-figures.jsonl"
ONCE = ("inventory.stock-reserved.v1", "inventory.stock-released.v1", "payment.authorized.v1",
        "payment.voided.v1", "payment.cancelled.v1", "payment.credit-held.v1",
        "shipping.shipment-scheduled.v1", "shipping.shipment-cancelled.v1")
PLACED = "order.placed.v2"
TERMINAL = ("order.confirmed.v1", "order.rejected.v1", "order.expired.v1")
TIMEOUT = ("rejected", "timeout")


@dataclass
class Figures:
    """What one scenario did and what survived: printed and appended to FIGURES."""

    scenario: str
    store: str
    scale: str
    kafka: str = "plain"  # ORDERFLOW_FAULT_KAFKA: one plaintext node, or secure-3
    started: float = field(default_factory=time.monotonic)
    facts: dict[str, Any] = field(default_factory=dict)

    def record(self, **facts: Any) -> None:
        self.facts.update(facts)

    def publish(self) -> dict[str, Any]:
        line = {"scenario": self.scenario, "store": self.store, "scale": self.scale,
                "kafka": self.kafka,
                **self.facts, "seconds": round(time.monotonic() - self.started, 1)}
        print(f"\nFAULT FIGURES {json.dumps(line)}")
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        with FIGURES.open("a") as out:
            out.write(json.dumps(line) + "\n")
        return line


def check_everything(app: Orderflow, broker: Broker, placed: Mapping[str, Path],
                     added: Mapping[str, int], figures: Figures,
                     dlq: Mapping[str, int] | None = None, timeouts_allowed: bool = False) -> None:
    """Every invariant of the system after a scenario (run once everything is idle)."""
    orders = {o: app.orders().get(o) for o in placed}
    lost = sorted(o for o, order in orders.items() if order is None or not order.is_terminal)
    assert not lost, f"{len(lost)} orders lost or not terminal: {lost[:5]}"
    found = {o: (order.status.value, order.reason) for o, order in orders.items()
             if order is not None}
    timeouts = sum(1 for o, got in found.items() if got == TIMEOUT != placed[o].outcome)
    wrong = {o: (got, placed[o].outcome) for o, got in found.items()
             if got != placed[o].outcome and not (timeouts_allowed and got == TIMEOUT)}
    assert not wrong, f"{len(wrong)} orders ended off their path: {list(wrong.items())[:5]}"
    duplicates = _duplicated_effects(app, placed)
    assert_compensated_once(app, {o: status for o, (status, _) in found.items()})
    _conserved(app, placed, found, added)
    read_models = _read_models_match(app, orders, added)
    assert unpublished_rows(app) == 0, "an outbox row was never published"
    letters = dead_letters(broker, app)
    assert letters == dict(dlq or {}), f"DLQ {letters} != injected {dict(dlq or {})}"
    figures.record(orders=len(placed), flows=dict(Counter(_flows(app, placed))),
                   confirmed=sum(1 for s, _ in found.values() if s == "confirmed"),
                   timeouts=timeouts, lost=0, duplicates=duplicates,
                   dlq=sum(letters.values()), read_model_rows=read_models)


def longest_stall(app: Orderflow, placed: Iterable[str]) -> float:
    """Seconds of the longest stretch in which no order reached its final status, from the
    first order placed to the last one decided (the services' clocks stamp both)."""
    wanted, kinds = set(placed), (PLACED, *TERMINAL)
    query = sa.select(events.c.correlation_id, events.c.type, events.c.occurred_at)
    with app.store("order").connect() as connection:
        rows = [r for r in connection.execute(query.where(events.c.type.in_(kinds)))
                if r.correlation_id in wanted]
    moments = sorted(datetime.fromisoformat(r.occurred_at) for r in rows if r.type != PLACED)
    moments.insert(0, min(datetime.fromisoformat(r.occurred_at) for r in rows if r.type == PLACED))
    return round(max((b - a).total_seconds() for a, b in itertools.pairwise(moments)), 1)


def unpublished_rows(app: Orderflow) -> int:
    return unpublished(app, STORES)  # the projector's store holds its dead letters


def _flows(app: Orderflow, placed: Iterable[str]) -> Iterable[str]:
    for order_id in placed:
        order = app.orders().get(order_id)
        yield order.flow if order is not None else "?"


def _duplicated_effects(app: Orderflow, placed: Mapping[str, Path]) -> int:
    counts = Counter[tuple[str, str]]()
    for service in ("inventory", "payment", "shipping", "order"):
        counts |= event_counts(app, service)
    doubled = {(o, t): n for (o, t), n in counts.items() if t in ONCE and n > 1}
    assert not doubled, f"effects applied more than once: {list(doubled.items())[:5]}"
    ends = {o: sum(counts[(o, t)] for t in TERMINAL) for o in placed}
    assert all(n == 1 for n in ends.values()), \
        f"orders not decided exactly once: {[o for o, n in ends.items() if n != 1][:5]}"
    return 0


def _conserved(app: Orderflow, placed: Mapping[str, Path],
               found: Mapping[str, tuple[str, str | None]], added: Mapping[str, int]) -> None:
    confirmed = {o for o, (status, _) in found.items() if status == "confirmed"}
    held = _reserved_lines(app, dict(placed))
    for sku, units in added.items():
        stock = app.inventory().stock(sku)
        assert stock.available + sum(stock.reserved.values()) == units == stock.total, sku
        assert dict(stock.reserved) == {o: q for (o, s), q in held.items() if s == sku}, sku
        assert set(stock.reserved) <= confirmed, f"{sku} held for an order not confirmed"
    for customer, limit in CREDIT.items():
        credit = app.payment().credit(customer)
        assert credit.available + credit.held_cents == credit.limit_cents == limit, customer
        assert set(credit.held) == {o for o in confirmed if placed[o].customer == customer}, \
            customer


def _read_models_match(app: Orderflow, orders: Mapping[str, Order | None],
                       added: Mapping[str, int]) -> int:
    """The projector's tables equal a fold of the event stores; no event applied twice."""
    applied = event_counts(app, "order")
    with app.store("projector").connect() as connection:
        views = {r.order_id: r for r in connection.execute(sa.select(order_view))}
        stocks = {r.sku: r for r in connection.execute(sa.select(stock_view))}
        credits = {r.customer_id: r for r in connection.execute(sa.select(credit_view))}
    for order_id, order in orders.items():
        assert order is not None
        view = views.get(order_id)
        assert view is not None, f"order {order_id} missing from order_view"
        assert (view.status, view.reason) == (order.status.value, order.reason), order_id
        assert view.stream_version == order.version, order_id
        events = sum(n for (o, _t), n in applied.items() if o == order_id)
        assert view.version == events, f"order_view applied {view.version} of {events} events"
    for sku in added:
        stock = app.inventory().stock(sku)
        row = stocks[sku]
        assert (row.available, row.reserved, row.total) == (
            stock.available, sum(stock.reserved.values()), stock.total), sku
    for customer in CREDIT:
        credit = app.payment().credit(customer)
        row = credits[customer]
        assert (row.limit_cents, row.held_cents, row.available_cents) == (
            credit.limit_cents, credit.held_cents, credit.available), customer
    return len(views)

"""Builders for the projection tests: realistic envelopes of one order's saga, as Incoming.

Not a test module (it holds no tests); named so that it lives beside the tests it serves.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from adapters.codec import envelope_for
from adapters.records import Incoming
from adapters.sql.migrate import upgrade
from domain import inventory_events as inv
from domain import order_events as o
from domain import payment_events as p
from domain import shipping as sh
from projections.tables import ALL_TABLES

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CUSTOMER, SKU = "alice", "BOOK-1"


def memory_engine() -> sa.Engine:
    """One in-memory SQLite database shared by every connection, migrated as the projector."""
    engine = sa.create_engine("sqlite://", poolclass=StaticPool,
                              connect_args={"check_same_thread": False})
    upgrade(engine, "projector", None)
    return engine


class Topics:
    """Hands out offsets per topic-partition, as a broker would."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.offsets: dict[tuple[str, int], itertools.count[int]] = defaultdict(itertools.count)

    def incoming(self, body: object, topic: str, *, cause: Incoming | None = None,
                 seconds: float = 0, version: int = 1, partition: int = 0,
                 correlation: str | None = None) -> Incoming:
        name = self.prefix + topic
        envelope = envelope_for(
            body, event_id=str(uuid.uuid4()), aggregate_id=getattr(body, "order_id", SKU),
            aggregate_version=version, occurred_at=T0 + timedelta(seconds=seconds),
            correlation_id=correlation or body.order_id,  # type: ignore[attr-defined]
            causation_id=cause and cause.envelope.event_id, flow="choreography")
        return Incoming(envelope, name, partition, next(self.offsets[(name, partition)]))


def setup(topics: Topics) -> list[Incoming]:
    """Stock and credit, which belong to no order."""
    return [topics.incoming(inv.StockAdded(sku=SKU, quantity=10), "inventory", partition=1,
                            seconds=-60, correlation=SKU),
            topics.incoming(p.CreditLimitSet(customer_id=CUSTOMER, limit_cents=10_000),
                            "payments", partition=1, seconds=-60, correlation=CUSTOMER)]


def placed(topics: Topics, order_id: str, seconds: float = 0) -> Incoming:
    line = o.OrderLine(sku=SKU, quantity=2, unit_price_cents=1250)
    moment = T0 + timedelta(seconds=seconds)
    return topics.incoming(o.OrderPlaced(
        order_id=order_id, customer_id=CUSTOMER, lines=(line,), total_cents=2500,
        ship_to="DE", flow="choreography", channel="cli", placed_at=moment,
        deadline=moment + timedelta(seconds=30)), "orders", seconds=seconds)


def happy_saga(topics: Topics, order_id: str, *, bookkeeping: bool = False) -> list[Incoming]:
    """One order confirmed, every step one second after its cause, in causal order.
    `bookkeeping`: a history from before inventory's allocations and payment's credit
    holds stayed in their stores, when they were published too."""
    start = placed(topics, order_id)
    allocated = topics.incoming(inv.StockAllocated(sku=SKU, order_id=order_id, quantity=2),
                                "inventory", cause=start, seconds=1, version=2)
    reserved = topics.incoming(inv.StockReserved(
        order_id=order_id, lines=(inv.ReservedLine(sku=SKU, quantity=2),)),
        "inventory", cause=start, seconds=1)
    held = topics.incoming(p.CreditHeld(customer_id=CUSTOMER, order_id=order_id,
                                        amount_cents=2500), "payments", cause=reserved,
                           seconds=2, version=2)
    authorized = topics.incoming(p.PaymentAuthorized(order_id=order_id, customer_id=CUSTOMER,
                                                     amount_cents=2500), "payments",
                                 cause=reserved, seconds=2)
    scheduled = topics.incoming(sh.ShipmentScheduled(order_id=order_id, country="DE"),
                                "shipping", cause=authorized, seconds=3)
    confirmed = topics.incoming(o.OrderConfirmed(order_id=order_id,
                                                 confirmed_at=T0 + timedelta(seconds=4)),
                                "orders", cause=scheduled, seconds=4, version=2)
    if bookkeeping:
        return [start, allocated, reserved, held, authorized, scheduled, confirmed]
    return [start, reserved, authorized, scheduled, confirmed]


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every projector table, rows in primary-key order: equal dumps, equal tables."""
    with engine.connect() as connection:
        return {t.name: [tuple(r) for r in connection.execute(
            sa.select(t).order_by(*t.primary_key.columns))] for t in ALL_TABLES}

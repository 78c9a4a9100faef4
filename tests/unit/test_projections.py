"""The projector against a real (in-memory SQLite) database, fed hand-built records."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from adapters.records import Incoming
from adapters.sql.event_store import ConcurrencyError
from domain import inventory_events as inv
from domain import order_events as o
from domain import payment_events as p
from domain import shipping as sh
from domain.errors import Unhandleable
from domain.ids import InvalidIdentifier
from projections import timeline
from projections.projector import Projector
from projections.read_models import ReadModels
from tests.unit.test_projections_support import (
    SKU,
    T0,
    Topics,
    dump,
    happy_saga,
    memory_engine,
    placed,
    setup,
)

ORDER = "00000000-0000-4000-8000-000000000001"
PROJECTOR = Projector("t.")


def project(engine: sa.Engine, records: Iterable[Incoming]) -> None:
    for record in records:
        with engine.begin() as connection:
            PROJECTOR.handle(connection, record)


def test_a_confirmed_order_fills_every_view() -> None:
    engine, topics = memory_engine(), Topics("t.")
    project(engine, [*setup(topics), *happy_saga(topics, ORDER)])
    models = ReadModels(engine)
    order = models.order(ORDER)
    assert order is not None
    assert (order["status"], order["reason"], order["flow"], order["total_cents"]) == (
        "confirmed", None, "choreography", 2500)
    assert order["lines"] == [{"quantity": 2, "sku": "BOOK-1", "unit_price_cents": 1250}]
    assert (order["created_at"], order["updated_at"]) == (
        T0.isoformat(timespec="microseconds"),
        (T0 + timedelta(seconds=4)).isoformat(timespec="microseconds"))
    assert (order["version"], order["last_event_type"]) == (2, "order.confirmed.v1")
    tables = dump(engine)
    assert [r[1:4] for r in tables["stock_view"]] == [(8, 2, 10)]
    assert [r[1:4] for r in tables["credit_view"]] == [(10_000, 2500, 7500)]
    assert [r[1:4] for r in tables["shipment_view"]] == [("DE", "scheduled", None)]


def test_a_history_that_still_holds_the_bookkeeping_projects_the_same_stock_and_credit() -> None:
    # given a log from before allocations and credit holds stayed in their stores, whose
    # every StockReserved and PaymentAuthorized came with a StockAllocated and a CreditHeld
    old, new = memory_engine(), memory_engine()
    project(old, [*setup(Topics("t.")), *happy_saga(Topics("t."), ORDER, bookkeeping=True)])
    project(new, [*setup(Topics("t.")), *happy_saga(Topics("t."), ORDER)])
    # then the views count each reservation and each hold once, as they do today
    for view in ("stock_view", "credit_view"):
        assert [r[1:4] for r in dump(old)[view]] == [r[1:4] for r in dump(new)[view]], view
    assert [r[1:4] for r in dump(old)["stock_view"]] == [(8, 2, 10)]


def test_the_timeline_holds_order_events_only_with_their_records() -> None:
    engine, topics = memory_engine(), Topics("t.")
    project(engine, [*setup(topics), *happy_saga(topics, ORDER)])
    rows = ReadModels(engine).timeline(ORDER)
    assert [(r["seq"], r["service"], r["type"]) for r in rows] == [
        (1, "order", "order.placed.v2"), (2, "inventory", "inventory.stock-reserved.v1"),
        (3, "payment", "payment.authorized.v1"),
        (4, "shipping", "shipping.shipment-scheduled.v1"), (5, "order", "order.confirmed.v1")]
    assert (rows[0]["topic"], rows[0]["partition"], rows[0]["offset"]) == ("t.orders", 0, 0)


@pytest.mark.parametrize("seed", range(6))
def test_arrival_order_does_not_matter(seed: int) -> None:
    topics = Topics("t.")
    records = [*setup(topics), *happy_saga(topics, ORDER)]
    in_order, shuffled = memory_engine(), memory_engine()
    project(in_order, records)
    project(shuffled, random.Random(seed).sample(records, len(records)))
    assert dump(shuffled) == dump(in_order)


def test_confirmed_projected_before_placed_still_ends_confirmed_with_placed_fields() -> None:
    engine, topics = memory_engine(), Topics()
    records = happy_saga(topics, ORDER)
    project(engine, [records[-1]])
    early = ReadModels(engine).order(ORDER)
    assert early is not None and early["status"] == "confirmed" and early["flow"] is None
    project(engine, [records[0]])
    late = ReadModels(engine).order(ORDER)
    assert late is not None
    assert (late["status"], late["customer_id"], late["version"]) == ("confirmed", "alice", 2)
    assert late["last_event_type"] == "order.confirmed.v1"


def test_the_same_record_twice_changes_nothing() -> None:
    topics = Topics("t.")
    records = [*setup(topics), *happy_saga(topics, ORDER)]
    once, twice = memory_engine(), memory_engine()
    project(once, records)
    project(twice, [r for record in records for r in (record, record)])
    assert dump(twice) == dump(once)


def test_an_expired_order_is_rejected_for_timeout() -> None:
    engine, topics = memory_engine(), Topics()
    start = placed(topics, ORDER)
    expired = topics.incoming(o.OrderExpired(order_id=ORDER, expired_at=T0), "orders",
                              cause=start, seconds=30, version=2)
    project(engine, [start, expired])
    order = ReadModels(engine).order(ORDER)
    assert order is not None and (order["status"], order["reason"]) == ("rejected", "timeout")


def test_an_effect_stamped_before_its_cause_still_comes_after_it() -> None:
    # given a shipping host whose clock runs 10 s behind the order's
    engine, topics = memory_engine(), Topics()
    start = placed(topics, ORDER, seconds=10)
    shipped = topics.incoming(sh.ShipmentRejected(order_id=ORDER, country="BR",
                                                  reason="country_not_served"),
                              "shipping", cause=start, seconds=0)
    rejected = topics.incoming(o.OrderRejected(order_id=ORDER, reason="country_not_served",
                                               rejected_at=T0), "orders", cause=shipped,
                               seconds=11, version=2)
    # when they arrive effect first
    project(engine, [rejected, shipped, start])
    # then the timeline is causal, not clock order
    assert [r["type"] for r in ReadModels(engine).timeline(ORDER)] == [
        "order.placed.v2", "shipping.shipment-rejected.v1", "order.rejected.v1"]


def test_values_the_tables_cannot_hold_are_unhandleable_not_a_database_error() -> None:
    engine, topics = memory_engine(), Topics()
    too_long = topics.incoming(sh.ShipmentScheduled(order_id=ORDER, country="X" * 65),
                               "shipping")
    not_an_order = topics.incoming(sh.ShipmentScheduled(order_id="42; DROP TABLE x",
                                                        country="DE"), "shipping")
    with engine.begin() as connection:
        with pytest.raises(Unhandleable):
            PROJECTOR.handle(connection, too_long)
        with pytest.raises(InvalidIdentifier):
            PROJECTOR.handle(connection, not_an_order)


@pytest.mark.parametrize("seed", range(6))
def test_batches_of_any_size_and_mix_give_the_same_tables(seed: int) -> None:
    # given two orders' records (plus a duplicate) shuffled and cut into random batches
    rng, topics = random.Random(seed), Topics("t.")
    other = "00000000-0000-4000-8000-000000000002"
    records = [*setup(topics), *happy_saga(topics, ORDER), *happy_saga(topics, other)]
    shuffled = rng.sample(records, len(records))
    one_by_one, batched = memory_engine(), memory_engine()
    project(one_by_one, shuffled)
    cuts = sorted(rng.sample(range(1, len(shuffled)), 3))
    for start, end in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        with batched.begin() as connection:
            PROJECTOR.handle_batch(connection, [*shuffled[start:end], shuffled[start]])
    # then every table, timelines included, is what one event at a time gives
    assert dump(batched) == dump(one_by_one)


def test_topics_and_services() -> None:
    assert PROJECTOR.topics == [
        "t.orders", "t.inventory", "t.payments", "t.shipping", "t.fraud", "t.sagas",
        "t.dead-letters", "t.orders.commands", "t.inventory.commands", "t.payments.commands",
        "t.shipping.commands", "t.fraud.commands"]
    assert [PROJECTOR.service_of(t) for t in ("t.orders", "t.payments", "t.inventory.commands",
                                              "t.dead-letters")
            ] == ["order", "payment", "orchestrator", "dlq"]


def test_a_timeline_row_numbered_concurrently_is_a_retryable_conflict() -> None:
    # given another consumer numbered seq 1 of this order after our read
    engine, topics = memory_engine(), Topics()
    first, second = happy_saga(topics, ORDER)[:2]
    project(engine, [first])
    row = ReadModels(engine).timeline(ORDER)[0]
    with engine.begin() as connection, pytest.raises(ConcurrencyError, match=ORDER):
        timeline._replace(connection, [{**row, "event_id": second.envelope.event_id}])


def test_a_payment_cancelled_before_it_was_asked_shows_in_the_timeline_and_holds_nothing() -> None:
    # given an order that expired while payment was down: stock reserved, then released
    engine, topics = memory_engine(), Topics("t.")
    start, reserved = happy_saga(topics, ORDER)[:2]
    expired = topics.incoming(o.OrderExpired(order_id=ORDER, expired_at=T0), "orders",
                              cause=start, seconds=30, version=2)
    released = topics.incoming(inv.StockReleased(
        order_id=ORDER, lines=(inv.ReservedLine(sku=SKU, quantity=2),)), "inventory",
        cause=expired, seconds=31, version=2)
    # when payment comes back and closes the payment it was never asked for
    cancelled = topics.incoming(p.PaymentCancelled(order_id=ORDER), "payments", cause=expired,
                                seconds=40)
    project(engine, [*setup(topics), start, reserved, expired, released, cancelled])
    # then the timeline says cancelled (not voided), as the payment service's own event
    rows = ReadModels(engine).timeline(ORDER)
    assert [(r["service"], r["type"]) for r in rows][-1] == ("payment", "payment.cancelled.v1")
    assert rows[-1]["causation_id"] == expired.envelope.event_id
    assert "payment.voided.v1" not in {r["type"] for r in rows}
    # and the credit view never saw a hold or a release, the stock is all back
    tables = dump(engine)
    assert [r[1:4] for r in tables["credit_view"]] == [(10_000, 0, 10_000)]
    assert [r[1:4] for r in tables["stock_view"]] == [(10, 0, 10)]
    order = ReadModels(engine).order(ORDER)
    assert order is not None and (order["status"], order["reason"]) == ("rejected", "timeout")

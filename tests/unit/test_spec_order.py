"""Order, one spec per row of its message table, plus what it does that is not a message:
placing an order (with its deadline, in choreography) and expiring it when time passes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.catalog import load_catalog
from domain.commands import ConfirmOrder, RejectOrder
from domain.errors import Unhandleable
from domain.inventory_events import StockRejected
from domain.order_events import (
    OrderConfirmed,
    OrderExpired,
    OrderLine,
    OrderPlaced,
    OrderRejected,
)
from domain.payment_events import PaymentDeclined
from domain.shipping import ShipmentRejected, ShipmentScheduled
from domain.streams import order_stream
from services.order import DEADLINE, Orders
from services.port import CHOREOGRAPHY, ORCHESTRATION
from tests.specs import CUSTOMER, FACTS, ORDER_ID, T0, Spec, covers, uncovered

ORDER = str(order_stream(ORDER_ID))
TIMEOUT = timedelta(seconds=30)
DUE = T0 + TIMEOUT


@pytest.fixture
def spec() -> Spec[Orders]:
    return Spec("order", lambda units: Orders(units, load_catalog(), TIMEOUT))


def placed(spec: Spec[Orders], flow: str = CHOREOGRAPHY) -> None:
    """Given: two books placed at T0, and (in choreography) the order's deadline."""
    spec.given(order_stream(ORDER_ID), OrderPlaced(
        order_id=ORDER_ID, customer_id=CUSTOMER,
        lines=(OrderLine(sku="BOOK-1", quantity=2, unit_price_cents=2499),), total_cents=4998,
        ship_to="DE", flow=flow, channel="cli", placed_at=T0, deadline=DUE), flow=flow)
    if flow == CHOREOGRAPHY:
        spec.given_timer(DEADLINE, ORDER_ID, DUE)


def rejected(spec: Spec[Orders], reason: str) -> None:
    assert spec.then_events() == [
        (ORDER, OrderRejected(order_id=ORDER_ID, reason=reason, rejected_at=T0))]
    assert spec.then_versions() == [(ORDER, 2)]
    assert spec.then_outbox() == [("order.rejected.v1", "t.orders")]
    assert spec.then_timers() == {}


def test_every_row_of_the_order_table_has_a_spec(spec: Spec[Orders]) -> None:
    assert uncovered(spec.table, globals()) == []


# not messages: placing and expiring


def test_placing_a_choreographed_order_records_it_and_arms_its_deadline(
        spec: Spec[Orders]) -> None:
    order_id = spec.when_called(lambda orders: orders.place(
        customer_id=CUSTOMER, items=[("BOOK-1", 2), ("MUG-1", 1)], ship_to="DE",
        flow=CHOREOGRAPHY, channel="cli"))
    assert spec.then_events() == [(str(order_stream(order_id)), OrderPlaced(
        order_id=order_id, customer_id=CUSTOMER,
        lines=(OrderLine(sku="BOOK-1", quantity=2, unit_price_cents=2499),
               OrderLine(sku="MUG-1", quantity=1, unit_price_cents=1290)),
        total_cents=6288, ship_to="DE", flow=CHOREOGRAPHY, channel="cli", placed_at=T0,
        deadline=DUE))]
    assert spec.then_outbox() == [("order.placed.v2", "t.orders")]
    [published] = spec.then_published()
    assert (published.correlation_id, published.flow, published.status) == (
        order_id, CHOREOGRAPHY, "created")
    assert spec.then_timers() == {(DEADLINE, order_id): DUE}


def test_placing_an_orchestrated_order_leaves_its_deadline_to_the_orchestrator(
        spec: Spec[Orders]) -> None:
    spec.when_called(lambda orders: orders.place(
        customer_id=CUSTOMER, items=[("BOOK-1", 1)], ship_to="DE", flow=ORCHESTRATION,
        channel="cli"))
    assert spec.then_outbox() == [("order.placed.v2", "t.orders")]
    assert spec.then_timers() == {}


def test_an_open_order_past_its_deadline_expires_and_its_timer_goes(spec: Spec[Orders]) -> None:
    placed(spec)
    assert spec.when_time_passes(TIMEOUT - timedelta(milliseconds=1)) == [0]
    assert (spec.then_events(), spec.then_timers()) == ([], {(DEADLINE, ORDER_ID): DUE})
    assert spec.when_time_passes(timedelta(milliseconds=1)) == [1]
    assert spec.then_events() == [(ORDER, OrderExpired(order_id=ORDER_ID, expired_at=DUE))]
    assert spec.then_outbox() == [("order.expired.v1", "t.orders")]
    assert [e.flow for e in spec.then_published()] == [CHOREOGRAPHY]
    assert spec.then_timers() == {}


# choreography


@covers(CHOREOGRAPHY, ShipmentScheduled)
def test_a_scheduled_shipment_confirms_the_order_and_clears_its_deadline(
        spec: Spec[Orders]) -> None:
    placed(spec)
    spec.when(ShipmentScheduled(order_id=ORDER_ID, country="DE"), flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == [(ORDER, OrderConfirmed(order_id=ORDER_ID, confirmed_at=T0))]
    assert spec.then_outbox() == [("order.confirmed.v1", "t.orders")]
    assert [e.status for e in spec.then_published()] == ["confirmed"]
    assert spec.then_timers() == {}


@covers(CHOREOGRAPHY, StockRejected)
def test_rejected_stock_rejects_the_order_with_the_reason(spec: Spec[Orders]) -> None:
    placed(spec)
    spec.when(StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="BOOK-1"),
              flow=CHOREOGRAPHY, order=FACTS)
    rejected(spec, "out_of_stock")


@covers(CHOREOGRAPHY, PaymentDeclined)
def test_a_declined_payment_rejects_the_order(spec: Spec[Orders]) -> None:
    placed(spec)
    spec.when(PaymentDeclined(order_id=ORDER_ID, customer_id=CUSTOMER, reason="over_credit"),
              flow=CHOREOGRAPHY, order=FACTS)
    rejected(spec, "over_credit")


@covers(CHOREOGRAPHY, ShipmentRejected)
def test_a_rejected_shipment_rejects_the_order(spec: Spec[Orders]) -> None:
    placed(spec)
    spec.when(ShipmentRejected(order_id=ORDER_ID, country="BR", reason="country_not_served"),
              flow=CHOREOGRAPHY, order=FACTS)
    rejected(spec, "country_not_served")


@covers(CHOREOGRAPHY, StockRejected)
def test_a_settled_order_absorbs_late_news(spec: Spec[Orders]) -> None:
    placed(spec)
    spec.given(order_stream(ORDER_ID), OrderConfirmed(order_id=ORDER_ID, confirmed_at=T0))
    spec.when(StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="BOOK-1"),
              flow=CHOREOGRAPHY, order=FACTS)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])  # no answer in choreography
    assert spec.then_timers() == {(DEADLINE, ORDER_ID): DUE}  # a settle clears it, not news


@covers(CHOREOGRAPHY, ShipmentScheduled)
def test_news_of_an_order_this_store_never_placed_is_unhandleable(spec: Spec[Orders]) -> None:
    with pytest.raises(Unhandleable, match=f"no order {ORDER_ID}"):
        spec.when(ShipmentScheduled(order_id=ORDER_ID, country="DE"), flow=CHOREOGRAPHY,
                  order=FACTS)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])


# orchestration


@covers(ORCHESTRATION, ConfirmOrder)
def test_confirm_order_confirms_it(spec: Spec[Orders]) -> None:
    placed(spec, ORCHESTRATION)
    spec.when(ConfirmOrder(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == [(ORDER, OrderConfirmed(order_id=ORDER_ID, confirmed_at=T0))]
    assert spec.then_outbox() == [("order.confirmed.v1", "t.orders")]
    assert [(e.flow, e.status) for e in spec.then_published()] == [(ORCHESTRATION, "confirmed")]


@covers(ORCHESTRATION, RejectOrder)
def test_reject_order_rejects_it_with_the_sagas_reason(spec: Spec[Orders]) -> None:
    placed(spec, ORCHESTRATION)
    spec.when(RejectOrder(order_id=ORDER_ID, reason="over_credit"), flow=ORCHESTRATION)
    rejected(spec, "over_credit")


@covers(ORCHESTRATION, ConfirmOrder)
def test_a_repeated_confirm_order_is_answered_again_with_the_first_outcome(
        spec: Spec[Orders]) -> None:
    placed(spec, ORCHESTRATION)
    spec.when(ConfirmOrder(order_id=ORDER_ID), flow=ORCHESTRATION)
    [first] = spec.then_published()
    spec.when(ConfirmOrder(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == []
    assert [(e.event_id, e.body) for e in spec.then_published()] == [
        (first.event_id, OrderConfirmed(order_id=ORDER_ID, confirmed_at=T0))]


@covers(ORCHESTRATION, RejectOrder)
def test_reject_order_of_an_order_already_confirmed_answers_confirmed(
        spec: Spec[Orders]) -> None:
    placed(spec, ORCHESTRATION)
    spec.when(ConfirmOrder(order_id=ORDER_ID), flow=ORCHESTRATION)
    [confirmed] = spec.then_published()
    spec.when(RejectOrder(order_id=ORDER_ID, reason="timeout"), flow=ORCHESTRATION)
    assert spec.then_events() == []
    assert [(e.event_id, e.type) for e in spec.then_published()] == [
        (confirmed.event_id, "order.confirmed.v1")]

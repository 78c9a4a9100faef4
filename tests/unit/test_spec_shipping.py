"""Shipping, one spec per row of its message table: given a shipment, when an event or a
command arrives, then these events and these messages, and nothing else."""

from __future__ import annotations

import pytest

from adapters.catalog import load_catalog
from adapters.codec import OrderFacts
from domain.commands import CancelShipment, ScheduleShipment
from domain.errors import Unhandleable
from domain.order_events import OrderExpired
from domain.payment_events import PaymentAuthorized
from domain.shipping import ShipmentCancelled, ShipmentRejected, ShipmentScheduled
from domain.streams import shipment_stream
from services.port import CHOREOGRAPHY, ORCHESTRATION
from services.shipping import Shipping
from tests.specs import CUSTOMER, FACTS, ORDER_ID, T0, Spec, covers, uncovered

SHIPMENT = str(shipment_stream(ORDER_ID))
PAID = PaymentAuthorized(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998)
TO_BRAZIL = OrderFacts(customer_id=CUSTOMER, total_cents=4998, ship_to="BR")


@pytest.fixture
def spec() -> Spec[Shipping]:
    return Spec("shipping", lambda _units: Shipping(load_catalog().served_countries))


def test_every_row_of_the_shipping_table_has_a_spec(spec: Spec[Shipping]) -> None:
    assert uncovered(spec.table, globals()) == []


# choreography


@covers(CHOREOGRAPHY, PaymentAuthorized)
def test_an_authorised_payment_schedules_a_shipment_to_the_orders_country(
        spec: Spec[Shipping]) -> None:
    spec.when(PAID, flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == [(SHIPMENT, ShipmentScheduled(order_id=ORDER_ID, country="DE"))]
    assert spec.then_versions() == [(SHIPMENT, 1)]
    assert spec.then_outbox() == [("shipping.shipment-scheduled.v1", "t.shipping")]
    assert [e.order for e in spec.then_published()] == [FACTS]


@covers(CHOREOGRAPHY, PaymentAuthorized)
def test_an_authorised_payment_to_a_country_not_served_is_rejected(spec: Spec[Shipping]) -> None:
    spec.when(PAID, flow=CHOREOGRAPHY, order=TO_BRAZIL)
    assert spec.then_events() == [
        (SHIPMENT, ShipmentRejected(order_id=ORDER_ID, country="BR", reason="country_not_served"))]
    assert spec.then_outbox() == [("shipping.shipment-rejected.v1", "t.shipping")]


@covers(CHOREOGRAPHY, PaymentAuthorized)
def test_an_authorised_payment_without_the_order_facts_is_unhandleable(
        spec: Spec[Shipping]) -> None:
    with pytest.raises(Unhandleable, match="carries no order facts"):
        spec.when(PAID, flow=CHOREOGRAPHY)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])


@covers(CHOREOGRAPHY, OrderExpired)
def test_an_expired_order_cancels_its_scheduled_shipment(spec: Spec[Shipping]) -> None:
    spec.given(shipment_stream(ORDER_ID), ShipmentScheduled(order_id=ORDER_ID, country="DE"))
    spec.when(OrderExpired(order_id=ORDER_ID, expired_at=T0), flow=CHOREOGRAPHY)
    assert spec.then_events() == [(SHIPMENT, ShipmentCancelled(order_id=ORDER_ID, country="DE"))]
    assert spec.then_versions() == [(SHIPMENT, 2)]
    assert spec.then_outbox() == [("shipping.shipment-cancelled.v1", "t.shipping")]


@covers(CHOREOGRAPHY, OrderExpired)
@covers(CHOREOGRAPHY, PaymentAuthorized)
def test_an_order_expired_before_shipping_is_closed_so_a_late_payment_ships_nothing(
        spec: Spec[Shipping]) -> None:
    spec.when(OrderExpired(order_id=ORDER_ID, expired_at=T0), flow=CHOREOGRAPHY)
    assert spec.then_events() == [(SHIPMENT, ShipmentCancelled(order_id=ORDER_ID, country=None))]
    spec.when(PAID, flow=CHOREOGRAPHY, order=FACTS)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])


# orchestration


@covers(ORCHESTRATION, ScheduleShipment)
def test_schedule_shipment_ships_to_the_commands_country(spec: Spec[Shipping]) -> None:
    spec.when(ScheduleShipment(order_id=ORDER_ID, country="FR"), flow=ORCHESTRATION)
    assert spec.then_events() == [(SHIPMENT, ShipmentScheduled(order_id=ORDER_ID, country="FR"))]
    assert spec.then_outbox() == [("shipping.shipment-scheduled.v1", "t.shipping")]
    assert [(e.flow, e.order) for e in spec.then_published()] == [(ORCHESTRATION, None)]


@covers(ORCHESTRATION, ScheduleShipment)
def test_schedule_shipment_to_a_country_not_served_is_rejected(spec: Spec[Shipping]) -> None:
    spec.when(ScheduleShipment(order_id=ORDER_ID, country="AQ"), flow=ORCHESTRATION)
    assert spec.then_events() == [
        (SHIPMENT, ShipmentRejected(order_id=ORDER_ID, country="AQ", reason="country_not_served"))]
    assert spec.then_outbox() == [("shipping.shipment-rejected.v1", "t.shipping")]


@covers(ORCHESTRATION, ScheduleShipment)
def test_a_repeated_schedule_shipment_is_answered_again_with_the_first_outcome(
        spec: Spec[Shipping]) -> None:
    spec.when(ScheduleShipment(order_id=ORDER_ID, country="AQ"), flow=ORCHESTRATION)
    [first] = spec.then_published()
    spec.when(ScheduleShipment(order_id=ORDER_ID, country="AQ"), flow=ORCHESTRATION)
    assert spec.then_events() == []
    assert [(e.event_id, e.type, e.flow) for e in spec.then_published()] == [
        (first.event_id, "shipping.shipment-rejected.v1", ORCHESTRATION)]


@covers(ORCHESTRATION, CancelShipment)
def test_cancel_shipment_cancels_a_scheduled_shipment(spec: Spec[Shipping]) -> None:
    spec.given(shipment_stream(ORDER_ID), ShipmentScheduled(order_id=ORDER_ID, country="DE"))
    spec.when(CancelShipment(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == [(SHIPMENT, ShipmentCancelled(order_id=ORDER_ID, country="DE"))]
    assert spec.then_outbox() == [("shipping.shipment-cancelled.v1", "t.shipping")]


@covers(ORCHESTRATION, CancelShipment)
def test_a_repeated_cancel_shipment_is_answered_with_the_first_cancellation(
        spec: Spec[Shipping]) -> None:
    spec.given(shipment_stream(ORDER_ID), ShipmentScheduled(order_id=ORDER_ID, country="DE"))
    spec.when(CancelShipment(order_id=ORDER_ID), flow=ORCHESTRATION)
    [first] = spec.then_published()
    spec.when(CancelShipment(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == []
    assert [(e.event_id, e.body) for e in spec.then_published()] == [
        (first.event_id, ShipmentCancelled(order_id=ORDER_ID, country="DE"))]

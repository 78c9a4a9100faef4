"""Inventory, one spec per row of its message table: given stock and reservations, when
an event or a command arrives, then these events and these messages, and nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.codec import OrderFacts
from domain.commands import ReleaseStock, ReserveStock
from domain.inventory_events import (
    ReservedLine,
    StockAdded,
    StockAllocated,
    StockDeallocated,
    StockRejected,
    StockReleased,
    StockReserved,
)
from domain.order_events import OrderExpired, OrderLine, OrderPlaced
from domain.payment_events import PaymentDeclined
from domain.shipping import ShipmentRejected
from domain.streams import reservation_stream, stock_stream
from services.inventory import Inventory
from services.port import CHOREOGRAPHY, ORCHESTRATION
from tests.specs import CUSTOMER, FACTS, ORDER_ID, T0, Spec, covers, uncovered

RESERVATION = str(reservation_stream(ORDER_ID))
BOOKS, MUGS = str(stock_stream("BOOK-1")), str(stock_stream("MUG-1"))
TWO_BOOKS_AND_A_MUG = (ReservedLine(sku="BOOK-1", quantity=2),
                       ReservedLine(sku="MUG-1", quantity=1))


@pytest.fixture
def spec() -> Spec[Inventory]:
    spec = Spec("inventory", Inventory)
    spec.given(stock_stream("BOOK-1"), StockAdded(sku="BOOK-1", quantity=10))
    spec.given(stock_stream("MUG-1"), StockAdded(sku="MUG-1", quantity=1))
    return spec


def placed(*lines: tuple[str, int]) -> OrderPlaced:
    order_lines = tuple(OrderLine(sku=sku, quantity=n, unit_price_cents=100) for sku, n in lines)
    return OrderPlaced(order_id=ORDER_ID, customer_id=CUSTOMER, lines=order_lines,
                       total_cents=sum(line.total_cents for line in order_lines), ship_to="DE",
                       flow=CHOREOGRAPHY, channel="cli", placed_at=T0,
                       deadline=T0 + timedelta(seconds=30))


def reserved(spec: Spec[Inventory]) -> None:
    """Given: the order holds two books and a mug."""
    spec.given(reservation_stream(ORDER_ID), StockReserved(order_id=ORDER_ID,
                                                           lines=TWO_BOOKS_AND_A_MUG))
    spec.given(stock_stream("BOOK-1"), StockAllocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2))
    spec.given(stock_stream("MUG-1"), StockAllocated(sku="MUG-1", order_id=ORDER_ID, quantity=1))


RELEASED = [(RESERVATION, StockReleased(order_id=ORDER_ID, lines=TWO_BOOKS_AND_A_MUG)),
            (BOOKS, StockDeallocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2)),
            (MUGS, StockDeallocated(sku="MUG-1", order_id=ORDER_ID, quantity=1))]
# The per-SKU bookkeeping stays in inventory's store: only the answer is published.
RELEASED_OUTBOX = [("inventory.stock-released.v1", "t.inventory")]


def test_every_row_of_the_inventory_table_has_a_spec(spec: Spec[Inventory]) -> None:
    assert uncovered(spec.table, globals()) == []


# choreography


@covers(CHOREOGRAPHY, OrderPlaced)
def test_a_placed_order_reserves_every_line_and_carries_the_order_facts_on(
        spec: Spec[Inventory]) -> None:
    spec.when(placed(("BOOK-1", 2), ("MUG-1", 1)), flow=CHOREOGRAPHY)
    assert spec.then_events() == [
        (RESERVATION, StockReserved(order_id=ORDER_ID, lines=TWO_BOOKS_AND_A_MUG)),
        (BOOKS, StockAllocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2)),
        (MUGS, StockAllocated(sku="MUG-1", order_id=ORDER_ID, quantity=1))]
    assert spec.then_versions() == [(RESERVATION, 1), (BOOKS, 2), (MUGS, 2)]
    assert spec.then_outbox() == [("inventory.stock-reserved.v1", "t.inventory")]
    [answer, *_] = spec.then_published()
    assert answer.order == OrderFacts(customer_id=CUSTOMER, total_cents=300, ship_to="DE")
    assert (answer.flow, answer.correlation_id) == (CHOREOGRAPHY, ORDER_ID)


@covers(CHOREOGRAPHY, OrderPlaced)
def test_a_placed_order_wanting_more_than_is_in_stock_reserves_nothing(
        spec: Spec[Inventory]) -> None:
    spec.when(placed(("BOOK-1", 2), ("MUG-1", 2)), flow=CHOREOGRAPHY)
    assert spec.then_events() == [
        (RESERVATION, StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="MUG-1"))]
    assert spec.then_outbox() == [("inventory.stock-rejected.v1", "t.inventory")]
    assert [e.order for e in spec.then_published()] == [
        OrderFacts(customer_id=CUSTOMER, total_cents=400, ship_to="DE")]


@covers(CHOREOGRAPHY, OrderPlaced)
def test_a_placed_order_for_a_sku_never_stocked_is_rejected_as_unknown(
        spec: Spec[Inventory]) -> None:
    spec.when(placed(("BOOK-1", 1), ("HOODIE-M", 1)), flow=CHOREOGRAPHY)
    assert spec.then_events() == [
        (RESERVATION, StockRejected(order_id=ORDER_ID, reason="unknown_sku", sku="HOODIE-M"))]
    assert spec.then_outbox() == [("inventory.stock-rejected.v1", "t.inventory")]


@covers(CHOREOGRAPHY, OrderPlaced)
def test_an_order_placed_twice_is_reserved_once(spec: Spec[Inventory]) -> None:
    spec.when(placed(("BOOK-1", 2)), flow=CHOREOGRAPHY)
    spec.when(placed(("BOOK-1", 2)), flow=CHOREOGRAPHY)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])
    assert spec.stream(stock_stream("BOOK-1")) == [
        StockAdded(sku="BOOK-1", quantity=10),
        StockAllocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2)]


@covers(CHOREOGRAPHY, PaymentDeclined)
def test_a_declined_payment_releases_the_reserved_stock(spec: Spec[Inventory]) -> None:
    reserved(spec)
    spec.when(PaymentDeclined(order_id=ORDER_ID, customer_id=CUSTOMER, reason="over_credit"),
              flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == RELEASED
    assert spec.then_versions() == [(RESERVATION, 2), (BOOKS, 3), (MUGS, 3)]
    assert spec.then_outbox() == RELEASED_OUTBOX


@covers(CHOREOGRAPHY, ShipmentRejected)
def test_a_rejected_shipment_releases_the_reserved_stock(spec: Spec[Inventory]) -> None:
    reserved(spec)
    spec.when(ShipmentRejected(order_id=ORDER_ID, country="BR", reason="country_not_served"),
              flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == RELEASED
    assert spec.then_outbox() == RELEASED_OUTBOX


@covers(CHOREOGRAPHY, OrderExpired)
def test_an_expired_order_gives_its_stock_back(spec: Spec[Inventory]) -> None:
    reserved(spec)
    spec.when(OrderExpired(order_id=ORDER_ID, expired_at=T0), flow=CHOREOGRAPHY)
    assert spec.then_events() == RELEASED
    assert spec.then_outbox() == RELEASED_OUTBOX


@covers(CHOREOGRAPHY, OrderExpired)
def test_an_expired_order_that_was_refused_stock_releases_nothing(spec: Spec[Inventory]) -> None:
    spec.given(reservation_stream(ORDER_ID),
               StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="MUG-1"))
    spec.when(OrderExpired(order_id=ORDER_ID, expired_at=T0), flow=CHOREOGRAPHY)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])  # no answer in choreography


# orchestration


@covers(ORCHESTRATION, ReserveStock)
def test_reserve_stock_reserves_every_line(spec: Spec[Inventory]) -> None:
    spec.when(ReserveStock(order_id=ORDER_ID, lines=TWO_BOOKS_AND_A_MUG), flow=ORCHESTRATION)
    assert spec.then_events() == [
        (RESERVATION, StockReserved(order_id=ORDER_ID, lines=TWO_BOOKS_AND_A_MUG)),
        (BOOKS, StockAllocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2)),
        (MUGS, StockAllocated(sku="MUG-1", order_id=ORDER_ID, quantity=1))]
    assert spec.then_outbox() == [("inventory.stock-reserved.v1", "t.inventory")]
    assert [(e.flow, e.order) for e in spec.then_published()] == [(ORCHESTRATION, None)]


@covers(ORCHESTRATION, ReserveStock)
def test_reserve_stock_of_an_unknown_sku_is_rejected(spec: Spec[Inventory]) -> None:
    spec.when(ReserveStock(order_id=ORDER_ID, lines=(ReservedLine(sku="LAPTOP-15", quantity=1),)),
              flow=ORCHESTRATION)
    assert spec.then_events() == [
        (RESERVATION, StockRejected(order_id=ORDER_ID, reason="unknown_sku", sku="LAPTOP-15"))]
    assert spec.then_outbox() == [("inventory.stock-rejected.v1", "t.inventory")]


@covers(ORCHESTRATION, ReserveStock)
def test_a_repeated_reserve_stock_is_answered_again_with_the_first_outcome(
        spec: Spec[Inventory]) -> None:
    command = ReserveStock(order_id=ORDER_ID, lines=TWO_BOOKS_AND_A_MUG)
    spec.when(command, flow=ORCHESTRATION)
    [first, *_] = spec.then_published()
    spec.when(command, flow=ORCHESTRATION)
    assert spec.then_events() == []
    assert spec.then_outbox() == [("inventory.stock-reserved.v1", "t.inventory")]
    [again] = spec.then_published()
    assert (again.event_id, again.aggregate_version, again.body) == (
        first.event_id, 1, StockReserved(order_id=ORDER_ID, lines=TWO_BOOKS_AND_A_MUG))


@covers(ORCHESTRATION, ReleaseStock)
def test_release_stock_gives_back_what_the_order_holds(spec: Spec[Inventory]) -> None:
    reserved(spec)
    spec.when(ReleaseStock(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == RELEASED
    assert spec.then_outbox() == RELEASED_OUTBOX


@covers(ORCHESTRATION, ReleaseStock)
def test_a_repeated_release_stock_is_answered_with_the_first_release(
        spec: Spec[Inventory]) -> None:
    reserved(spec)
    spec.when(ReleaseStock(order_id=ORDER_ID), flow=ORCHESTRATION)
    [first, *_] = spec.then_published()
    spec.when(ReleaseStock(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == []
    assert [(e.event_id, e.body) for e in spec.then_published()] == [
        (first.event_id, StockReleased(order_id=ORDER_ID, lines=TWO_BOOKS_AND_A_MUG))]

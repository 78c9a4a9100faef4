"""Inventory decisions, given-when-then: add stock, reserve all-or-nothing, release."""

from collections.abc import Mapping

import pytest

from domain.ids import InvalidIdentifier
from domain.inventory import (
    InvalidReservation,
    InventoryDecision,
    Reservation,
    ReservationEvent,
    ReservationStatus,
    ReservedLine,
    Stock,
    StockAdded,
    StockAllocated,
    StockDeallocated,
    StockEvent,
    StockRejected,
    StockReleased,
    StockReserved,
    add_stock,
    evolve_reservation,
    evolve_stock,
    fold_reservation,
    fold_stock,
    release,
    reserve,
)
from domain.order import OrderLine
from domain.streams import reservation_stream, stock_stream
from domain.values import InvalidQuantity
from tests.unit.domain.builders import ORDER_ID, OTHER_ORDER_ID


def stock(sku: str, *events: StockEvent) -> Stock:
    return fold_stock([StockAdded(sku=sku, quantity=10), *events])


def lines(*pairs: tuple[str, int]) -> tuple[ReservedLine, ...]:
    return tuple(ReservedLine(sku=sku, quantity=quantity) for sku, quantity in pairs)


def apply(
    reservation: Reservation, stocks: Mapping[str, Stock], decision: InventoryDecision
) -> tuple[Reservation, dict[str, Stock]]:
    """Append a decision's events the way the event store would, stream by stream."""
    after = dict(stocks)
    for stream, events in decision.items():
        for event in events:
            if isinstance(event, StockReserved | StockRejected | StockReleased):
                assert stream == reservation_stream(event.order_id)
                reservation = evolve_reservation(reservation, event)
            else:
                assert stream == stock_stream(event.sku)
                after[event.sku] = evolve_stock(after[event.sku], event)
    return reservation, after


# --- adding stock --------------------------------------------------------------------


def test_adding_stock() -> None:
    assert add_stock(Stock(), "BOOK-1", 5) == [StockAdded(sku="BOOK-1", quantity=5)]
    after = fold_stock([StockAdded(sku="BOOK-1", quantity=5), StockAdded(sku="BOOK-1", quantity=2)])
    assert (after.sku, after.available, after.total, after.version) == ("BOOK-1", 7, 7, 2)


@pytest.mark.parametrize("quantity", [0, -1, 1_000_000_001, 10**12, True, 2.5, "3"])
def test_adding_a_bad_quantity_is_refused(quantity: object) -> None:
    with pytest.raises(InvalidQuantity, match="between 1 and 1000000000"):
        add_stock(Stock(), "BOOK-1", quantity)  # type: ignore[arg-type]


def test_adding_to_a_hostile_sku_is_refused() -> None:
    with pytest.raises(InvalidIdentifier):
        add_stock(Stock(), "'; DROP TABLE events;--", 1)


# --- reserving -----------------------------------------------------------------------


def test_reserving_allocates_every_line() -> None:
    stocks = {"BOOK-1": stock("BOOK-1"), "MUG-1": stock("MUG-1")}
    decision = reserve(Reservation(), stocks, ORDER_ID, lines(("BOOK-1", 2), ("MUG-1", 10)))
    assert decision == {
        reservation_stream(ORDER_ID): [
            StockReserved(order_id=ORDER_ID, lines=lines(("BOOK-1", 2), ("MUG-1", 10)))
        ],
        stock_stream("BOOK-1"): [StockAllocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2)],
        stock_stream("MUG-1"): [StockAllocated(sku="MUG-1", order_id=ORDER_ID, quantity=10)],
    }
    reservation, after = apply(Reservation(), stocks, decision)
    assert reservation.status is ReservationStatus.RESERVED
    assert (after["BOOK-1"].available, dict(after["BOOK-1"].reserved)) == (8, {ORDER_ID: 2})
    assert after["MUG-1"].available == 0


def test_order_lines_can_be_reserved_directly() -> None:
    order_lines = [OrderLine(sku="BOOK-1", quantity=1, unit_price_cents=100)]
    decision = reserve(Reservation(), {"BOOK-1": stock("BOOK-1")}, ORDER_ID, order_lines)
    assert stock_stream("BOOK-1") in decision


def test_one_short_line_rejects_the_whole_order_and_touches_no_stock() -> None:
    stocks = {"BOOK-1": stock("BOOK-1"), "MUG-1": stock("MUG-1")}
    decision = reserve(Reservation(), stocks, ORDER_ID, lines(("BOOK-1", 2), ("MUG-1", 11)))
    assert decision == {
        reservation_stream(ORDER_ID): [
            StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="MUG-1")
        ]
    }


def test_a_sku_never_stocked_is_unknown() -> None:
    decision = reserve(Reservation(), {"BOOK-1": stock("BOOK-1")}, ORDER_ID, lines(("MUG-1", 1)))
    assert decision == {
        reservation_stream(ORDER_ID): [
            StockRejected(order_id=ORDER_ID, reason="unknown_sku", sku="MUG-1")
        ]
    }


def test_stock_held_by_another_order_is_not_available() -> None:
    held = stock("BOOK-1", StockAllocated(sku="BOOK-1", order_id=OTHER_ORDER_ID, quantity=9))
    decision = reserve(Reservation(), {"BOOK-1": held}, ORDER_ID, lines(("BOOK-1", 2)))
    [rejected] = decision[reservation_stream(ORDER_ID)]
    assert isinstance(rejected, StockRejected) and rejected.reason == "out_of_stock"


@pytest.mark.parametrize(
    "history",
    [
        [StockReserved(order_id=ORDER_ID, lines=lines(("BOOK-1", 1)))],
        [StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="BOOK-1")],
        [
            StockReserved(order_id=ORDER_ID, lines=lines(("BOOK-1", 1))),
            StockReleased(order_id=ORDER_ID, lines=lines(("BOOK-1", 1))),
        ],
    ],
)
def test_reserving_again_changes_nothing(history: list[ReservationEvent]) -> None:
    decided = fold_reservation(history)
    assert reserve(decided, {"BOOK-1": stock("BOOK-1")}, ORDER_ID, lines(("BOOK-1", 1))) == {}


@pytest.mark.parametrize(
    "wanted", [(), lines(("BOOK-1", 1), ("BOOK-1", 1))]
)
def test_malformed_reservations_are_refused(wanted: tuple[ReservedLine, ...]) -> None:
    with pytest.raises(InvalidReservation):
        reserve(Reservation(), {}, ORDER_ID, wanted)


def test_reserving_a_zero_quantity_is_refused() -> None:
    with pytest.raises(InvalidQuantity):
        reserve(Reservation(), {}, ORDER_ID, lines(("BOOK-1", 0)))


# --- releasing -----------------------------------------------------------------------


def reserved_state() -> tuple[Reservation, dict[str, Stock]]:
    stocks = {"BOOK-1": stock("BOOK-1"), "MUG-1": stock("MUG-1")}
    decision = reserve(Reservation(), stocks, ORDER_ID, lines(("BOOK-1", 2), ("MUG-1", 3)))
    return apply(Reservation(), stocks, decision)


def test_releasing_gives_back_exactly_what_the_order_holds() -> None:
    reservation, stocks = reserved_state()
    decision = release(reservation, stocks, ORDER_ID)
    assert decision[stock_stream("BOOK-1")] == [
        StockDeallocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2)
    ]
    released, after = apply(reservation, stocks, decision)
    assert released.status is ReservationStatus.RELEASED
    assert all(s.available == 10 and not s.reserved for s in after.values())


def test_releasing_leaves_other_orders_holdings_alone() -> None:
    reservation, stocks = reserved_state()
    other = StockAllocated(sku="BOOK-1", order_id=OTHER_ORDER_ID, quantity=5)
    stocks["BOOK-1"] = evolve_stock(stocks["BOOK-1"], other)
    _, after = apply(reservation, stocks, release(reservation, stocks, ORDER_ID))
    assert dict(after["BOOK-1"].reserved) == {OTHER_ORDER_ID: 5}
    assert after["BOOK-1"].available == 5


def test_releasing_twice_changes_nothing() -> None:
    reservation, stocks = reserved_state()
    released, after = apply(reservation, stocks, release(reservation, stocks, ORDER_ID))
    assert release(released, after, ORDER_ID) == {}


@pytest.mark.parametrize(
    "history",
    [[], [StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="BOOK-1")]],
)
def test_nothing_to_release_without_a_reservation(history: list[ReservationEvent]) -> None:
    assert release(fold_reservation(history), {"BOOK-1": stock("BOOK-1")}, ORDER_ID) == {}

"""Order decisions, given-when-then: place, confirm, reject, expire."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain.catalog import InvalidCountry, UnknownSku
from domain.errors import DomainError, InvalidHistory
from domain.ids import InvalidIdentifier
from domain.order import (
    Channel,
    Flow,
    InvalidOrder,
    Order,
    OrderConfirmed,
    OrderEvent,
    OrderExpired,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
    RejectionReason,
    confirm,
    expire,
    fold_order,
    place_order,
    reject,
)
from domain.reasons import InvalidReason
from domain.values import InvalidQuantity, InvalidTimestamp
from tests.unit.domain.builders import CATALOG, CUSTOMER, ORDER_ID, T0, TIMEOUT, at, placed


def place(**overrides: Any) -> list[OrderEvent]:
    arguments: dict[str, Any] = {
        "order_id": ORDER_ID, "customer_id": CUSTOMER, "items": [("BOOK-1", 1)],
        "ship_to": "DE", "flow": "choreography", "channel": "cli", "catalog": CATALOG, "now": T0,
        "timeout": TIMEOUT,
    }
    return place_order(**(arguments | overrides))


def given(*events: OrderEvent) -> Order:
    order = fold_order(events)
    assert order is not None
    return order


# --- placing -----------------------------------------------------------------------


def test_placing_prices_lines_from_the_catalog_and_sets_the_deadline() -> None:
    [event] = place(items=[("BOOK-1", 2), ("MUG-1", 1)], flow=Flow.ORCHESTRATION)
    assert event == OrderPlaced(
        order_id=ORDER_ID, customer_id=CUSTOMER,
        lines=(
            OrderLine(sku="BOOK-1", quantity=2, unit_price_cents=2_499),
            OrderLine(sku="MUG-1", quantity=1, unit_price_cents=1_290),
        ),
        total_cents=2 * 2_499 + 1_290, ship_to="DE", flow="orchestration", channel="cli",
        placed_at=T0, deadline=T0 + TIMEOUT,
    )


def test_a_placed_order_is_created() -> None:
    order = given(*place())
    assert (order.status, order.reason, order.version) == (OrderStatus.CREATED, None, 1)
    assert order.flow is Flow.CHOREOGRAPHY


@pytest.mark.parametrize("channel", ["cli", "demo", "compare", "bench"])
def test_a_placed_order_keeps_where_it_was_placed(channel: str) -> None:
    [event] = place(channel=channel)
    assert isinstance(event, OrderPlaced) and event.channel == channel
    assert given(event).channel is Channel(channel)


@pytest.mark.parametrize("channel", ["unknown", "web", "", None, 1])
def test_an_order_is_placed_through_a_known_channel_only(channel: object) -> None:
    # "unknown" is what orders placed before channels existed read as; nothing new says it
    with pytest.raises(InvalidOrder, match="channel must be one of cli, demo, compare, bench"):
        place(channel=channel)


def test_a_known_country_that_is_not_served_may_still_be_placed() -> None:
    [event] = place(ship_to="BR")
    assert isinstance(event, OrderPlaced) and event.ship_to == "BR"


def test_fifty_lines_of_the_largest_quantity_are_fine() -> None:
    catalog_skus = [f"SKU-{n}" for n in range(50)]
    catalog = type(CATALOG)(
        prices=dict.fromkeys(catalog_skus, 1), served_countries=frozenset({"DE"}),
        known_countries=frozenset({"DE"}),
    )
    [event] = place(items=[(sku, 10_000) for sku in catalog_skus], catalog=catalog)
    assert isinstance(event, OrderPlaced) and event.total_cents == 500_000


@pytest.mark.parametrize("quantity", [0, -1, 10_001, 10**12, True, False, 1.0, "1", None])
def test_bad_quantities_are_refused(quantity: object) -> None:
    with pytest.raises(InvalidQuantity, match="between 1 and 10000"):
        place(items=[("BOOK-1", quantity)])


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "between 1 and 50 lines, got 0"),
        ([(f"BOOK-{n}", 1) for n in range(51)], "between 1 and 50 lines, got 51"),
        ([("BOOK-1", 1), ("BOOK-1", 2)], "BOOK-1 appears more than once"),
        ("BOOK-1", "list of \\(SKU, quantity\\) pairs"),
        (None, "list of \\(SKU, quantity\\) pairs"),
        ([("BOOK-1",)], "pair"),
        (["BOOK-1=1"], "pair"),
    ],
)
def test_bad_item_lists_are_refused(items: Sequence[Any], message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        place(items=items)


def test_unknown_skus_are_refused() -> None:
    with pytest.raises(UnknownSku, match="NOPE-1"):
        place(items=[("NOPE-1", 1)])


@pytest.mark.parametrize("sku", ["'; DROP TABLE events;--", "a\x00b", "x" * 1_000_000, ""])
def test_hostile_skus_are_refused(sku: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        place(items=[(sku, 1)])
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("customer", ["'; DROP TABLE events;--", "a\x00b", "x" * 1_000_000])
def test_hostile_customer_ids_are_refused(customer: str) -> None:
    with pytest.raises(InvalidIdentifier, match="customer id"):
        place(customer_id=customer)


@pytest.mark.parametrize("oid", ["'; DROP TABLE events;--", "a\x00b", "x" * 1_000_000, "1"])
def test_hostile_order_ids_are_refused(oid: str) -> None:
    with pytest.raises(InvalidIdentifier, match="order id"):
        place(order_id=oid)


@pytest.mark.parametrize("country", ["ZZ", "usa", "1A", "'; DROP TABLE events;--"])
def test_unknown_countries_are_refused(country: str) -> None:
    with pytest.raises(InvalidCountry):
        place(ship_to=country)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"flow": "both"}, InvalidOrder),
        ({"timeout": timedelta(0)}, InvalidOrder),
        ({"timeout": 30}, InvalidOrder),
        ({"now": datetime(2025, 1, 1)}, InvalidTimestamp),
    ],
)
def test_bad_settings_are_refused(overrides: dict[str, Any], error: type[DomainError]) -> None:
    with pytest.raises(error):
        place(**overrides)


# --- confirming, rejecting, expiring -------------------------------------------------


def test_confirming_a_created_order() -> None:
    order = given(placed())
    [event] = confirm(order, at(1))
    assert event == OrderConfirmed(order_id=ORDER_ID, confirmed_at=at(1))
    assert given(placed(), event).status is OrderStatus.CONFIRMED


def test_rejecting_a_created_order_keeps_the_reason() -> None:
    [event] = reject(given(placed()), RejectionReason.OUT_OF_STOCK, at(1))
    assert event == OrderRejected(order_id=ORDER_ID, reason="out_of_stock", rejected_at=at(1))
    after = given(placed(), event)
    assert (after.status, after.reason, after.version) == (OrderStatus.REJECTED, "out_of_stock", 2)


def test_rejecting_with_an_unknown_reason_is_refused() -> None:
    with pytest.raises(InvalidReason, match="reason must be one of"):
        reject(given(placed()), "because", at(1))


def test_expiring_before_the_deadline_does_nothing() -> None:
    assert expire(given(placed()), T0 + TIMEOUT - timedelta(microseconds=1)) == []


def test_expiring_at_the_deadline_rejects_with_timeout() -> None:
    [event] = expire(given(placed()), T0 + TIMEOUT)
    assert event == OrderExpired(order_id=ORDER_ID, expired_at=T0 + TIMEOUT)
    after = given(placed(), event)
    assert (after.status, after.reason) == (OrderStatus.REJECTED, "timeout")


TERMINAL: list[OrderEvent] = [
    OrderConfirmed(order_id=ORDER_ID, confirmed_at=at(1)),
    OrderRejected(order_id=ORDER_ID, reason="over_credit", rejected_at=at(1)),
    OrderExpired(order_id=ORDER_ID, expired_at=at(31)),
]


@pytest.mark.parametrize("ending", TERMINAL)
def test_terminal_orders_absorb_every_later_decision(ending: OrderEvent) -> None:
    order = given(placed(), ending)
    assert confirm(order, at(99)) == []
    assert reject(order, "timeout", at(99)) == []
    assert expire(order, at(99)) == []


def test_decisions_refuse_naive_time() -> None:
    with pytest.raises(InvalidTimestamp):
        confirm(given(placed()), datetime(2025, 1, 1))


# --- folding -------------------------------------------------------------------------


def test_an_empty_stream_is_no_order() -> None:
    assert fold_order([]) is None


def test_a_stream_that_does_not_start_with_placement_is_corrupt() -> None:
    with pytest.raises(InvalidHistory):
        fold_order([TERMINAL[0]])
    with pytest.raises(InvalidHistory):
        fold_order([placed(), placed()])

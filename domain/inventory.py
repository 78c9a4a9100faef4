"""Inventory: each order's all-or-nothing reservation against per-SKU stock.

``reserve`` and ``release`` touch several streams, so they return
``dict[StreamId, list[InventoryEvent]]`` (see ``domain.streams``). ``{}`` means
nothing to do: the caller replies with the reservation stream's latest event, if any
(a duplicate command gets the same answer as the first).
Stock itself lives in ``domain.stock``; both are re-exported here.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol, TypeAlias, assert_never

from domain.errors import DomainError
from domain.ids import validate_order_id, validate_sku
from domain.inventory_events import (
    InventoryEvent,
    ReservationEvent,
    ReservedLine,
    StockAdded,
    StockAllocated,
    StockDeallocated,
    StockEvent,
    StockRejected,
    StockReleased,
    StockReserved,
)
from domain.reasons import RejectionReason
from domain.stock import MAX_STOCK_QUANTITY, Stock, add_stock, evolve_stock, fold_stock
from domain.streams import StreamId, reservation_stream, stock_stream
from domain.values import InvalidQuantity, bounded_int

__all__ = [
    "MAX_STOCK_QUANTITY", "InvalidReservation", "InventoryDecision", "InventoryEvent", "Line",
    "Reservation", "ReservationEvent", "ReservationStatus", "ReservedLine", "Stock",
    "StockAdded", "StockAllocated", "StockDeallocated", "StockEvent", "StockRejected",
    "StockReleased", "StockReserved", "add_stock", "evolve_reservation", "evolve_stock",
    "fold_reservation", "fold_stock", "release", "reserve",
]

InventoryDecision: TypeAlias = dict[StreamId, list[InventoryEvent]]


class InvalidReservation(DomainError):
    """A reservation request that is not well formed."""


class ReservationStatus(StrEnum):
    NONE = "none"
    RESERVED = "reserved"
    REJECTED = "rejected"
    RELEASED = "released"


class Line(Protocol):
    """Anything with a SKU and a quantity: an OrderLine or a ReservedLine."""

    @property
    def sku(self) -> str: ...
    @property
    def quantity(self) -> int: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Reservation:
    order_id: str = ""
    status: ReservationStatus = ReservationStatus.NONE
    lines: tuple[ReservedLine, ...] = ()
    reason: str | None = None
    rejected_sku: str | None = None
    version: int = 0


def evolve_reservation(reservation: Reservation, event: ReservationEvent) -> Reservation:
    match event:
        case StockReserved():
            after = replace(reservation, status=ReservationStatus.RESERVED, lines=event.lines)
        case StockRejected():
            after = replace(
                reservation, status=ReservationStatus.REJECTED, reason=event.reason,
                rejected_sku=event.sku,
            )
        case StockReleased():
            after = replace(reservation, status=ReservationStatus.RELEASED)
        case _:
            assert_never(event)
    return replace(after, order_id=event.order_id, version=reservation.version + 1)


def fold_reservation(events: Iterable[ReservationEvent]) -> Reservation:
    reservation = Reservation()
    for event in events:
        reservation = evolve_reservation(reservation, event)
    return reservation


def reserve(
    reservation: Reservation, stocks: Mapping[str, Stock], order_id: str, lines: Sequence[Line]
) -> InventoryDecision:
    """All lines or none. ``stocks`` maps each SKU to its stock; missing = never stocked."""
    order_id = validate_order_id(order_id)
    wanted = _wanted(lines)
    if reservation.status is not ReservationStatus.NONE:
        return {}
    shortage = _first_shortage(order_id, stocks, wanted)
    if shortage is not None:
        return {reservation_stream(order_id): [shortage]}
    decision: InventoryDecision = {
        reservation_stream(order_id): [StockReserved(order_id=order_id, lines=wanted)]
    }
    for line in wanted:
        allocated = StockAllocated(sku=line.sku, order_id=order_id, quantity=line.quantity)
        decision[stock_stream(line.sku)] = [allocated]
    return decision


def _wanted(lines: Sequence[Line]) -> tuple[ReservedLine, ...]:
    wanted = tuple(_checked(line) for line in lines)
    if not wanted or len({line.sku for line in wanted}) != len(wanted):
        raise InvalidReservation("a reservation needs at least one line, each SKU once")
    return wanted


def _checked(line: Line) -> ReservedLine:
    sku = validate_sku(line.sku)
    quantity = bounded_int(
        line.quantity, what=f"quantity of {sku}", low=1, high=MAX_STOCK_QUANTITY,
        error=InvalidQuantity,
    )
    return ReservedLine(sku=sku, quantity=quantity)


def _first_shortage(
    order_id: str, stocks: Mapping[str, Stock], wanted: tuple[ReservedLine, ...]
) -> StockRejected | None:
    for line in wanted:
        stock = stocks.get(line.sku, Stock())
        if stock.version == 0:
            reason = RejectionReason.UNKNOWN_SKU
        elif stock.available < line.quantity:
            reason = RejectionReason.OUT_OF_STOCK
        else:
            continue
        return StockRejected(order_id=order_id, reason=reason.value, sku=line.sku)
    return None


def release(
    reservation: Reservation, stocks: Mapping[str, Stock], order_id: str
) -> InventoryDecision:
    """Give back exactly what this order holds; only a live reservation is released."""
    order_id = validate_order_id(order_id)
    if reservation.status is not ReservationStatus.RESERVED:
        return {}
    held = _held(reservation, stocks, order_id)
    decision: InventoryDecision = {
        reservation_stream(order_id): [StockReleased(order_id=order_id, lines=held)]
    }
    for line in held:
        back = StockDeallocated(sku=line.sku, order_id=order_id, quantity=line.quantity)
        decision[stock_stream(line.sku)] = [back]
    return decision


def _held(
    reservation: Reservation, stocks: Mapping[str, Stock], order_id: str
) -> tuple[ReservedLine, ...]:
    # Read from the stock, not the reservation: give back what is held, never more.
    held = ((line.sku, stocks.get(line.sku, Stock()).reserved.get(order_id, 0))
            for line in reservation.lines)
    return tuple(ReservedLine(sku=sku, quantity=units) for sku, units in held if units > 0)

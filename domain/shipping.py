"""Shipping: one stream per order, a shipment scheduled or refused by destination."""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeAlias, assert_never

from domain.catalog import check_country_code
from domain.ids import validate_order_id
from domain.reasons import RejectionReason


class ShipmentStatus(StrEnum):
    NONE = "none"
    SCHEDULED = "scheduled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


@dataclass(frozen=True, kw_only=True, slots=True)
class ShipmentScheduled:
    order_id: str
    country: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ShipmentRejected:
    order_id: str
    country: str
    reason: str  # RejectionReason.COUNTRY_NOT_SERVED


@dataclass(frozen=True, kw_only=True, slots=True)
class ShipmentCancelled:
    """The order was abandoned (expired) before or after its shipment was scheduled."""

    order_id: str
    country: str | None


ShippingEvent: TypeAlias = ShipmentScheduled | ShipmentRejected | ShipmentCancelled


@dataclass(frozen=True, kw_only=True, slots=True)
class Shipment:
    order_id: str = ""
    status: ShipmentStatus = ShipmentStatus.NONE
    country: str | None = None
    reason: str | None = None
    version: int = 0


def evolve_shipment(shipment: Shipment, event: ShippingEvent) -> Shipment:
    match event:
        case ShipmentScheduled():
            after = replace(shipment, status=ShipmentStatus.SCHEDULED)
        case ShipmentRejected():
            after = replace(shipment, status=ShipmentStatus.REJECTED, reason=event.reason)
        case ShipmentCancelled():
            after = replace(shipment, status=ShipmentStatus.CANCELLED)
        case _:
            assert_never(event)
    return replace(
        after, order_id=event.order_id, country=event.country, version=shipment.version + 1
    )


def fold_shipment(events: Iterable[ShippingEvent]) -> Shipment:
    shipment = Shipment()
    for event in events:
        shipment = evolve_shipment(shipment, event)
    return shipment


def schedule(
    shipment: Shipment, order_id: str, country: str, served_countries: Collection[str]
) -> list[ShippingEvent]:
    """Schedule once per order; ``[]`` means decided already (reply with that outcome)."""
    order_id = validate_order_id(order_id)
    country = check_country_code(country)
    if shipment.status is not ShipmentStatus.NONE:
        return []
    if country in served_countries:
        return [ShipmentScheduled(order_id=order_id, country=country)]
    reason = RejectionReason.COUNTRY_NOT_SERVED.value
    return [ShipmentRejected(order_id=order_id, country=country, reason=reason)]


def cancel(shipment: Shipment, order_id: str) -> list[ShippingEvent]:
    """Cancel a scheduled shipment, or close one not yet decided so that a late
    payment schedules nothing; a rejected or cancelled shipment stays as it is."""
    order_id = validate_order_id(order_id)
    if shipment.status not in (ShipmentStatus.NONE, ShipmentStatus.SCHEDULED):
        return []
    return [ShipmentCancelled(order_id=order_id, country=shipment.country)]

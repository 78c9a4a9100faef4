"""Wire names and topics of every message, explicit and in one place.

A wire name is stable and versioned (`order.placed.v1`); it is never derived from
a module path, so moving or renaming a class cannot change what is on Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain import commands as c
from domain import inventory_events as inv
from domain import order_events as o
from domain import payment_events as p
from domain import saga_events as s
from domain import shipping as sh


@dataclass(frozen=True)
class Registration:
    cls: type
    wire: str
    topic: str | None  # base topic name; None = kept in the store, never published
    schema_version: int = 1


_TABLE: list[tuple[type, str, str | None]] = [
    (o.OrderPlaced, "order.placed.v1", "orders"),
    (o.OrderConfirmed, "order.confirmed.v1", "orders"),
    (o.OrderRejected, "order.rejected.v1", "orders"),
    (o.OrderExpired, "order.expired.v1", "orders"),
    (inv.StockAdded, "inventory.stock-added.v1", "inventory"),
    (inv.StockAllocated, "inventory.stock-allocated.v1", "inventory"),
    (inv.StockDeallocated, "inventory.stock-deallocated.v1", "inventory"),
    (inv.StockReserved, "inventory.stock-reserved.v1", "inventory"),
    (inv.StockRejected, "inventory.stock-rejected.v1", "inventory"),
    (inv.StockReleased, "inventory.stock-released.v1", "inventory"),
    (p.CreditLimitSet, "payment.credit-limit-set.v1", "payments"),
    (p.CreditHeld, "payment.credit-held.v1", "payments"),
    (p.CreditReleased, "payment.credit-released.v1", "payments"),
    (p.PaymentAuthorized, "payment.authorized.v1", "payments"),
    (p.PaymentDeclined, "payment.declined.v1", "payments"),
    (p.PaymentVoided, "payment.voided.v1", "payments"),
    (sh.ShipmentScheduled, "shipping.shipment-scheduled.v1", "shipping"),
    (sh.ShipmentRejected, "shipping.shipment-rejected.v1", "shipping"),
    (sh.ShipmentCancelled, "shipping.shipment-cancelled.v1", "shipping"),
    (s.SagaStarted, "saga.started.v1", "sagas"),
    (s.CommandSent, "saga.command-sent.v1", "sagas"),
    (s.StepSucceeded, "saga.step-succeeded.v1", "sagas"),
    (s.StepFailed, "saga.step-failed.v1", "sagas"),
    (s.CompensationStarted, "saga.compensation-started.v1", "sagas"),
    (s.CompensationFailed, "saga.compensation-failed.v1", "sagas"),
    (s.LateSuccess, "saga.late-success.v1", "sagas"),
    (s.SagaCompleted, "saga.completed.v1", "sagas"),
    (s.SagaRejected, "saga.rejected.v1", "sagas"),
    (c.ReserveStock, "inventory.reserve-stock.v1", "inventory.commands"),
    (c.ReleaseStock, "inventory.release-stock.v1", "inventory.commands"),
    (c.AuthorizePayment, "payment.authorize.v1", "payments.commands"),
    (c.VoidPayment, "payment.void.v1", "payments.commands"),
    (c.ScheduleShipment, "shipping.schedule-shipment.v1", "shipping.commands"),
    (c.ConfirmOrder, "order.confirm.v1", "orders.commands"),
    (c.RejectOrder, "order.reject.v1", "orders.commands"),
]

BY_CLASS: dict[type, Registration] = {cls: Registration(cls, w, t) for cls, w, t in _TABLE}
BY_WIRE: dict[str, Registration] = {r.wire: r for r in BY_CLASS.values()}

# The order's status after each event on `orders` (the tutorial's consumer reads it).
ORDER_STATUS: dict[type, str] = {
    o.OrderPlaced: "created", o.OrderConfirmed: "confirmed",
    o.OrderRejected: "rejected", o.OrderExpired: "rejected",
}


def registration(message: object) -> Registration:
    try:
        return BY_CLASS[type(message)]
    except KeyError:
        raise LookupError(f"{type(message).__name__} has no wire name in the registry") from None

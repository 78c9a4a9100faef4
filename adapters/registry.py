"""Wire names and topics of every message, explicit and in one place.

A wire name is stable and versioned (`order.placed.v2`); it is never derived from
a module path, so moving or renaming a class cannot change what is on Kafka.

Versions: a wire name's `.vN` suffix IS the schema version of the data written under
it. A record or stored row of type `order.placed.v1` has schema_version 1, one of
`order.placed.v2` has 2, and decoding refuses a record where the two disagree. When an
event's data changes shape, its name in `_TABLE` moves to the next version (what new
code writes), the old name goes to `_ALIASES` (old records and rows still resolve to
the same class), and an upcaster from the old version to the next goes into
`adapters/upcasters.py`. Nothing already written is ever rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from adapters import notices as n
from domain import commands as c
from domain import fraud as fr
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
    schema_version: int = 1  # the `.vN` of `wire`: the version this code writes and reads


_TABLE: list[tuple[type, str, str | None]] = [
    (o.OrderPlaced, "order.placed.v2", "orders"),
    (o.OrderConfirmed, "order.confirmed.v1", "orders"),
    (o.OrderRejected, "order.rejected.v1", "orders"),
    (o.OrderExpired, "order.expired.v1", "orders"),
    (inv.StockAdded, "inventory.stock-added.v1", "inventory"),
    (inv.StockAllocated, "inventory.stock-allocated.v1", None),
    (inv.StockDeallocated, "inventory.stock-deallocated.v1", None),
    (inv.StockReserved, "inventory.stock-reserved.v1", "inventory"),
    (inv.StockRejected, "inventory.stock-rejected.v1", "inventory"),
    (inv.StockReleased, "inventory.stock-released.v1", "inventory"),
    (p.CreditLimitSet, "payment.credit-limit-set.v1", "payments"),
    (p.CreditHeld, "payment.credit-held.v1", None),
    (p.CreditReleased, "payment.credit-released.v1", None),
    (p.PaymentAuthorized, "payment.authorized.v1", "payments"),
    (p.PaymentDeclined, "payment.declined.v1", "payments"),
    (p.PaymentVoided, "payment.voided.v1", "payments"),
    (p.PaymentCancelled, "payment.cancelled.v1", "payments"),
    (fr.FraudCleared, "fraud.cleared.v1", "fraud"),
    (fr.FraudRejected, "fraud.rejected.v1", "fraud"),
    (sh.ShipmentScheduled, "shipping.shipment-scheduled.v1", "shipping"),
    (sh.ShipmentRejected, "shipping.shipment-rejected.v1", "shipping"),
    (sh.ShipmentCancelled, "shipping.shipment-cancelled.v1", "shipping"),
    (s.SagaStarted, "saga.started.v2", None),
    (s.CommandSent, "saga.command-sent.v1", None),
    (s.StepSucceeded, "saga.step-succeeded.v1", None),
    (s.StepFailed, "saga.step-failed.v1", None),
    (s.CompensationStarted, "saga.compensation-started.v1", None),
    (s.CompensationFailed, "saga.compensation-failed.v1", None),
    (s.LateSuccess, "saga.late-success.v1", None),
    (s.SagaCompleted, "saga.completed.v1", None),
    (s.SagaRejected, "saga.rejected.v1", None),
    # The saga's events above stay in the orchestrator's store; readers get this summary.
    (s.SagaProgressed, "saga.progressed.v1", "sagas"),
    (n.MessageDeadLettered, "system.message-dead-lettered.v1", n.NOTICES_TOPIC),
    (n.DeadLetterRedriven, "system.dead-letter-redriven.v1", n.NOTICES_TOPIC),
    (c.ReserveStock, "inventory.reserve-stock.v1", "inventory.commands"),
    (c.ReleaseStock, "inventory.release-stock.v1", "inventory.commands"),
    (c.CheckFraud, "fraud.check.v1", "fraud.commands"),
    (c.AuthorizePayment, "payment.authorize.v1", "payments.commands"),
    (c.VoidPayment, "payment.void.v1", "payments.commands"),
    (c.ScheduleShipment, "shipping.schedule-shipment.v1", "shipping.commands"),
    (c.CancelShipment, "shipping.cancel-shipment.v1", "shipping.commands"),
    (c.ConfirmOrder, "order.confirm.v1", "orders.commands"),
    (c.RejectOrder, "order.reject.v1", "orders.commands"),
]

# Names of older versions, still read: each resolves to its class's registration, and
# the upcasters bring the data up to that registration's version.
_ALIASES: dict[str, type] = {
    "order.placed.v1": o.OrderPlaced,  # v2 added `channel`
    "saga.started.v1": s.SagaStarted,  # v2 added `steps`
}
_VERSIONED = re.compile(r"(?P<family>[a-z][a-z.-]*)\.v(?P<version>[1-9][0-9]{0,5})")


@lru_cache(maxsize=1024)
def version_of(wire: str) -> int | None:
    """The schema version a wire name says (its `.vN` suffix); None if it says none."""
    found = _VERSIONED.fullmatch(wire)
    return None if found is None else int(found["version"])


def family(wire: str) -> str:
    """A wire name without its version: what every version of one message shares."""
    found = _VERSIONED.fullmatch(wire)
    return wire if found is None else found["family"]


def _registered(cls: type, wire: str, topic: str | None) -> Registration:
    version = version_of(wire)
    assert version is not None, f"wire name {wire!r} does not end in .vN"
    return Registration(cls, wire, topic, version)


BY_CLASS: dict[type, Registration] = {cls: _registered(cls, w, t) for cls, w, t in _TABLE}
BY_WIRE: dict[str, Registration] = {
    **{r.wire: r for r in BY_CLASS.values()},
    **{alias: BY_CLASS[cls] for alias, cls in _ALIASES.items()},
}

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

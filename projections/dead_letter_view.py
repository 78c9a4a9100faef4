"""dead_letter_view: every dead letter the notices told of, and whether it went back.

A row is marked `compensation` when the message it holds asked its service to undo a
step of the order: a choreography failure (PaymentDeclined, ShipmentRejected,
OrderExpired) or an orchestrator's undo command (ReleaseStock, VoidPayment,
CancelShipment). Until that service has undone something for the order after all (its
undo event is in the order's timeline: the saga re-sent it, or somebody redrove the dead
letter and it went through) or the dead letter was redriven, the order's compensation
has not happened, and `status` shows `compensation_failed` (read_models.py). Notices
may arrive in either order (the redrive's first), so both handlers upsert.
"""

from __future__ import annotations

from sqlalchemy import Connection

from adapters.codec import Envelope
from adapters.notices import DeadLetterRedriven, MessageDeadLettered
from adapters.registry import BY_CLASS, BY_WIRE
from adapters.sql.upserts import upsert
from domain.commands import CancelShipment, ReleaseStock, VoidPayment
from domain.inventory_events import StockReleased
from domain.order_events import OrderExpired
from domain.payment_events import PaymentCancelled, PaymentDeclined, PaymentVoided
from domain.shipping import ShipmentCancelled, ShipmentRejected
from projections.tables import dead_letter_view, stamp
from projections.upsert import Excluded

# What makes a service undo what it did for the order, and the services that undo.
UNDO_TRIGGERS = (PaymentDeclined, ShipmentRejected, OrderExpired,
                 ReleaseStock, VoidPayment, CancelShipment)
UNDOERS = ("inventory", "payment", "shipping")
# The events by which a service has undone something (wire names, as in the timeline).
UNDONE = tuple(BY_CLASS[cls].wire for cls in (StockReleased, PaymentVoided, PaymentCancelled,
                                               ShipmentCancelled))


def dead_lettered(connection: Connection, envelope: Envelope) -> None:
    notice: MessageDeadLettered = envelope.body
    service = notice.group.rsplit(".", 1)[-1][:20]  # groups are `<prefix>orderflow.<service>`
    row = {"dead_letter_id": notice.dead_letter_id, "order_id": notice.order_id,
           "group_id": notice.group, "service": service,
           "topic": notice.topic, "partition": notice.partition, "offset": notice.offset,
           "message_type": notice.message_type,
           "compensation": service in UNDOERS and _undoes(notice.message_type),
           "error": notice.error, "dead_lettered_at": stamp(envelope.occurred_at),
           "redriven_at": None}
    upsert(connection, dead_letter_view, [row], _all_but_redriven)


def redriven(connection: Connection, envelope: Envelope) -> None:
    notice: DeadLetterRedriven = envelope.body
    row = {**dict.fromkeys(_NOTED), "dead_letter_id": notice.dead_letter_id,
           "order_id": notice.order_id, "redriven_at": stamp(envelope.occurred_at)}
    upsert(connection, dead_letter_view, [row], _redriven_only)


def _undoes(message_type: str | None) -> bool:
    registered = BY_WIRE.get(message_type or "")
    return registered is not None and issubclass(registered.cls, UNDO_TRIGGERS)


_NOTED = ("order_id", "group_id", "service", "topic", "partition", "offset", "message_type",
          "compensation", "error", "dead_lettered_at")


def _all_but_redriven(new: Excluded) -> dict[str, object]:
    return {name: getattr(new, name) for name in _NOTED}


def _redriven_only(new: Excluded) -> dict[str, object]:
    return {"redriven_at": new.redriven_at}


HANDLERS = {MessageDeadLettered: dead_lettered, DeadLetterRedriven: redriven}

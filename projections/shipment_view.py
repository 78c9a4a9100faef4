"""shipment_view: per order, the destination and what shipping decided."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from adapters.codec import Envelope
from adapters.sql.upserts import upsert
from domain.shipping import ShipmentCancelled, ShipmentRejected, ShipmentScheduled, ShipmentStatus
from projections.tables import shipment_view, stamp
from projections.upsert import Excluded

_STATUS = {ShipmentScheduled: ShipmentStatus.SCHEDULED.value,
           ShipmentRejected: ShipmentStatus.REJECTED.value,
           ShipmentCancelled: ShipmentStatus.CANCELLED.value}


def decided(connection: Connection, envelope: Envelope) -> None:
    event = envelope.body
    row = {"order_id": event.order_id, "country": event.country,
           "status": _STATUS[type(event)], "reason": getattr(event, "reason", None),
           "updated_at": stamp(envelope.occurred_at)}
    upsert(connection, shipment_view, [row], _replace)


def _replace(new: Excluded) -> dict[str, object]:
    # One shipment stream per order, on one partition: the later decision is the answer.
    # A cancellation before any decision knows no country; keep one already known.
    return {"country": sa.func.coalesce(new.country, shipment_view.c.country),
            "status": new.status, "reason": new.reason, "updated_at": new.updated_at}


HANDLERS = dict.fromkeys(_STATUS, decided)

"""stock_view: units per SKU, available / reserved (held by orders) / total."""

from __future__ import annotations

from sqlalchemy import Connection

from adapters.codec import Envelope
from adapters.sql.upserts import upsert
from domain.inventory_events import StockAdded, StockAllocated, StockDeallocated
from projections.tables import stamp, stock_view
from projections.upsert import Excluded, later

# Per unit of the event's quantity: (available, reserved, total).
_MOVES: dict[type, tuple[int, int, int]] = {
    StockAdded: (1, 0, 1),
    StockAllocated: (-1, 1, 0),
    StockDeallocated: (1, -1, 0),
}


def moved(connection: Connection, envelope: Envelope) -> None:
    event = envelope.body
    available, reserved, total = (unit * event.quantity for unit in _MOVES[type(event)])
    row = {"sku": event.sku, "available": available, "reserved": reserved, "total": total,
           "updated_at": stamp(envelope.occurred_at)}
    upsert(connection, stock_view, [row], _add)


def _add(new: Excluded) -> dict[str, object]:
    # Deltas commute: a SKU's events arrive on several partitions (keyed by order id).
    c = stock_view.c
    return {"available": c.available + new.available, "reserved": c.reserved + new.reserved,
            "total": c.total + new.total, "updated_at": later(c.updated_at, new.updated_at)}


HANDLERS = dict.fromkeys(_MOVES, moved)

"""stock_view: units per SKU, available / reserved (held by orders) / total.

Fed by integration messages only: a SKU's stock added, and each order's reservation
and release with its lines (what was taken, what was given back). Inventory's per-SKU
bookkeeping (StockAllocated, StockDeallocated) stays in its store, unpublished; a
history from before that still holds them is projected from the reservations alike,
so a rebuild of an old log gives the same table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from adapters.codec import Envelope
from adapters.sql.upserts import upsert
from domain.inventory_events import StockAdded, StockReleased, StockReserved
from projections.tables import stamp, stock_view
from projections.upsert import Excluded, later

# Per unit moved: (available, reserved, total).
_ADDED, _TAKEN, _GIVEN_BACK = (1, 0, 1), (-1, 1, 0), (1, -1, 0)


def added(connection: Connection, envelope: Envelope) -> None:
    _move(connection, envelope, [(envelope.body.sku, envelope.body.quantity)], _ADDED)


def reserved(connection: Connection, envelope: Envelope) -> None:
    _move(connection, envelope, _lines(envelope.body), _TAKEN)


def released(connection: Connection, envelope: Envelope) -> None:
    _move(connection, envelope, _lines(envelope.body), _GIVEN_BACK)


def _lines(event: Any) -> list[tuple[str, int]]:
    return [(line.sku, line.quantity) for line in event.lines]


def _move(connection: Connection, envelope: Envelope, moves: list[tuple[str, int]],
          unit: tuple[int, int, int]) -> None:
    at = stamp(envelope.occurred_at)
    rows = [{"sku": sku, "available": unit[0] * quantity, "reserved": unit[1] * quantity,
             "total": unit[2] * quantity, "updated_at": at}
            for sku, quantity in sorted(moves)]  # one lock order: two projectors never deadlock
    if rows:
        upsert(connection, stock_view, rows, _add)


def _add(new: Excluded) -> dict[str, object]:
    # Deltas commute: a SKU's moves arrive on several partitions (keyed by order id).
    c = stock_view.c
    return {"available": c.available + new.available, "reserved": c.reserved + new.reserved,
            "total": c.total + new.total, "updated_at": later(c.updated_at, new.updated_at)}


HANDLERS = {StockAdded: added, StockReserved: reserved, StockReleased: released}

"""order_timeline: every event that belongs to an order, across services, in causal order.

`seq` is the event's position in the order's causal order, not its arrival order:
events of one order arrive on several topics and partitions in any interleaving, so
each insert re-sorts the (few) rows of that order and renumbers the ones that move.
That makes the table identical after any replay, and reading it is `ORDER BY seq`.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from adapters.records import Incoming
from adapters.sql.event_store import ConcurrencyError
from projections.tables import order_timeline, stamp

Row = dict[str, Any]


def record(connection: Connection, entries: Sequence[tuple[Incoming, str, str]]) -> None:
    """Add events to their orders' timelines: (incoming, order id, emitting service) each.
    One read of the orders' rows, then only the rows whose place changed are rewritten."""
    arrived: dict[str, dict[str, Row]] = defaultdict(dict)
    for incoming, order_id, service in entries:
        envelope = incoming.envelope
        arrived[order_id][envelope.event_id] = {
            "order_id": order_id, "seq": 0, "occurred_at": stamp(envelope.occurred_at),
            "service": service, "type": envelope.type, "topic": incoming.topic,
            "partition": incoming.partition, "offset": incoming.offset,
            "event_id": envelope.event_id, "causation_id": envelope.causation_id}
    if not arrived:
        return
    current: dict[str, list[Row]] = defaultdict(list)
    for row in connection.execute(sa.select(order_timeline).where(
            order_timeline.c.order_id.in_(list(arrived)))).mappings():
        current[row["order_id"]].append(dict(row))
    moved: list[Row] = []
    for order_id, new in arrived.items():
        rows = current[order_id]
        known = {row["event_id"] for row in rows}  # applied already: keyed by event id
        fresh = [row for event_id, row in new.items() if event_id not in known]
        if fresh:
            ordered = causal_order([*rows, *fresh])
            moved += [{**row, "seq": seq} for seq, row in enumerate(ordered, start=1)
                      if row["seq"] != seq]
    _replace(connection, moved)


def _replace(connection: Connection, moved: list[Row]) -> None:
    # Delete first, then insert: renumbering in place could collide on (order_id, seq).
    if not moved:
        return
    ids = [row["event_id"] for row in moved]
    connection.execute(order_timeline.delete().where(order_timeline.c.event_id.in_(ids)))
    try:
        connection.execute(order_timeline.insert(), moved)
    except IntegrityError as exc:
        # Another projector consumer (other topic, same order) numbered a row first on
        # PostgreSQL: the runtime retries this handler on fresh rows, it is not poison.
        orders = ", ".join(sorted({row["order_id"] for row in moved}))
        raise ConcurrencyError(f"timeline of order {orders} changed concurrently") from exc


def causal_order(rows: Iterable[Mapping[str, Any]]) -> list[Row]:
    """By time, then emission order; an event never precedes the event that caused it.

    Clocks of different services may disagree, so time alone cannot be trusted to put
    an effect after its cause: this is a topological sort that picks, among events
    whose cause is already placed, the earliest one.
    """
    items = [dict(row) for row in rows]
    present = {row["event_id"] for row in items}
    waiting: dict[str, list[Row]] = defaultdict(list)
    ready: list[tuple[tuple[Any, ...], Row]] = []
    for row in items:
        cause = row["causation_id"]
        if cause in present and cause != row["event_id"]:
            waiting[cause].append(row)
        else:
            heapq.heappush(ready, (_key(row), row))
    placed: list[Row] = []
    while ready:
        _, row = heapq.heappop(ready)
        placed.append(row)
        for effect in waiting.pop(row["event_id"], []):
            heapq.heappush(ready, (_key(effect), effect))
    stranded = [row for group in waiting.values() for row in group]  # a cycle: forged ids
    return placed + sorted(stranded, key=_key)


def _key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    # Same instant (one transaction's events): the order they were published in.
    return (row["occurred_at"], row["topic"], row["partition"], row["offset"], row["event_id"])

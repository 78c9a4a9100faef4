"""Queries over the read models, for the CLI. Read-only; table names come from an allow-list.

An order's shown status is its order_view status, unless a compensation of it is
failing: its saga says so (orchestration, until the compensation gets through), or a
message that asked a service to undo something for it waits in a DLQ and that service
has not undone anything for it since (see dead_letter_view.py). Then it is
`compensation_failed`, in `status` and `list` alike.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from adapters.sql.engine import READONLY
from domain.errors import OrderflowError
from domain.order_events import OrderStatus
from domain.saga_events import SagaState
from projections.dead_letter_view import UNDONE
from projections.tables import (
    READ_MODELS,
    dead_letter_view,
    order_timeline,
    order_view,
    saga_view,
)

Row = dict[str, Any]
MAX_ROWS = 10_000
STUCK = SagaState.COMPENSATION_FAILED.value
_undone = sa.exists().where(order_timeline.c.order_id == dead_letter_view.c.order_id,
                            order_timeline.c.service == dead_letter_view.c.service,
                            order_timeline.c.type.in_(UNDONE))
_undo_waits = sa.exists().where(dead_letter_view.c.order_id == order_view.c.order_id,
                                dead_letter_view.c.compensation.is_(True),
                                dead_letter_view.c.redriven_at.is_(None), ~_undone)
_shown_status = sa.case((saga_view.c.state == STUCK, STUCK), (_undo_waits, STUCK),
                        else_=order_view.c.status)


class NoSuchOrder(OrderflowError):
    """No order with this id in the read models (not placed, or not projected yet)."""


class AmbiguousOrder(OrderflowError):
    """A short order id that several orders start with."""


class UnknownTable(OrderflowError):
    """A table name outside the read models' allow-list."""


class ReadModels:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def resolve(self, ref: str) -> str:
        """The full id of the one order whose id starts with `ref` (a whole id is returned
        as it is, known or not: the command then says it has no such order)."""
        if len(ref) == 36:
            return ref
        query = (sa.select(order_view.c.order_id).where(order_view.c.order_id.startswith(ref))
                 .order_by(order_view.c.order_id).limit(3))
        with self._reading() as connection:
            found = list(connection.execute(query).scalars())
        if not found:
            raise NoSuchOrder(f"no order whose id starts with {ref} (yet)")
        if len(found) > 1:
            raise AmbiguousOrder(f"{ref} is the start of several orders ({', '.join(found[:2])}"
                                 f"{', ...' if len(found) > 2 else ''}): give more of the id")
        return str(found[0])

    def order(self, order_id: str) -> Row | None:
        query = _orders().where(order_view.c.order_id == order_id)
        with self._reading() as connection:
            found = connection.execute(query).mappings().first()
        return None if found is None else _order(found)

    def orders(self, flow: str | None = None, status: str | None = None,
               limit: int = 50) -> list[Row]:
        """Newest first; orders whose OrderPlaced is not projected yet come last."""
        query = (_orders()
                 .order_by(sa.nulls_last(order_view.c.created_at.desc()), order_view.c.order_id)
                 .limit(_bounded(limit)))
        if flow is not None:
            query = query.where(order_view.c.flow == flow)
        if status is not None:
            query = query.where(_shown_status == status)
        with self._reading() as connection:
            return [_order(row) for row in connection.execute(query).mappings()]

    def timeline(self, order_id: str) -> list[Row]:
        """The order's events in causal order (the projector keeps `seq` causal)."""
        query = (sa.select(order_timeline).where(order_timeline.c.order_id == order_id)
                 .order_by(order_timeline.c.seq))
        with self._reading() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def sagas(self, state: str | None = None, limit: int = 50) -> list[Row]:
        query = (sa.select(saga_view).order_by(saga_view.c.started_at.desc())
                 .limit(_bounded(limit)))
        if state is not None:
            query = query.where(saga_view.c.state == state)
        with self._reading() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def saga(self, order_id: str) -> Row | None:
        query = sa.select(saga_view).where(saga_view.c.order_id == order_id)
        with self._reading() as connection:
            found = connection.execute(query).mappings().first()
        return None if found is None else dict(found)

    def tables(self) -> list[tuple[str, int]]:
        with self._reading() as connection:
            return [(name, connection.execute(sa.select(sa.func.count()).select_from(t))
                     .scalar_one()) for name, t in READ_MODELS.items()]

    def inspect(self, table: str, limit: int = 20) -> tuple[list[str], list[tuple[Any, ...]]]:
        chosen = table_named(table)
        query = sa.select(chosen).order_by(*chosen.primary_key.columns).limit(_bounded(limit))
        with self._reading() as connection:
            rows = [tuple(row) for row in connection.execute(query)]
        return [c.name for c in chosen.columns], rows

    def order_counts(self) -> list[tuple[str, str, str | None, int]]:
        """(flow, status, reason, orders) for every combination order_view holds, counted
        by the database (`orderflow watch`). The status is order_view's own; an order
        whose OrderPlaced is not projected yet has no flow and is left out."""
        keys = (order_view.c.flow, order_view.c.status, order_view.c.reason)
        query = (sa.select(*keys, sa.func.count()).where(order_view.c.flow.is_not(None))
                 .group_by(*keys))
        with self._reading() as connection:
            return [(row[0], row[1], row[2], int(row[3])) for row in connection.execute(query)]

    def in_flight(self, flow: str) -> list[tuple[str | None, str | None, str | None, int]]:
        """For the orders of `flow` still in flight (status created): how many stand at
        each (newest event type of their timeline, saga state, saga current step); None
        where there is none (no timeline row yet; no saga: choreography, or not projected
        yet)."""
        newest = (sa.select(sa.func.max(order_timeline.c.seq))
                  .where(order_timeline.c.order_id == order_view.c.order_id)
                  .correlate(order_view).scalar_subquery())
        joined = (order_view
                  .outerjoin(order_timeline, sa.and_(
                      order_timeline.c.order_id == order_view.c.order_id,
                      order_timeline.c.seq == newest))
                  .outerjoin(saga_view, saga_view.c.order_id == order_view.c.order_id))
        keys = (order_timeline.c.type, saga_view.c.state, saga_view.c.current_step)
        query = (sa.select(*keys, sa.func.count()).select_from(joined)
                 .where(order_view.c.status == OrderStatus.CREATED.value,
                        order_view.c.flow == flow)
                 .group_by(*keys))
        with self._reading() as connection:
            return [(row[0], row[1], row[2], int(row[3])) for row in connection.execute(query)]

    def _reading(self) -> Connection:
        return self.engine.connect().execution_options(**READONLY)


def _orders() -> sa.Select[Any]:
    """order_view's columns, with the status as shown (see the module docstring)."""
    columns = [c for c in order_view.c if c.name != "status"]
    return (sa.select(*columns, _shown_status.label("status"))
            .select_from(order_view.outerjoin(
                saga_view, saga_view.c.order_id == order_view.c.order_id)))


def table_named(name: str) -> sa.Table:
    """The read-model table of that exact name; anything else is refused, never quoted."""
    try:
        return READ_MODELS[name]
    except KeyError:
        raise UnknownTable(f"unknown table {name[:40]!r}; "
                           f"valid tables: {', '.join(READ_MODELS)}") from None


def _bounded(limit: int) -> int:
    return max(1, min(int(limit), MAX_ROWS))


def _order(row: Any) -> Row:
    order = dict(row)
    order["lines"] = None if order["lines"] is None else orjson.loads(order["lines"])
    return order

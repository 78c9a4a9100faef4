"""The Order aggregate: one stream per order, ``created`` -> ``confirmed`` | ``rejected``.

Events live in ``order_events`` and placement in ``order_placement``; everything an
adapter needs is importable from here.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import assert_never

from domain.errors import DomainError, InvalidHistory
from domain.order_events import (
    Channel,
    Flow,
    OrderConfirmed,
    OrderEvent,
    OrderExpired,
    OrderLine,
    OrderPlaced,
    OrderRejected,
    OrderStatus,
)
from domain.order_placement import MAX_LINES, MAX_QUANTITY, InvalidOrder, place_order
from domain.reasons import RejectionReason, parse_reason
from domain.values import require_aware

__all__ = [
    "MAX_LINES", "MAX_QUANTITY", "Channel", "Flow", "InvalidOrder", "Order", "OrderConfirmed",
    "OrderEvent", "OrderExpired", "OrderLine", "OrderPlaced", "OrderRejected", "OrderStatus",
    "RejectionReason", "UnknownOrder", "confirm", "evolve", "expire", "fold_order",
    "place_order", "reject",
]


class UnknownOrder(DomainError):
    """No order with this id (raised by callers that find an empty stream)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Order:
    order_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    total_cents: int
    ship_to: str
    flow: Flow
    channel: Channel
    status: OrderStatus
    reason: str | None
    placed_at: datetime
    deadline: datetime
    version: int

    @property
    def is_terminal(self) -> bool:
        return self.status is not OrderStatus.CREATED


def evolve(state: Order | None, event: OrderEvent) -> Order:
    if isinstance(event, OrderPlaced):
        return _placed(state, event)
    if state is None:
        raise InvalidHistory(f"order {event.order_id}: {type(event).__name__} before OrderPlaced")
    match event:
        case OrderConfirmed():
            return _settled(state, OrderStatus.CONFIRMED, None)
        case OrderRejected(reason=reason):
            return _settled(state, OrderStatus.REJECTED, reason)
        case OrderExpired():
            return _settled(state, OrderStatus.REJECTED, RejectionReason.TIMEOUT.value)
        case _:
            assert_never(event)


def _placed(state: Order | None, event: OrderPlaced) -> Order:
    if state is not None:
        raise InvalidHistory(f"order {event.order_id}: placed twice")
    return Order(
        order_id=event.order_id, customer_id=event.customer_id, lines=event.lines,
        total_cents=event.total_cents, ship_to=event.ship_to, flow=Flow(event.flow),
        channel=Channel(event.channel), status=OrderStatus.CREATED, reason=None,
        placed_at=event.placed_at, deadline=event.deadline, version=1,
    )


def _settled(state: Order, status: OrderStatus, reason: str | None) -> Order:
    return replace(state, status=status, reason=reason, version=state.version + 1)


def fold_order(events: Iterable[OrderEvent]) -> Order | None:
    """The order after its events, or None for an empty stream (no such order)."""
    state: Order | None = None
    for event in events:
        state = evolve(state, event)
    return state


def confirm(state: Order, now: datetime) -> list[OrderEvent]:
    require_aware(now)
    # Terminal orders absorb everything: a redelivered command must change nothing.
    if state.is_terminal:
        return []
    return [OrderConfirmed(order_id=state.order_id, confirmed_at=now)]


def reject(state: Order, reason: RejectionReason | str, now: datetime) -> list[OrderEvent]:
    reason = parse_reason(reason)
    require_aware(now)
    if state.is_terminal:
        return []
    return [OrderRejected(order_id=state.order_id, reason=reason, rejected_at=now)]


def expire(state: Order, now: datetime) -> list[OrderEvent]:
    """Expire an order past its deadline; before it, or once settled, nothing happens."""
    if state.is_terminal or require_aware(now) < state.deadline:
        return []
    return [OrderExpired(order_id=state.order_id, expired_at=now)]

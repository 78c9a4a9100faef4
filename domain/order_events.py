"""What happens to an order, as recorded in its stream (``domain.order`` re-exports all)."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias


class Flow(StrEnum):
    CHOREOGRAPHY = "choreography"
    ORCHESTRATION = "orchestration"


class Channel(StrEnum):
    """Where an order was placed: which program a user (or a workshop) placed it with."""

    CLI = "cli"  # `orderflow place`
    DEMO = "demo"  # `orderflow demo`
    COMPARE = "compare"  # `orderflow compare`
    BENCH = "bench"  # `orderflow bench`
    UNKNOWN = "unknown"  # placed before orders recorded their channel; never placed with


class OrderStatus(StrEnum):
    CREATED = "created"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderPlaced:
    order_id: str
    customer_id: str
    lines: tuple[OrderLine, ...]
    total_cents: int
    ship_to: str
    flow: str  # a Flow value; plain str keeps events wire-shaped
    channel: str  # a Channel value; orders placed before it was recorded say "unknown"
    placed_at: datetime
    deadline: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderConfirmed:
    order_id: str
    confirmed_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderRejected:
    order_id: str
    reason: str  # a RejectionReason value
    rejected_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class OrderExpired:
    """Rejected with reason ``timeout``: nobody answered before the deadline."""

    order_id: str
    expired_at: datetime


OrderEvent: TypeAlias = OrderPlaced | OrderConfirmed | OrderRejected | OrderExpired

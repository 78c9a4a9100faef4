"""Inventory's events (``domain.inventory`` re-exports all).

Two kinds of stream: one per SKU (the stock level) and one per order (the
reservation, i.e. inventory's answer to that order).
"""

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, kw_only=True, slots=True)
class ReservedLine:
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StockAdded:
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StockAllocated:
    sku: str
    order_id: str
    quantity: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StockDeallocated:
    sku: str
    order_id: str
    quantity: int


@dataclass(frozen=True, kw_only=True, slots=True)
class StockReserved:
    order_id: str
    lines: tuple[ReservedLine, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class StockRejected:
    order_id: str
    reason: str  # RejectionReason.OUT_OF_STOCK or UNKNOWN_SKU
    sku: str | None  # the first line that could not be reserved


@dataclass(frozen=True, kw_only=True, slots=True)
class StockReleased:
    order_id: str
    lines: tuple[ReservedLine, ...]  # what was actually given back


StockEvent: TypeAlias = StockAdded | StockAllocated | StockDeallocated
ReservationEvent: TypeAlias = StockReserved | StockRejected | StockReleased
InventoryEvent: TypeAlias = StockEvent | ReservationEvent

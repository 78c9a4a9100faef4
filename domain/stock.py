"""The Stock aggregate: one stream per SKU, units available or held by orders.

Invariant: ``available >= 0`` and ``available + sum(reserved) == units ever added``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import assert_never

from domain.errors import InvalidHistory
from domain.ids import validate_sku
from domain.inventory_events import StockAdded, StockAllocated, StockDeallocated, StockEvent
from domain.values import InvalidQuantity, adjusted, bounded_int, no_holdings

MAX_STOCK_QUANTITY = 1_000_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class Stock:
    sku: str = ""
    available: int = 0
    reserved: Mapping[str, int] = field(default_factory=no_holdings)  # order id -> units
    version: int = 0  # 0: never stocked, which reservations treat as an unknown SKU

    @property
    def total(self) -> int:
        return self.available + sum(self.reserved.values())


def evolve_stock(stock: Stock, event: StockEvent) -> Stock:
    match event:
        case StockAdded():
            moved = replace(stock, sku=event.sku, available=stock.available + event.quantity)
        case StockAllocated():
            moved = _hold(stock, event.order_id, event.quantity)
        case StockDeallocated():
            moved = _hold(stock, event.order_id, -event.quantity)
        case _:
            assert_never(event)
    return replace(moved, version=stock.version + 1)


def _hold(stock: Stock, order_id: str, units: int) -> Stock:
    held = adjusted(stock.reserved, order_id, units)
    if stock.available < units or held.get(order_id, 0) < 0:
        raise InvalidHistory(f"stock {stock.sku}: would go negative for order {order_id}")
    return replace(stock, available=stock.available - units, reserved=held)


def fold_stock(events: Iterable[StockEvent]) -> Stock:
    stock = Stock()
    for event in events:
        stock = evolve_stock(stock, event)
    return stock


def add_stock(stock: Stock, sku: str, quantity: int) -> list[StockEvent]:
    sku = validate_sku(sku)
    quantity = bounded_int(
        quantity, what="quantity to add", low=1, high=MAX_STOCK_QUANTITY, error=InvalidQuantity
    )
    return [StockAdded(sku=sku, quantity=quantity)]

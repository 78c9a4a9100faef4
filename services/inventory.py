"""Inventory: stock per SKU and a reservation per order.

Commands: `add_stock` (CLI). Reactions (choreography) and command handlers
(orchestration) arrive with the consumer runtime.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from adapters.sql.event_store import Context, EventStore
from domain.ids import validate_sku
from domain.stock import Stock, add_stock, fold_stock
from domain.streams import stock_stream
from services.clock import Clock
from services.transact import transact


class Inventory:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock) -> None:
        self.engine, self.store, self.clock = engine, store, clock

    def add_stock(self, sku: str, quantity: int) -> Stock:
        def work(connection: Connection) -> Stock:
            stream = stock_stream(validate_sku(sku))
            stock = fold_stock(self.store.load(connection, stream))
            events = add_stock(stock, sku, quantity)
            context = Context(correlation_id=sku, causation_id=None, flow=None,
                              now=self.clock())
            self.store.append(connection, stream, stock.version, events, context)
            return fold_stock([*self.store.load(connection, stream)])

        return transact(self.engine, work, f"stock add {sku}")

    def stock(self, sku: str) -> Stock:
        with self.engine.connect() as connection:
            return fold_stock(self.store.load(connection, stock_stream(validate_sku(sku))))

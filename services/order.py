"""Order: places orders (CLI); confirms, rejects and expires them as the saga runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, Engine

from adapters.sql.event_store import Context, EventStore
from domain.catalog import Catalog
from domain.order import Order, fold_order
from domain.order_placement import place_order
from domain.streams import order_stream
from services.clock import Clock
from services.transact import transact


class Orders:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock, catalog: Catalog,
                 timeout: timedelta) -> None:
        self.engine, self.store, self.clock = engine, store, clock
        self.catalog, self.timeout = catalog, timeout

    def place(self, *, customer_id: str, items: Sequence[tuple[str, int]], ship_to: str,
              flow: str) -> str:
        order_id = str(uuid.uuid4())
        events = place_order(order_id=order_id, customer_id=customer_id, items=items,
                             ship_to=ship_to, flow=flow, catalog=self.catalog,
                             now=self.clock(), timeout=self.timeout)
        context = Context(correlation_id=order_id, causation_id=None, flow=flow,
                          now=self.clock())

        def work(connection: Connection) -> str:
            self.store.append(connection, order_stream(order_id), 0, events, context)
            return order_id

        return transact(self.engine, work, f"place order {order_id}")

    def get(self, order_id: str) -> Order | None:
        with self.engine.connect() as connection:
            return fold_order(self.store.load(connection, order_stream(order_id)))

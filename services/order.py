"""Order: places orders, and settles them as the saga runs.

Choreography — reacts on its own:
  ShipmentScheduled                                → OrderConfirmed
  StockRejected, PaymentDeclined, ShipmentRejected → OrderRejected(reason)
  its deadline passes while not terminal          → OrderExpired (the others compensate)
Orchestration — obeys the orchestrator (a repeated command gets the first outcome again):
  ConfirmOrder → OrderConfirmed;  RejectOrder(reason) → OrderRejected
Commands from the CLI: `place`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from functools import partial

from sqlalchemy import Connection, Engine

from adapters.codec import Envelope
from adapters.kafka.consumer import Incoming, Unhandleable
from adapters.sql.event_store import Context, EventStore
from adapters.sql.timers import clear_timer, due_timers, set_timer
from domain.catalog import Catalog
from domain.commands import ConfirmOrder, RejectOrder
from domain.inventory_events import StockRejected
from domain.order import Order, confirm, evolve, expire, reject
from domain.order_events import OrderPlaced
from domain.order_placement import place_order
from domain.payment_events import PaymentDeclined
from domain.shipping import ShipmentRejected, ShipmentScheduled
from domain.streams import order_stream
from services.clock import Clock
from services.messaging import CHOREOGRAPHY, append_decision, caused_by, participant
from services.runner import ServicePlan
from services.transact import reading, transact

logger = logging.getLogger(__name__)
DEADLINE = "order-deadline"

WANTS = participant((ConfirmOrder, RejectOrder),
                    (ShipmentScheduled, StockRejected, PaymentDeclined, ShipmentRejected))


class Orders:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock, catalog: Catalog,
                 timeout: timedelta, prefix: str) -> None:
        self.engine, self.store, self.clock = engine, store, clock
        self.catalog, self.timeout, self.prefix = catalog, timeout, prefix

    def plan(self) -> ServicePlan:
        topics = [self.prefix + t for t in ("inventory", "payments", "shipping",
                                             "orders.commands")]
        return ServicePlan("order", "order", topics, self.handle, [self.expire_due], WANTS)

    def handle(self, connection: Connection, incoming: Incoming) -> None:
        cause = incoming.envelope
        match cause.body:
            case ConfirmOrder(order_id=order_id):
                self.settle(connection, cause, order_id, None)
            case RejectOrder(order_id=order_id, reason=reason):
                self.settle(connection, cause, order_id, reason)
            case _:
                self.react(connection, cause)

    def react(self, connection: Connection, cause: Envelope) -> None:
        if cause.flow != CHOREOGRAPHY:
            return  # orchestrated orders are settled by the orchestrator's commands
        match cause.body:
            case ShipmentScheduled(order_id=order_id):
                self.settle(connection, cause, order_id, None)
            case StockRejected(order_id=order_id, reason=reason) | \
                    PaymentDeclined(order_id=order_id, reason=reason) | \
                    ShipmentRejected(order_id=order_id, reason=reason):
                self.settle(connection, cause, order_id, reason)

    def settle(self, connection: Connection, cause: Envelope, order_id: str,
               reason: str | None) -> None:
        """Confirm (reason None) or reject; a settled order absorbs late news."""
        order = self._order(connection, order_id)
        now = self.clock()
        events = confirm(order, now) if reason is None else reject(order, reason, now)
        stream = order_stream(order_id)
        append_decision(self.store, connection, {stream: events}, {stream: order.version},
                        caused_by(cause, self.clock), stream)
        if events:
            clear_timer(connection, DEADLINE, order_id)

    def place(self, *, customer_id: str, items: Sequence[tuple[str, int]], ship_to: str,
              flow: str, channel: str) -> str:
        """`channel`: the program placing it (a Channel value), shown with the order."""
        order_id = str(uuid.uuid4())
        events = place_order(order_id=order_id, customer_id=customer_id, items=items,
                             ship_to=ship_to, flow=flow, channel=channel,
                             catalog=self.catalog, now=self.clock(), timeout=self.timeout)
        placed = events[0]
        assert isinstance(placed, OrderPlaced)
        context = Context(correlation_id=order_id, causation_id=None, flow=flow, now=self.clock())

        def work(connection: Connection) -> str:
            self.store.append(connection, order_stream(order_id), 0, events, context)
            if flow == CHOREOGRAPHY:  # in orchestration the orchestrator owns the deadline
                set_timer(connection, DEADLINE, order_id, placed.deadline)
            return order_id

        return transact(self.engine, work, f"place order {order_id}")

    def expire_due(self) -> int:
        """Expire choreography orders whose deadline passed; the timer row goes with it."""
        with reading(self.engine) as connection:
            due = due_timers(connection, DEADLINE, self.clock())
        for order_id in due:
            transact(self.engine, partial(self._expire, order_id=order_id), f"expire {order_id}")
        return len(due)

    def _expire(self, connection: Connection, *, order_id: str) -> None:
        order = self._order(connection, order_id)
        events = expire(order, self.clock())
        if events:
            logger.info("order %s expired (deadline %s)", order_id, order.deadline.isoformat())
            context = Context(correlation_id=order_id, causation_id=None, flow=order.flow,
                              now=self.clock())
            self.store.append(connection, order_stream(order_id), order.version, events, context)
        if events or order.is_terminal:
            clear_timer(connection, DEADLINE, order_id)

    def get(self, order_id: str) -> Order | None:
        with reading(self.engine) as connection:
            return self.store.state(connection, order_stream(order_id), None, evolve)

    def _order(self, connection: Connection, order_id: str) -> Order:
        order = self.store.state(connection, order_stream(order_id), None, evolve)
        if order is None:
            raise Unhandleable(f"no order {order_id} in the order store")
        return order

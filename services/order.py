"""Order: places orders, and settles them as the saga runs.

What it does is its message table (`messages`); a settled order absorbs late news, and
a repeated command gets its first outcome again. In choreography the order owns its
deadline: `expire_due` (a timer) expires an order still open when it passes, and the
others compensate on OrderExpired. Commands from the CLI: `place`; query: `get`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from datetime import timedelta
from functools import partial

from adapters.codec import Envelope
from domain.catalog import Catalog
from domain.commands import ConfirmOrder, RejectOrder
from domain.errors import OrderflowError, Unhandleable
from domain.fraud import FraudRejected
from domain.inventory_events import StockRejected
from domain.order import Order, confirm, evolve, expire, reject
from domain.order_events import OrderConfirmed, OrderExpired, OrderPlaced, OrderRejected
from domain.order_placement import place_order
from domain.payment_events import PaymentDeclined
from domain.shipping import ShipmentRejected, ShipmentScheduled
from domain.streams import order_stream
from services.port import (
    CHOREOGRAPHY,
    ORCHESTRATION,
    Handler,
    MessageTable,
    UnitOfWork,
    Units,
    decide,
)

logger = logging.getLogger(__name__)
DEADLINE = "order-deadline"
FLOWS = (CHOREOGRAPHY, ORCHESTRATION)


class FlowNotDeployed(OrderflowError):
    """An order for a flow this deployment does not run (ORDERFLOW_FLOWS)."""


class Orders:
    def __init__(self, units: Units, catalog: Catalog, timeout: timedelta,
                 steps: Collection[str] = (), flows: Collection[str] = FLOWS) -> None:
        """`steps`: the optional saga steps deployed; fraud's rejection rejects too.
        `flows`: the flows deployed; an order of another flow is refused (nobody would
        answer it, and it would only time out)."""
        self.units, self.catalog, self.timeout = units, catalog, timeout
        self.steps, self.flows = frozenset(steps), frozenset(flows)

    def messages(self) -> MessageTable:
        fraud: dict[type, Handler] = ({FraudRejected: self.reject}
                                      if "fraud" in self.steps else {})
        return MessageTable(
            choreography={ShipmentScheduled: self.confirm,
                          StockRejected: self.reject,
                          **fraud,
                          PaymentDeclined: self.reject,
                          ShipmentRejected: self.reject},
            orchestration={ConfirmOrder: self.confirm,
                           RejectOrder: self.reject},
            per_order=(order_stream,),
            timers=(self.expire_due,),
            publishes=(OrderPlaced, OrderConfirmed, OrderRejected, OrderExpired))

    def confirm(self, msg: Envelope, uow: UnitOfWork) -> None:
        """OrderConfirmed; its deadline goes."""
        order = _order(uow, msg.body.order_id)
        self._settle(msg, uow, order, confirm(order, uow.now))

    def reject(self, msg: Envelope, uow: UnitOfWork) -> None:
        """OrderRejected with the step's reason; its deadline goes."""
        order = _order(uow, msg.body.order_id)
        self._settle(msg, uow, order, reject(order, msg.body.reason, uow.now))

    def _settle(self, msg: Envelope, uow: UnitOfWork, order: Order,
                events: Sequence[object]) -> None:
        stream = order_stream(order.order_id)
        decide(uow, msg, {stream: events}, stream)
        if events:
            uow.clear_timer(DEADLINE, order.order_id)

    def place(self, *, customer_id: str, items: Sequence[tuple[str, int]], ship_to: str,
              flow: str, channel: str) -> str:
        """`channel`: the program placing it (a Channel value), shown with the order."""
        if flow not in self.flows:
            raise FlowNotDeployed(f"this deployment runs {' and '.join(sorted(self.flows))}"
                                  f" only (ORDERFLOW_FLOWS); it cannot place a {flow} order")
        order_id = str(uuid.uuid4())

        def work(uow: UnitOfWork) -> str:
            events = place_order(order_id=order_id, customer_id=customer_id, items=items,
                                 ship_to=ship_to, flow=flow, channel=channel,
                                 catalog=self.catalog, now=uow.now, timeout=self.timeout)
            placed = events[0]
            assert isinstance(placed, OrderPlaced)
            uow.append({order_stream(order_id): events})
            if flow == CHOREOGRAPHY:  # in orchestration the orchestrator owns the deadline
                uow.set_timer(DEADLINE, order_id, placed.deadline)
            return order_id

        return self.units.write(work, f"place order {order_id}", correlation_id=order_id,
                                flow=flow)

    def expire_due(self) -> int:
        """Expire choreography orders whose deadline passed; the timer row goes with it."""
        due = self.units.read(lambda uow: uow.due(DEADLINE))
        for order_id in due:
            order = self.get(order_id)
            self.units.write(partial(self._expire, order_id=order_id), f"expire {order_id}",
                             correlation_id=order_id, flow=order.flow if order else None)
        return len(due)

    def _expire(self, uow: UnitOfWork, *, order_id: str) -> None:
        order = _order(uow, order_id)
        events = expire(order, uow.now)
        if events:
            logger.info("order %s expired (deadline %s)", order_id, order.deadline.isoformat(),
                        extra={"order_id": order_id})  # a timer's line: no record to say it
            uow.append({order_stream(order_id): events})
        if events or order.is_terminal:
            uow.clear_timer(DEADLINE, order_id)

    def get(self, order_id: str) -> Order | None:
        return self.units.read(lambda uow: uow.state(order_stream(order_id), None, evolve))


def _order(uow: UnitOfWork, order_id: str) -> Order:
    order = uow.state(order_stream(order_id), None, evolve)
    if order is None:
        raise Unhandleable(f"no order {order_id} in the order store")
    return order

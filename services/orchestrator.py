"""Orchestrator: the process manager of orchestrated orders.

  OrderPlaced (orchestration) → start a saga: ReserveStock
  a participant's reply       → the saga decides: next command, compensation, or done
  a step's deadline passes    → re-send (bounded), then compensate with reason `timeout`;
                                an overdue compensation is re-sent with backoff, never given up
  `orderflow sagas retry`     → re-send a failing compensation now

The saga's events, its outgoing commands (outbox), its step timer and the consumer's
positions commit in one transaction. The decisions are the pure state machine in
`domain/saga.py`; this module only loads, decides and stores.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import get_args

from sqlalchemy import Connection, Engine

from adapters import faults
from adapters.codec import Envelope
from adapters.kafka.consumer import Incoming, Unhandleable
from adapters.sql.event_store import Context, EventStore
from adapters.sql.timers import clear_timer, due_timers, set_timer
from domain.commands import CancelShipment, ReleaseStock, VoidPayment
from domain.errors import OrderflowError
from domain.order_events import OrderPlaced
from domain.saga import (
    AWAITING,
    Decision,
    Reply,
    Saga,
    evolve_saga,
    on_reply,
    on_tick,
    retry_now,
    start_saga,
)
from domain.saga_events import SagaState
from domain.streams import saga_stream
from services.clock import Clock
from services.messaging import ORCHESTRATION
from services.runner import ServicePlan
from services.transact import reading, transact

logger = logging.getLogger(__name__)
STEP_DEADLINE = "saga-step"
REPLIES = get_args(Reply)


class NoSuchSaga(OrderflowError):
    """No orchestrated saga for this order."""


def wants(envelope: Envelope) -> bool:
    """Orchestrated orders only: their placement and the participants' replies."""
    return envelope.flow == ORCHESTRATION and isinstance(envelope.body, (OrderPlaced, *REPLIES))


class Orchestrator:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock, prefix: str,
                 step_timeout: timedelta, max_attempts: int = 3) -> None:
        self.engine, self.store, self.clock, self.prefix = engine, store, clock, prefix
        self.step_timeout, self.max_attempts = step_timeout, max_attempts

    def plan(self) -> ServicePlan:
        topics = [self.prefix + t for t in ("orders", "inventory", "payments", "shipping")]
        return ServicePlan("orchestrator", "orchestrator", topics, self.handle, [self.tick_due],
                           wants)

    def handle(self, connection: Connection, incoming: Incoming) -> None:
        cause = incoming.envelope
        if cause.flow != ORCHESTRATION:
            return  # choreographed orders have nobody in charge
        if isinstance(cause.body, OrderPlaced):
            self._start(connection, cause, cause.body)
        elif isinstance(cause.body, REPLIES):
            saga = self._saga(connection, cause.correlation_id)
            if saga is None:
                raise Unhandleable(f"{cause.type} for order {cause.correlation_id}: no saga")
            self._record(connection, saga, on_reply(saga, cause.body, self.clock()), cause)

    def _start(self, connection: Connection, cause: Envelope, placed: OrderPlaced) -> None:
        if self._saga(connection, placed.order_id) is not None:
            return  # OrderPlaced seen twice: the saga already runs
        decision = start_saga(placed, self.clock(), self.step_timeout, self.max_attempts)
        self._record(connection, None, decision, cause)

    def tick_due(self) -> int:
        with reading(self.engine) as connection:
            due = due_timers(connection, STEP_DEADLINE, self.clock())
        for order_id in due:
            transact(self.engine, partial(self._tick, order_id=order_id), f"saga {order_id}")
        return len(due)

    def retry(self, order_id: str) -> Saga:
        """Re-send the failing compensation of this order's saga now (NotStuck if none)."""
        def work(connection: Connection) -> Saga:
            saga = self._saga(connection, order_id)
            if saga is None:
                raise NoSuchSaga(f"no saga for order {order_id}: not placed with "
                                 "--flow orchestration, or not started yet")
            self._record(connection, saga, retry_now(saga, self.clock()), None)
            after = self._saga(connection, order_id)
            assert after is not None
            return after

        return transact(self.engine, work, f"saga {order_id} retry")

    def _tick(self, connection: Connection, *, order_id: str) -> None:
        saga = self._saga(connection, order_id)
        if saga is None:
            clear_timer(connection, STEP_DEADLINE, order_id)
            return
        self._record(connection, saga, on_tick(saga, self.clock()), None)

    def _record(self, connection: Connection, saga: Saga | None, decision: Decision,
                cause: Envelope | None) -> None:
        order_id = saga.order_id if saga else str(decision.events[0].order_id)
        context = Context(correlation_id=order_id, causation_id=cause.event_id if cause else None,
                          flow=ORCHESTRATION, now=self.clock())
        stream = saga_stream(order_id)
        if decision.events:
            self.store.append(connection, stream, saga.version if saga else 0,
                              decision.events, context)
        self.store.send(connection, decision.commands, context)
        for command in decision.commands:
            logger.info("order %s: %s sent", order_id, type(command).__name__)
            if isinstance(command, ReleaseStock | VoidPayment | CancelShipment):
                faults.point("compensation")
        after = saga
        for event in decision.events:
            after = evolve_saga(after, event)
        self._arm_timer(connection, after)

    def _arm_timer(self, connection: Connection, saga: Saga | None) -> None:
        if saga is None or saga.state not in AWAITING or saga.deadline is None:
            if saga is not None:
                clear_timer(connection, STEP_DEADLINE, saga.order_id)
            return
        due = saga.deadline
        if saga.state is SagaState.RUNNING:
            due = min(due, saga.order_deadline)  # the order's own deadline also ends a saga
        set_timer(connection, STEP_DEADLINE, saga.order_id, due)

    def _saga(self, connection: Connection, order_id: str) -> Saga | None:
        return self.store.state(connection, saga_stream(order_id), None, evolve_saga)

    def saga(self, order_id: str) -> Saga | None:
        with reading(self.engine) as connection:
            return self._saga(connection, order_id)

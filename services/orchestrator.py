"""Orchestrator: the process manager of orchestrated orders.

What it reacts to is its message table (`messages`): an orchestrated OrderPlaced starts
a saga, and each participant's reply lets the saga decide — the next command, a
compensation, or done. Its timer (`tick_due`) re-sends an overdue step (bounded), then
compensates with reason `timeout`; an overdue compensation is re-sent with backoff and
never given up. `retry` (`orderflow sagas retry`) re-sends a failing compensation now.

The saga's events, its outgoing commands, its step timer and the consumer's position
commit in one unit of work. The saga's events stay in this store: readers get a
`SagaProgressed` summary from a unit that started the saga or changed how it stands
(not from one that only moved a step on), so a saga that goes straight through puts
two saga messages on Kafka, not ten. The decisions are the pure state machine in
`domain/saga.py`; this module only loads, decides and stores.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import timedelta
from functools import partial
from typing import get_args

from adapters.codec import Envelope
from domain.commands import CheckFraud, SagaCommand
from domain.errors import OrderflowError, Unhandleable
from domain.fraud import FraudCleared, FraudRejected
from domain.order_events import OrderPlaced
from domain.saga import (
    AWAITING,
    Decision,
    Reply,
    Saga,
    evolve_saga,
    on_reply,
    on_tick,
    progress,
    retry_now,
    start_saga,
)
from domain.saga_events import SagaProgressed, SagaState, Step, forward_steps
from domain.streams import saga_stream
from services.port import ORCHESTRATION, Handler, MessageTable, UnitOfWork, Units

logger = logging.getLogger(__name__)
STEP_DEADLINE = "saga-step"


class NoSuchSaga(OrderflowError):
    """No orchestrated saga for this order."""


class Orchestrator:
    def __init__(self, units: Units, step_timeout: timedelta, max_attempts: int = 3,
                 steps: Collection[str] = ()) -> None:
        """`steps`: the optional saga steps deployed; each new saga runs them in order."""
        self.units, self.step_timeout, self.max_attempts = units, step_timeout, max_attempts
        self.steps = forward_steps(steps)

    def messages(self) -> MessageTable:
        unused = set() if Step.CHECK_FRAUD in self.steps else {FraudCleared, FraudRejected,
                                                               CheckFraud}
        replies: dict[type, Handler] = {reply: self.advance for reply in get_args(Reply)
                                        if reply not in unused}
        commands = tuple(c for c in get_args(SagaCommand) if c not in unused)
        return MessageTable(orchestration={OrderPlaced: self.start, **replies},
                            per_order=(saga_stream,), timers=(self.tick_due,),
                            publishes=(*commands, SagaProgressed))

    def start(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Start the saga: ReserveStock (OrderPlaced seen twice: it already runs)."""
        if _saga(uow, msg.body.order_id) is None:
            self._record(uow, None, start_saga(msg.body, uow.now, self.step_timeout,
                                               self.max_attempts, self.steps))

    def advance(self, msg: Envelope, uow: UnitOfWork) -> None:
        """A participant answered: the saga decides what comes next."""
        saga = _saga(uow, msg.correlation_id)
        if saga is None:
            raise Unhandleable(f"{msg.type} for order {msg.correlation_id}: no saga")
        self._record(uow, saga, on_reply(saga, msg.body, uow.now))

    def tick_due(self) -> int:
        due = self.units.read(lambda uow: uow.due(STEP_DEADLINE))
        for order_id in due:
            self.units.write(partial(self._tick, order_id=order_id), f"saga {order_id}",
                             correlation_id=order_id, flow=ORCHESTRATION)
        return len(due)

    def retry(self, order_id: str) -> Saga:
        """Re-send the failing compensation of this order's saga now (NotStuck if none)."""
        def work(uow: UnitOfWork) -> Saga:
            saga = _saga(uow, order_id)
            if saga is None:
                raise NoSuchSaga(f"no saga for order {order_id}: not placed with "
                                 "--flow orchestration, or not started yet")
            after = self._record(uow, saga, retry_now(saga, uow.now))
            assert after is not None
            return after

        return self.units.write(work, f"saga {order_id} retry", correlation_id=order_id,
                                flow=ORCHESTRATION)

    def saga(self, order_id: str) -> Saga | None:
        return self.units.read(lambda uow: _saga(uow, order_id))

    def _tick(self, uow: UnitOfWork, *, order_id: str) -> None:
        saga = _saga(uow, order_id)
        if saga is None:
            uow.clear_timer(STEP_DEADLINE, order_id)
            return
        self._record(uow, saga, on_tick(saga, uow.now))

    def _record(self, uow: UnitOfWork, saga: Saga | None, decision: Decision) -> Saga | None:
        """The saga's events and commands, and its timer armed for what it awaits."""
        order_id = saga.order_id if saga else str(decision.events[0].order_id)
        if decision.events:
            uow.append({saga_stream(order_id): decision.events})
        uow.send(decision.commands)
        for command in decision.commands:
            logger.info("order %s: %s sent", order_id, type(command).__name__,
                        extra={"order_id": order_id})  # on a tick too, with no record
        after = _saga(uow, order_id)
        report = progress(after, decision.events) if after is not None else None
        if report is not None:
            uow.publish([report])  # the saga's events stay here; readers get this
        self._arm_timer(uow, order_id, after)
        return after

    @staticmethod
    def _arm_timer(uow: UnitOfWork, order_id: str, saga: Saga | None) -> None:
        if saga is None or saga.state not in AWAITING or saga.deadline is None:
            uow.clear_timer(STEP_DEADLINE, order_id)
            return
        due = saga.deadline
        if saga.state is SagaState.RUNNING:
            due = min(due, saga.order_deadline)  # the order's own deadline also ends a saga
        uow.set_timer(STEP_DEADLINE, order_id, due)


def _saga(uow: UnitOfWork, order_id: str) -> Saga | None:
    return uow.state(saga_stream(order_id), None, evolve_saga)

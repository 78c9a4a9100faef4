"""The saga's state, rebuilt by folding its events (``domain.saga`` re-exports all)."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import assert_never

from domain.errors import InvalidHistory
from domain.inventory_events import ReservedLine
from domain.saga_events import (
    COMPENSATIONS,
    CORE_STEPS,
    FORWARD_STEPS,
    CommandSent,
    CompensationFailed,
    CompensationStarted,
    LateSuccess,
    SagaCompleted,
    SagaEvent,
    SagaRejected,
    SagaStarted,
    SagaState,
    Step,
    StepFailed,
    StepSucceeded,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SentCommand:
    step: Step
    command: str
    attempt: int
    sent_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class Saga:
    order_id: str
    customer_id: str
    lines: tuple[ReservedLine, ...]
    amount_cents: int
    ship_to: str
    order_deadline: datetime
    step_timeout: timedelta
    max_attempts: int
    state: SagaState = SagaState.RUNNING
    current_step: Step | None = None  # the step or task awaiting its reply
    attempts: int = 0  # sends of the current step's command so far
    deadline: datetime | None = None  # the current step's
    steps_done: tuple[Step, ...] = ()
    failed_step: Step | None = None
    reason: str | None = None
    steps: tuple[Step, ...] = CORE_STEPS  # the forward steps this saga runs, in order
    plan: tuple[Step, ...] = ()  # compensation tasks still to run, current first
    compensated: tuple[Step, ...] = ()
    late_successes: tuple[Step, ...] = ()
    history: tuple[SentCommand, ...] = ()
    started_at: datetime | None = None
    version: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.state in (SagaState.COMPLETED, SagaState.REJECTED)


def evolve_saga(saga: Saga | None, event: SagaEvent) -> Saga:
    if isinstance(event, SagaStarted):
        return _started(saga, event)
    if saga is None:
        raise InvalidHistory(f"saga {event.order_id}: {type(event).__name__} before SagaStarted")
    return replace(_apply(saga, event), version=saga.version + 1)


def _started(saga: Saga | None, event: SagaStarted) -> Saga:
    if saga is not None:
        raise InvalidHistory(f"saga {event.order_id}: started twice")
    return Saga(
        order_id=event.order_id, customer_id=event.customer_id, lines=event.lines,
        amount_cents=event.amount_cents, ship_to=event.ship_to,
        order_deadline=event.order_deadline,
        step_timeout=timedelta(milliseconds=event.step_timeout_ms),
        max_attempts=event.max_attempts, started_at=event.started_at, version=1,
        steps=tuple(Step(step) for step in event.steps),
    )


def _apply(saga: Saga, event: SagaEvent) -> Saga:
    match event:
        case CommandSent():
            return _sent(saga, event)
        case StepSucceeded():
            return _succeeded(saga, Step(event.step))
        case StepFailed():
            return _idle(replace(saga, failed_step=Step(event.step), reason=event.reason))
        case CompensationStarted():
            plan = tuple(Step(step) for step in event.plan)
            return replace(saga, state=SagaState.COMPENSATING, reason=event.reason, plan=plan)
        case CompensationFailed():
            return replace(saga, state=SagaState.COMPENSATION_FAILED, deadline=None)
        case LateSuccess():
            return _late(saga, event)
        case SagaCompleted():
            return _idle(replace(saga, state=SagaState.COMPLETED, plan=()))
        case SagaRejected():
            return _idle(replace(saga, state=SagaState.REJECTED, reason=event.reason))
        case SagaStarted():
            raise InvalidHistory(f"saga {event.order_id}: started twice")
        case _:
            assert_never(event)


def _sent(saga: Saga, event: CommandSent) -> Saga:
    step = Step(event.step)
    sent = SentCommand(
        step=step, command=event.command, attempt=event.attempt, sent_at=event.sent_at
    )
    return replace(
        saga, current_step=step, attempts=event.attempt, deadline=event.deadline,
        history=(*saga.history, sent),
    )


def _late(saga: Saga, event: LateSuccess) -> Saga:
    step = Step(event.step)
    saga = replace(saga, late_successes=(*saga.late_successes, step))
    if event.compensation is None:
        return saga
    undo = SentCommand(
        step=COMPENSATIONS[step], command=event.compensation, attempt=1, sent_at=event.noticed_at
    )
    return replace(saga, history=(*saga.history, undo))


def _succeeded(saga: Saga, step: Step) -> Saga:
    if step in FORWARD_STEPS:
        saga = replace(saga, steps_done=(*saga.steps_done, step))
    else:
        plan = tuple(task for task in saga.plan if task is not step)
        saga = replace(saga, compensated=(*saga.compensated, step), plan=plan)
    if saga.state is SagaState.COMPENSATION_FAILED:
        saga = replace(saga, state=SagaState.COMPENSATING)  # the stuck task got through
    return _idle(saga)


def _idle(saga: Saga) -> Saga:
    return replace(saga, current_step=None, attempts=0, deadline=None)


def fold_saga(events: Iterable[SagaEvent]) -> Saga | None:
    """The saga after its events, or None for an empty stream."""
    saga: Saga | None = None
    for event in events:
        saga = evolve_saga(saga, event)
    return saga

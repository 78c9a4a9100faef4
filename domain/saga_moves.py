"""How the saga moves: send a step's command, finish a step, fail into compensation.

Shared by the entry points in ``domain.saga``, which re-exports ``Decision`` and
``command_for``.
"""

from datetime import datetime, timedelta
from typing import NamedTuple

from domain.commands import (
    AuthorizePayment,
    CancelShipment,
    CheckFraud,
    ConfirmOrder,
    RejectOrder,
    ReleaseStock,
    ReserveStock,
    SagaCommand,
    ScheduleShipment,
    VoidPayment,
)
from domain.reasons import RejectionReason
from domain.saga_events import (
    COMPENSATIONS,
    FORWARD_STEPS,
    CommandSent,
    CompensationFailed,
    CompensationStarted,
    SagaCompleted,
    SagaEvent,
    SagaRejected,
    SagaState,
    Step,
    StepFailed,
    StepSucceeded,
)
from domain.saga_state import Saga, evolve_saga

TIMEOUT = RejectionReason.TIMEOUT.value
# A compensation is re-sent after 1, 2, 4 ... step timeouts, never further apart than this.
BACKOFF_CAP = 32


class Decision(NamedTuple):
    events: list[SagaEvent]
    commands: list[SagaCommand]


def nothing() -> Decision:
    return Decision([], [])


def prefixed(event: SagaEvent, then: Decision) -> Decision:
    return Decision([event, *then.events], then.commands)


def command_for(saga: Saga, step: Step) -> SagaCommand:
    """The command that carries out ``step``: everything the participant needs is in it."""
    order_id = saga.order_id
    commands: dict[Step, SagaCommand] = {
        Step.RESERVE_STOCK: ReserveStock(order_id=order_id, lines=saga.lines),
        Step.CHECK_FRAUD: CheckFraud(
            order_id=order_id, customer_id=saga.customer_id, amount_cents=saga.amount_cents
        ),
        Step.AUTHORIZE_PAYMENT: AuthorizePayment(
            order_id=order_id, customer_id=saga.customer_id, amount_cents=saga.amount_cents
        ),
        Step.SCHEDULE_SHIPMENT: ScheduleShipment(order_id=order_id, country=saga.ship_to),
        Step.CONFIRM_ORDER: ConfirmOrder(order_id=order_id),
        Step.RELEASE_STOCK: ReleaseStock(order_id=order_id),
        Step.VOID_PAYMENT: VoidPayment(order_id=order_id),
        Step.CANCEL_SHIPMENT: CancelShipment(order_id=order_id),
        Step.REJECT_ORDER: RejectOrder(order_id=order_id, reason=saga.reason or TIMEOUT),
    }
    return commands[step]


def send(saga: Saga, step: Step, now: datetime, cause: str | None = None,
         wait: timedelta | None = None) -> Decision:
    attempt = saga.attempts + 1 if step is saga.current_step else 1
    command = command_for(saga, step)
    sent = CommandSent(
        order_id=saga.order_id, step=step.value, command=type(command).__name__,
        attempt=attempt, sent_at=now, deadline=now + (wait or _wait(saga, step, attempt)),
        cause=cause,
    )
    return Decision([sent], [command])


def _wait(saga: Saga, step: Step, attempt: int) -> timedelta:
    """A forward step gets one step timeout per attempt; a compensation backs off."""
    if step in FORWARD_STEPS:
        return saga.step_timeout
    return saga.step_timeout * min(1 << min(attempt - 1, 16), BACKOFF_CAP)


def succeed(saga: Saga, step: Step, now: datetime) -> Decision:
    """The awaited step or task is done: send the next one, or finish."""
    done = StepSucceeded(order_id=saga.order_id, step=step.value)
    after = evolve_saga(saga, done)
    upcoming = _next_task(after)
    if upcoming is not None:
        return prefixed(done, send(after, upcoming, now))
    if after.state is SagaState.RUNNING:
        return Decision([done, SagaCompleted(order_id=saga.order_id)], [])
    rejected = SagaRejected(order_id=saga.order_id, reason=after.reason or TIMEOUT)
    return Decision([done, rejected], [])


def _next_task(saga: Saga) -> Step | None:
    if saga.state is SagaState.RUNNING:
        return next((step for step in saga.steps if step not in saga.steps_done), None)
    return saga.plan[0] if saga.plan else None


def fail(saga: Saga, step: Step, reason: str, now: datetime) -> Decision:
    """The awaited step failed: undo what succeeded, as planned by ``_plan``."""
    failed = StepFailed(order_id=saga.order_id, step=step.value, reason=reason)
    plan = _plan(evolve_saga(saga, failed))
    started = CompensationStarted(
        order_id=saga.order_id, reason=reason, plan=tuple(task.value for task in plan)
    )
    compensating = evolve_saga(evolve_saga(saga, failed), started)
    first = send(compensating, plan[0], now)
    return Decision([failed, started, *first.events], first.commands)


def _plan(saga: Saga) -> tuple[Step, ...]:
    undo = tuple(COMPENSATIONS[step] for step in reversed(saga.steps_done) if step in COMPENSATIONS)
    # The order is the pivot. If it did not answer ConfirmOrder it may still confirm,
    # so ask it to reject first: its answer (commands to it are processed in order)
    # decides whether anything gets undone at all.
    if saga.failed_step is Step.CONFIRM_ORDER:
        return (Step.REJECT_ORDER, *undo)
    return (*undo, Step.REJECT_ORDER)


def retry_or_give_up(saga: Saga, now: datetime, cause: str, overdue: bool) -> Decision:
    """A forward step is re-sent up to ``max_attempts`` times, then fails. A compensation
    is never given up (that would leak stock, credit or a shipment): it is re-sent with
    backoff, and the first time one is overdue the saga records CompensationFailed."""
    step = saga.current_step
    assert step is not None  # callers only come here while a step awaits its reply
    if saga.state is SagaState.RUNNING:
        if saga.attempts < saga.max_attempts:
            return send(saga, step, now, cause)
        return fail(saga, step, TIMEOUT, now)
    again = send(saga, step, now, cause)
    if not overdue or saga.state is SagaState.COMPENSATION_FAILED:
        return again
    return prefixed(CompensationFailed(order_id=saga.order_id, step=step.value), again)

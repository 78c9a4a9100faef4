"""The orchestration saga for one order, as a pure state machine.

Steps run in order: reserve_stock, authorize_payment, schedule_shipment,
confirm_order. On a failure the saga undoes only the steps that completed, in
reverse (cancel_shipment, void_payment, release_stock), then rejects the order. A
step whose reply does not come in time is re-sent (``max_attempts`` sends in all,
each with a fresh deadline) and then treated as failed with reason ``timeout``; past
the order's own deadline it fails at once. A success that arrives after the saga
gave up on that step is undone straight away. A compensation task is never given
up: unanswered, it is re-sent further apart each time, and the saga is
``compensation_failed`` from its first overdue attempt until the reply arrives (or
``retry_now``, a person's ``orderflow sagas retry``, sends it again at once).

Every entry point returns a ``Decision``: the saga events to append (to the saga's
stream) and the commands to send, both in order.
"""

from datetime import datetime, timedelta
from typing import TypeAlias

from domain.errors import DomainError
from domain.fraud import FraudCleared, FraudRejected
from domain.inventory_events import ReservedLine, StockRejected, StockReleased, StockReserved
from domain.order_events import OrderConfirmed, OrderExpired, OrderPlaced, OrderRejected
from domain.payment_events import (
    PaymentAuthorized,
    PaymentCancelled,
    PaymentDeclined,
    PaymentVoided,
)
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
    SagaProgressed,
    SagaRejected,
    SagaStarted,
    SagaState,
    Step,
    StepFailed,
    StepSucceeded,
)
from domain.saga_moves import (
    TIMEOUT,
    Decision,
    command_for,
    fail,
    nothing,
    prefixed,
    retry_or_give_up,
    send,
    succeed,
)
from domain.saga_state import Saga, SentCommand, evolve_saga, fold_saga
from domain.shipping import ShipmentCancelled, ShipmentRejected, ShipmentScheduled
from domain.values import require_aware

__all__ = [
    "AWAITING",
    "COMPENSATIONS",
    "FORWARD_STEPS",
    "CommandSent",
    "CompensationFailed",
    "CompensationStarted",
    "Decision",
    "InvalidSaga",
    "LateSuccess",
    "NotStuck",
    "Reply",
    "Saga",
    "SagaCompleted",
    "SagaEvent",
    "SagaProgressed",
    "SagaRejected",
    "SagaStarted",
    "SagaState",
    "SentCommand",
    "Step",
    "StepFailed",
    "StepSucceeded",
    "command_for",
    "evolve_saga",
    "fold_saga",
    "on_reply",
    "on_tick",
    "on_transient_failure",
    "progress",
    "retry_now",
    "start_saga",
]

Reply: TypeAlias = (
    StockReserved | StockRejected | StockReleased | FraudCleared | FraudRejected
    | PaymentAuthorized | PaymentDeclined
    | PaymentVoided | PaymentCancelled | ShipmentScheduled | ShipmentRejected | ShipmentCancelled
    | OrderConfirmed | OrderRejected | OrderExpired
)
AWAITING = (SagaState.RUNNING, SagaState.COMPENSATING, SagaState.COMPENSATION_FAILED)


class InvalidSaga(DomainError):
    """A saga asked to handle something that is not its own."""


class NotStuck(DomainError):
    """A retry was asked of a saga that has no compensation failing."""


def start_saga(
    placed: OrderPlaced, now: datetime, step_timeout: timedelta, max_attempts: int = 3,
    steps: tuple[Step, ...] = CORE_STEPS,
) -> Decision:
    """`steps`: the forward steps, in order (`forward_steps` with the deployment's
    optional steps); the saga keeps them, so a change of deployment never changes the
    plan of a saga already running."""
    # Events keep the timeout in whole milliseconds, so less than one would become zero.
    if step_timeout < timedelta(milliseconds=1) or max_attempts < 1:
        raise InvalidSaga("a saga needs a step timeout of 1 ms or more and at least one attempt")
    started = SagaStarted(
        order_id=placed.order_id, customer_id=placed.customer_id,
        lines=tuple(ReservedLine(sku=line.sku, quantity=line.quantity) for line in placed.lines),
        amount_cents=placed.total_cents, ship_to=placed.ship_to,
        order_deadline=placed.deadline, step_timeout_ms=step_timeout // timedelta(milliseconds=1),
        max_attempts=max_attempts, started_at=require_aware(now),
        steps=tuple(step.value for step in steps),
    )
    return prefixed(started, send(evolve_saga(None, started), Step.RESERVE_STOCK, now))


def on_reply(saga: Saga, reply: Reply, now: datetime) -> Decision:
    """A participant's answer (its own domain event); duplicates change nothing."""
    require_aware(now)
    if reply.order_id != saga.order_id:
        raise InvalidSaga(f"a reply for order {reply.order_id} reached the saga of {saga.order_id}")
    step, failure = _classify(saga, reply)
    if failure is not None:
        return _on_failure(saga, step, failure, now)
    return _on_success(saga, step, now)


def _classify(saga: Saga, reply: Reply) -> tuple[Step, str | None]:
    """Which step the reply answers, and the failure reason if it is a refusal."""
    match reply:
        case StockReserved():
            return Step.RESERVE_STOCK, None
        case StockRejected(reason=reason):
            return Step.RESERVE_STOCK, reason
        case StockReleased():
            return Step.RELEASE_STOCK, None
        case FraudCleared():
            return Step.CHECK_FRAUD, None
        case FraudRejected(reason=reason):
            return Step.CHECK_FRAUD, reason
        case PaymentAuthorized():
            return Step.AUTHORIZE_PAYMENT, None
        case PaymentDeclined(reason=reason):
            return Step.AUTHORIZE_PAYMENT, reason
        case PaymentVoided() | PaymentCancelled():  # cancelled: nothing was held to void
            return Step.VOID_PAYMENT, None
        case ShipmentScheduled():
            return Step.SCHEDULE_SHIPMENT, None
        case ShipmentRejected(reason=reason):
            return Step.SCHEDULE_SHIPMENT, reason
        case ShipmentCancelled():
            return Step.CANCEL_SHIPMENT, None
        case OrderConfirmed():
            return Step.CONFIRM_ORDER, None
    # A rejected order is what reject_order asked for, but a refusal of confirm_order.
    if saga.current_step is Step.REJECT_ORDER:
        return Step.REJECT_ORDER, None
    return Step.CONFIRM_ORDER, reply.reason if isinstance(reply, OrderRejected) else TIMEOUT


def _on_failure(saga: Saga, step: Step, reason: str, now: datetime) -> Decision:
    # A late or repeated refusal leaves nothing to undo.
    if saga.state is SagaState.RUNNING and step is saga.current_step:
        return fail(saga, step, reason, now)
    return nothing()


def _on_success(saga: Saga, step: Step, now: datetime) -> Decision:
    if saga.state is SagaState.COMPLETED:
        return nothing()
    if step is saga.current_step:
        return succeed(saga, step, now)
    if step is Step.CONFIRM_ORDER and _order_decides(saga):
        confirmed = StepSucceeded(order_id=saga.order_id, step=step.value)
        return Decision([confirmed, SagaCompleted(order_id=saga.order_id)], [])
    if _is_late(saga, step):
        return _late_success(saga, step, now)
    return nothing()


def _order_decides(saga: Saga) -> bool:
    # See saga_moves._plan: until something is undone, a confirmation that won the race stands.
    return (
        saga.failed_step is Step.CONFIRM_ORDER and saga.current_step is Step.REJECT_ORDER
        and not saga.compensated
    )


def _is_late(saga: Saga, step: Step) -> bool:
    return (
        saga.state is not SagaState.RUNNING and step in FORWARD_STEPS
        and step not in saga.steps_done and step not in saga.late_successes
    )


def _late_success(saga: Saga, step: Step, now: datetime) -> Decision:
    undo = COMPENSATIONS.get(step)
    command = command_for(saga, undo) if undo is not None else None
    late = LateSuccess(
        order_id=saga.order_id, step=step.value, noticed_at=now,
        compensation=type(command).__name__ if command is not None else None,
    )
    return Decision([late], [command] if command is not None else [])


def on_tick(saga: Saga, now: datetime) -> Decision:
    """Time passed: fail past the order's deadline, re-send or give up past a step's."""
    require_aware(now)
    step = saga.current_step
    if saga.state is SagaState.RUNNING and step is not None and now >= saga.order_deadline:
        return fail(saga, step, TIMEOUT, now)
    if saga.state in AWAITING and _overdue(saga, now):
        return retry_or_give_up(saga, now, cause=TIMEOUT, overdue=True)
    return nothing()


def _overdue(saga: Saga, now: datetime) -> bool:
    return saga.deadline is not None and now >= saga.deadline


def on_transient_failure(saga: Saga, step: Step, error: str, now: datetime) -> Decision:
    """Sending ``step``'s command failed for a passing reason: retry, boundedly."""
    require_aware(now)
    if saga.state not in AWAITING or step is not saga.current_step:
        return nothing()
    return retry_or_give_up(saga, now, cause=_one_line(error), overdue=False)


def retry_now(saga: Saga, now: datetime) -> Decision:
    """A person asks the failing compensation to go again now, with a fresh step timeout
    (the automatic re-sends would wait out their backoff)."""
    require_aware(now)
    step = saga.current_step
    if saga.state is not SagaState.COMPENSATION_FAILED or step is None:
        raise NotStuck(f"the saga of order {saga.order_id} is {saga.state.value}, "
                       "not compensation_failed: there is nothing to retry")
    return send(saga, step, now, cause="retry requested", wait=saga.step_timeout)


def _one_line(error: str, limit: int = 200) -> str:
    # The cause is shown in saga views: one line, bounded, whatever the exception said.
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _routine(event: SagaEvent) -> bool:
    """A forward step answered, or the next one asked for the first time."""
    if isinstance(event, StepSucceeded):
        return Step(event.step) in FORWARD_STEPS
    return isinstance(event, CommandSent) and event.attempt == 1 and (
        Step(event.step) in FORWARD_STEPS)


def progress(saga: Saga, events: list[SagaEvent]) -> SagaProgressed | None:
    """What readers are told after a unit of work appended ``events`` and the saga
    became ``saga``: nothing when every event was routine, else where it stands."""
    if not events or all(_routine(event) for event in events):
        return None
    assert saga.started_at is not None, f"saga {saga.order_id} has no start"
    return SagaProgressed(
        order_id=saga.order_id, state=saga.state.value,
        current_step=saga.current_step.value if saga.current_step else None,
        attempt=saga.attempts, step_deadline=saga.deadline,
        steps_done=tuple(step.value for step in saga.steps_done),
        compensated=tuple(step.value for step in saga.compensated),
        late_successes=tuple(step.value for step in saga.late_successes),
        reason=saga.reason, commands_sent=len(saga.history), started_at=saga.started_at)

"""The orchestration saga for one order, as a pure state machine.

Steps run in order: reserve_stock, authorize_payment, schedule_shipment,
confirm_order. On a failure the saga undoes only the steps that completed, in
reverse (void_payment before release_stock), then rejects the order. A step whose
reply does not come in time is re-sent (``max_attempts`` sends in all, each with a
fresh deadline) and then treated as failed with reason ``timeout``; past the
order's own deadline it fails at once. A success that arrives after the saga gave
up on that step is undone straight away. A compensation task that never answers
leaves the saga ``compensation_failed`` until its reply arrives: visible, not lost.

Every entry point returns a ``Decision``: the saga events to append (to the saga's
stream) and the commands to send, both in order.
"""

from datetime import datetime, timedelta
from typing import NamedTuple, TypeAlias

from domain.commands import (
    AuthorizePayment,
    ConfirmOrder,
    RejectOrder,
    ReleaseStock,
    ReserveStock,
    SagaCommand,
    ScheduleShipment,
    VoidPayment,
)
from domain.errors import DomainError
from domain.inventory_events import ReservedLine, StockRejected, StockReleased, StockReserved
from domain.order_events import OrderConfirmed, OrderExpired, OrderPlaced, OrderRejected
from domain.payment_events import PaymentAuthorized, PaymentDeclined, PaymentVoided
from domain.reasons import RejectionReason
from domain.saga_events import (
    COMPENSATIONS,
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
from domain.saga_state import Saga, SentCommand, evolve_saga, fold_saga
from domain.shipping import ShipmentRejected, ShipmentScheduled
from domain.values import require_aware

__all__ = [
    "COMPENSATIONS", "FORWARD_STEPS", "CommandSent", "CompensationFailed",
    "CompensationStarted", "Decision", "InvalidSaga", "LateSuccess", "Reply", "Saga",
    "SagaCompleted", "SagaEvent", "SagaRejected", "SagaStarted", "SagaState", "SentCommand",
    "Step", "StepFailed", "StepSucceeded", "command_for", "evolve_saga", "fold_saga",
    "on_reply", "on_tick", "on_transient_failure", "start_saga",
]

TIMEOUT = RejectionReason.TIMEOUT.value
Reply: TypeAlias = (
    StockReserved | StockRejected | StockReleased | PaymentAuthorized | PaymentDeclined
    | PaymentVoided | ShipmentScheduled | ShipmentRejected | OrderConfirmed | OrderRejected
    | OrderExpired
)


class InvalidSaga(DomainError):
    """A saga asked to handle something that is not its own."""


class Decision(NamedTuple):
    events: list[SagaEvent]
    commands: list[SagaCommand]


def _nothing() -> Decision:
    return Decision([], [])


def _after(event: SagaEvent, then: Decision) -> Decision:
    return Decision([event, *then.events], then.commands)


def start_saga(
    placed: OrderPlaced, now: datetime, step_timeout: timedelta, max_attempts: int = 3
) -> Decision:
    if step_timeout <= timedelta(0) or max_attempts < 1:
        raise InvalidSaga("a saga needs a positive step timeout and at least one attempt")
    started = SagaStarted(
        order_id=placed.order_id, customer_id=placed.customer_id,
        lines=tuple(ReservedLine(sku=line.sku, quantity=line.quantity) for line in placed.lines),
        amount_cents=placed.total_cents, ship_to=placed.ship_to,
        order_deadline=placed.deadline, step_timeout_ms=step_timeout // timedelta(milliseconds=1),
        max_attempts=max_attempts, started_at=require_aware(now),
    )
    return _after(started, _send(evolve_saga(None, started), Step.RESERVE_STOCK, now))


def command_for(saga: Saga, step: Step) -> SagaCommand:
    """The command that carries out ``step``: everything the participant needs is in it."""
    order_id = saga.order_id
    commands: dict[Step, SagaCommand] = {
        Step.RESERVE_STOCK: ReserveStock(order_id=order_id, lines=saga.lines),
        Step.AUTHORIZE_PAYMENT: AuthorizePayment(
            order_id=order_id, customer_id=saga.customer_id, amount_cents=saga.amount_cents
        ),
        Step.SCHEDULE_SHIPMENT: ScheduleShipment(order_id=order_id, country=saga.ship_to),
        Step.CONFIRM_ORDER: ConfirmOrder(order_id=order_id),
        Step.RELEASE_STOCK: ReleaseStock(order_id=order_id),
        Step.VOID_PAYMENT: VoidPayment(order_id=order_id),
        Step.REJECT_ORDER: RejectOrder(order_id=order_id, reason=saga.reason or TIMEOUT),
    }
    return commands[step]


def _send(saga: Saga, step: Step, now: datetime, cause: str | None = None) -> Decision:
    attempt = saga.attempts + 1 if step is saga.current_step else 1
    command = command_for(saga, step)
    sent = CommandSent(
        order_id=saga.order_id, step=step.value, command=type(command).__name__,
        attempt=attempt, sent_at=now, deadline=now + saga.step_timeout, cause=cause,
    )
    return Decision([sent], [command])


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
        case PaymentAuthorized():
            return Step.AUTHORIZE_PAYMENT, None
        case PaymentDeclined(reason=reason):
            return Step.AUTHORIZE_PAYMENT, reason
        case PaymentVoided():
            return Step.VOID_PAYMENT, None
        case ShipmentScheduled():
            return Step.SCHEDULE_SHIPMENT, None
        case ShipmentRejected(reason=reason):
            return Step.SCHEDULE_SHIPMENT, reason
        case OrderConfirmed():
            return Step.CONFIRM_ORDER, None
    # A rejected order is what reject_order asked for, but a refusal of confirm_order.
    if saga.current_step is Step.REJECT_ORDER:
        return Step.REJECT_ORDER, None
    return Step.CONFIRM_ORDER, reply.reason if isinstance(reply, OrderRejected) else TIMEOUT


def _on_failure(saga: Saga, step: Step, reason: str, now: datetime) -> Decision:
    # A late or repeated refusal leaves nothing to undo.
    if saga.state is SagaState.RUNNING and step is saga.current_step:
        return _fail(saga, step, reason, now)
    return _nothing()


def _on_success(saga: Saga, step: Step, now: datetime) -> Decision:
    if saga.state is SagaState.COMPLETED:
        return _nothing()
    if step is saga.current_step:
        return _succeed(saga, step, now)
    if step is Step.CONFIRM_ORDER and _order_decides(saga):
        confirmed = StepSucceeded(order_id=saga.order_id, step=step.value)
        return Decision([confirmed, SagaCompleted(order_id=saga.order_id)], [])
    if _is_late(saga, step):
        return _late_success(saga, step, now)
    return _nothing()


def _order_decides(saga: Saga) -> bool:
    # See _plan: while nothing is undone yet, a confirmation that won the race stands.
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


def _succeed(saga: Saga, step: Step, now: datetime) -> Decision:
    """The awaited step or task is done: send the next one, or finish."""
    done = StepSucceeded(order_id=saga.order_id, step=step.value)
    after = evolve_saga(saga, done)
    upcoming = _next_task(after)
    if upcoming is not None:
        return _after(done, _send(after, upcoming, now))
    if after.state is SagaState.RUNNING:
        return Decision([done, SagaCompleted(order_id=saga.order_id)], [])
    rejected = SagaRejected(order_id=saga.order_id, reason=after.reason or TIMEOUT)
    return Decision([done, rejected], [])


def _next_task(saga: Saga) -> Step | None:
    if saga.state is SagaState.RUNNING:
        return next((step for step in FORWARD_STEPS if step not in saga.steps_done), None)
    return saga.plan[0] if saga.plan else None


def _fail(saga: Saga, step: Step, reason: str, now: datetime) -> Decision:
    failed = StepFailed(order_id=saga.order_id, step=step.value, reason=reason)
    after = evolve_saga(saga, failed)
    plan = _plan(after)
    started = CompensationStarted(
        order_id=saga.order_id, reason=reason, plan=tuple(task.value for task in plan)
    )
    return _after(failed, _after(started, _send(evolve_saga(after, started), plan[0], now)))


def _plan(saga: Saga) -> tuple[Step, ...]:
    undo = tuple(COMPENSATIONS[step] for step in reversed(saga.steps_done) if step in COMPENSATIONS)
    # The order is the pivot. If it did not answer ConfirmOrder it may still confirm,
    # so ask it to reject first: its answer (commands to it are processed in order)
    # decides whether anything gets undone at all.
    if saga.failed_step is Step.CONFIRM_ORDER:
        return (Step.REJECT_ORDER, *undo)
    return (*undo, Step.REJECT_ORDER)


def on_tick(saga: Saga, now: datetime) -> Decision:
    """Time passed: fail past the order's deadline, re-send or give up past a step's."""
    require_aware(now)
    step = saga.current_step
    if saga.state is SagaState.RUNNING and step is not None and now >= saga.order_deadline:
        return _fail(saga, step, TIMEOUT, now)
    if saga.state in (SagaState.RUNNING, SagaState.COMPENSATING) and _overdue(saga, now):
        return _retry_or_give_up(saga, now, cause=TIMEOUT)
    return _nothing()


def _overdue(saga: Saga, now: datetime) -> bool:
    return saga.deadline is not None and now >= saga.deadline


def on_transient_failure(saga: Saga, step: Step, error: str, now: datetime) -> Decision:
    """Sending ``step``'s command failed for a passing reason: retry, boundedly."""
    require_aware(now)
    awaiting = saga.state in (SagaState.RUNNING, SagaState.COMPENSATING)
    if not awaiting or step is not saga.current_step:
        return _nothing()
    return _retry_or_give_up(saga, now, cause=_one_line(error))


def _one_line(error: str, limit: int = 200) -> str:
    # The cause is shown in saga views: one line, bounded, whatever the exception said.
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _retry_or_give_up(saga: Saga, now: datetime, cause: str) -> Decision:
    step = saga.current_step
    assert step is not None  # callers only come here while a step awaits its reply
    if saga.attempts < saga.max_attempts:
        return _send(saga, step, now, cause)
    if saga.state is SagaState.RUNNING:
        return _fail(saga, step, TIMEOUT, now)
    return Decision([CompensationFailed(order_id=saga.order_id, step=step.value)], [])

"""The orchestration saga's vocabulary and events (``domain.saga`` re-exports all).

Step and state names are plain strings in events so they stay wire-shaped.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from domain.inventory_events import ReservedLine


class Step(StrEnum):
    RESERVE_STOCK = "reserve_stock"
    CHECK_FRAUD = "check_fraud"  # the optional fraud step (ORDERFLOW_STEPS=fraud)
    AUTHORIZE_PAYMENT = "authorize_payment"
    SCHEDULE_SHIPMENT = "schedule_shipment"
    CONFIRM_ORDER = "confirm_order"
    # Compensation tasks; reject_order closes every failed saga.
    RELEASE_STOCK = "release_stock"
    VOID_PAYMENT = "void_payment"
    CANCEL_SHIPMENT = "cancel_shipment"
    REJECT_ORDER = "reject_order"


FORWARD_STEPS = (
    Step.RESERVE_STOCK, Step.CHECK_FRAUD, Step.AUTHORIZE_PAYMENT, Step.SCHEDULE_SHIPMENT,
    Step.CONFIRM_ORDER
)
# The optional ones: a saga runs them only if its SagaStarted lists them. A screening
# holds nothing, so check_fraud has no compensation.
OPTIONAL_STEPS = {"fraud": Step.CHECK_FRAUD}
# What a saga started before steps were listed ran (saga.started.v1).
CORE_STEPS = tuple(s for s in FORWARD_STEPS if s not in OPTIONAL_STEPS.values())


def forward_steps(optional: Collection[str] = ()) -> tuple[Step, ...]:
    """The forward steps of a saga with these optional steps switched on, in order."""
    chosen = {OPTIONAL_STEPS[name] for name in optional}
    return tuple(s for s in FORWARD_STEPS if s in CORE_STEPS or s in chosen)
# Every forward step but the pivot has an inverse. confirm_order can still fail (the
# order service refuses, or never answers), and a shipment can be scheduled after the
# saga gave up on it: both leave a shipment to cancel.
COMPENSATIONS: Mapping[Step, Step] = MappingProxyType({
    Step.RESERVE_STOCK: Step.RELEASE_STOCK,
    Step.AUTHORIZE_PAYMENT: Step.VOID_PAYMENT,
    Step.SCHEDULE_SHIPMENT: Step.CANCEL_SHIPMENT,
})


class SagaState(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    REJECTED = "rejected"
    COMPENSATION_FAILED = "compensation_failed"


@dataclass(frozen=True, kw_only=True, slots=True)
class SagaStarted:
    order_id: str
    customer_id: str
    lines: tuple[ReservedLine, ...]
    amount_cents: int
    ship_to: str
    order_deadline: datetime  # the whole saga's; each step also has its own
    step_timeout_ms: int
    max_attempts: int
    started_at: datetime
    steps: tuple[str, ...]  # its forward steps, in order (v2; v1 sagas ran CORE_STEPS)


@dataclass(frozen=True, kw_only=True, slots=True)
class CommandSent:
    order_id: str
    step: str
    command: str  # the command's class name, for people reading the history
    attempt: int
    sent_at: datetime
    deadline: datetime
    cause: str | None = None  # why a retry was needed


@dataclass(frozen=True, kw_only=True, slots=True)
class StepSucceeded:
    order_id: str
    step: str  # a forward step, or a compensation task


@dataclass(frozen=True, kw_only=True, slots=True)
class StepFailed:
    order_id: str
    step: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CompensationStarted:
    order_id: str
    reason: str
    plan: tuple[str, ...]  # compensation tasks in the order they will run


@dataclass(frozen=True, kw_only=True, slots=True)
class CompensationFailed:
    """A compensation task went unanswered in its time: the saga shows it, and keeps
    re-sending it further apart until it gets through (or a person retries it now)."""

    order_id: str
    step: str


@dataclass(frozen=True, kw_only=True, slots=True)
class LateSuccess:
    """A step succeeded after the saga gave up on it; its undo is sent at once."""

    order_id: str
    step: str
    compensation: str | None  # command class name sent to undo it, None if none exists
    noticed_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class SagaCompleted:
    order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SagaRejected:
    order_id: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SagaProgressed:
    """Where the saga stands, for readers (saga_view): the one saga message on Kafka.

    The saga's own events stay in the orchestrator's store. This summary is published
    by a unit of work that started the saga, changed its state, compensated, retried a
    step or noticed a late success (domain.saga.progress): twice for a saga that goes
    straight through, so bookkeeping is not a message per step."""

    order_id: str
    state: str  # a SagaState value
    current_step: str | None  # the step or task awaiting its reply
    attempt: int  # sends of that step's command so far (0: nothing awaited)
    step_deadline: datetime | None
    steps_done: tuple[str, ...]
    compensated: tuple[str, ...]
    late_successes: tuple[str, ...]
    reason: str | None
    commands_sent: int  # the undo of a late success included
    started_at: datetime


SagaEvent: TypeAlias = (
    SagaStarted | CommandSent | StepSucceeded | StepFailed | CompensationStarted
    | CompensationFailed | LateSuccess | SagaCompleted | SagaRejected
)

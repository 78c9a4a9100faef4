"""The orchestration saga, given-when-then: each path through the state machine."""

from datetime import timedelta

import pytest

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
from domain.errors import InvalidHistory
from domain.fraud import FraudCleared, FraudRejected
from domain.inventory import ReservedLine, StockRejected, StockReleased, StockReserved
from domain.order import OrderConfirmed, OrderExpired, OrderPlaced, OrderRejected
from domain.payment import PaymentAuthorized, PaymentCancelled, PaymentDeclined, PaymentVoided
from domain.saga import (
    CommandSent,
    CompensationStarted,
    Decision,
    InvalidSaga,
    LateSuccess,
    NotStuck,
    Reply,
    Saga,
    SagaEvent,
    SagaProgressed,
    SagaStarted,
    SagaState,
    Step,
    StepSucceeded,
    fold_saga,
    on_reply,
    on_tick,
    on_transient_failure,
    progress,
    retry_now,
    start_saga,
)
from domain.saga_events import CORE_STEPS, forward_steps
from domain.shipping import ShipmentCancelled, ShipmentRejected, ShipmentScheduled
from tests.unit.domain.builders import CUSTOMER, ORDER_ID, OTHER_ORDER_ID, T0, at, placed

STEP_TIMEOUT = timedelta(seconds=5)
LINES = (ReservedLine(sku="BOOK-1", quantity=2), ReservedLine(sku="MUG-1", quantity=1))
AMOUNT = 2 * 2_499 + 1_290

RESERVED = StockReserved(order_id=ORDER_ID, lines=LINES)
OUT_OF_STOCK = StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="MUG-1")
RELEASED = StockReleased(order_id=ORDER_ID, lines=LINES)
AUTHORIZED = PaymentAuthorized(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=AMOUNT)
DECLINED = PaymentDeclined(order_id=ORDER_ID, customer_id=CUSTOMER, reason="over_credit")
VOIDED = PaymentVoided(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=AMOUNT)
PAYMENT_CANCELLED = PaymentCancelled(order_id=ORDER_ID)
SCHEDULED = ShipmentScheduled(order_id=ORDER_ID, country="DE")
NOT_SERVED = ShipmentRejected(order_id=ORDER_ID, country="DE", reason="country_not_served")
CANCELLED = ShipmentCancelled(order_id=ORDER_ID, country="DE")
CONFIRMED = OrderConfirmed(order_id=ORDER_ID, confirmed_at=T0)


def order_rejected(reason: str) -> OrderRejected:
    return OrderRejected(order_id=ORDER_ID, reason=reason, rejected_at=T0)


class Run:
    """Drives one saga and checks, at every step, that folding its events gives its state."""

    def __init__(self, order: OrderPlaced | None = None, max_attempts: int = 3,
                 steps: tuple[Step, ...] = CORE_STEPS) -> None:
        self.events: list[SagaEvent] = []
        self.commands: list[SagaCommand] = []
        self.reports: list[SagaProgressed] = []  # what readers were told, unit by unit
        self.saga: Saga
        self.take(start_saga(order or placed(), T0, STEP_TIMEOUT, max_attempts, steps))

    def take(self, decision: Decision) -> list[SagaCommand]:
        self.events += decision.events
        self.commands += decision.commands
        saga = fold_saga(self.events)
        assert saga is not None and saga.version == len(self.events)
        self.saga = saga
        report = progress(saga, decision.events)
        if report is not None:
            self.reports.append(report)
        return decision.commands

    def reply(self, *replies: Reply, seconds: float = 1) -> list[SagaCommand]:
        return [c for reply in replies for c in self.take(on_reply(self.saga, reply, at(seconds)))]

    def tick(self, seconds: float) -> list[SagaCommand]:
        return self.take(on_tick(self.saga, at(seconds)))

    def state(self) -> SagaState:
        return self.saga.state


def test_the_happy_path_runs_every_step_in_order() -> None:
    run = Run()
    assert run.commands == [ReserveStock(order_id=ORDER_ID, lines=LINES)]
    assert run.reply(RESERVED) == [
        AuthorizePayment(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=AMOUNT)
    ]
    assert run.reply(AUTHORIZED) == [ScheduleShipment(order_id=ORDER_ID, country="DE")]
    assert run.reply(SCHEDULED) == [ConfirmOrder(order_id=ORDER_ID)]
    assert run.reply(CONFIRMED) == []
    assert run.state() is SagaState.COMPLETED
    assert run.saga.steps_done == (
        Step.RESERVE_STOCK, Step.AUTHORIZE_PAYMENT, Step.SCHEDULE_SHIPMENT, Step.CONFIRM_ORDER
    )
    assert [sent.command for sent in run.saga.history] == [
        "ReserveStock", "AuthorizePayment", "ScheduleShipment", "ConfirmOrder"
    ]


def test_with_the_fraud_step_the_saga_checks_between_stock_and_payment() -> None:
    run = Run(steps=forward_steps({"fraud"}))
    assert run.saga.steps == (Step.RESERVE_STOCK, Step.CHECK_FRAUD, Step.AUTHORIZE_PAYMENT,
                              Step.SCHEDULE_SHIPMENT, Step.CONFIRM_ORDER)
    assert run.reply(RESERVED) == [
        CheckFraud(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=AMOUNT)]
    assert run.reply(FraudCleared(order_id=ORDER_ID)) == [
        AuthorizePayment(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=AMOUNT)]
    run.reply(AUTHORIZED, SCHEDULED, CONFIRMED)
    assert run.state() is SagaState.COMPLETED and Step.CHECK_FRAUD in run.saga.steps_done


def test_a_fraud_rejection_releases_the_stock_and_rejects_the_order_with_its_reason() -> None:
    run = Run(steps=forward_steps({"fraud"}))
    run.reply(RESERVED)
    suspected = FraudRejected(order_id=ORDER_ID, reason="fraud_suspected")
    assert run.reply(suspected) == [ReleaseStock(order_id=ORDER_ID)]  # a check holds nothing
    assert run.reply(RELEASED) == [RejectOrder(order_id=ORDER_ID, reason="fraud_suspected")]
    run.reply(order_rejected("fraud_suspected"))
    assert (run.state(), run.saga.compensated) == (
        SagaState.REJECTED, (Step.RELEASE_STOCK, Step.REJECT_ORDER))


def test_a_saga_keeps_the_steps_it_started_with() -> None:
    started = start_saga(placed(), T0, STEP_TIMEOUT).events[0]
    assert isinstance(started, SagaStarted) and started.steps == tuple(s.value for s in CORE_STEPS)
    assert forward_steps() == CORE_STEPS and Step.CHECK_FRAUD not in CORE_STEPS


def test_a_saga_that_goes_straight_through_tells_readers_twice() -> None:
    run = Run()
    for reply in (RESERVED, AUTHORIZED, SCHEDULED, CONFIRMED):
        run.reply(reply)
    # started, and completed: a step that merely moved on is no message of its own
    assert [(r.state, r.current_step, r.commands_sent) for r in run.reports] == [
        ("running", "reserve_stock", 1), ("completed", None, 4)]
    assert run.reports[-1].steps_done == tuple(step.value for step in run.saga.steps_done)
    assert run.reports[0].started_at == T0


def test_retries_failures_and_compensations_are_each_told() -> None:
    run = Run()
    run.tick(5)  # reserve_stock re-sent
    run.reply(RESERVED, seconds=6)  # the second try got through: routine again
    run.reply(DECLINED, seconds=7)  # payment fails: compensate
    run.reply(RELEASED, seconds=8)  # the stock is back: reject the order next
    run.reply(order_rejected("over_credit"), seconds=9)
    assert [(r.state, r.current_step, r.attempt) for r in run.reports] == [
        ("running", "reserve_stock", 1), ("running", "reserve_stock", 2),
        ("compensating", "release_stock", 1), ("compensating", "reject_order", 1),
        ("rejected", None, 0)]
    assert (run.reports[-1].reason, run.reports[-1].compensated) == (
        "over_credit", ("release_stock", "reject_order"))


def test_out_of_stock_undoes_nothing_and_rejects_the_order() -> None:
    run = Run()
    assert run.reply(OUT_OF_STOCK) == [RejectOrder(order_id=ORDER_ID, reason="out_of_stock")]
    assert run.state() is SagaState.COMPENSATING
    assert run.reply(order_rejected("out_of_stock")) == []
    assert (run.state(), run.saga.reason) == (SagaState.REJECTED, "out_of_stock")


def test_a_declined_payment_releases_stock_then_rejects() -> None:
    run = Run()
    run.reply(RESERVED)
    assert run.reply(DECLINED) == [ReleaseStock(order_id=ORDER_ID)]
    assert run.reply(RELEASED) == [RejectOrder(order_id=ORDER_ID, reason="over_credit")]
    run.reply(order_rejected("over_credit"))
    assert run.state() is SagaState.REJECTED


def test_a_cancelled_payment_answers_void_payment() -> None:
    # the payment had nothing to void (it never started): that still completes the task
    run = Run()
    run.reply(RESERVED, AUTHORIZED)
    assert run.reply(NOT_SERVED) == [VoidPayment(order_id=ORDER_ID)]
    assert run.reply(PAYMENT_CANCELLED) == [ReleaseStock(order_id=ORDER_ID)]
    assert run.reply(PAYMENT_CANCELLED) == []  # a repeated answer changes nothing
    assert run.reply(RELEASED) == [RejectOrder(order_id=ORDER_ID, reason="country_not_served")]
    assert run.saga.compensated[:2] == (Step.VOID_PAYMENT, Step.RELEASE_STOCK)


def test_an_unserved_country_undoes_payment_before_stock() -> None:
    run = Run()
    run.reply(RESERVED, AUTHORIZED)
    assert run.reply(NOT_SERVED) == [VoidPayment(order_id=ORDER_ID)]
    assert run.reply(VOIDED) == [ReleaseStock(order_id=ORDER_ID)]
    assert run.reply(RELEASED) == [RejectOrder(order_id=ORDER_ID, reason="country_not_served")]
    run.reply(order_rejected("country_not_served"))
    assert run.state() is SagaState.REJECTED
    assert run.saga.compensated == (Step.VOID_PAYMENT, Step.RELEASE_STOCK, Step.REJECT_ORDER)


def test_duplicate_replies_change_nothing() -> None:
    run = Run()
    run.reply(RESERVED)
    assert on_reply(run.saga, RESERVED, at(2)) == Decision([], [])
    run.reply(DECLINED)
    assert on_reply(run.saga, DECLINED, at(2)) == Decision([], [])
    run.reply(RELEASED)
    assert on_reply(run.saga, RELEASED, at(2)) == Decision([], [])


def test_a_silent_step_is_re_sent_with_fresh_deadlines_then_fails_with_timeout() -> None:
    run = Run()
    assert run.tick(4.9) == []
    assert run.tick(5) == [ReserveStock(order_id=ORDER_ID, lines=LINES)]
    assert (run.saga.attempts, run.saga.deadline) == (2, at(10))
    assert run.tick(10) == [ReserveStock(order_id=ORDER_ID, lines=LINES)]
    assert run.tick(15) == [RejectOrder(order_id=ORDER_ID, reason="timeout")]
    assert run.saga.failed_step is Step.RESERVE_STOCK
    sent = [e for e in run.events if isinstance(e, CommandSent)]
    assert [(e.step, e.attempt, e.cause) for e in sent] == [
        ("reserve_stock", 1, None), ("reserve_stock", 2, "timeout"),
        ("reserve_stock", 3, "timeout"), ("reject_order", 1, None),
    ]


def test_a_success_after_the_timeout_is_undone_once() -> None:
    run = Run(max_attempts=1)
    run.tick(5)
    assert run.reply(RESERVED) == [ReleaseStock(order_id=ORDER_ID)]
    assert run.state() is SagaState.COMPENSATING
    assert run.reply(RESERVED) == []
    run.reply(order_rejected("timeout"))
    assert run.state() is SagaState.REJECTED
    assert [e.step for e in run.events if isinstance(e, LateSuccess)] == ["reserve_stock"]


def test_a_late_success_after_the_saga_ended_is_undone_and_it_stays_rejected() -> None:
    run = Run(max_attempts=1)
    run.reply(RESERVED)
    run.tick(10)  # authorize_payment timed out: release stock, reject
    run.reply(RELEASED, order_rejected("timeout"))
    assert run.state() is SagaState.REJECTED
    assert run.reply(AUTHORIZED) == [VoidPayment(order_id=ORDER_ID)]
    assert run.state() is SagaState.REJECTED
    assert run.reply(VOIDED, RELEASED, order_rejected("timeout")) == []


def test_a_shipment_scheduled_after_the_saga_gave_up_is_cancelled() -> None:
    run = Run(max_attempts=1)
    run.reply(RESERVED, AUTHORIZED)
    run.tick(10)
    assert run.reply(SCHEDULED) == [CancelShipment(order_id=ORDER_ID)]
    assert Step.SCHEDULE_SHIPMENT in run.saga.late_successes
    assert run.reply(CANCELLED, SCHEDULED) == []  # its answer and a duplicate change nothing


def test_late_refusals_change_nothing() -> None:
    run = Run(max_attempts=1)
    run.tick(5)
    assert run.reply(OUT_OF_STOCK) == []


def test_the_order_deadline_cuts_retries_short() -> None:
    run = Run(order=placed(), max_attempts=100)
    for seconds in range(5, 30, 5):
        assert run.tick(seconds) == [ReserveStock(order_id=ORDER_ID, lines=LINES)]
    assert run.tick(30) == [RejectOrder(order_id=ORDER_ID, reason="timeout")]


def confirming() -> Run:
    run = Run(max_attempts=1)
    run.reply(RESERVED, AUTHORIZED, SCHEDULED)
    return run


def test_a_silent_confirmation_asks_the_order_to_reject_before_undoing_anything() -> None:
    run = confirming()
    assert run.tick(5) == []
    assert run.tick(6) == [RejectOrder(order_id=ORDER_ID, reason="timeout")]
    started = [e for e in run.events if isinstance(e, CompensationStarted)]
    assert started[0].plan == ("reject_order", "cancel_shipment", "void_payment", "release_stock")
    assert run.reply(order_rejected("timeout")) == [CancelShipment(order_id=ORDER_ID)]
    assert run.reply(CANCELLED) == [VoidPayment(order_id=ORDER_ID)]
    assert run.reply(VOIDED) == [ReleaseStock(order_id=ORDER_ID)]
    assert run.reply(RELEASED) == []
    assert (run.state(), run.saga.reason) == (SagaState.REJECTED, "timeout")


def test_a_confirmation_that_won_the_race_completes_the_saga() -> None:
    run = confirming()
    run.tick(6)
    assert run.reply(CONFIRMED) == []
    assert run.state() is SagaState.COMPLETED
    assert VoidPayment(order_id=ORDER_ID) not in run.commands


def test_an_order_rejected_instead_of_confirmed_is_compensated() -> None:
    run = confirming()
    reject_first = [RejectOrder(order_id=ORDER_ID, reason="timeout")]
    assert run.reply(order_rejected("timeout")) == reject_first
    expired = OrderExpired(order_id=ORDER_ID, expired_at=T0)
    assert run.reply(expired) == [CancelShipment(order_id=ORDER_ID)]


def test_a_compensation_that_never_answers_is_visible_and_retried_with_backoff() -> None:
    run = Run(max_attempts=2)
    run.reply(RESERVED, DECLINED)  # at 1 s: ReleaseStock, due at 6 s
    assert run.tick(5.9) == []
    assert run.tick(6) == [ReleaseStock(order_id=ORDER_ID)]
    assert run.state() is SagaState.COMPENSATION_FAILED
    assert run.saga.current_step is Step.RELEASE_STOCK
    assert run.tick(15) == []  # the second attempt waits 2 step timeouts
    assert run.tick(16) == [ReleaseStock(order_id=ORDER_ID)]
    assert run.tick(35) == []  # the third 4
    assert run.tick(36) == [ReleaseStock(order_id=ORDER_ID)]
    failures = [e for e in run.events if type(e).__name__ == "CompensationFailed"]
    assert len(failures) == 1  # recorded once per stuck task, not per re-send
    assert run.reply(RELEASED) == [RejectOrder(order_id=ORDER_ID, reason="over_credit")]
    assert run.state() is SagaState.COMPENSATING
    run.reply(order_rejected("over_credit"))
    assert run.state() is SagaState.REJECTED


def test_the_backoff_stops_growing_at_its_cap() -> None:
    run = Run()
    run.reply(RESERVED, DECLINED)
    for _ in range(12):
        run.tick((run.saga.deadline - T0).total_seconds())  # type: ignore[operator]
    assert run.saga.deadline - run.saga.history[-1].sent_at == 32 * STEP_TIMEOUT  # type: ignore[operator]


def test_a_person_can_retry_a_failing_compensation_at_once() -> None:
    run = Run()
    run.reply(RESERVED, AUTHORIZED, NOT_SERVED)
    run.tick(6)
    run.tick(16)  # attempt 3 is now due only at 36 s
    assert run.take(retry_now(run.saga, at(17))) == [VoidPayment(order_id=ORDER_ID)]
    assert run.saga.deadline == at(22)
    assert run.events[-1].cause == "retry requested"  # type: ignore[union-attr]
    assert run.reply(VOIDED) == [ReleaseStock(order_id=ORDER_ID)]
    with pytest.raises(NotStuck, match="is compensating, not compensation_failed"):
        retry_now(run.saga, at(18))


def test_only_a_stuck_saga_can_be_retried() -> None:
    with pytest.raises(NotStuck, match="is running"):
        retry_now(Run().saga, at(1))


def test_transient_failures_are_retried_boundedly_then_compensated() -> None:
    run = Run(max_attempts=2)
    run.reply(RESERVED)
    wrong_step = on_transient_failure(run.saga, Step.RESERVE_STOCK, "boom", at(2))
    assert wrong_step == Decision([], [])
    assert run.take(on_transient_failure(run.saga, Step.AUTHORIZE_PAYMENT, "broker\nbusy", at(2)))
    assert run.saga.attempts == 2
    assert run.take(on_transient_failure(run.saga, Step.AUTHORIZE_PAYMENT, "x" * 999, at(3))) == [
        ReleaseStock(order_id=ORDER_ID)
    ]
    causes = [e.cause for e in run.events if isinstance(e, CommandSent) and e.cause]
    assert causes == ["broker busy"]


@pytest.mark.parametrize(
    "reply", [RESERVED, OUT_OF_STOCK, RELEASED, AUTHORIZED, DECLINED, VOIDED, PAYMENT_CANCELLED,
              SCHEDULED, NOT_SERVED, CONFIRMED, order_rejected("timeout")],
)
def test_a_completed_saga_absorbs_everything(reply: Reply) -> None:
    run = confirming()
    run.reply(CONFIRMED)
    assert on_reply(run.saga, reply, at(9)) == Decision([], [])
    assert on_tick(run.saga, at(999)) == Decision([], [])
    assert on_transient_failure(run.saga, Step.CONFIRM_ORDER, "x", at(9)) == Decision([], [])


def test_a_reply_for_another_order_is_refused() -> None:
    with pytest.raises(InvalidSaga, match="reached the saga of"):
        on_reply(Run().saga, StockReserved(order_id=OTHER_ORDER_ID, lines=LINES), at(1))


def test_a_saga_needs_a_positive_step_timeout() -> None:
    with pytest.raises(InvalidSaga):
        start_saga(placed(), T0, timedelta(0))


def test_a_stream_that_does_not_start_with_the_saga_is_corrupt() -> None:
    assert fold_saga([]) is None
    with pytest.raises(InvalidHistory):
        fold_saga([StepSucceeded(order_id=ORDER_ID, step="reserve_stock")])

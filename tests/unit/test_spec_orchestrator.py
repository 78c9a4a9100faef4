"""The orchestrator, one spec per row of its message table: given a saga's history, when
an order is placed or a participant replies, then these saga events, these commands and
this step timer, and nothing else. Histories are made by the saga's own pure moves."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.commands import (
    AuthorizePayment,
    CancelShipment,
    ConfirmOrder,
    RejectOrder,
    ReleaseStock,
    ReserveStock,
    ScheduleShipment,
    VoidPayment,
)
from domain.errors import Unhandleable
from domain.inventory_events import ReservedLine, StockRejected, StockReleased, StockReserved
from domain.order_events import (
    OrderConfirmed,
    OrderExpired,
    OrderLine,
    OrderPlaced,
    OrderRejected,
)
from domain.payment_events import (
    PaymentAuthorized,
    PaymentCancelled,
    PaymentDeclined,
    PaymentVoided,
)
from domain.saga import (
    CommandSent,
    CompensationStarted,
    Reply,
    SagaCompleted,
    SagaEvent,
    SagaProgressed,
    SagaRejected,
    SagaStarted,
    StepFailed,
    StepSucceeded,
    fold_saga,
    on_reply,
    start_saga,
)
from domain.shipping import ShipmentCancelled, ShipmentRejected, ShipmentScheduled
from domain.streams import saga_stream
from services.orchestrator import STEP_DEADLINE, Orchestrator
from services.port import ORCHESTRATION
from tests.specs import CUSTOMER, ORDER_ID, T0, Spec, covers, uncovered

SAGA = str(saga_stream(ORDER_ID))
STEP = timedelta(seconds=5)
LATER = T0 + timedelta(seconds=1)  # when the reply arrives: every new deadline is from here
ORDER_DEADLINE = T0 + timedelta(seconds=30)
LINES = (ReservedLine(sku="BOOK-1", quantity=2),)
CORE = ("reserve_stock", "authorize_payment", "schedule_shipment", "confirm_order")
PLACED = OrderPlaced(
    order_id=ORDER_ID, customer_id=CUSTOMER,
    lines=(OrderLine(sku="BOOK-1", quantity=2, unit_price_cents=2499),), total_cents=4998,
    ship_to="DE", flow=ORCHESTRATION, channel="cli", placed_at=T0, deadline=ORDER_DEADLINE)

RESERVED = StockReserved(order_id=ORDER_ID, lines=LINES)
OUT_OF_STOCK = StockRejected(order_id=ORDER_ID, reason="out_of_stock", sku="BOOK-1")
RELEASED = StockReleased(order_id=ORDER_ID, lines=LINES)
PAID = PaymentAuthorized(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998)
DECLINED = PaymentDeclined(order_id=ORDER_ID, customer_id=CUSTOMER, reason="over_credit")
VOIDED = PaymentVoided(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998)
CANCELLED = PaymentCancelled(order_id=ORDER_ID)
SCHEDULED = ShipmentScheduled(order_id=ORDER_ID, country="DE")
NOT_SERVED = ShipmentRejected(order_id=ORDER_ID, country="DE", reason="country_not_served")
SHIPMENT_CANCELLED = ShipmentCancelled(order_id=ORDER_ID, country="DE")
CONFIRMED = OrderConfirmed(order_id=ORDER_ID, confirmed_at=T0)
TIMED_OUT = OrderRejected(order_id=ORDER_ID, reason="timeout", rejected_at=T0)

# Saga events are published too (the saga view reads them), on their own topic.
# The saga's own events stay in the store; a unit that changes how it stands publishes this.
PROGRESSED = ("saga.progressed.v1", "t.sagas")


def reported(spec: Spec[Orchestrator]) -> list[SagaProgressed]:
    return [e.body for e in spec.then_published() if isinstance(e.body, SagaProgressed)]


@pytest.fixture
def spec() -> Spec[Orchestrator]:
    return Spec("orchestrator", lambda units: Orchestrator(units, STEP, max_attempts=3))


def given_saga(spec: Spec[Orchestrator], *replies: Reply) -> None:
    """Given: the saga started at T0 and got these replies at T0, its step timer armed."""
    decision = start_saga(PLACED, T0, STEP, 3)
    history: list[SagaEvent] = list(decision.events)
    for reply in replies:
        saga = fold_saga(history)
        assert saga is not None
        history += on_reply(saga, reply, T0).events
    spec.given(saga_stream(ORDER_ID), *history, flow=ORCHESTRATION)
    spec.given_timer(STEP_DEADLINE, ORDER_ID, T0 + STEP)
    spec.now = LATER


def reply(spec: Spec[Orchestrator], answer: Reply) -> None:
    spec.when(answer, flow=ORCHESTRATION)


def sent(step: str, command: str, attempt: int = 1, at: datetime = LATER,
         cause: str | None = None) -> tuple[str, CommandSent]:
    return SAGA, CommandSent(order_id=ORDER_ID, step=step, command=command, attempt=attempt,
                             sent_at=at, deadline=at + STEP, cause=cause)


def done(step: str) -> tuple[str, StepSucceeded]:
    return SAGA, StepSucceeded(order_id=ORDER_ID, step=step)


def failed(step: str, reason: str, *plan: str) -> list[tuple[str, SagaEvent]]:
    return [(SAGA, StepFailed(order_id=ORDER_ID, step=step, reason=reason)),
            (SAGA, CompensationStarted(order_id=ORDER_ID, reason=reason, plan=plan))]


def armed(spec: Spec[Orchestrator]) -> dict[tuple[str, str], datetime]:
    return {key: due for key, due in spec.then_timers().items() if key[0] == STEP_DEADLINE}


def test_every_row_of_the_orchestrator_table_has_a_spec(spec: Spec[Orchestrator]) -> None:
    assert uncovered(spec.table, globals()) == []


# starting


@covers(ORCHESTRATION, OrderPlaced)
def test_an_orchestrated_order_starts_a_saga_that_reserves_stock_and_arms_its_timer(
        spec: Spec[Orchestrator]) -> None:
    spec.when(PLACED, flow=ORCHESTRATION)
    assert spec.then_events() == [
        (SAGA, SagaStarted(order_id=ORDER_ID, customer_id=CUSTOMER, lines=LINES,
                           amount_cents=4998, ship_to="DE", order_deadline=ORDER_DEADLINE,
                           step_timeout_ms=5000, max_attempts=3, started_at=T0,
                           steps=CORE)),
        sent("reserve_stock", "ReserveStock", at=T0)]
    assert spec.then_versions() == [(SAGA, 1), (SAGA, 2)]
    assert spec.then_outbox() == [("inventory.reserve-stock.v1", "t.inventory.commands"),
                                  PROGRESSED]
    [report] = reported(spec)
    assert (report.state, report.current_step, report.attempt, report.steps_done,
            report.commands_sent, report.step_deadline) == (
        "running", "reserve_stock", 1, (), 1, T0 + STEP)
    assert spec.then_commands() == [ReserveStock(order_id=ORDER_ID, lines=LINES)]
    assert [(e.correlation_id, e.flow) for e in spec.then_published()] == [
        (ORDER_ID, ORCHESTRATION)] * 2
    assert armed(spec) == {(STEP_DEADLINE, ORDER_ID): T0 + STEP}


@covers(ORCHESTRATION, OrderPlaced)
def test_an_order_placed_twice_starts_one_saga(spec: Spec[Orchestrator]) -> None:
    spec.when(PLACED, flow=ORCHESTRATION)
    spec.now = LATER
    spec.when(PLACED, flow=ORCHESTRATION)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])
    assert armed(spec) == {(STEP_DEADLINE, ORDER_ID): T0 + STEP}


def test_a_step_unanswered_in_time_is_sent_again(spec: Spec[Orchestrator]) -> None:
    spec.when(PLACED, flow=ORCHESTRATION)
    assert spec.when_time_passes(STEP) == [1]
    assert spec.then_events() == [
        sent("reserve_stock", "ReserveStock", attempt=2, at=T0 + STEP, cause="timeout")]
    assert spec.then_commands() == [ReserveStock(order_id=ORDER_ID, lines=LINES)]
    assert armed(spec) == {(STEP_DEADLINE, ORDER_ID): T0 + 2 * STEP}


# forward


@covers(ORCHESTRATION, StockReserved)
def test_reserved_stock_advances_the_saga_to_authorise_the_payment(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec)
    reply(spec, RESERVED)
    assert spec.then_events() == [done("reserve_stock"),
                                  sent("authorize_payment", "AuthorizePayment")]
    assert spec.then_outbox() == [("payment.authorize.v1", "t.payments.commands")]
    assert spec.then_commands() == [
        AuthorizePayment(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998)]
    assert armed(spec) == {(STEP_DEADLINE, ORDER_ID): LATER + STEP}


@covers(ORCHESTRATION, StockReserved)
def test_a_repeated_reply_changes_nothing(spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED)
    reply(spec, RESERVED)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])
    assert armed(spec) == {(STEP_DEADLINE, ORDER_ID): T0 + STEP}


@covers(ORCHESTRATION, PaymentAuthorized)
def test_an_authorised_payment_advances_the_saga_to_schedule_the_shipment(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED)
    reply(spec, PAID)
    assert spec.then_events() == [done("authorize_payment"),
                                  sent("schedule_shipment", "ScheduleShipment")]
    assert spec.then_outbox() == [("shipping.schedule-shipment.v1", "t.shipping.commands")]
    assert spec.then_commands() == [ScheduleShipment(order_id=ORDER_ID, country="DE")]


@covers(ORCHESTRATION, ShipmentScheduled)
def test_a_scheduled_shipment_advances_the_saga_to_confirm_the_order(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID)
    reply(spec, SCHEDULED)
    assert spec.then_events() == [done("schedule_shipment"),
                                  sent("confirm_order", "ConfirmOrder")]
    assert spec.then_outbox() == [("order.confirm.v1", "t.orders.commands")]
    assert spec.then_commands() == [ConfirmOrder(order_id=ORDER_ID)]


@covers(ORCHESTRATION, OrderConfirmed)
def test_a_confirmed_order_completes_the_saga_and_clears_its_timer(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID, SCHEDULED)
    reply(spec, CONFIRMED)
    assert spec.then_events() == [done("confirm_order"),
                                  (SAGA, SagaCompleted(order_id=ORDER_ID))]
    assert spec.then_outbox() == [PROGRESSED]
    [report] = reported(spec)
    assert (report.state, report.current_step, report.steps_done, report.commands_sent) == (
        "completed", None, ("reserve_stock", "authorize_payment", "schedule_shipment",
                            "confirm_order"), 4)
    assert armed(spec) == {}


# failures start compensation: only what succeeded is undone, in reverse, then the order


@covers(ORCHESTRATION, StockRejected)
def test_rejected_stock_rejects_the_order_with_nothing_to_undo(spec: Spec[Orchestrator]) -> None:
    given_saga(spec)
    reply(spec, OUT_OF_STOCK)
    assert spec.then_events() == [*failed("reserve_stock", "out_of_stock", "reject_order"),
                                  sent("reject_order", "RejectOrder")]
    assert spec.then_outbox() == [("order.reject.v1", "t.orders.commands"), PROGRESSED]
    [report] = reported(spec)
    assert (report.state, report.current_step, report.reason) == (
        "compensating", "reject_order", "out_of_stock")
    assert spec.then_commands() == [RejectOrder(order_id=ORDER_ID, reason="out_of_stock")]
    assert armed(spec) == {(STEP_DEADLINE, ORDER_ID): LATER + STEP}


@covers(ORCHESTRATION, PaymentDeclined)
def test_a_declined_payment_releases_the_stock_before_rejecting_the_order(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED)
    reply(spec, DECLINED)
    assert spec.then_events() == [
        *failed("authorize_payment", "over_credit", "release_stock", "reject_order"),
        sent("release_stock", "ReleaseStock")]
    assert spec.then_outbox() == [("inventory.release-stock.v1", "t.inventory.commands"),
                                  PROGRESSED]
    assert spec.then_commands() == [ReleaseStock(order_id=ORDER_ID)]


@covers(ORCHESTRATION, ShipmentRejected)
def test_a_rejected_shipment_undoes_the_payment_then_the_stock(spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID)
    reply(spec, NOT_SERVED)
    assert spec.then_events() == [
        *failed("schedule_shipment", "country_not_served", "void_payment", "release_stock",
                "reject_order"),
        sent("void_payment", "VoidPayment")]
    assert spec.then_commands() == [VoidPayment(order_id=ORDER_ID)]


@covers(ORCHESTRATION, OrderRejected)
def test_an_order_that_refuses_to_confirm_is_rejected_first_then_everything_undone(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID, SCHEDULED)
    reply(spec, TIMED_OUT)
    assert spec.then_events() == [
        *failed("confirm_order", "timeout", "reject_order", "cancel_shipment", "void_payment",
                "release_stock"),
        sent("reject_order", "RejectOrder")]
    assert spec.then_commands() == [RejectOrder(order_id=ORDER_ID, reason="timeout")]


@covers(ORCHESTRATION, OrderExpired)
def test_an_order_expired_while_confirming_is_rejected_then_everything_undone(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID, SCHEDULED)
    reply(spec, OrderExpired(order_id=ORDER_ID, expired_at=T0))
    assert spec.then_events() == [
        *failed("confirm_order", "timeout", "reject_order", "cancel_shipment", "void_payment",
                "release_stock"),
        sent("reject_order", "RejectOrder")]
    assert spec.then_commands() == [RejectOrder(order_id=ORDER_ID, reason="timeout")]


# compensation moves on, one undo at a time


@covers(ORCHESTRATION, OrderRejected)
def test_a_rejected_order_after_its_refusal_moves_on_to_cancel_the_shipment(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID, SCHEDULED, TIMED_OUT)
    reply(spec, TIMED_OUT)
    assert spec.then_events() == [done("reject_order"), sent("cancel_shipment", "CancelShipment")]
    assert spec.then_outbox() == [("shipping.cancel-shipment.v1", "t.shipping.commands"),
                                  PROGRESSED]
    assert spec.then_commands() == [CancelShipment(order_id=ORDER_ID)]


@covers(ORCHESTRATION, ShipmentCancelled)
def test_a_cancelled_shipment_moves_compensation_on_to_void_the_payment(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID, SCHEDULED, TIMED_OUT, TIMED_OUT)
    reply(spec, SHIPMENT_CANCELLED)
    assert spec.then_events() == [done("cancel_shipment"), sent("void_payment", "VoidPayment")]
    assert spec.then_commands() == [VoidPayment(order_id=ORDER_ID)]


@covers(ORCHESTRATION, PaymentVoided)
def test_a_voided_payment_moves_compensation_on_to_release_the_stock(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID, NOT_SERVED)
    reply(spec, VOIDED)
    assert spec.then_events() == [done("void_payment"), sent("release_stock", "ReleaseStock")]
    assert spec.then_outbox() == [("inventory.release-stock.v1", "t.inventory.commands"),
                                  PROGRESSED]
    [report] = reported(spec)
    assert (report.state, report.compensated, report.current_step) == (
        "compensating", ("void_payment",), "release_stock")
    assert spec.then_commands() == [ReleaseStock(order_id=ORDER_ID)]


@covers(ORCHESTRATION, PaymentCancelled)
def test_a_payment_cancelled_instead_of_voided_also_moves_compensation_on(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID, NOT_SERVED)
    reply(spec, CANCELLED)
    assert spec.then_events() == [done("void_payment"), sent("release_stock", "ReleaseStock")]
    assert spec.then_commands() == [ReleaseStock(order_id=ORDER_ID)]


@covers(ORCHESTRATION, StockReleased)
def test_released_stock_moves_compensation_on_to_reject_the_order(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, DECLINED)
    reply(spec, RELEASED)
    assert spec.then_events() == [done("release_stock"), sent("reject_order", "RejectOrder")]
    assert spec.then_commands() == [RejectOrder(order_id=ORDER_ID, reason="over_credit")]
    assert armed(spec) == {(STEP_DEADLINE, ORDER_ID): LATER + STEP}


@covers(ORCHESTRATION, OrderRejected)
def test_the_rejected_order_ends_the_compensation_and_the_saga_and_its_timer(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, DECLINED, RELEASED)
    reply(spec, OrderRejected(order_id=ORDER_ID, reason="over_credit", rejected_at=T0))
    assert spec.then_events() == [done("reject_order"),
                                  (SAGA, SagaRejected(order_id=ORDER_ID, reason="over_credit"))]
    assert (spec.then_commands(), armed(spec)) == ([], {})


@covers(ORCHESTRATION, ShipmentRejected)
@covers(ORCHESTRATION, PaymentVoided)
@covers(ORCHESTRATION, StockReleased)
@covers(ORCHESTRATION, OrderRejected)
def test_a_failed_shipment_is_compensated_step_by_step_in_reverse(
        spec: Spec[Orchestrator]) -> None:
    given_saga(spec, RESERVED, PAID)
    commands = []
    for answer in (NOT_SERVED, VOIDED, RELEASED,
                   OrderRejected(order_id=ORDER_ID, reason="country_not_served", rejected_at=T0)):
        reply(spec, answer)
        commands += spec.then_commands()
    assert commands == [VoidPayment(order_id=ORDER_ID), ReleaseStock(order_id=ORDER_ID),
                        RejectOrder(order_id=ORDER_ID, reason="country_not_served")]
    assert spec.then_events()[-1] == (SAGA, SagaRejected(order_id=ORDER_ID,
                                                         reason="country_not_served"))
    assert armed(spec) == {}


@covers(ORCHESTRATION, StockReserved)
def test_a_reply_for_an_order_without_a_saga_is_unhandleable(spec: Spec[Orchestrator]) -> None:
    with pytest.raises(Unhandleable, match="no saga"):
        reply(spec, RESERVED)
    assert (spec.then_events(), spec.then_outbox(), spec.then_timers()) == ([], [], {})

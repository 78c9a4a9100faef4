"""Stateful: the saga against the real participants' decisions, with messages
delayed, reordered and duplicated (never lost), time passing and sends failing.

Checked after every step: fold == state; a forward step's attempts stay bounded;
only steps that succeeded are ever undone, in reverse order; every late success is
undone at once; terminal states absorb. A person may retry a failing compensation.
At the end every message still on its way is delivered, and then everyone must agree:
a completed saga's order is confirmed, reserved, paid and scheduled; a rejected one's
order is rejected, holds no stock and no credit, has no shipment scheduled, and every
completed step that has an inverse was undone exactly once.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import hypothesis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.commands import (
    AuthorizePayment,
    CancelShipment,
    ConfirmOrder,
    RejectOrder,
    ReleaseStock,
    ReserveStock,
    SagaCommand,
    ScheduleShipment,
    VoidPayment,
)
from domain.inventory import (
    InventoryDecision,
    ReservationEvent,
    ReservationStatus,
    Stock,
    StockAdded,
    StockReleased,
    StockReserved,
    evolve_stock,
    fold_reservation,
    fold_stock,
    release,
    reserve,
)
from domain.order import OrderEvent, OrderPlaced, OrderStatus, confirm, fold_order, reject
from domain.payment import (
    CreditLimitSet,
    PaymentAuthorized,
    PaymentDecision,
    PaymentEvent,
    PaymentStatus,
    PaymentVoided,
    authorize,
    evolve_credit,
    fold_credit,
    fold_payment,
    void,
)
from domain.saga import (
    CompensationStarted,
    Decision,
    Reply,
    Saga,
    SagaEvent,
    SagaState,
    Step,
    fold_saga,
    on_reply,
    on_tick,
    on_transient_failure,
    retry_now,
    start_saga,
)
from domain.shipping import (
    ShipmentCancelled,
    ShipmentScheduled,
    ShipmentStatus,
    ShippingEvent,
    cancel,
    fold_shipment,
    schedule,
)
from tests.unit.domain.builders import CATALOG, T0, placed

UNDOES = {ReleaseStock: Step.RESERVE_STOCK, VoidPayment: Step.AUTHORIZE_PAYMENT,
          CancelShipment: Step.SCHEDULE_SHIPMENT}
SUCCESS = {StockReserved: Step.RESERVE_STOCK, PaymentAuthorized: Step.AUTHORIZE_PAYMENT,
           ShipmentScheduled: Step.SCHEDULE_SHIPMENT}
# Each step with an inverse: the event that does it, and the event that undoes it.
INVERSES = ((StockReserved, StockReleased), (PaymentAuthorized, PaymentVoided),
            (ShipmentScheduled, ShipmentCancelled))
ORDER_COMMANDS = (ConfirmOrder, RejectOrder)

# What goes wrong for the order, if anything: one entry per failure path of the saga.
ENOUGH: dict[str, Any] = {"levels": {"BOOK-1": 5, "MUG-1": 5}, "limit": 10**6}
TROUBLE: dict[str, dict[str, Any]] = {
    "none": ENOUGH,
    "unknown_sku": ENOUGH | {"levels": {"BOOK-1": 5, "MUG-1": None}},
    "out_of_stock": ENOUGH | {"levels": {"BOOK-1": 1, "MUG-1": 5}},
    "unknown_customer": ENOUGH | {"limit": None},
    "over_credit": ENOUGH | {"limit": 6_287},  # the order costs 6_288
    "country_not_served": ENOUGH,
    "order_service_down": ENOUGH,  # until the end: ConfirmOrder goes unanswered
}


class World:
    """The participants, deciding with the real domain. Each answers with its latest
    event for the order, which is what a service re-sends for a duplicate command."""

    def __init__(self, order: OrderPlaced, levels: Mapping[str, int | None], limit: int | None):
        self.order_id = order.order_id
        self.stocks = {
            sku: fold_stock([StockAdded(sku=sku, quantity=level)])
            for sku, level in levels.items() if level is not None
        }
        limits = [] if limit is None else [
            CreditLimitSet(customer_id=order.customer_id, limit_cents=limit)
        ]
        self.credit = fold_credit(limits)
        self.order: list[OrderEvent] = [order]
        self.reservation: list[ReservationEvent] = []
        self.payment: list[PaymentEvent] = []
        self.shipment: list[ShippingEvent] = []

    def handle(self, command: SagaCommand, now: datetime) -> Reply | None:
        oid = self.order_id
        reservation, payment = fold_reservation(self.reservation), fold_payment(self.payment)
        order = fold_order(self.order)
        assert order is not None
        match command:
            case ReserveStock(lines=lines):
                self.inventory(reserve(reservation, self.stocks, oid, lines))
            case ReleaseStock():
                self.inventory(release(reservation, self.stocks, oid))
            case AuthorizePayment(customer_id=customer, amount_cents=amount):
                self.payments(authorize(payment, self.credit, oid, customer, amount))
            case VoidPayment():
                self.payments(void(payment, self.credit, oid))
            case ScheduleShipment(country=country):
                shipment = fold_shipment(self.shipment)
                self.shipment += schedule(shipment, oid, country, CATALOG.served_countries)
            case CancelShipment():
                self.shipment += cancel(fold_shipment(self.shipment), oid)
            case ConfirmOrder():
                self.order += confirm(order, now)
            case RejectOrder(reason=reason):
                self.order += reject(order, reason, now)
        return self.latest(command)

    def latest(self, command: SagaCommand) -> Reply | None:
        streams: dict[type, list[Any]] = {
            ReserveStock: self.reservation, ReleaseStock: self.reservation,
            AuthorizePayment: self.payment, VoidPayment: self.payment,
            ScheduleShipment: self.shipment, CancelShipment: self.shipment,
            ConfirmOrder: self.order, RejectOrder: self.order,
        }
        events = streams[type(command)]
        last = events[-1] if events else None
        return None if last is None or isinstance(last, OrderPlaced) else last

    def inventory(self, decision: InventoryDecision) -> None:
        for changes in decision.values():
            for change in changes:
                if isinstance(change, ReservationEvent):
                    self.reservation.append(change)
                else:
                    stock = self.stocks.get(change.sku, Stock())
                    self.stocks[change.sku] = evolve_stock(stock, change)

    def payments(self, decision: PaymentDecision) -> None:
        for changes in decision.values():
            for change in changes:
                if isinstance(change, PaymentEvent):
                    self.payment.append(change)
                else:
                    self.credit = evolve_credit(self.credit, change)


class SagaMachine(RuleBasedStateMachine):
    @initialize(
        trouble=st.sampled_from(["none", "none", *TROUBLE]), max_attempts=st.integers(1, 3),
        newest_first=st.booleans(),
    )
    def start(self, trouble: str, max_attempts: int, newest_first: bool) -> None:
        order = placed(ship_to="BR" if trouble == "country_not_served" else "DE")
        self.world = World(order, **TROUBLE[trouble])
        self.order_service_down = trouble == "order_service_down"
        self.newest_first = newest_first  # how the final delivery orders what is in flight
        self.max_attempts = max_attempts
        self.now = T0
        self.events: list[SagaEvent] = []
        self.in_flight: list[SagaCommand] = []
        self.replies: list[Reply] = []
        self.succeeded: set[Step] = set()
        self.terminal: SagaState | None = None
        self.take(start_saga(order, T0, timedelta(seconds=5), max_attempts))
        if self.order_service_down:
            self.deliver_everything()  # straight to confirm_order, which gets no answer

    def take(self, decision: Decision) -> None:
        for command in decision.commands:
            undone = UNDOES.get(type(command))
            assert undone is None or undone in self.succeeded, f"{command}: nothing to undo"
        self.events += decision.events
        saga = fold_saga(self.events)
        assert saga is not None
        self.saga: Saga = saga
        self.in_flight += decision.commands

    def deliverable(self) -> list[SagaCommand]:
        down = self.order_service_down
        return [c for c in self.in_flight if not (down and isinstance(c, ORDER_COMMANDS))]

    def deliver(self, command: SagaCommand) -> None:
        reply = self.world.handle(command, self.now)
        if reply is not None:
            self.replies.append(reply)

    def reply(self, reply: Reply) -> None:
        before = self.saga
        step = SUCCESS.get(type(reply))
        if step is not None:
            self.succeeded.add(step)
        decision = on_reply(before, reply, self.now)
        self.take(decision)
        if step is not None and _late(before, step):
            assert [UNDOES[type(c)] for c in decision.commands if type(c) in UNDOES] == [step]

    def deliver_everything(self) -> None:
        while self.deliverable() or self.replies:
            if self.deliverable():
                command = self.deliverable()[-1 if self.newest_first else 0]
                self.in_flight.remove(command)
                self.deliver(command)
            else:
                self.reply(self.replies.pop(0))

    @precondition(lambda self: self.deliverable())
    @rule(data=st.data())
    def deliver_a_command(self, data: st.DataObject) -> None:
        command = data.draw(st.sampled_from(self.deliverable()))
        if not data.draw(st.booleans()):  # else it is delivered again later
            self.in_flight.remove(command)
        self.deliver(command)

    @precondition(lambda self: self.replies)
    @rule(data=st.data())
    def deliver_a_reply(self, data: st.DataObject) -> None:
        reply = data.draw(st.sampled_from(self.replies))
        if not data.draw(st.booleans()):
            self.replies.remove(reply)
        self.reply(reply)

    @rule(tenths=st.integers(1, 20))
    def time_passes(self, tenths: int) -> None:
        self.now += timedelta(seconds=tenths / 10)
        self.take(on_tick(self.saga, self.now))

    @precondition(lambda self: self.saga.state is SagaState.COMPENSATION_FAILED)
    @rule()
    def a_person_retries(self) -> None:
        self.take(retry_now(self.saga, self.now))

    @rule(error=st.text(max_size=30), rarely=st.integers(0, 3))
    def a_send_fails(self, error: str, rarely: int) -> None:
        if rarely == 0 and self.saga.current_step is not None:
            self.take(on_transient_failure(self.saga, self.saga.current_step, error, self.now))

    def teardown(self) -> None:
        if not hasattr(self, "saga"):
            return
        self.order_service_down = False
        self.deliver_everything()
        saga = self.saga
        hypothesis.event(f"{saga.state} after {saga.failed_step}, late {saga.late_successes}")
        assert saga.state in (SagaState.COMPLETED, SagaState.REJECTED)
        self.everyone_agrees()
        assert on_tick(saga, self.now + timedelta(days=1)) == Decision([], [])

    def everyone_agrees(self) -> None:
        order = fold_order(self.world.order)
        reservation = fold_reservation(self.world.reservation).status
        payment = fold_payment(self.world.payment).status
        assert order is not None
        if self.saga.state is SagaState.COMPLETED:
            assert order.status is OrderStatus.CONFIRMED
            assert reservation is ReservationStatus.RESERVED
            assert payment is PaymentStatus.AUTHORIZED
            assert fold_shipment(self.world.shipment).status is ShipmentStatus.SCHEDULED
        else:
            assert order.status is OrderStatus.REJECTED
            assert reservation is not ReservationStatus.RESERVED
            assert payment is not PaymentStatus.AUTHORIZED
            assert not any(stock.reserved for stock in self.world.stocks.values())
            assert not self.world.credit.held
            assert fold_shipment(self.world.shipment).status is not ShipmentStatus.SCHEDULED
            self.each_done_step_was_undone_once()

    def each_done_step_was_undone_once(self) -> None:
        happened = [*self.world.reservation, *self.world.payment, *self.world.shipment]
        for done, undone in INVERSES:
            dones = sum(isinstance(event, done) for event in happened)
            undos = sum(isinstance(event, undone) and _undid_something(event) for event in happened)
            assert undos == dones, f"{done.__name__} x{dones}, {undone.__name__} x{undos}"

    @invariant()
    def fold_rebuilds_the_state_and_attempts_stay_bounded(self) -> None:
        assert self.saga.version == len(self.events)
        if self.saga.state is SagaState.RUNNING:  # a compensation is never given up
            assert self.saga.attempts <= self.max_attempts

    @invariant()
    def compensations_run_in_reverse_and_end_with_one_rejection(self) -> None:
        for started in self.events:
            if isinstance(started, CompensationStarted):
                plan = list(started.plan)
                if "void_payment" in plan and "release_stock" in plan:
                    assert plan.index("void_payment") < plan.index("release_stock")
                assert plan.count("reject_order") == 1

    @invariant()
    def terminal_states_absorb(self) -> None:
        if self.terminal is not None:
            assert self.saga.state is self.terminal
        elif self.saga.is_terminal:
            self.terminal = self.saga.state

    @invariant()
    def note_the_rare_paths(self) -> None:
        if self.saga.state is SagaState.COMPENSATION_FAILED:
            hypothesis.event("compensation_failed visited")
        if self.saga.failed_step is Step.CONFIRM_ORDER:
            hypothesis.event("confirm_order failed")


def _undid_something(event: object) -> bool:
    """A shipment cancelled before it was scheduled undoes nothing (it only closes it)."""
    return not isinstance(event, ShipmentCancelled) or event.country is not None


def _late(before: Saga, step: Step) -> bool:
    """A success the saga had given up on, not yet seen late: it must be undone now."""
    gave_up = before.state not in (SagaState.RUNNING, SagaState.COMPLETED)
    return gave_up and step not in before.steps_done and step not in before.late_successes


TestSagaMachine = SagaMachine.TestCase
TestSagaMachine.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)

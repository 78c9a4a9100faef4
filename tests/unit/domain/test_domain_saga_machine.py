"""Stateful: the saga against the real participants' decisions, with messages
delayed, reordered and duplicated (never lost), clocks ticking and sends failing.

Checked after every step: fold == state; only steps that succeeded are ever undone,
in reverse order; every late success is undone; terminal states absorb. Once every
message is delivered the whole system agrees: a completed saga has a confirmed,
reserved, paid and scheduled order; a rejected one holds no stock and no credit.
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

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
from domain.inventory import (
    InventoryDecision,
    ReservationEvent,
    ReservationStatus,
    Stock,
    StockAdded,
    StockReserved,
    evolve_stock,
    fold_reservation,
    fold_stock,
    release,
    reserve,
)
from domain.order import OrderEvent, OrderPlaced, OrderStatus, confirm, fold_order, reject
from domain.payment import (
    Credit,
    CreditLimitSet,
    PaymentAuthorized,
    PaymentDecision,
    PaymentEvent,
    PaymentStatus,
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
    start_saga,
)
from domain.shipping import ShipmentStatus, ShippingEvent, fold_shipment, schedule
from domain.streams import StreamCategory
from tests.unit.domain.builders import CATALOG, T0, placed

UNDO = {ReleaseStock: Step.RESERVE_STOCK, VoidPayment: Step.AUTHORIZE_PAYMENT}
SUCCESS = {StockReserved: Step.RESERVE_STOCK, PaymentAuthorized: Step.AUTHORIZE_PAYMENT}


class World:
    """The participants, deciding with the real domain. Each answers with its latest
    event for the order, which is what a service re-sends for a duplicate command."""

    def __init__(self, order: OrderPlaced, levels: Mapping[str, int | None], limit: int | None):
        self.order_id = order.order_id
        self.stocks = {
            sku: fold_stock([StockAdded(sku=sku, quantity=level)])
            for sku, level in levels.items() if level is not None
        }
        limit_set = [] if limit is None else [CreditLimitSet(customer_id=order.customer_id, limit_cents=limit)]
        self.credit = fold_credit(limit_set)
        self.order: list[OrderEvent] = [order]
        self.reservation: list[ReservationEvent] = []
        self.payment: list[PaymentEvent] = []
        self.shipment: list[ShippingEvent] = []

    def handle(self, command: SagaCommand, now: Any) -> Reply | None:
        oid = self.order_id
        match command:
            case ReserveStock():
                self.inventory(reserve(fold_reservation(self.reservation), self.stocks, oid, command.lines))
            case ReleaseStock():
                self.inventory(release(fold_reservation(self.reservation), self.stocks, oid))
            case AuthorizePayment():
                payment = fold_payment(self.payment)
                self.payments(authorize(payment, self.credit, oid, command.customer_id, command.amount_cents))
            case VoidPayment():
                self.payments(void(fold_payment(self.payment), self.credit, oid))
            case ScheduleShipment():
                self.shipment += schedule(fold_shipment(self.shipment), oid, command.country, CATALOG.served_countries)
            case ConfirmOrder():
                self.order += confirm(self.current_order(), now)
            case RejectOrder():
                self.order += reject(self.current_order(), command.reason, now)
        return self.latest(command)

    def latest(self, command: SagaCommand) -> Reply | None:
        streams: dict[type, list[Any]] = {
            ReserveStock: self.reservation, ReleaseStock: self.reservation,
            AuthorizePayment: self.payment, VoidPayment: self.payment,
            ScheduleShipment: self.shipment, ConfirmOrder: self.order, RejectOrder: self.order,
        }
        events = streams[type(command)]
        last = events[-1] if events else None
        return None if last is None or isinstance(last, OrderPlaced) else last

    def current_order(self) -> Any:
        return fold_order(self.order)

    def inventory(self, decision: InventoryDecision) -> None:
        for stream, events in decision.items():
            for event in events:
                if stream.category is StreamCategory.STOCK:
                    self.stocks[stream.key] = evolve_stock(self.stocks.get(stream.key, Stock()), event)  # type: ignore[arg-type]
                else:
                    self.reservation.append(event)  # type: ignore[arg-type]

    def payments(self, decision: PaymentDecision) -> None:
        for stream, events in decision.items():
            for event in events:
                if stream.category is StreamCategory.CREDIT:
                    self.credit = evolve_credit(self.credit, event)  # type: ignore[arg-type]
                else:
                    self.payment.append(event)  # type: ignore[arg-type]


class SagaMachine(RuleBasedStateMachine):
    @initialize(
        book=st.sampled_from([None, 1, 5]), mug=st.sampled_from([None, 1, 5]),
        limit=st.sampled_from([None, 0, 6_287, 6_288, 10**6]), ship_to=st.sampled_from(["DE", "BR"]),
        max_attempts=st.integers(1, 3),
    )
    def start(self, book: int | None, mug: int | None, limit: int | None, ship_to: str, max_attempts: int) -> None:
        order = placed(ship_to=ship_to)
        assert order.total_cents == 6_288
        self.world = World(order, {"BOOK-1": book, "MUG-1": mug}, limit)
        self.now = T0
        self.events: list[SagaEvent] = []
        self.in_flight: list[SagaCommand] = []
        self.replies: list[Reply] = []
        self.succeeded: set[Step] = set()
        self.terminal: SagaState | None = None
        self.take(start_saga(order, T0, timedelta(seconds=5), max_attempts))

    def take(self, decision: Decision) -> None:
        for command in decision.commands:
            undone = UNDO.get(type(command))
            assert undone is None or undone in self.succeeded, f"{command} undoes a step that never succeeded"
        self.events += decision.events
        saga = fold_saga(self.events)
        assert saga is not None
        self.saga: Saga = saga
        self.in_flight += decision.commands

    def pick(self, queue: list[Any], data: st.DataObject) -> Any:
        index = data.draw(st.integers(0, len(queue) - 1))
        duplicate = data.draw(st.booleans())
        return queue[index] if duplicate else queue.pop(index)

    @precondition(lambda self: self.in_flight)
    @rule(data=st.data())
    def deliver_a_command(self, data: st.DataObject) -> None:
        reply = self.world.handle(self.pick(self.in_flight, data), self.now)
        if reply is not None:
            self.replies.append(reply)

    @precondition(lambda self: self.replies)
    @rule(data=st.data())
    def deliver_a_reply(self, data: st.DataObject) -> None:
        self.reply(self.pick(self.replies, data))

    def reply(self, reply: Reply) -> None:
        before = self.saga
        step = SUCCESS.get(type(reply))
        if step is not None:
            self.succeeded.add(step)
        decision = on_reply(before, reply, self.now)
        self.take(decision)
        late = step is not None and before.state is not SagaState.RUNNING and step not in before.steps_done
        if late and step not in before.late_successes and before.state is not SagaState.COMPLETED:
            assert [UNDO[type(c)] for c in decision.commands if type(c) in UNDO] == [step]

    @rule(seconds=st.integers(1, 8))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.take(on_tick(self.saga, self.now))

    @rule(error=st.text(max_size=30))
    def a_send_fails(self, error: str) -> None:
        if self.saga.current_step is not None:
            self.take(on_transient_failure(self.saga, self.saga.current_step, error, self.now))

    @rule()
    def every_message_arrives(self) -> None:
        while self.in_flight or self.replies:
            if self.in_flight:
                reply = self.world.handle(self.in_flight.pop(0), self.now)
                self.replies += [reply] if reply is not None else []
            else:
                self.reply(self.replies.pop(0))
        assert self.saga.state in (SagaState.COMPLETED, SagaState.REJECTED)
        event(f"{self.saga.state} after {self.saga.failed_step}, late {self.saga.late_successes}")
        self.everyone_agrees()
        assert on_tick(self.saga, self.now + timedelta(days=1)) == Decision([], [])

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
            assert not any(s.reserved for s in self.world.stocks.values())
            assert not self.world.credit.held

    @invariant()
    def fold_rebuilds_the_state(self) -> None:
        assert self.saga.version == len(self.events)

    @invariant()
    def compensations_run_in_reverse_over_succeeded_steps_only(self) -> None:
        for event in self.events:
            if isinstance(event, CompensationStarted):
                plan = list(event.plan)
                if "void_payment" in plan and "release_stock" in plan:
                    assert plan.index("void_payment") < plan.index("release_stock")
                assert plan.count("reject_order") == 1

    @invariant()
    def terminal_states_absorb(self) -> None:
        if self.terminal is not None:
            assert self.saga.state is self.terminal
        elif self.saga.is_terminal:
            self.terminal = self.saga.state


TestSagaMachine = SagaMachine.TestCase
TestSagaMachine.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)

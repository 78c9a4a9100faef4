"""Stateful: any sequence of decisions on an order keeps fold == state and terminal
states absorbing."""

from datetime import timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.order import (
    Order,
    OrderEvent,
    OrderStatus,
    RejectionReason,
    confirm,
    evolve,
    expire,
    fold_order,
    reject,
)
from tests.unit.domain.builders import T0, TIMEOUT, placed


class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[OrderEvent] = [placed()]
        self.order: Order = evolve(None, self.events[0])
        self.now = T0
        self.settled: OrderStatus | None = None

    def decide(self, events: list[OrderEvent]) -> None:
        if self.order.is_terminal:
            assert events == []
        for event in events:
            self.order = evolve(self.order, event)
        self.events += events

    @rule(seconds=st.integers(0, 20))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def confirm(self) -> None:
        self.decide(confirm(self.order, self.now))

    @rule(reason=st.sampled_from(RejectionReason))
    def reject(self, reason: RejectionReason) -> None:
        self.decide(reject(self.order, reason, self.now))

    @rule()
    def expire(self) -> None:
        before_deadline = self.now < T0 + TIMEOUT
        events = expire(self.order, self.now)
        assert not (before_deadline and events)
        self.decide(events)

    @invariant()
    def fold_rebuilds_the_state(self) -> None:
        assert fold_order(self.events) == self.order
        assert self.order.version == len(self.events)

    @invariant()
    def terminal_states_absorb(self) -> None:
        if self.settled is not None:
            assert self.order.status is self.settled
        elif self.order.is_terminal:
            self.settled = self.order.status
        assert len(self.events) <= 2


TestOrderMachine = OrderMachine.TestCase
TestOrderMachine.settings = settings(max_examples=100, stateful_step_count=20, deadline=None)

"""Stateful: credit is never exceeded, holdings match authorisations, and settled
payments stay settled, whatever the sequence of decisions."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.payment import (
    Credit,
    CreditBelowHeld,
    CreditEvent,
    Payment,
    PaymentAuthorized,
    PaymentCancelled,
    PaymentDecision,
    PaymentDeclined,
    PaymentEvent,
    PaymentStatus,
    PaymentVoided,
    authorize,
    cancel,
    evolve_credit,
    evolve_payment,
    fold_credit,
    fold_payment,
    set_credit,
    void,
)
from domain.streams import StreamCategory, credit_stream
from tests.unit.domain.builders import CUSTOMER, order_id

ORDERS = tuple(order_id(n) for n in range(4))
SETTLED = (PaymentStatus.DECLINED, PaymentStatus.VOIDED, PaymentStatus.CANCELLED)


class CreditMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.credit_events: list[CreditEvent] = []
        self.credit = Credit()
        self.payment_events: dict[str, list[PaymentEvent]] = {o: [] for o in ORDERS}
        self.payments = {o: Payment() for o in ORDERS}
        self.settled: dict[str, PaymentStatus] = {}

    def append(self, decision: PaymentDecision) -> None:
        for stream, events in decision.items():
            for event in events:
                if isinstance(event, PaymentAuthorized | PaymentDeclined | PaymentVoided
                              | PaymentCancelled):
                    assert stream.category is StreamCategory.PAYMENT
                    if isinstance(event, PaymentVoided):  # a void gives back what was held
                        assert event.customer_id == CUSTOMER and event.amount_cents > 0
                    self.payment_events[stream.key].append(event)
                    self.payments[stream.key] = evolve_payment(self.payments[stream.key], event)
                else:
                    assert stream.category is StreamCategory.CREDIT
                    self.credit_events.append(event)
                    self.credit = evolve_credit(self.credit, event)

    @rule(limit=st.integers(0, 100))
    def set_limit(self, limit: int) -> None:
        try:
            events = set_credit(self.credit, CUSTOMER, limit)
        except CreditBelowHeld:
            assert limit < self.credit.held_cents
            return
        self.append({credit_stream(CUSTOMER): list(events)})

    @rule(order=st.sampled_from(ORDERS), amount=st.integers(1, 60))
    def authorize(self, order: str, amount: int) -> None:
        before = self.payments[order]
        decision = authorize(before, self.credit, order, CUSTOMER, amount)
        assert (decision == {}) == (before.status is not PaymentStatus.NONE)
        self.append(decision)

    @rule(order=st.sampled_from(ORDERS))
    def void(self, order: str) -> None:
        self.append(void(self.payments[order], self.credit, order))

    @rule(order=st.sampled_from(ORDERS))
    def cancel(self, order: str) -> None:
        self.append(cancel(self.payments[order], self.credit, order))

    @invariant()
    def fold_rebuilds_every_state(self) -> None:
        assert fold_credit(self.credit_events) == self.credit
        assert self.credit.version == len(self.credit_events)
        for order, events in self.payment_events.items():
            assert fold_payment(events) == self.payments[order]
            assert self.payments[order].version == len(events)

    @invariant()
    def credit_is_never_exceeded(self) -> None:
        assert self.credit.available >= 0
        assert all(cents > 0 for cents in self.credit.held.values())

    @invariant()
    def holdings_match_live_authorisations(self) -> None:
        for order, payment in self.payments.items():
            expected = payment.amount_cents if payment.status is PaymentStatus.AUTHORIZED else 0
            assert self.credit.held.get(order, 0) == expected

    @invariant()
    def settled_payments_stay_settled(self) -> None:
        for order, payment in self.payments.items():
            if order in self.settled:
                assert payment.status is self.settled[order]
            elif payment.status in SETTLED:
                self.settled[order] = payment.status


TestCreditMachine = CreditMachine.TestCase
TestCreditMachine.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)

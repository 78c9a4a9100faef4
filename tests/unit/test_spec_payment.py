"""Payment, one spec per row of its message table: given credit and payments, when an
event or a command arrives, then these events and these messages, and nothing else."""

from __future__ import annotations

import pytest

from adapters.codec import OrderFacts
from domain.commands import AuthorizePayment, VoidPayment
from domain.errors import Unhandleable
from domain.inventory_events import ReservedLine, StockReserved
from domain.order_events import OrderExpired
from domain.payment_events import (
    CreditHeld,
    CreditLimitSet,
    CreditReleased,
    PaymentAuthorized,
    PaymentCancelled,
    PaymentDeclined,
    PaymentVoided,
)
from domain.shipping import ShipmentRejected
from domain.streams import credit_stream, payment_stream
from services.payment import Payment
from services.port import CHOREOGRAPHY, ORCHESTRATION
from tests.specs import CUSTOMER, FACTS, ORDER_ID, T0, Spec, covers, uncovered

PAYMENT, CREDIT = str(payment_stream(ORDER_ID)), str(credit_stream(CUSTOMER))
STOCK_RESERVED = StockReserved(order_id=ORDER_ID, lines=(ReservedLine(sku="BOOK-1", quantity=2),))
# A unit writes a decision's streams in stream-id order: credit:… before payment:….
AUTHORIZED = [
    (CREDIT, CreditHeld(customer_id=CUSTOMER, order_id=ORDER_ID, amount_cents=4998)),
    (PAYMENT, PaymentAuthorized(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998))]
# The per-customer credit bookkeeping stays in payment's store: only the answer is published.
AUTHORIZED_OUTBOX = [("payment.authorized.v1", "t.payments")]
VOIDED = [(CREDIT, CreditReleased(customer_id=CUSTOMER, order_id=ORDER_ID, amount_cents=4998)),
          (PAYMENT, PaymentVoided(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998))]
VOIDED_OUTBOX = [("payment.voided.v1", "t.payments")]


@pytest.fixture
def spec() -> Spec[Payment]:
    spec = Spec("payment", Payment)
    spec.given(credit_stream(CUSTOMER), CreditLimitSet(customer_id=CUSTOMER, limit_cents=10_000))
    return spec


def authorized(spec: Spec[Payment]) -> None:
    """Given: the order's total is held on the customer's credit."""
    spec.given(credit_stream(CUSTOMER), AUTHORIZED[0][1])
    spec.given(payment_stream(ORDER_ID), AUTHORIZED[1][1])


def test_every_row_of_the_payment_table_has_a_spec(spec: Spec[Payment]) -> None:
    assert uncovered(spec.table, globals()) == []


# choreography


@covers(CHOREOGRAPHY, StockReserved)
def test_reserved_stock_authorises_the_order_total_against_the_customers_credit(
        spec: Spec[Payment]) -> None:
    spec.when(STOCK_RESERVED, flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == AUTHORIZED
    assert spec.then_versions() == [(CREDIT, 2), (PAYMENT, 1)]
    assert spec.then_outbox() == AUTHORIZED_OUTBOX
    assert [e.order for e in spec.then_published()] == [FACTS]  # shipping needs ship_to


@covers(CHOREOGRAPHY, StockReserved)
def test_reserved_stock_over_the_customers_credit_is_declined(spec: Spec[Payment]) -> None:
    spec.given(credit_stream(CUSTOMER), CreditLimitSet(customer_id=CUSTOMER, limit_cents=4997))
    spec.when(STOCK_RESERVED, flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == [
        (PAYMENT, PaymentDeclined(order_id=ORDER_ID, customer_id=CUSTOMER, reason="over_credit"))]
    assert spec.then_outbox() == [("payment.declined.v1", "t.payments")]


@covers(CHOREOGRAPHY, StockReserved)
def test_reserved_stock_of_a_customer_without_credit_is_declined_as_unknown(
        spec: Spec[Payment]) -> None:
    stranger = OrderFacts(customer_id="bob", total_cents=100, ship_to="DE")
    spec.when(STOCK_RESERVED, flow=CHOREOGRAPHY, order=stranger)
    assert spec.then_events() == [
        (PAYMENT, PaymentDeclined(order_id=ORDER_ID, customer_id="bob", reason="unknown_customer"))]
    assert spec.then_outbox() == [("payment.declined.v1", "t.payments")]


@covers(CHOREOGRAPHY, StockReserved)
def test_reserved_stock_without_the_order_facts_is_unhandleable(spec: Spec[Payment]) -> None:
    with pytest.raises(Unhandleable, match="carries no order facts"):
        spec.when(STOCK_RESERVED, flow=CHOREOGRAPHY)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])


@covers(CHOREOGRAPHY, ShipmentRejected)
def test_a_rejected_shipment_voids_the_payment_and_gives_the_credit_back(
        spec: Spec[Payment]) -> None:
    authorized(spec)
    spec.when(ShipmentRejected(order_id=ORDER_ID, country="BR", reason="country_not_served"),
              flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == VOIDED
    assert spec.then_versions() == [(CREDIT, 3), (PAYMENT, 2)]
    assert spec.then_outbox() == VOIDED_OUTBOX


@covers(CHOREOGRAPHY, OrderExpired)
def test_an_expired_order_voids_its_payment(spec: Spec[Payment]) -> None:
    authorized(spec)
    spec.when(OrderExpired(order_id=ORDER_ID, expired_at=T0), flow=CHOREOGRAPHY)
    assert spec.then_events() == VOIDED
    assert spec.then_outbox() == VOIDED_OUTBOX


@covers(CHOREOGRAPHY, OrderExpired)
@covers(CHOREOGRAPHY, StockReserved)
def test_an_order_expired_before_payment_is_cancelled_so_late_stock_authorises_nothing(
        spec: Spec[Payment]) -> None:
    spec.when(OrderExpired(order_id=ORDER_ID, expired_at=T0), flow=CHOREOGRAPHY)
    assert spec.then_events() == [(PAYMENT, PaymentCancelled(order_id=ORDER_ID))]
    assert spec.then_outbox() == [("payment.cancelled.v1", "t.payments")]
    spec.when(STOCK_RESERVED, flow=CHOREOGRAPHY, order=FACTS)
    assert (spec.then_events(), spec.then_outbox()) == ([], [])


# orchestration


@covers(ORCHESTRATION, AuthorizePayment)
def test_authorize_payment_holds_the_amount_on_the_customers_credit(spec: Spec[Payment]) -> None:
    spec.when(AuthorizePayment(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998),
              flow=ORCHESTRATION)
    assert spec.then_events() == AUTHORIZED
    assert spec.then_outbox() == AUTHORIZED_OUTBOX


@covers(ORCHESTRATION, AuthorizePayment)
def test_authorize_payment_over_the_credit_left_is_declined(spec: Spec[Payment]) -> None:
    spec.given(credit_stream(CUSTOMER),
               CreditHeld(customer_id=CUSTOMER, order_id="other", amount_cents=6000))
    spec.when(AuthorizePayment(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4001),
              flow=ORCHESTRATION)
    assert spec.then_events() == [
        (PAYMENT, PaymentDeclined(order_id=ORDER_ID, customer_id=CUSTOMER, reason="over_credit"))]
    assert spec.then_outbox() == [("payment.declined.v1", "t.payments")]


@covers(ORCHESTRATION, AuthorizePayment)
def test_a_repeated_authorize_payment_is_answered_again_with_the_first_outcome(
        spec: Spec[Payment]) -> None:
    command = AuthorizePayment(order_id=ORDER_ID, customer_id=CUSTOMER, amount_cents=4998)
    spec.when(command, flow=ORCHESTRATION)
    [first] = spec.then_published()
    spec.when(command, flow=ORCHESTRATION)
    assert spec.then_events() == []
    assert spec.then_outbox() == [("payment.authorized.v1", "t.payments")]
    assert [(e.event_id, e.body) for e in spec.then_published()] == [(first.event_id, first.body)]


@covers(ORCHESTRATION, VoidPayment)
def test_void_payment_gives_the_held_credit_back(spec: Spec[Payment]) -> None:
    authorized(spec)
    spec.when(VoidPayment(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == VOIDED
    assert spec.then_outbox() == VOIDED_OUTBOX


@covers(ORCHESTRATION, VoidPayment)
def test_void_payment_of_a_payment_never_asked_for_cancels_it(spec: Spec[Payment]) -> None:
    spec.when(VoidPayment(order_id=ORDER_ID), flow=ORCHESTRATION)
    assert spec.then_events() == [(PAYMENT, PaymentCancelled(order_id=ORDER_ID))]
    assert spec.then_outbox() == [("payment.cancelled.v1", "t.payments")]

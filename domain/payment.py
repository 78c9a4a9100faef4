"""Payment: each order's authorisation against its customer's credit.

``authorize`` and ``void`` touch two streams, so they return
``dict[StreamId, list[PaymentsEvent]]`` (see ``domain.streams``). ``{}`` means
nothing to do: the caller replies with the payment stream's latest event, if any
(a duplicate command gets the same answer as the first).
Credit itself lives in ``domain.credit``; both are re-exported here.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeAlias, assert_never

from domain.credit import (
    MAX_CREDIT_CENTS,
    Credit,
    CreditBelowHeld,
    evolve_credit,
    fold_credit,
    set_credit,
)
from domain.ids import validate_customer_id, validate_order_id
from domain.payment_events import (
    CreditEvent,
    CreditHeld,
    CreditLimitSet,
    CreditReleased,
    PaymentAuthorized,
    PaymentCancelled,
    PaymentDeclined,
    PaymentEvent,
    PaymentsEvent,
    PaymentVoided,
)
from domain.reasons import RejectionReason
from domain.streams import StreamId, credit_stream, payment_stream
from domain.values import InvalidAmount, bounded_int

__all__ = [
    "MAX_CREDIT_CENTS",
    "Credit",
    "CreditBelowHeld",
    "CreditEvent",
    "CreditHeld",
    "CreditLimitSet",
    "CreditReleased",
    "Payment",
    "PaymentAuthorized",
    "PaymentCancelled",
    "PaymentDecision",
    "PaymentDeclined",
    "PaymentEvent",
    "PaymentStatus",
    "PaymentVoided",
    "PaymentsEvent",
    "authorize",
    "cancel",
    "evolve_credit",
    "evolve_payment",
    "fold_credit",
    "fold_payment",
    "set_credit",
    "void",
]

PaymentDecision: TypeAlias = dict[StreamId, list[PaymentsEvent]]


class PaymentStatus(StrEnum):
    NONE = "none"
    AUTHORIZED = "authorized"
    DECLINED = "declined"
    VOIDED = "voided"
    CANCELLED = "cancelled"  # called off before payment was asked: nothing to void


@dataclass(frozen=True, kw_only=True, slots=True)
class Payment:
    order_id: str = ""
    customer_id: str = ""
    status: PaymentStatus = PaymentStatus.NONE
    amount_cents: int = 0
    reason: str | None = None
    version: int = 0


def evolve_payment(payment: Payment, event: PaymentEvent) -> Payment:
    match event:
        case PaymentAuthorized(customer_id=customer, amount_cents=amount):
            after = replace(
                payment, customer_id=customer, status=PaymentStatus.AUTHORIZED, amount_cents=amount
            )
        case PaymentDeclined(customer_id=customer, reason=reason):
            after = replace(
                payment, customer_id=customer, status=PaymentStatus.DECLINED, reason=reason
            )
        case PaymentVoided(customer_id=customer):
            after = replace(payment, customer_id=customer, status=PaymentStatus.VOIDED)
        case PaymentCancelled():
            after = replace(payment, status=PaymentStatus.CANCELLED)
        case _:
            assert_never(event)
    return replace(after, order_id=event.order_id, version=payment.version + 1)


def fold_payment(events: Iterable[PaymentEvent]) -> Payment:
    payment = Payment()
    for event in events:
        payment = evolve_payment(payment, event)
    return payment


def authorize(
    payment: Payment, credit: Credit, order_id: str, customer_id: str, amount_cents: int
) -> PaymentDecision:
    """Hold the amount on the customer's credit, or decline; never exceed the limit."""
    order_id = validate_order_id(order_id)
    customer_id = validate_customer_id(customer_id)
    amount = bounded_int(
        amount_cents, what="amount in cents", low=1, high=MAX_CREDIT_CENTS, error=InvalidAmount
    )
    if payment.status is not PaymentStatus.NONE:
        return {}
    if credit.version == 0 or credit.available < amount:
        return {payment_stream(order_id): [_declined(credit, order_id, customer_id)]}
    return {
        payment_stream(order_id): [
            PaymentAuthorized(order_id=order_id, customer_id=customer_id, amount_cents=amount)
        ],
        credit_stream(customer_id): [
            CreditHeld(customer_id=customer_id, order_id=order_id, amount_cents=amount)
        ],
    }


def _declined(credit: Credit, order_id: str, customer_id: str) -> PaymentDeclined:
    unknown = credit.version == 0
    reason = RejectionReason.UNKNOWN_CUSTOMER if unknown else RejectionReason.OVER_CREDIT
    return PaymentDeclined(order_id=order_id, customer_id=customer_id, reason=reason.value)


def void(payment: Payment, credit: Credit, order_id: str) -> PaymentDecision:
    """Undo an authorisation, releasing exactly what this order holds."""
    order_id = validate_order_id(order_id)
    if payment.status is not PaymentStatus.AUTHORIZED:
        return {}
    customer_id = payment.customer_id
    decision: PaymentDecision = {
        payment_stream(order_id): [
            PaymentVoided(
                order_id=order_id, customer_id=customer_id, amount_cents=payment.amount_cents
            )
        ]
    }
    held = credit.held.get(order_id, 0)
    if held > 0:
        decision[credit_stream(customer_id)] = [
            CreditReleased(customer_id=customer_id, order_id=order_id, amount_cents=held)
        ]
    return decision


def cancel(payment: Payment, credit: Credit, order_id: str) -> PaymentDecision:
    """The order is off: void an authorisation, or cancel a payment that never started
    so that a late request (a reply overtaken by the expiry) authorises nothing.

    Cancelling is its own event, not a void of nothing: a PaymentVoided says credit was
    held and given back, and would need a customer and an amount this payment never had.
    """
    order_id = validate_order_id(order_id)
    if payment.status is PaymentStatus.AUTHORIZED:
        return void(payment, credit, order_id)
    if payment.status is not PaymentStatus.NONE:
        return {}
    return {payment_stream(order_id): [PaymentCancelled(order_id=order_id)]}

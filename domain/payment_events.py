"""Payment's events (``domain.payment`` re-exports all).

Two kinds of stream: one per customer (the credit line) and one per order (the
payment, i.e. payment's answer to that order).
"""

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, kw_only=True, slots=True)
class CreditLimitSet:
    customer_id: str
    limit_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CreditHeld:
    customer_id: str
    order_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CreditReleased:
    customer_id: str
    order_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentAuthorized:
    order_id: str
    customer_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentDeclined:
    order_id: str
    customer_id: str
    reason: str  # RejectionReason.OVER_CREDIT or UNKNOWN_CUSTOMER


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentVoided:
    order_id: str
    customer_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PaymentCancelled:
    """The order was called off before payment was asked: nothing was held, nothing is
    released. It closes the payment, so a later authorize request (one the expiry
    overtook) authorises nothing. No customer and no amount: none was ever given."""

    order_id: str


CreditEvent: TypeAlias = CreditLimitSet | CreditHeld | CreditReleased
PaymentEvent: TypeAlias = PaymentAuthorized | PaymentDeclined | PaymentVoided | PaymentCancelled
PaymentsEvent: TypeAlias = CreditEvent | PaymentEvent

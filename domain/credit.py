"""The Credit aggregate: one stream per customer, a limit and the amounts orders hold.

Invariant: ``sum(held) <= limit_cents``, so ``available`` is never negative.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import assert_never

from domain.errors import DomainError, InvalidHistory
from domain.ids import validate_customer_id
from domain.payment_events import CreditEvent, CreditHeld, CreditLimitSet, CreditReleased
from domain.values import InvalidAmount, adjusted, bounded_int, no_holdings

MAX_CREDIT_CENTS = 10**12


class CreditBelowHeld(DomainError):
    """A new limit lower than what open orders already hold."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Credit:
    customer_id: str = ""
    limit_cents: int = 0
    held: Mapping[str, int] = field(default_factory=no_holdings)  # order id -> cents
    version: int = 0  # 0: no limit ever set, which payments treat as an unknown customer

    @property
    def held_cents(self) -> int:
        return sum(self.held.values())

    @property
    def available(self) -> int:
        return self.limit_cents - self.held_cents


def evolve_credit(credit: Credit, event: CreditEvent) -> Credit:
    match event:
        case CreditLimitSet():
            after = replace(credit, customer_id=event.customer_id, limit_cents=event.limit_cents)
        case CreditHeld():
            after = _hold(credit, event.order_id, event.amount_cents)
        case CreditReleased():
            after = _hold(credit, event.order_id, -event.amount_cents)
        case _:
            assert_never(event)
    return replace(after, version=credit.version + 1)


def _hold(credit: Credit, order_id: str, cents: int) -> Credit:
    held = adjusted(credit.held, order_id, cents)
    if credit.available < cents or held.get(order_id, 0) < 0:
        raise InvalidHistory(f"credit {credit.customer_id}: would be exceeded by order {order_id}")
    return replace(credit, held=held)


def fold_credit(events: Iterable[CreditEvent]) -> Credit:
    credit = Credit()
    for event in events:
        credit = evolve_credit(credit, event)
    return credit


def set_credit(credit: Credit, customer_id: str, limit_cents: int) -> list[CreditEvent]:
    customer_id = validate_customer_id(customer_id)
    limit = bounded_int(
        limit_cents, what="credit limit in cents", low=0, high=MAX_CREDIT_CENTS,
        error=InvalidAmount,
    )
    if limit < credit.held_cents:
        raise CreditBelowHeld(
            f"credit limit {limit} cents is below the {credit.held_cents} cents"
            f" open orders of {customer_id} already hold"
        )
    return [CreditLimitSet(customer_id=customer_id, limit_cents=limit)]

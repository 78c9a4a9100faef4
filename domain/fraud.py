"""The optional fraud step: a verdict per order, decided from the order's own facts.

It exists so a workshop can measure what adding a step to the saga changes in each
style (`compare --with-step fraud`). The rule is deterministic, so the path can be
triggered on purpose: an order whose total is above `FRAUD_LIMIT_CENTS` is suspected
and rejected with reason `fraud_suspected`; any other is cleared. A screening has no
inverse: it holds nothing, so nothing needs undoing when a later step fails.

A verdict is given once: screening an order again (a redelivery, a re-sent command)
decides nothing new, and the caller answers with the first verdict.
"""

from dataclasses import dataclass, replace
from typing import TypeAlias, assert_never

from domain.reasons import RejectionReason

FRAUD_LIMIT_CENTS = 500_000  # an order above 5,000.00 is suspected


@dataclass(frozen=True, kw_only=True, slots=True)
class FraudCleared:
    order_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FraudRejected:
    order_id: str
    reason: str  # RejectionReason.FRAUD_SUSPECTED


ScreeningEvent: TypeAlias = FraudCleared | FraudRejected


@dataclass(frozen=True, kw_only=True, slots=True)
class Screening:
    verdict: ScreeningEvent | None = None
    version: int = 0


def suspected(amount_cents: int) -> bool:
    return amount_cents > FRAUD_LIMIT_CENTS


def screen(screening: Screening, order_id: str, amount_cents: int) -> list[ScreeningEvent]:
    """FraudCleared | FraudRejected, or nothing if the order was screened before."""
    if screening.verdict is not None:
        return []
    if suspected(amount_cents):
        return [FraudRejected(order_id=order_id, reason=RejectionReason.FRAUD_SUSPECTED.value)]
    return [FraudCleared(order_id=order_id)]


def evolve_screening(screening: Screening, event: ScreeningEvent) -> Screening:
    match event:
        case FraudCleared() | FraudRejected():
            return replace(screening, verdict=event, version=screening.version + 1)
        case _:
            assert_never(event)

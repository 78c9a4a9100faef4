"""Why an order is rejected: one vocabulary shared by every participant."""

from enum import StrEnum

from domain.errors import DomainError
from domain.values import shown


class RejectionReason(StrEnum):
    OUT_OF_STOCK = "out_of_stock"
    UNKNOWN_SKU = "unknown_sku"
    OVER_CREDIT = "over_credit"
    UNKNOWN_CUSTOMER = "unknown_customer"
    COUNTRY_NOT_SERVED = "country_not_served"
    TIMEOUT = "timeout"
    FRAUD_SUSPECTED = "fraud_suspected"  # the optional fraud step (ORDERFLOW_STEPS=fraud)


_VALUES = tuple(reason.value for reason in RejectionReason)


class InvalidReason(DomainError):
    """A rejection reason outside the shared vocabulary."""


def parse_reason(value: object) -> str:
    """The plain string value, so events hold str whether given str or enum."""
    if isinstance(value, str) and value in _VALUES:
        return RejectionReason(value).value
    raise InvalidReason(f"reason must be one of {', '.join(_VALUES)}, got {shown(value)}")

"""Identifier validation: whatever reaches an event is safe to print, key and store."""

import re

from domain.errors import DomainError
from domain.values import shown

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_NAME_RULE = "1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"


class InvalidIdentifier(DomainError):
    """An order id, customer id or SKU that is not well formed."""


def _matching(value: object, pattern: re.Pattern[str], message: str) -> str:
    # fullmatch, not match + $: "$" would accept a trailing newline.
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidIdentifier(f"{message}, got {shown(value)}")
    return value


def validate_order_id(value: object) -> str:
    return _matching(value, _UUID, "order id must be a lowercase UUID")


def validate_customer_id(value: object) -> str:
    return _matching(value, _NAME, f"customer id must be {_NAME_RULE}")


def validate_sku(value: object) -> str:
    return _matching(value, _NAME, f"SKU must be {_NAME_RULE}")

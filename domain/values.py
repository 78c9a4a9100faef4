"""Plain values shared by several aggregates: bounded integers and timestamps."""

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from domain.errors import DomainError


class InvalidQuantity(DomainError):
    """A quantity of items out of range or not an integer."""


class InvalidAmount(DomainError):
    """An amount of money out of range or not integer cents."""


class InvalidTimestamp(DomainError):
    """A timestamp without a timezone."""


def shown(value: object, limit: int = 40) -> str:
    """repr() cut short: error messages stay one short line whatever the input."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def bounded_int(
    value: object, *, what: str, low: int, high: int, error: type[DomainError]
) -> int:
    # bool is an int subclass, but True is never a quantity anybody meant.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise error(f"{what} must be an integer between {low} and {high}, got {shown(value)}")
    return value


def require_aware(moment: object, what: str = "now") -> datetime:
    # Naive datetimes compare wrongly across machines; refuse them at the door.
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidTimestamp(f"{what} must be a timezone-aware datetime, got {shown(moment)}")
    return moment


def no_holdings() -> Mapping[str, int]:
    """Default for holdings fields (a dataclass default must not be shared mutable)."""
    return MappingProxyType({})


def adjusted(holdings: Mapping[str, int], key: str, delta: int) -> Mapping[str, int]:
    """A read-only copy with ``key`` moved by ``delta``; zero entries disappear."""
    changed = dict(holdings)
    changed[key] = changed.get(key, 0) + delta
    if changed[key] == 0:
        del changed[key]
    return MappingProxyType(changed)

"""Plain values shared by several aggregates: bounded integers and timestamps."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

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


class Holdings(Mapping[str, int]):
    """Read-only units (or cents) held per order, where moving one order's holding
    costs O(1) amortised instead of a copy of the whole map.

    A SKU holds stock for every order it ever confirmed, so a plain copy per event made
    folding its stream quadratic. A new version shares its predecessor's base dict and
    carries a small overlay (0 marks a removed key); the overlay is folded into a new
    base once it outgrows `COMPACT_AT`. Neither dict is ever mutated after creation.
    """

    __slots__ = ("_base", "_len", "_overlay")
    COMPACT_AT = 64

    def __init__(self, base: Mapping[str, int] | None = None,
                 overlay: Mapping[str, int] | None = None) -> None:
        self._base: Mapping[str, int] = base if base is not None else {}
        self._overlay: Mapping[str, int] = overlay if overlay is not None else {}
        added = sum(1 for k, v in self._overlay.items() if v and k not in self._base)
        removed = sum(1 for k, v in self._overlay.items() if not v and k in self._base)
        self._len = len(self._base) + added - removed

    def __getitem__(self, key: str) -> int:
        if key in self._overlay:
            value = self._overlay[key]
            if not value:
                raise KeyError(key)
            return value
        return self._base[key]

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay
        for key in self._base:
            if overlay.get(key, 1):
                yield key
        for key, value in overlay.items():
            if value and key not in self._base:
                yield key

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"Holdings({dict(self)!r})"

    def moved(self, key: str, delta: int) -> Holdings:
        overlay = {**self._overlay, key: self.get(key, 0) + delta}
        if len(overlay) <= self.COMPACT_AT:
            return Holdings(self._base, overlay)
        merged = {k: v for k, v in self._base.items() if k not in overlay}
        merged.update((k, v) for k, v in overlay.items() if v)
        return Holdings(merged)


def no_holdings() -> Mapping[str, int]:
    """Default for holdings fields (a dataclass default must not be shared mutable)."""
    return Holdings()


def adjusted(holdings: Mapping[str, int], key: str, delta: int) -> Mapping[str, int]:
    """A read-only copy with ``key`` moved by ``delta``; zero entries disappear."""
    if not isinstance(holdings, Holdings):
        holdings = Holdings(dict(holdings))
    return holdings.moved(key, delta)

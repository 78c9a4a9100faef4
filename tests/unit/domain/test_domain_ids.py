"""Identifiers: only well-formed, printable, storable ids get into events."""

import pytest

from domain.errors import DomainError, OrderflowError
from domain.ids import (
    InvalidIdentifier,
    validate_customer_id,
    validate_order_id,
    validate_sku,
)

HOSTILE = [
    "",
    " ",
    "a b",
    "a\x00b",
    "'; DROP TABLE events;--",
    'say "hi"',
    "it's",
    "x" * 65,
    "x" * 1_000_000,
    "-leading-dash",
    ".hidden",
    "stock:BOOK-1",
    "name\n",
    "caf\u00e9",
    "\uff21BC",  # fullwidth A: looks like a letter, is not ASCII
    None,
    42,
    b"BOOK-1",
]


@pytest.mark.parametrize("value", ["BOOK-1", "a", "A_b.c-9", "9", "x" * 64])
def test_names_that_are_accepted(value: str) -> None:
    assert validate_sku(value) == value
    assert validate_customer_id(value) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_names_are_refused_with_one_short_line(value: object) -> None:
    for validate in (validate_sku, validate_customer_id):
        with pytest.raises(InvalidIdentifier) as caught:
            validate(value)
        message = str(caught.value)
        assert "\n" not in message and "\x00" not in message
        assert len(message) < 200


def test_order_ids_are_canonical_lowercase_uuids() -> None:
    good = "0b7e6c1a-3f0e-4c1b-9a51-2f1f3c9d8e01"
    assert validate_order_id(good) == good
    for bad in [good.upper(), good.replace("-", ""), "{" + good + "}", good + "\n", "nope", None]:
        with pytest.raises(InvalidIdentifier, match="order id must be a lowercase UUID"):
            validate_order_id(bad)


def test_identifier_errors_share_the_project_root() -> None:
    assert issubclass(InvalidIdentifier, DomainError)
    assert issubclass(DomainError, OrderflowError)

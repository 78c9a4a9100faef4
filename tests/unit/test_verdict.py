"""Outage or poison (`verdict`): a store error that a retry in the same transaction can
never get past — a deadlock with another writer, a serialization failure, a lock not
granted — is an outage for the whole batch, never the message's fault. Seen in CI: two
projector instances deadlocked on one customer's credit row five times running, and a
good message went to the dead-letter topic, so credit_view missed its delta."""

from __future__ import annotations

import sqlite3

import psycopg.errors
import pytest
from sqlalchemy.exc import OperationalError

from adapters.sql.batches import MESSAGE_TRIES, Verdict, verdict
from adapters.sql.event_store import ConcurrencyError


def store_error(cause: Exception) -> OperationalError:
    return OperationalError("UPDATE credit_view SET held_cents = ...", {}, cause)


@pytest.mark.parametrize("cause", [
    psycopg.errors.DeadlockDetected("deadlock detected"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.LockNotAvailable("could not obtain lock on row"),
    sqlite3.OperationalError("database is locked"),
], ids=["deadlock", "serialization", "lock-not-available", "sqlite-locked"])
@pytest.mark.parametrize("tries", [1, MESSAGE_TRIES])
def test_losing_a_race_with_another_writer_is_an_outage_never_poison(
        cause: Exception, tries: int) -> None:
    assert verdict(store_error(cause), tries) is Verdict.OUTAGE


def test_a_store_error_that_keeps_coming_back_is_still_poison() -> None:
    error = store_error(psycopg.errors.NumericValueOutOfRange("integer out of range"))
    assert verdict(error, 1) is Verdict.RETRY
    assert verdict(error, MESSAGE_TRIES) is Verdict.POISON


@pytest.mark.parametrize("tries", [1, MESSAGE_TRIES])
def test_a_stream_another_instance_appended_to_first_is_an_outage_never_poison(
        tries: int) -> None:
    # two inventory instances append to one SKU's stock stream; one loses, again and again
    error = ConcurrencyError("a stream of stock:BOOK-1 changed concurrently")
    assert verdict(error, tries) is Verdict.OUTAGE

"""A batch of messages the service does not act on writes nothing at once: its positions
go with the next batch that writes, or after SAVE_SKIPPED_EVERY. Nothing is lost either
way (a restart re-reads them and skips them again); this saves a transaction, a commit
and a relay wake-up per skipped message. No broker: records are stand-ins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.codec import Envelope, encode, envelope_for
from adapters.records import Positions, Record
from adapters.sql import batches, migrate
from adapters.sql.batches import BatchApplier
from adapters.sql.tables import consumer_positions
from domain.stock import StockAdded

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


def a_message(event_id: str, flow: str | None) -> bytes:
    envelope: Envelope = envelope_for(
        StockAdded(sku="BOOK-1", quantity=1), event_id=event_id, aggregate_id="BOOK-1",
        aggregate_version=1, occurred_at=T0, correlation_id="BOOK-1", causation_id=None,
        flow=flow)
    return encode(envelope)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate.upgrade(made, "inventory", None)
    yield made
    made.dispose()


def stored(engine: sa.Engine) -> dict[tuple[str, int], int]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(consumer_positions))
        return {(r.topic, r.partition): r.next_offset for r in rows}


@pytest.fixture
def handled() -> list[str]:
    return []


@pytest.fixture
def applier(engine: sa.Engine, handled: list[str]) -> BatchApplier:
    def handle(_connection: Any, items: Any) -> None:
        handled.extend(item.envelope.event_id for item in items)

    def wants(envelope: Envelope) -> bool:
        return envelope.flow == "choreography"  # the stand-in service's interest

    return BatchApplier(engine=engine, group="g", handler=lambda c, i: handle(c, [i]),
                        batch_handler=handle, wants=wants)


def apply(applier: BatchApplier, *records: Record) -> Positions:
    return applier.apply(list(records))


def record(topic: str, partition: int, offset: int, value: bytes) -> Record:
    return Record(topic, partition, offset, b"BOOK-1", value)


SKIPPED_A = record("t", 0, 0, a_message("00000000-0000-4000-8000-000000000001", None))
SKIPPED_B = record("t", 1, 4, a_message("00000000-0000-4000-8000-000000000002", None))
WANTED = record("t", 0, 1, a_message("00000000-0000-4000-8000-000000000003", "choreography"))


def test_a_batch_of_skipped_messages_writes_nothing_at_once(
        applier: BatchApplier, engine: sa.Engine, handled: list[str]) -> None:
    assert apply(applier, SKIPPED_A, SKIPPED_B) == {("t", 0): 1, ("t", 1): 5}
    assert (stored(engine), handled) == ({}, [])


def test_the_next_batch_that_writes_stores_the_skipped_positions_too(
        applier: BatchApplier, engine: sa.Engine, handled: list[str]) -> None:
    apply(applier, SKIPPED_B)
    apply(applier, WANTED)
    assert handled == ["00000000-0000-4000-8000-000000000003"]
    assert stored(engine) == {("t", 0): 2, ("t", 1): 5}


def test_skipped_positions_are_stored_once_the_interval_passed(
        applier: BatchApplier, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    apply(applier, SKIPPED_A)
    assert stored(engine) == {}
    monkeypatch.setattr(batches, "SAVE_SKIPPED_EVERY", 0.0)
    apply(applier, SKIPPED_B)
    assert stored(engine) == {("t", 0): 1, ("t", 1): 5}


def test_a_record_that_does_not_decode_is_never_just_skipped(
        applier: BatchApplier, engine: sa.Engine) -> None:
    apply(applier, record("t", 2, 7, b"not json"))
    assert stored(engine) == {("t", 2): 8}  # dead-lettered in a transaction of its own


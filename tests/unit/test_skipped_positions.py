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
from adapters.kafka import consumer as consumer_module
from adapters.kafka.consumer import ConsumerRuntime
from adapters.sql import migrate
from adapters.sql.tables import consumer_positions
from domain.stock import StockAdded

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


class Record:
    """What the runtime reads of a confluent-kafka Message."""

    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self._where, self._value = (topic, partition, offset), value

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return b"BOOK-1"

    def error(self) -> None:
        return None


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
def runtime(engine: sa.Engine, handled: list[str]) -> ConsumerRuntime:
    def handle(_connection: Any, items: Any) -> None:
        handled.extend(item.envelope.event_id for item in items)

    def wants(envelope: Envelope) -> bool:
        return envelope.flow == "choreography"  # the stand-in service's interest

    made = ConsumerRuntime(engine=engine, bootstrap="127.0.0.1:9", group="g", topics=["t"],
                           handler=lambda c, i: handle(c, [i]), batch_handler=handle,
                           wants=wants)
    return made


def apply(runtime: ConsumerRuntime, *records: Record) -> dict[tuple[str, int], int]:
    return runtime._transaction(list(records))  # type: ignore[arg-type]


SKIPPED_A = Record("t", 0, 0, a_message("00000000-0000-4000-8000-000000000001", None))
SKIPPED_B = Record("t", 1, 4, a_message("00000000-0000-4000-8000-000000000002", None))
WANTED = Record("t", 0, 1, a_message("00000000-0000-4000-8000-000000000003", "choreography"))


def test_a_batch_of_skipped_messages_writes_nothing_at_once(
        runtime: ConsumerRuntime, engine: sa.Engine, handled: list[str]) -> None:
    assert apply(runtime, SKIPPED_A, SKIPPED_B) == {("t", 0): 1, ("t", 1): 5}
    assert (stored(engine), handled) == ({}, [])


def test_the_next_batch_that_writes_stores_the_skipped_positions_too(
        runtime: ConsumerRuntime, engine: sa.Engine, handled: list[str]) -> None:
    apply(runtime, SKIPPED_B)
    apply(runtime, WANTED)
    assert handled == ["00000000-0000-4000-8000-000000000003"]
    assert stored(engine) == {("t", 0): 2, ("t", 1): 5}


def test_skipped_positions_are_stored_once_the_interval_passed(
        runtime: ConsumerRuntime, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    apply(runtime, SKIPPED_A)
    assert stored(engine) == {}
    monkeypatch.setattr(consumer_module, "SAVE_SKIPPED_EVERY", 0.0)
    apply(runtime, SKIPPED_B)
    assert stored(engine) == {("t", 0): 1, ("t", 1): 5}


def test_a_record_that_does_not_decode_is_never_just_skipped(
        runtime: ConsumerRuntime, engine: sa.Engine) -> None:
    apply(runtime, Record("t", 2, 7, b"not json"))
    assert stored(engine) == {("t", 2): 8}  # dead-lettered in a transaction of its own


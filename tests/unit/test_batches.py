"""The consumer runtime's parts, with no broker: the batch applier takes records made
here, and the partition source reads from a fake client handed to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from confluent_kafka import TIMESTAMP_CREATE_TIME, TopicPartition
from sqlalchemy.exc import OperationalError

from adapters.kafka.source import PartitionSource
from adapters.records import Incoming, Record
from adapters.sql import migrate
from adapters.sql.batches import BatchApplier
from adapters.sql.tables import consumer_positions, outbox
from tests.unit.test_skipped_positions import a_message

IDS = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 4)]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    made = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate.upgrade(made, "inventory", None)
    with made.begin() as connection:  # what the stand-in handler writes
        connection.execute(sa.text("CREATE TABLE applied (event_id TEXT)"))
    yield made
    made.dispose()


def records() -> list[Record]:
    return [Record("t", 0, n, b"BOOK-1", a_message(event_id, "choreography"))
            for n, event_id in enumerate(IDS)]


class Handled:
    """A handler that writes what it applied, and fails on `failing` as told."""

    def __init__(self, failing: str | None = None, error: type[Exception] = ValueError) -> None:
        self.failing, self.error = failing, error

    def one(self, connection: Any, item: Incoming) -> None:
        if item.envelope.event_id == self.failing:
            if self.error is OperationalError:
                raise OperationalError("UPDATE stock", {}, Exception("database is locked"))
            raise self.error(f"cannot apply {item.where}")
        connection.execute(sa.text("INSERT INTO applied VALUES (:id)"),
                           {"id": item.envelope.event_id})

    def many(self, connection: Any, items: Any) -> None:
        for item in items:
            self.one(connection, item)


def stored(engine: sa.Engine) -> tuple[dict[tuple[str, int], int], list[str], list[str]]:
    """Committed: the positions, the outbox rows' topics, the handler's effects."""
    with engine.connect() as connection:
        positions = {(r.topic, r.partition): r.next_offset
                     for r in connection.execute(sa.select(consumer_positions))}
        topics = list(connection.execute(sa.select(outbox.c.topic)).scalars())
        applied = list(connection.execute(sa.text("SELECT event_id FROM applied")).scalars())
    return positions, topics, applied


def applier(engine: sa.Engine, handled: Handled) -> BatchApplier:
    return BatchApplier(engine=engine, group="g", handler=handled.one,
                        batch_handler=handled.many)


def test_a_message_that_fails_in_a_batch_is_dead_lettered_alone(engine: sa.Engine) -> None:
    handled = Handled(failing=IDS[1])
    assert applier(engine, handled).apply(records()) == {("t", 0): 3}
    # the batch failed in one piece, then went one by one: the others applied once
    assert stored(engine) == ({("t", 0): 3}, ["t.dlq"], [IDS[0], IDS[2]])


def test_a_store_that_is_away_fails_the_batch_and_commits_nothing(engine: sa.Engine) -> None:
    handled = Handled(failing=IDS[2], error=OperationalError)
    with pytest.raises(OperationalError):
        applier(engine, handled).apply(records())
    assert stored(engine) == ({}, [], [])  # nothing committed: the caller retries


def test_a_batch_read_again_changes_nothing(engine: sa.Engine) -> None:
    handled = Handled()
    applier(engine, handled).apply(records())
    applier(engine, handled).apply(records())  # a rebalance re-delivered the batch
    assert stored(engine) == ({("t", 0): 3}, [], IDS)


class Message:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return "t"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return b"v%d" % self._offset

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, 1_700_000_000_000 + self._offset


class FakeClient:
    """Assigns partition t[0] on subscribe and hands out whatever is queued."""

    def __init__(self, _config: dict[str, Any]) -> None:
        self.queued: list[Message] = []
        self.committed: list[list[TopicPartition]] = []
        self.assigned: list[TopicPartition] = []

    def subscribe(self, _topics: list[str], *, on_assign: Any, **_: Any) -> None:
        on_assign(self, [TopicPartition("t", 0)])

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = partitions

    def get_watermark_offsets(self, _partition: TopicPartition, **_: Any) -> tuple[int, int]:
        return 0, 4

    def poll(self, _timeout: float) -> Message | None:
        return self.queued.pop(0) if self.queued else None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        taken, self.queued = self.queued[:num_messages], self.queued[num_messages:]
        return taken

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.committed.append(offsets)


def test_the_source_starts_at_the_stored_position_and_drops_what_was_applied() -> None:
    source = PartitionSource(config={}, topics=["t"], name="s",
                             stored=lambda keys: {("t", 0): 2},
                             client_factory=FakeClient)  # type: ignore[arg-type]
    source.subscribe()
    client: FakeClient = source.client  # type: ignore[assignment]
    assert [(tp.topic, tp.partition, tp.offset) for tp in client.assigned] == [("t", 0, 2)]
    # a fetch that still holds records below the stored position (sent before a seek)
    client.queued = [Message(n) for n in (1, 2, 3)]
    got = source.poll(0, 10)
    assert [(r.offset, r.value, r.timestamp_ms) for r in got] == [
        (2, b"v2", 1_700_000_000_002), (3, b"v3", 1_700_000_000_003)]
    assert not source.caught_up.is_set()  # the high watermark is 4: offset 3 not applied yet
    source.advance({("t", 0): 4})
    assert source.poll(0, 10) == [] and source.caught_up.is_set()
    assert [(tp.offset,) for tp in client.committed[0]] == [(4,)]

"""The one Kafka client module: the guarantees every config carries, and a produce that
retries a full local queue a bounded number of times (no broker: a fake producer)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.kafka import client
from adapters.kafka.errors import KafkaClientError, QueueFull
from adapters.relay import OutboxRelay, PublishFailed
from adapters.sql.tables import outbox

BOOTSTRAP = "127.0.0.1:19092"


class FakeProducer:
    """Refuses the first `full` produces with BufferError, as librdkafka does when its
    local queue is full; records every call."""

    def __init__(self, full: int) -> None:
        self.full = full
        self.produced: list[dict[str, Any]] = []
        self.polls: list[float] = []

    def produce(self, topic: str, **record: Any) -> None:
        if self.full > 0:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.produced.append({"topic": topic, **record})

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        return 0


def produce(producer: FakeProducer, **options: Any) -> None:
    client.produce(producer, topic="orders", key=b"order-1", value=b"{}",  # type: ignore[arg-type]
                   headers=[("type", b"order.placed.v1")], **options)


def test_every_client_logs_through_the_librdkafka_logger() -> None:
    assert client.base_config(BOOTSTRAP) == {"bootstrap.servers": BOOTSTRAP,
                                             "logger": logging.getLogger("librdkafka")}


def test_a_producer_is_idempotent_and_waits_for_every_in_sync_replica() -> None:
    config = client.producer_config(BOOTSTRAP)
    assert config["bootstrap.servers"] == BOOTSTRAP
    assert config["enable.idempotence"] is True and config["acks"] == "all"
    assert config["message.timeout.ms"] == client.DELIVERY_TIMEOUT_MS == 300_000
    assert config["linger.ms"] == 2 and config["message.max.bytes"] == 8 * 1024 * 1024


def test_overrides_win_but_leave_the_rest() -> None:
    config = client.producer_config(BOOTSTRAP, **{"linger.ms": 5})
    assert config["linger.ms"] == 5 and config["acks"] == "all"


def test_a_service_consumer_never_commits_or_stores_offsets_by_itself() -> None:
    config = client.consumer_config(BOOTSTRAP, "inventory")
    assert config["group.id"] == "inventory"
    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False
    assert config["auto.offset.reset"] == "earliest"
    assert (config["fetch.wait.max.ms"], config["session.timeout.ms"],
            config["heartbeat.interval.ms"]) == (100, 6000, 1000)
    assert client.consumer_config(BOOTSTRAP, "g", **{"session.timeout.ms": 45000})[
        "session.timeout.ms"] == 45000


def test_each_reader_gets_a_throwaway_group_and_commits_nothing() -> None:
    first, second = client.reader_config(BOOTSTRAP, "tail"), client.reader_config(BOOTSTRAP,
                                                                                  "tail")
    assert first["enable.auto.commit"] is False
    assert first["group.id"].startswith("orderflow-tail-")
    assert first["group.id"] != second["group.id"]


def test_produce_serves_delivery_reports_after_each_record() -> None:
    producer = FakeProducer(full=0)
    produce(producer)
    assert producer.produced == [{"topic": "orders", "key": b"order-1", "value": b"{}",
                                  "on_delivery": None,
                                  "headers": [("type", b"order.placed.v1")]}]
    assert producer.polls == [0]


def test_produce_waits_out_a_full_queue_that_frees_up() -> None:
    producer = FakeProducer(full=3)
    produce(producer, attempts=4, wait=0.25)
    assert len(producer.produced) == 1
    assert producer.polls == [0.25, 0.25, 0.25, 0]  # three waits, then the reports


def test_produce_gives_up_on_a_queue_that_stays_full_and_names_the_topic() -> None:
    producer = FakeProducer(full=10)
    with pytest.raises(QueueFull) as raised:
        produce(producer, attempts=4, wait=0.25)
    assert producer.produced == [] and producer.full == 6  # exactly four tries
    assert producer.polls == [0.25, 0.25, 0.25]  # a wait between tries, none after the last
    assert isinstance(raised.value, KafkaClientError) and raised.value.topic == "orders"
    assert str(raised.value) == ("producing to orders (queue still full after 4 tries):"
                                 " BufferError: Local: Queue full")


def test_produce_tries_at_least_once() -> None:
    producer = FakeProducer(full=0)
    produce(producer, attempts=0)
    assert len(producer.produced) == 1


class StalledBroker:
    """A producer whose queue holds `room` records and delivers nothing until flushed."""

    def __init__(self, room: int) -> None:
        self.room, self.held = room, list[Any]()

    def produce(self, _topic: str, **record: Any) -> None:
        if len(self.held) >= self.room:
            raise BufferError("Local: Queue full")
        self.held.append(record["on_delivery"])

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        for on_delivery in self.held:
            on_delivery(None, None)
        self.held.clear()
        return 0


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    made = sa.create_engine("sqlite://")
    outbox.create(made)
    with made.begin() as connection:
        connection.execute(outbox.insert(), [
            {"id": i, "message_id": f"m{i}", "topic": "orders", "key": "order-1",
             "value": b"{}", "headers": "[]", "created_at": "2025-01-01T00:00:00+00:00"}
            for i in range(1, 6)])
    yield made
    made.dispose()


def test_the_relay_publishes_what_a_full_queue_took_and_leaves_the_rest_uncounted(
        engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("adapters.relay.Producer", lambda _config: StalledBroker(room=2))
    relay = OutboxRelay(engine, BOOTSTRAP)
    with pytest.raises(PublishFailed):
        relay.publish_pending()
    with engine.connect() as connection:
        rows = connection.execute(sa.select(outbox.c.id, outbox.c.published_at,
                                            outbox.c.attempts).order_by(outbox.c.id)).all()
    assert [row.id for row in rows if row.published_at is not None] == [1, 2]
    assert relay.pending() == 3 and relay.quarantined() == 0
    assert [row.attempts for row in rows] == [0] * 5  # a full queue is not the rows' fault

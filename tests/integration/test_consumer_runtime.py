"""The consumer runtime on real Kafka and both stores: a message that keeps failing on a
store that works is dead-lettered after a bounded number of tries (through the outbox,
once), the rest of its partition flows, and the caught-up gate holds across retention."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pytest
import sqlalchemy as sa
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from adapters.codec import encode, envelope_for
from adapters.kafka.admin import watermarks
from adapters.kafka.consumer import ConsumerRuntime
from adapters.records import Incoming
from adapters.sql.batches import MESSAGE_TRIES
from adapters.sql.tables import consumer_positions, outbox, timers
from adapters.sql.timers import set_timer
from domain.order_events import OrderConfirmed
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.support import InThread, wait_until

pytestmark = pytest.mark.kafka
STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
KEY = "0b7e6c1a-3f0e-4c1b-9a51-2f1f3c9d8e01"


@pytest.fixture(params=STORES)
def env(request: pytest.FixtureRequest, kafka: str, make_env: MakeEnv) -> Env:
    return make_env(request.param, bootstrap=kafka)


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    orderflow = bootstrap(env.settings)
    orderflow.upgrade()
    yield orderflow
    orderflow.close()


@pytest.fixture
def topic(app: Orderflow) -> str:
    """A one-partition topic of this test's own, and its DLQ (deleted with the prefix)."""
    name = app.topic(f"runtime-{uuid.uuid4().hex[:6]}")
    admin = AdminClient({"bootstrap.servers": app.settings.bootstrap_servers})
    created = admin.create_topics([NewTopic(name, 1, 1), NewTopic(name + ".dlq", 1, 1)])
    for future in created.values():
        future.result(30)
    return name


def produce(bootstrap_servers: str, topic: str, count: int) -> list[str]:
    """`count` well-formed messages on one key; their event ids, in order."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True})
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for event_id in ids:
        body = OrderConfirmed(order_id=KEY, confirmed_at=datetime.now(UTC))
        envelope = envelope_for(body, event_id=event_id, aggregate_id=KEY, aggregate_version=1,
                                occurred_at=datetime.now(UTC), correlation_id=KEY,
                                causation_id=None, flow="choreography")
        producer.produce(topic, key=KEY.encode(), value=encode(envelope))
    assert producer.flush(30) == 0
    return ids


class Running(InThread):
    """A ConsumerRuntime on its own thread, stopped at the end."""

    def __init__(self, app: Orderflow, topic: str, handler: Callable[..., None]) -> None:
        self.runtime = ConsumerRuntime(engine=app.store("inventory"),
                                       bootstrap=app.settings.bootstrap_servers,
                                       group=app.group("runtime-test"), topics=[topic],
                                       handler=handler, name="runtime-test")
        super().__init__(self.runtime.run)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for each in started:
        each.close()


def position(app: Orderflow, topic: str) -> int:
    with app.store("inventory").connect() as connection:
        found = connection.execute(sa.select(consumer_positions.c.next_offset).where(
            consumer_positions.c.topic == topic)).scalar()
    return int(found or 0)


def applied(app: Orderflow) -> list[str]:
    """What the handler wrote, committed: one timer row per message it applied."""
    with app.store("inventory").connect() as connection:
        return sorted(connection.execute(sa.select(timers.c.key).where(
            timers.c.kind == "runtime-test")).scalars())


def dead_letter_rows(app: Orderflow, topic: str) -> list[sa.Row[tuple[object, ...]]]:
    with app.store("inventory").connect() as connection:
        return list(connection.execute(sa.select(outbox).where(outbox.c.topic == topic + ".dlq")))


def test_a_message_that_keeps_failing_on_a_working_store_is_dead_lettered_once(
        app: Orderflow, topic: str, running: list[Running]) -> None:
    # given five messages, the third of which fails in the store every time it is handled
    ids = produce(app.settings.bootstrap_servers, topic, 5)
    tries = [0]

    def handler(connection: sa.Connection, incoming: Incoming) -> None:
        if incoming.envelope.event_id == ids[2]:
            tries[0] += 1
            raise sa.exc.OperationalError("UPDATE ...", {}, Exception("deadlock detected"))
        set_timer(connection, "runtime-test", incoming.envelope.event_id, datetime.now(UTC))

    # when the consumer runs
    running.append(Running(app, topic, handler))
    wait_until(lambda: position(app, topic) == 5, 60, "the partition to move past the poison")
    # then the others are applied, the failing one was tried a bounded number of times
    assert applied(app) == sorted(ids[:2] + ids[3:])
    assert MESSAGE_TRIES <= tries[0] <= 2 * MESSAGE_TRIES
    # and its dead letter waits in the outbox, written in the batch's own transaction
    [letter] = dead_letter_rows(app, topic)
    headers = dict(tuple(pair) for pair in orjson.loads(letter.headers))
    assert (letter.key, headers["original_offset"], headers["error_type"]) == (
        KEY, "2", "OperationalError")
    assert letter.published_at is None  # the relay publishes it, not the consumer

    # when every position is forgotten and the partition is read again (a replay)
    running.pop().close()
    with app.store("inventory").begin() as connection:
        connection.execute(consumer_positions.delete())
    running.append(Running(app, topic, handler))
    wait_until(lambda: position(app, topic) == 5, 60, "the replay to end")
    # then nothing is applied twice and the dead letter is not written again
    assert applied(app) == sorted(ids[:2] + ids[3:])
    assert len(dead_letter_rows(app, topic)) == 1
    relay = app.relay("inventory")
    try:
        assert relay.publish_pending() == 1 and relay.pending() == 0
    finally:
        relay.close()


class Watched(Producer):
    """A producer that records every produce or flush made inside a DB transaction."""

    inside = threading.local()
    violations: ClassVar[list[str]] = []

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self._check("produce")
        super().produce(*args, **kwargs)

    def flush(self, *args: Any) -> int:
        self._check("flush")
        return int(super().flush(*args))

    def _check(self, call: str) -> None:
        if getattr(Watched.inside, "depth", 0) > 0:
            Watched.violations.append(f"{call} in {threading.current_thread().name}")


def _began(_connection: sa.Connection) -> None:
    Watched.inside.depth = getattr(Watched.inside, "depth", 0) + 1


def _ended(_connection: sa.Connection) -> None:
    Watched.inside.depth = getattr(Watched.inside, "depth", 0) - 1


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every producer the adapters make is Watched; transactions are tracked per thread
    (listeners are added before, and removed after, any thread of the test runs)."""
    monkeypatch.setattr("adapters.relay.Producer", Watched)
    monkeypatch.setattr("adapters.kafka.dlq.Producer", Watched, raising=False)
    Watched.violations.clear()
    listeners = [("begin", _began), ("commit", _ended), ("rollback", _ended)]
    for name, listener in listeners:
        sa.event.listen(sa.Engine, name, listener)
    yield Watched.violations
    for name, listener in listeners:
        sa.event.remove(sa.Engine, name, listener)


def test_no_kafka_io_happens_inside_a_database_transaction(
        app: Orderflow, topic: str, watched: list[str]) -> None:
    # given a record no consumer can decode, before a good one
    producer = Producer({"bootstrap.servers": app.settings.bootstrap_servers})
    producer.produce(topic, key=KEY.encode(), value=b"\xff not json")
    producer.flush(30)
    ids = produce(app.settings.bootstrap_servers, topic, 1)
    each = Running(app, topic, lambda connection, incoming: set_timer(
        connection, "runtime-test", incoming.envelope.event_id, datetime.now(UTC)))
    # when the consumer applies them and the relay publishes what they left behind
    try:
        wait_until(lambda: position(app, topic) == 2, 60, "both records to be applied")
    finally:
        each.close()
    relay = app.relay("inventory")
    try:
        wait_until(lambda: relay.publish_pending() == 0 and relay.pending() == 0, 30,
                   "the dead letter to be published")
    finally:
        relay.close()
    # then the dead letter reached Kafka, and no produce or flush ran inside a transaction
    assert applied(app) == ids
    peek = Consumer({"bootstrap.servers": app.settings.bootstrap_servers, "group.id": "peek"})
    low, high = watermarks(peek, TopicPartition(topic + ".dlq", 0))
    peek.close()
    assert high - low == 1
    assert watched == []


def test_the_caught_up_gate_holds_when_retention_deleted_the_backlog(
        app: Orderflow, topic: str, running: list[Running]) -> None:
    # given a partition whose every record retention has deleted (log start = end = 4)
    produce(app.settings.bootstrap_servers, topic, 4)
    admin = AdminClient({"bootstrap.servers": app.settings.bootstrap_servers})
    for future in admin.delete_records([TopicPartition(topic, 0, 4)]).values():
        future.result(30)
    # when a consumer with no stored position is assigned the partition
    each = Running(app, topic, lambda _connection, _incoming: None)
    running.append(each)
    # then it counts as caught up at the log start offset, and timers may run
    wait_until(each.runtime.caught_up.is_set, 60, "the consumer to be caught up")
    assert position(app, topic) == 0  # nothing was there to apply

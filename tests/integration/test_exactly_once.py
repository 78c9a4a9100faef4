"""Exactly-once effects on real Kafka, real processes and both stores.

Redelivery (Kafka offsets reset or deleted, even stored positions forgotten), a relay
that publishes the same outbox rows twice, and a SIGKILL in the middle of a batch must
change nothing that was already done. The helpers here are shared by the dead-letter
and crash-recovery suites.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from adapters.credentials import Kafka
from adapters.kafka.admin import SETTLING
from adapters.kafka.client import base_config
from adapters.kafka.topics import topic_specs
from adapters.settings import Settings
from adapters.sql.tables import consumer_positions, events, outbox
from domain.inventory import ReservationStatus, fold_reservation
from domain.streams import reservation_stream
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.integration.saga_world import PATIENT
from tests.support import wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
STARTS_ITS_OWN = True  # the tests start and kill services themselves

SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator")
FLOWS = ("choreography", "orchestration")
STOCK = {"BOOK-1": 500, "MUG-1": 1}
CREDIT = {"alice": 10_000_000, "bob": 100}
Key = tuple[str, int]  # (topic, partition)
OUTBOX_COLUMNS = [c for c in outbox.c if c.name != "published_at"]  # published_at may differ
EVENT_ORDER = [c.name for c in events.c].index("correlation_id")
OUTBOX_KEY = [c.name for c in OUTBOX_COLUMNS].index("key")  # the order id


@dataclass(frozen=True)
class Path:
    """One way through the saga, and where it deterministically ends."""

    items: tuple[tuple[str, int], ...]
    customer: str
    ship_to: str
    outcome: tuple[str, str | None]


PATHS = (
    Path((("BOOK-1", 2),), "alice", "DE", ("confirmed", None)),
    Path((("BOOK-1", 1), ("MUG-1", 5)), "alice", "DE", ("rejected", "out_of_stock")),
    Path((("STICKER-1", 1),), "alice", "DE", ("rejected", "unknown_sku")),
    Path((("BOOK-1", 1),), "bob", "DE", ("rejected", "over_credit")),
    Path((("BOOK-1", 1),), "carol", "FR", ("rejected", "unknown_customer")),
    Path((("BOOK-1", 3),), "alice", "BR", ("rejected", "country_not_served")),
)
HAPPY = PATHS[0]


def mix(count: int, flows: Iterable[str] = FLOWS) -> list[tuple[Path, str]]:
    """`count` orders cycling through every path in every flow."""
    return list(itertools.islice(itertools.cycle(itertools.product(PATHS, tuple(flows))), count))


# -- the system ---------------------------------------------------------------------------

def prepare(make_env: MakeEnv, kafka: str | Mapping[str, str], store: str,
            **timeouts: str) -> Env:
    made = make_env(store, bootstrap=kafka)
    environ = {**made.environ, **timeouts}  # orders placed in-process get them too
    env = Env(Settings.from_env(environ), environ)
    with opened(env) as app:
        app.upgrade()
        app.create_topics()
        if env.settings.kafka_security.sasl:  # default-deny: every service its own ACLs
            app.apply_acls()
        for sku, units in STOCK.items():
            app.inventory().add_stock(sku, units)
        for customer, cents in CREDIT.items():
            app.payment().set_credit(customer, cents)
    return env


@contextmanager
def opened(env: Env) -> Iterator[Orderflow]:
    app = bootstrap(env.settings)
    try:
        yield app
    finally:
        app.close()


def exit_code(system: RunningSystem, service: str, timeout: float = 60) -> int:
    """Wait for a service to die on its own (an injected fault); forget its process."""
    process = system.processes[service]
    wait_until(lambda: process.poll() is not None, timeout, f"{service} to exit")
    del system.processes[service]
    return int(process.returncode)


def place_all(app: Orderflow, orders: list[tuple[Path, str]]) -> dict[str, Path]:
    placed: dict[str, Path] = {}
    for path, flow in orders:
        order_id = app.orders().place(customer_id=path.customer, items=list(path.items),
                                      ship_to=path.ship_to, flow=flow, channel="cli")
        placed[order_id] = path
    return placed


def outcomes(app: Orderflow, order_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
    found = {}
    for order_id in order_ids:
        order = app.orders().get(order_id)
        if order is not None and order.is_terminal:
            found[order_id] = (order.status.value, order.reason)
    return found


def settle(app: Orderflow, broker: Broker, placed: dict[str, Path], timeout: float = 60,
           services: Iterable[str] = SERVICES) -> None:
    """Every order reaches its path's outcome, every saga ends, and the system is idle."""
    wait_until(lambda: len(outcomes(app, placed)) == len(placed), timeout,
               f"{len(placed)} orders to settle")
    assert outcomes(app, placed) == {o: p.outcome for o, p in placed.items()}
    orchestrated = [o for o in placed if app.orchestrator().saga(o) is not None]
    wait_until(lambda: all(app.orchestrator().saga(o).is_terminal  # type: ignore[union-attr]
                           for o in orchestrated), timeout, "sagas to end")
    quiesce(app, broker, services, timeout)


# -- Kafka, seen from the outside ---------------------------------------------------------

class Broker:
    def __init__(self, bootstrap_servers: Kafka) -> None:
        self.bootstrap = bootstrap_servers  # an address, or a secured cluster's admin
        self.admin = AdminClient(base_config(bootstrap_servers))
        self._partitions: dict[str, list[int]] = {}

    def partitions(self, topic: str) -> list[int]:
        if topic not in self._partitions:
            metadata = self.admin.list_topics(topic, timeout=10).topics[topic]
            self._partitions[topic] = sorted(metadata.partitions)
        return self._partitions[topic]

    def keys(self, topics: Iterable[str]) -> list[Key]:
        return [(t, p) for t in topics for p in self.partitions(t)]

    def high_watermarks(self, topics: Iterable[str]) -> dict[Key, int]:
        wanted = {TopicPartition(t, p): OffsetSpec.latest() for t, p in self.keys(topics)}

        def ask() -> dict[Key, int] | None:
            futures = self.admin.list_offsets(wanted, request_timeout=10)
            try:
                return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}
            except KafkaException as exc:  # a new topic's leader not known yet: ask again
                if exc.args[0].code() not in SETTLING:
                    raise
                self.admin = AdminClient(base_config(self.bootstrap))  # fresh metadata
                return None

        return wait_until(ask, 30, "the partitions' end offsets", interval=0.2)

    def committed(self, group: str, topics: Iterable[str]) -> dict[Key, int]:
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p)
                                                       for t, p in self.keys(topics)])
        result = self.admin.list_consumer_group_offsets([request])[group].result(30)
        return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions}

    def rewind_group(self, group: str, topics: Iterable[str]) -> None:
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, 0)
                                                       for t, p in self.keys(topics)])
        self.admin.alter_consumer_group_offsets([request])[group].result(30)

    def delete_groups(self, groups: list[str]) -> None:
        for future in self.admin.delete_consumer_groups(groups, request_timeout=30).values():
            future.result(30)

    def produce(self, records: list[tuple[str, bytes | None, bytes | None]]) -> list[Message]:
        """Produce (topic, key, value) records in order; their delivered messages."""
        producer = Producer({**base_config(self.bootstrap), "enable.idempotence": True,
                             "message.max.bytes": 3 * 1024 * 1024})
        delivered: list[Message] = []

        def report(error: Any, message: Message) -> None:
            assert error is None, error
            delivered.append(message)

        for topic, key, value in records:
            producer.produce(topic, key=key, value=value, on_delivery=report)
        assert producer.flush(30) == 0
        assert len(delivered) == len(records)
        return delivered

    def read_all(self, topic: str, timeout: float = 30) -> list[Message]:
        """Every record of a topic, from the beginning to its current end."""
        high = {k: v for k, v in self.high_watermarks([topic]).items() if v > 0}
        consumer = Consumer({**base_config(self.bootstrap), "group.id": uuid.uuid4().hex,
                             "enable.auto.commit": False})
        consumer.assign([TopicPartition(t, p, 0) for t, p in high])
        records: list[Message] = []
        try:
            def done() -> bool:
                for message in consumer.consume(500, timeout=0.2):
                    if message.error() is None:
                        records.append(message)
                ends = Counter((m.topic(), m.partition()) for m in records)
                return all(ends[k] >= v for k, v in high.items())

            wait_until(done, timeout, f"all of {topic}", interval=0)
        finally:
            consumer.close()
        return records


# -- the stores, seen from the outside ----------------------------------------------------

def input_topics(app: Orderflow, services: Iterable[str] = SERVICES) -> dict[str, list[str]]:
    return {s: app.plan(s).topics for s in services}


def stored_positions(app: Orderflow, service: str) -> dict[Key, int]:
    query = sa.select(consumer_positions).where(
        consumer_positions.c.group_id == app.group(service))
    with app.store(service).connect() as connection:
        return {(r.topic, r.partition): r.next_offset for r in connection.execute(query)}


def position_rows(app: Orderflow, services: Iterable[str] = SERVICES) -> set[tuple[Any, ...]]:
    rows: set[tuple[Any, ...]] = set()
    for service in services:
        with app.store(service).connect() as connection:
            rows |= {tuple(r) for r in connection.execute(sa.select(consumer_positions))}
    return rows


def unpublished(app: Orderflow, services: Iterable[str] = SERVICES) -> int:
    query = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
    total = 0
    for service in services:
        with app.store(service).connect() as connection:
            total += int(connection.execute(query).scalar() or 0)
    return total


def caught_up(app: Orderflow, broker: Broker, topics: dict[str, list[str]]) -> bool:
    """Each group's STORED positions reach the high watermark of every input partition."""
    for service, names in topics.items():
        stored = stored_positions(app, service)
        high = broker.high_watermarks(names)
        if any(stored.get(key, 0) < end for key, end in high.items()):
            return False
    return True


def quiesce(app: Orderflow, broker: Broker, services: Iterable[str] = SERVICES,
            timeout: float = 60) -> None:
    """Wait until nothing is in flight: every group has applied every record, no outbox
    row waits, and no record arrived meanwhile (timers of live orders aside)."""
    topics = input_topics(app, services)
    every = sorted({t for names in topics.values() for t in names})

    def idle() -> bool:
        before = broker.high_watermarks(every)
        if not caught_up(app, broker, topics) or unpublished(app, services):
            return False
        return broker.high_watermarks(every) == before

    wait_until(idle, timeout, "the system to be idle", interval=0.1)


@dataclass(frozen=True)
class Snapshot:
    events: dict[str, list[tuple[Any, ...]]]
    outbox: dict[str, list[tuple[Any, ...]]]
    stock: dict[str, Any]
    credit: dict[str, Any]


def snapshot(app: Orderflow, services: Iterable[str] = SERVICES) -> Snapshot:
    all_events, all_outbox = {}, {}
    for service in services:
        with app.store(service).connect() as connection:
            all_events[service] = [tuple(r) for r in connection.execute(
                sa.select(events).order_by(events.c.position))]
            all_outbox[service] = [tuple(r) for r in connection.execute(
                sa.select(*OUTBOX_COLUMNS).order_by(outbox.c.id))]
    return Snapshot(all_events, all_outbox,
                    {sku: app.inventory().stock(sku) for sku in [*STOCK, "STICKER-1"]},
                    {c: app.payment().credit(c) for c in [*CREDIT, "carol"]})


def dead_letters(broker: Broker, app: Orderflow) -> dict[str, int]:
    names = [s.name for s in topic_specs(app.settings.topic_prefix) if s.name.endswith(".dlq")]
    counts: Counter[str] = Counter()
    for (topic, _partition), end in broker.high_watermarks(names).items():
        counts[topic] += end  # DLQ topics are never truncated: the end is the count
    return {topic: n for topic, n in counts.items() if n}


def event_counts(app: Orderflow, service: str) -> Counter[tuple[str, str]]:
    """How many events of each type each order (correlation id) has in a service's store."""
    query = sa.select(events.c.correlation_id, events.c.type)
    with app.store(service).connect() as connection:
        return Counter((r.correlation_id, r.type) for r in connection.execute(query))


# Each step that has an inverse: its event, the event undoing it, the store holding both.
INVERSES = (("inventory.stock-reserved.v1", "inventory.stock-released.v1", "inventory"),
            ("payment.authorized.v1", "payment.voided.v1", "payment"),
            ("shipping.shipment-scheduled.v1", "shipping.shipment-cancelled.v1", "shipping"))


def assert_compensated_once(app: Orderflow, statuses: Mapping[str, str]) -> None:
    """Every completed step that has an inverse was undone exactly once for a rejected
    order and never for a confirmed one (so no shipment stays scheduled for a rejected
    order). A shipment closed before it was scheduled undid nothing and is not counted."""
    counts = {service: event_counts(app, service) for _, _, service in INVERSES}
    for order_id, status in statuses.items():
        for done, undone, service in INVERSES:
            did, undid = counts[service][(order_id, done)], counts[service][(order_id, undone)]
            if service == "shipping" and did == 0:
                undid = 0
            expected = did if status == "rejected" else 0
            assert undid == expected, \
                f"order {order_id} ({status}): {done} x{did} but {undone} x{undid}"


def assert_invariants(app: Orderflow, placed: dict[str, Path]) -> None:
    """No double effect, nothing held for a rejected order, and conservation."""
    inventory, payment = event_counts(app, "inventory"), event_counts(app, "payment")
    shipping, order = event_counts(app, "shipping"), event_counts(app, "order")
    for kind, counts in (("inventory.stock-reserved.v1", inventory),
                         ("inventory.stock-released.v1", inventory),
                         ("payment.authorized.v1", payment), ("payment.voided.v1", payment),
                         ("payment.cancelled.v1", payment), ("payment.credit-held.v1", payment),
                         ("shipping.shipment-scheduled.v1", shipping)):
        doubled = {o for (o, t), n in counts.items() if t == kind and n > 1}
        assert not doubled, f"{kind} more than once for {sorted(doubled)}"
    reopened = {o for (o, t) in payment
                if t == "payment.cancelled.v1" and payment[(o, "payment.authorized.v1")]}
    assert not reopened, f"authorised after the payment was cancelled: {sorted(reopened)}"
    for order_id in placed:  # one decision per order: terminal exactly once
        assert order[(order_id, "order.confirmed.v1")] + order[(order_id, "order.rejected.v1")] \
            + order[(order_id, "order.expired.v1")] == 1, order_id
    confirmed = {o for o, p in placed.items() if p.outcome[0] == "confirmed"}
    assert_compensated_once(app, {o: p.outcome[0] for o, p in placed.items()})
    for order_id in confirmed:
        assert (inventory[(order_id, "inventory.stock-reserved.v1")],
                payment[(order_id, "payment.authorized.v1")],
                shipping[(order_id, "shipping.shipment-scheduled.v1")]) == (1, 1, 1), order_id
    held = _reserved_lines(app, placed)
    for sku, added in STOCK.items():
        stock = app.inventory().stock(sku)
        assert stock.available + sum(stock.reserved.values()) == added, sku
        assert dict(stock.reserved) == {o: q for (o, s), q in held.items() if s == sku}, sku
        assert set(stock.reserved) <= confirmed, sku
    for customer, limit in CREDIT.items():
        credit = app.payment().credit(customer)
        assert credit.available + credit.held_cents == credit.limit_cents == limit, customer
        assert set(credit.held) == {o for o in confirmed if placed[o].customer == customer}


def _reserved_lines(app: Orderflow, placed: dict[str, Path]) -> dict[tuple[str, str], int]:
    """(order, sku) -> units of every reservation that is held (reserved, not released)."""
    held: dict[tuple[str, str], int] = {}
    with app.store("inventory").connect() as connection:
        for order_id in placed:
            stream = app.event_store.load(connection, reservation_stream(order_id))
            reservation = fold_reservation(stream)
            if reservation.status is ReservationStatus.RESERVED:
                held |= {(order_id, line.sku): line.quantity for line in reservation.lines}
    return held


def assigned_since(system: RunningSystem, service: str, offset: int) -> bool:
    return f"{service}: assigned " in system.log(service)[offset:]


# -- the tests ----------------------------------------------------------------------------

@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str) -> Env:
    return prepare(make_env, kafka, system_store, **PATIENT)


@pytest.fixture
def broker(kafka: str) -> Broker:
    return Broker(kafka)


def test_redelivering_everything_changes_nothing(
        app: Orderflow, system: RunningSystem, broker: Broker) -> None:
    system.start(SERVICES)
    placed = place_all(app, mix(20))
    settle(app, broker, placed)
    assert_invariants(app, placed)
    assert system.stop() == dict.fromkeys(SERVICES, 0)
    topics = input_topics(app)
    before, positions = snapshot(app), position_rows(app)
    ends = broker.high_watermarks({t for names in topics.values() for t in names})

    # Kafka's committed offsets go back to 0: advisory only, the stored positions win.
    for service, names in topics.items():
        broker.rewind_group(app.group(service), names)
        assert set(broker.committed(app.group(service), names).values()) == {0}
    logged = {s: len(system.log(s)) for s in SERVICES}
    system.start(SERVICES)
    wait_until(lambda: all(assigned_since(system, s, logged[s]) for s in SERVICES), 60,
               "every service to be assigned its partitions")
    probe = place_all(app, [(HAPPY, "choreography"), (HAPPY, "orchestration")])
    settle(app, broker, probe)  # live again, past the rewound offsets
    after = snapshot(app)
    for service in SERVICES:  # the old rows are untouched; new ones are the probe's only
        assert after.events[service][:len(before.events[service])] == before.events[service]
        assert after.outbox[service][:len(before.outbox[service])] == before.outbox[service]
        new_events = after.events[service][len(before.events[service]):]
        new_rows = after.outbox[service][len(before.outbox[service]):]
        assert {r[EVENT_ORDER] for r in new_events} <= set(probe)
        assert {r[OUTBOX_KEY] for r in new_rows} <= set(probe)
    now = broker.high_watermarks({t for t, _ in ends})
    moved = {k for k, v in now.items() if v != ends[k]}
    assert {r for r in positions if (r[1], r[2]) not in moved} <= position_rows(app), \
        "a partition nobody wrote to was applied again"

    # Kafka offsets deleted AND stored positions forgotten: every record is handled again.
    assert system.stop() == dict.fromkeys(SERVICES, 0)
    placed |= probe
    before = snapshot(app)
    broker.delete_groups([app.group(s) for s in SERVICES])
    for service in SERVICES:
        with app.store(service).begin() as connection:
            connection.execute(consumer_positions.delete())
    system.start(SERVICES)
    wait_until(lambda: caught_up(app, broker, topics), 60, "every group to replay its topics")
    quiesce(app, broker)
    assert snapshot(app) == before
    assert_invariants(app, placed)
    assert dead_letters(broker, app) == {}


def test_a_relay_publishing_rows_again_changes_nothing(
        app: Orderflow, system: RunningSystem, broker: Broker) -> None:
    system.start(SERVICES)
    placed = place_all(app, mix(12))
    settle(app, broker, placed)
    before = snapshot(app)
    topics = {t for names in input_topics(app).values() for t in names}
    ends = broker.high_watermarks(topics)
    copied = 0
    for service in SERVICES:  # as if every relay crashed between produce and mark
        with app.store(service).begin() as connection:
            query = sa.select(outbox).order_by(outbox.c.id)
            rows = [dict(r._mapping) for r in connection.execute(query)]
            connection.execute(outbox.insert(), [{k: v for k, v in r.items() if k != "id"}
                                                 | {"published_at": None} for r in rows])
            copied += sum(1 for r in rows if r["topic"] in topics)
    wait_until(lambda: unpublished(app) == 0, 60, "the copies to be re-published")
    quiesce(app, broker)
    assert sum(broker.high_watermarks(topics).values()) == sum(ends.values()) + copied
    after = snapshot(app)
    assert after.events == before.events
    assert (after.stock, after.credit) == (before.stock, before.credit)
    for service in SERVICES:  # the outbox grew by the copies and nothing else
        assert after.outbox[service][:len(before.outbox[service])] == before.outbox[service]
        again = [r[1:] for r in after.outbox[service][len(before.outbox[service]):]]
        assert again == [r[1:] for r in before.outbox[service]]
    assert_invariants(app, placed)
    assert dead_letters(broker, app) == {}


def test_a_sigkill_in_the_middle_of_a_batch_applies_each_record_once(
        app: Orderflow, system: RunningSystem, broker: Broker) -> None:
    system.start(["order", "shipping"])  # payment later: inventory's first batch is orders
    placed = place_all(app, mix(30, ["choreography"]))
    orders_topic = app.topic("orders")
    wait_until(lambda: sum(broker.high_watermarks([orders_topic]).values()) >= len(placed), 30,
               "every OrderPlaced on Kafka")  # so inventory's first batches are full
    system.start(["inventory"], extra_env={"ORDERFLOW_FAULT": "consumer.mid_batch:1"})
    assert exit_code(system, "inventory") == 137
    assert "fault injected at consumer.mid_batch" in system.log("inventory")
    reserved = event_counts(app, "inventory")
    assert not [k for k in reserved if k[1] == "inventory.stock-reserved.v1"], \
        "the killed batch's transaction must leave nothing behind"
    system.start(["inventory", "payment"])
    settle(app, broker, placed, services=["order", "inventory", "payment", "shipping"])
    assert_invariants(app, placed)
    assert dead_letters(broker, app) == {}

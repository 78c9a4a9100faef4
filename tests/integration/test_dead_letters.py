"""Poison records on real input topics land in `<topic>.dlq`, once per consumer group,
with the error in headers; the records after them on the same partition still flow."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import Message

from adapters.codec import encode, envelope_for
from domain.commands import ReserveStock
from domain.inventory_events import ReservedLine
from domain.order_events import OrderLine, OrderPlaced
from domain.shipping import ShipmentScheduled
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration.saga_world import PATIENT
from tests.integration.test_exactly_once import (
    HAPPY,
    SERVICES,
    Broker,
    dead_letters,
    prepare,
    settle,
)
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
STARTS_ITS_OWN = True  # the tests start and kill services themselves
DLQ_HEADERS = {"original_topic", "original_partition", "original_offset", "error", "error_type",
               "consumer_group"}
MIB = 1024 * 1024


def envelope(body: object, order_id: str, flow: str) -> dict[str, Any]:
    """A well-formed envelope as a JSON document, ready to be spoiled."""
    now = datetime.now(UTC)
    good = envelope_for(body, event_id=str(uuid.uuid4()), aggregate_id=order_id,
                        aggregate_version=1, occurred_at=now, correlation_id=order_id,
                        causation_id=None, flow=flow)
    return dict(orjson.loads(encode(good)))


def placed_elsewhere() -> dict[str, Any]:
    order_id, now = str(uuid.uuid4()), datetime.now(UTC)
    body = OrderPlaced(order_id=order_id, customer_id="alice", total_cents=2499,
                       lines=(OrderLine(sku="BOOK-1", quantity=1, unit_price_cents=2499),),
                       ship_to="DE", flow="choreography", channel="cli", placed_at=now,
                       deadline=now + timedelta(seconds=30))
    return envelope(body, order_id, "choreography")


def order_poisons() -> list[bytes | None]:
    nan = placed_elsewhere() | {"aggregate_version": float("nan")}
    unknown = placed_elsewhere() | {"type": "order.teleported.v1"}
    missing = placed_elsewhere()
    del missing["data"]["customer_id"]
    return [b"\xff\xfe", b'{"event_id": "x", "type": ', json.dumps(nan).encode(),
            orjson.dumps(unknown), orjson.dumps(missing), None,
            b'{"pad": "' + b"x" * MIB + b'"}']


def command_poisons() -> list[bytes | None]:
    order_id = str(uuid.uuid4())
    wrong = envelope(ReserveStock(order_id=order_id, lines=(ReservedLine(sku="BOOK-1",
                                                                          quantity=1),)),
                     order_id, "orchestration")
    wrong["data"]["lines"][0]["quantity"] = "1"  # a string where an int belongs
    return [b"\x00garbage", orjson.dumps(wrong), None]


def unknown_order_event() -> bytes:
    order_id = str(uuid.uuid4())  # no such order in the order store: Unhandleable
    return orjson.dumps(envelope(ShipmentScheduled(order_id=order_id, country="DE"), order_id,
                                 "choreography"))


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str) -> Env:
    return prepare(make_env, kafka, system_store, **PATIENT)


def test_poison_goes_to_the_dlq_once_per_group_and_the_partition_moves_on(
        app: Orderflow, system: RunningSystem, kafka: str) -> None:
    broker = Broker(kafka)
    system.start(["inventory", "payment", "shipping"])
    # The order relay is not running yet: both orders wait in the outbox, so their
    # messages reach Kafka after the poison, on the same partitions (same key).
    chor = app.orders().place(customer_id=HAPPY.customer, items=list(HAPPY.items),
                              ship_to=HAPPY.ship_to, flow="choreography", channel="cli")
    orch = app.orders().place(customer_id=HAPPY.customer, items=list(HAPPY.items),
                              ship_to=HAPPY.ship_to, flow="orchestration", channel="cli")
    orders, commands, shipping = (app.topic(t) for t in ("orders", "inventory.commands",
                                                          "shipping"))
    poison = broker.produce([(orders, chor.encode(), v) for v in order_poisons()]
                            + [(commands, orch.encode(), v) for v in command_poisons()]
                            + [(shipping, chor.encode(), unknown_order_event())])
    system.start(["order", "orchestrator"])
    settle(app, broker, {chor: HAPPY, orch: HAPPY})

    readers = {t: [s for s in SERVICES if t in app.plan(s).topics]
               for t in (orders, commands, shipping)}
    expected = Counter((group, m.topic(), m.partition(), m.offset()) for m in poison
                       for group in (["order"] if m.topic() == shipping else readers[m.topic()]))
    letters = [m for t in (orders, commands, shipping) for m in broker.read_all(t + ".dlq")]
    found = Counter(where(m) for m in letters)
    assert found == Counter({(app.group(g), t, p, o): n for (g, t, p, o), n in expected.items()})
    assert dead_letters(broker, app) == Counter(m.topic() for m in letters)
    originals = {(m.topic(), m.partition(), m.offset()): m for m in poison}
    for letter in letters:
        original = originals[where(letter)[1:]]
        assert (letter.key(), letter.value()) == (original.key(), original.value())
        headers = dict(letter.headers() or [])
        assert headers.keys() >= DLQ_HEADERS and headers["error"]
        expected_type = b"Unhandleable" if letter.topic() == shipping + ".dlq" \
            else b"DecodeError"
        assert headers["error_type"] == expected_type, headers

    # the orders' own messages came after the poison on the very same partitions
    for topic, key, kind in ((orders, chor, "order.placed.v2"),
                             (commands, orch, "inventory.reserve-stock.v1"),
                             (shipping, chor, "shipping.shipment-scheduled.v1")):
        spoiled = [m for m in poison if m.topic() == topic]
        later = [m for m in broker.read_all(topic) if m.key() == key.encode()
                 and m.offset() not in {s.offset() for s in spoiled}
                 and kind.encode() in (m.value() or b"")]
        assert later, f"{kind} of {key} on {topic}"
        assert {m.partition() for m in later} == {m.partition() for m in spoiled}
        assert min(m.offset() for m in later) > max(m.offset() for m in spoiled)


def where(letter: Message) -> tuple[str, str, int, int]:
    headers = dict(letter.headers() or [])
    return (headers["consumer_group"].decode(), headers["original_topic"].decode(),
            int(headers["original_partition"]), int(headers["original_offset"]))

"""Scenario 7: poison and bad records on every input topic, then real orders.

Each poison kind goes to every partition-spread of every topic some service reads,
before the services start; every record lands in `<topic>.dlq` once per group that
reads it (with the reason in its headers), and the orders behind it still end.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from confluent_kafka import Message, Producer

from adapters.credentials import Kafka
from adapters.kafka.client import base_config
from adapters.kafka.topics import COMMAND_TOPICS, EVENT_TOPICS
from domain.commands import ConfirmOrder
from domain.inventory_events import StockRejected
from domain.payment_events import PaymentDeclined
from domain.shipping import ShipmentScheduled
from services.bootstrap import Orderflow
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, settle
from tests.faults.scale import scale
from tests.integration.test_dead_letters import DLQ_HEADERS, envelope, placed_elsewhere, where
from tests.integration.test_exactly_once import Broker, mix, place_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]
MIB = 1024 * 1024


def decode_poisons() -> dict[str, bytes | None]:
    """Records no consumer can decode, whatever topic they are on."""
    nan = placed_elsewhere() | {"aggregate_version": float("nan")}
    future = placed_elsewhere() | {"schema_version": 99}
    unknown = placed_elsewhere() | {"type": "order.teleported.v1"}
    missing = placed_elsewhere()
    del missing["data"]["customer_id"]
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    return {"non-utf8": b"\xff\xfe\xfd", "invalid-json": b'{"event_id": "x", "type": ',
            "json-nan": json.dumps(nan).encode(), "deep-nesting": deep,
            "unknown-type": orjson.dumps(unknown), "future-schema": orjson.dumps(future),
            "missing-field": orjson.dumps(missing), "tombstone": None,
            "oversized": b'{"pad": "' + b"x" * MIB + b'"}'}


def unknown_order(topic: str) -> bytes | None:
    """A well-formed message about an order nobody placed; the order service refuses it."""
    order_id = str(uuid.uuid4())
    body: Any = {"inventory": StockRejected(order_id=order_id, reason="out_of_stock",
                                            sku="BOOK-1"),
                 "payments": PaymentDeclined(order_id=order_id, customer_id="alice",
                                             reason="over_credit"),
                 "shipping": ShipmentScheduled(order_id=order_id, country="DE"),
                 "orders.commands": ConfirmOrder(order_id=order_id)}.get(topic)
    if body is None:
        return None
    flow = "orchestration" if topic.endswith(".commands") else "choreography"
    return orjson.dumps(envelope(body, order_id, flow))


def produce(bootstrap: Kafka, records: list[tuple[str, int, bytes | None]], *,
            fresh: bool = False) -> list[Message]:
    """Write `records`, each to its partition, and check the broker kept their order
    there; `fresh`: nothing else writes to these partitions, so they must sit at
    offsets 0, 1, 2, ... in the order produced."""
    producer = Producer({**base_config(bootstrap), "enable.idempotence": True,
                         "message.max.bytes": 3 * MIB})
    delivered: dict[int, Message] = {}

    def reporter(index: int) -> Callable[[Any, Message], None]:
        def report(error: Any, message: Message) -> None:
            assert error is None, error
            delivered[index] = message
        return report

    for index, (topic, partition, value) in enumerate(records):
        producer.produce(topic, key=uuid.uuid4().bytes, value=value, partition=partition,
                         on_delivery=reporter(index))
        producer.poll(0)
    assert producer.flush(60) == 0 and len(delivered) == len(records)
    laid: dict[tuple[str, int], list[int]] = {}
    for index in range(len(records)):
        message = delivered[index]
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        laid.setdefault((topic, partition), []).append(offset)
    wrong = {key: offsets for key, offsets in laid.items()
             if offsets != (list(range(len(offsets))) if fresh else sorted(set(offsets)))}
    assert not wrong, f"the broker did not keep the poison where and as it was put: {wrong}"
    return [delivered[index] for index in range(len(records))]


def test_poison_on_every_input_topic(app: Orderflow, fleet: Fleet, broker: Broker,
                                     added: dict[str, int], figures: Figures) -> None:
    readers = {base: [s for s in ALL if app.topic(base) in app.plan(s).topics]
               for base in (*EVENT_TOPICS, *COMMAND_TOPICS)}
    assert all(readers.values()), readers
    records, expected = [], Counter[str]()
    for base, groups in readers.items():
        topic = app.topic(base)
        partitions = broker.partitions(topic)
        for i, value in enumerate(decode_poisons().values()):
            records.append((topic, partitions[i % len(partitions)], value))
            expected[topic + ".dlq"] += len(groups)
        if (value := unknown_order(base)) is not None:
            records.append((topic, partitions[-1], value))
            expected[topic + ".dlq"] += 1  # the order service's group only
    poison = produce(broker.bootstrap, records, fresh=True)

    fleet.start(ALL)
    placed = place_all(app, mix(scale().point_orders))
    settle(app, broker, placed, fleet, scale().settle_timeout)
    injected = {(m.topic(), m.partition(), m.offset()) for m in poison}
    letters = [m for name in expected for m in broker.read_all(name.removesuffix(".dlq") + ".dlq")]
    missing = injected - {where(letter)[1:] for letter in letters}
    assert not missing, f"poison records no group dead-lettered: {sorted(missing)}"
    check_everything(app, broker, placed, added, figures, dlq=expected)

    for letter in letters:
        headers = dict(letter.headers() or [])
        assert headers.keys() >= DLQ_HEADERS and headers["error"], headers
        assert where(letter)[1:] in injected, where(letter)
    per_group = Counter(where(m) for m in letters)
    assert set(per_group.values()) == {1}, "a poison record went to the DLQ twice for a group"
    figures.record(poison_records=len(poison), topics=len(readers),
                   kinds=len(decode_poisons()) + 1, rebalances=fleet.rebalances())

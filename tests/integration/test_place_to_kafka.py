"""`orderflow place` lands a decodable OrderPlaced on `orders` that a plain consumer reads."""

from __future__ import annotations

import json
import uuid

import orjson
import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from adapters.codec import decode
from domain.order_events import OrderPlaced
from services.bootstrap import bootstrap
from tests.conftest import MakeEnv
from tests.support import run_cli, wait_until

pytestmark = pytest.mark.kafka


def first_record(bootstrap_servers: str, topic: str, key: str, timeout: float = 30.0) -> Message:
    """The first record with `key` on `topic`, read from the beginning by a plain consumer."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "enable.auto.commit": False,
                         "group.id": f"plain-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    try:
        def found() -> Message | None:
            for message in consumer.consume(num_messages=100, timeout=0.2):
                assert message.error() is None, message.error()
                if message.key() == key.encode():
                    return message
            return None
        return wait_until(found, timeout, f"a record with key {key} on {topic}", interval=0)
    finally:
        consumer.close()


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql",
                                                          marks=pytest.mark.postgres)])
def test_place_lands_a_decodable_order_placed_with_status_created(
        store: str, kafka: str, make_env: MakeEnv, prefix: str) -> None:
    env = make_env(store, bootstrap=kafka)
    for args in (["db", "upgrade"], ["topics", "create"]):
        result = run_cli(args, env.environ)
        assert result.code == 0, result.stderr
    # when a user places an order
    placed = run_cli(["place", "--flow", "choreography", "--customer", "c1", "--item",
                      "BOOK-1=2", "--json"], env.environ)
    assert placed.code == 0, placed.stderr
    document = json.loads(placed.stdout)
    assert list(document) == ["order_id"]
    order_id = document["order_id"]
    # and the order service's relay runs
    app = bootstrap(env.settings)
    relay = app.relay("order")
    try:
        def drained() -> bool:
            relay.publish_pending()
            return relay.pending() == 0
        wait_until(drained, 30, "the order relay to publish")
    finally:
        relay.close()
        app.close()
    # then a plain consumer of `orders` reads it, keyed by the order id, status created
    message = first_record(kafka, f"{prefix}orders", order_id)
    assert orjson.loads(message.value())["status"] == "created"
    envelope = decode(message.value())
    assert isinstance(envelope.body, OrderPlaced)
    assert (envelope.body.order_id, envelope.body.customer_id) == (order_id, "c1")
    assert [(line.sku, line.quantity) for line in envelope.body.lines] == [("BOOK-1", 2)]
    assert envelope.body.total_cents == 2 * envelope.body.lines[0].unit_price_cents
    assert dict(message.headers() or [])["type"] == b"order.placed.v2"
    # and the tutorial's listener prints it
    listened = run_cli(["tutorial", "listen", "--from-beginning", "--timeout", "3"],
                       env.environ)
    assert listened.code == 0, listened.stderr
    assert listened.stdout.splitlines() == [f"Order {order_id} received with status created"]

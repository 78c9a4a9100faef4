"""The projector on real Kafka and both stores: live projection, then a rebuild that
produces identical tables and sends nothing but dead letters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from adapters.codec import encode, headers
from adapters.kafka.admin import watermarks
from adapters.kafka.topics import topic_specs
from adapters.records import Incoming
from domain import inventory_events as inv
from domain import order_events as o
from projections.read_models import ReadModels
from projections.rebuild import RebuildError, rebuild
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import MakeEnv
from tests.support import InThread, wait_until
from tests.unit.test_projections_support import Topics, dump, happy_saga, placed, setup

pytestmark = pytest.mark.kafka


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, kafka: str, make_env: MakeEnv) -> Iterator[Orderflow]:
    orderflow = bootstrap(make_env(request.param, bootstrap=kafka).settings)
    orderflow.create_topics()
    orderflow.upgrade()
    yield orderflow
    orderflow.close()


def out_of_stock(topics: Topics, order_id: str) -> list[Incoming]:
    start = placed(topics, order_id, seconds=10)
    refused = topics.incoming(inv.StockRejected(order_id=order_id, reason="out_of_stock",
                                                sku="BOOK-1"), "inventory", cause=start,
                              seconds=11)
    rejected = topics.incoming(o.OrderRejected(order_id=order_id, reason="out_of_stock",
                                               rejected_at=start.envelope.occurred_at),
                               "orders", cause=refused, seconds=12, version=2)
    return [start, refused, rejected]


def publish(bootstrap_servers: str, records: list[Incoming], poison_topic: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True})
    for record in records:
        envelope = record.envelope
        producer.produce(record.topic, key=envelope.correlation_id, value=encode(envelope),
                         headers=headers(envelope))
    producer.produce(poison_topic, key=b"poison", value=b"{not json")
    assert producer.flush(30) == 0


def high_watermarks(bootstrap_servers: str, topics: list[str]) -> dict[str, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "probe"})
    try:
        metadata = consumer.list_topics(timeout=10).topics
        return {t: sum(watermarks(consumer, TopicPartition(t, p))[1]
                       for p in metadata[t].partitions) for t in topics}
    finally:
        consumer.close()


@contextmanager
def live_projector(app: Orderflow) -> Iterator[None]:
    """The projector consuming in the background, and its relay publishing its dead
    letters and their notices, as `orderflow run projector` does."""
    runtime, relay = app.consumer(app.plan("projector")), app.relay("projector")
    loops = [InThread(runtime.run), InThread(relay.run)]
    try:
        yield
    finally:
        for loop in loops:
            loop.close()
        relay.close()


def project_live(app: Orderflow, expected_rows: int) -> None:
    """Project until the timeline holds `expected_rows`; a rebuild meanwhile is refused."""
    models, settings = app.read_models(), app.settings
    with live_projector(app):
        wait_until(lambda: dict(models.tables())["order_timeline"] == expected_rows, 60,
                   f"{expected_rows} timeline rows")
        wait_until(lambda: dict(models.tables())["dead_letter_view"] == 1, 60,
                   "the notice of the poison record's dead letter")
        with pytest.raises(RebuildError, match="stop the projector"):
            rebuild(app.store("projector"), settings.bootstrap_servers, settings.topic_prefix,
                    app.group("projector"))
    assert dict(models.tables())["order_timeline"] == expected_rows


def test_live_projection_then_an_identical_rebuild(app: Orderflow) -> None:
    settings, topics = app.settings, Topics(app.settings.topic_prefix)
    confirmed, rejected = str(uuid.uuid4()), str(uuid.uuid4())
    records = [*setup(topics), *happy_saga(topics, confirmed), *out_of_stock(topics, rejected)]
    publish(settings.bootstrap_servers, records, app.topic("orders"))
    project_live(app, expected_rows=8)

    models, engine = ReadModels(app.store("projector")), app.store("projector")
    assert (models.order(confirmed) or {}).get("status") == "confirmed"
    assert [(r["status"], r["reason"]) for r in models.orders(status="rejected")] == [
        ("rejected", "out_of_stock")]
    assert [r["type"] for r in models.timeline(rejected)] == [
        "order.placed.v2", "inventory.stock-rejected.v1", "order.rejected.v1"]
    live = dump(engine)
    assert dict(models.tables())["stock_view"] == 1

    sources = [s.name for s in topic_specs(settings.topic_prefix) if not s.name.endswith(".dlq")]
    before = high_watermarks(settings.bootstrap_servers, [*sources, app.topic("orders.dlq")])
    figures = rebuild(engine, settings.bootstrap_servers, settings.topic_prefix,
                      app.group("projector"))
    after = high_watermarks(settings.bootstrap_servers, [*sources, app.topic("orders.dlq")])

    # the poison record (dead-lettered again) and the live projector's notice of its dead letter
    assert figures["events"] == len(records) + 2
    assert dump(engine) == live
    assert {t: after[t] for t in sources} == {t: before[t] for t in sources}
    assert after[app.topic("orders.dlq")] == before[app.topic("orders.dlq")] + 1

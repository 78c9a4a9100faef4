"""Upgrading with orders in flight: what the release before schema versions left behind
is read by the new one, and its unfinished orders finish.

The old world is written here exactly as the code at commit 6737ebe wrote it (no
fixture file: the rows and records are built below from that release's wire format):
stores at Alembic revision 0006 (no `events.schema_version`), OrderPlaced as
`order.placed.v1` (schema_version 1, no `channel`) in the order store's events and
outbox, and on `orders` for the orders whose outbox rows its relay had published. No
participant has handled any of them yet. Then `orderflow db upgrade`, the new services,
and two new orders placed with `orderflow place`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from confluent_kafka import Producer

import migrations
from adapters.sql import migrate
from adapters.sql.engine import STORES
from domain.order import OrderStatus
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.integration import saga_world as world
from tests.support import run_cli, wait_until
from tests.system import RunningSystem

STARTS_ITS_OWN = True  # the services start after the upgrade, in the test
SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator", "projector")
BEFORE = "0006"  # the revision 6737ebe's stores were at
BOOK_CENTS = 2499
STORE_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

# The tables as 6737ebe wrote them: the columns its event store and relay filled.
EVENTS = sa.table("events", *map(sa.column, (
    "event_id", "stream_id", "version", "type", "data", "occurred_at", "correlation_id",
    "causation_id", "flow")))
OUTBOX = sa.table("outbox", *map(sa.column, (
    "message_id", "topic", "key", "value", "headers", "created_at", "published_at")))
TIMERS = sa.table("timers", *map(sa.column, ("kind", "key", "due_at")))
ORDER_VIEW = sa.table("order_view", *map(sa.column, (
    "order_id", "flow", "customer_id", "lines", "total_cents", "ship_to", "status", "reason",
    "created_at", "updated_at", "last_event_type", "last_event_id", "version",
    "stream_version")))


@pytest.fixture(params=STORE_KINDS)
def env(request: pytest.FixtureRequest, make_env: MakeEnv) -> Env:
    """Settings for one store kind; Kafka only for the tests that ask for it."""
    kafka = request.getfixturevalue("kafka") if "kafka" in request.fixturenames else None
    made = make_env(request.param, bootstrap=kafka)
    made.environ.update(world.PATIENT)
    return made


@pytest.fixture
def old(env: Env) -> Iterator[Orderflow]:
    """Every store at revision 0006, as the release before this one left it."""
    app = bootstrap(env.settings)
    for store in STORES:
        assert migrate.upgrade(app.engine(store), store, app.schema(store), BEFORE) == BEFORE
    yield app
    app.close()


@pytest.mark.kafka
def test_orders_in_flight_finish_after_the_upgrade(
        env: Env, old: Orderflow, system: RunningSystem, app: Orderflow, kafka: str) -> None:
    # given the old release's stock, credit and four unfinished orders of both flows:
    # two published on `orders`, two still waiting in the outbox for the relay
    old.create_topics()
    producer = Producer({"bootstrap.servers": kafka, "enable.idempotence": True})
    seed_v1(old, producer)
    in_flight = {place_v1(old, producer, flow, published=published): flow
                 for flow in ("choreography", "orchestration") for published in (True, False)}
    # when the stores are upgraded and the new release starts
    upgraded = run_cli(["db", "upgrade", "--json"], env.environ)
    assert upgraded.code == 0, upgraded.stderr
    assert {s["revision"] for s in json.loads(upgraded.stdout).values()} == {migrations.HEAD}
    system.start(SERVICES)
    placed_now = [world.place(env, flow, "BOOK-1=1")
                  for flow in ("choreography", "orchestration")]
    # then every order finishes, old and new
    for order_id in [*in_flight, *placed_now]:
        assert world.final(app, order_id) == ("confirmed", None), system.log("order")
    # the old ones read as placed before channels were recorded, the new ones as placed
    assert {o: channel_of(app, o) for o in in_flight} == dict.fromkeys(in_flight, "unknown")
    assert {o: channel_of(app, o) for o in placed_now} == dict.fromkeys(placed_now, "cli")
    assert status_json(env, next(iter(in_flight)))["channel"] == "unknown"
    assert status_json(env, placed_now[0])["channel"] == "cli"
    # and nothing old was rewritten: old rows keep v1, the relay sent the old bytes
    assert stored_placed(app, in_flight) == dict.fromkeys(in_flight, ("order.placed.v1", 1))
    assert stored_placed(app, placed_now) == dict.fromkeys(placed_now, ("order.placed.v2", 2))
    assert sent_types(app, in_flight) == {b"order.placed.v1"}
    stock = app.inventory().stock("BOOK-1")
    assert (stock.available, len(stock.reserved)) == (10 - 6, 6)


def test_orders_projected_before_the_upgrade_show_channel_unknown(
        env: Env, old: Orderflow) -> None:
    # given the old projector's rows: an order it saw placed, and one it saw settle only
    placed, settled_only = str(uuid.uuid4()), str(uuid.uuid4())
    with old.engine("projector").begin() as connection:
        connection.execute(ORDER_VIEW.insert(), [view_row(placed, placed_seen=True),
                                                 view_row(settled_only, placed_seen=False)])
    # when the stores are upgraded
    upgraded = run_cli(["db", "upgrade"], env.environ)
    assert upgraded.code == 0, upgraded.stderr
    # then the order placed before channels existed says so; the other does not know yet
    new = bootstrap(env.settings)
    try:
        models = new.read_models()
        assert (models.order(placed) or {})["channel"] == "unknown"
        assert (models.order(settled_only) or {})["channel"] is None
    finally:
        new.close()


# --- the old release's writes (6737ebe) ---------------------------------------------------

def seed_v1(app: Orderflow, producer: Producer) -> None:
    """`stock add BOOK-1 10` and `credit set alice 1000.00`, published by their relays."""
    now = datetime.now(UTC)
    write_v1(app, producer, "inventory", "inventory", stream="stock:BOOK-1", key="BOOK-1",
             wire="inventory.stock-added.v1", data={"sku": "BOOK-1", "quantity": 10},
             at=now, flow=None, published=True)
    write_v1(app, producer, "payment", "payments", stream="credit:alice", key="alice",
             wire="payment.credit-limit-set.v1",
             data={"customer_id": "alice", "limit_cents": 100_000}, at=now, flow=None,
             published=True)


def place_v1(app: Orderflow, producer: Producer, flow: str, *, published: bool) -> str:
    """`orderflow place --flow F --customer alice --item BOOK-1=1` as 6737ebe did it."""
    order_id, now = str(uuid.uuid4()), datetime.now(UTC)
    deadline = now + timedelta(hours=10)
    data = {"order_id": order_id, "customer_id": "alice",
            "lines": [{"sku": "BOOK-1", "quantity": 1, "unit_price_cents": BOOK_CENTS}],
            "total_cents": BOOK_CENTS, "ship_to": "DE", "flow": flow,
            "placed_at": now.isoformat(), "deadline": deadline.isoformat()}
    timers = [{"kind": "order-deadline", "key": order_id, "due_at": deadline.isoformat()}]
    write_v1(app, producer, "order", "orders", stream=f"order:{order_id}", key=order_id,
             wire="order.placed.v1", data=data, at=now, flow=flow, published=published,
             status="created", timers=timers if flow == "choreography" else [])
    return order_id


def write_v1(app: Orderflow, producer: Producer, store: str, topic: str, *, stream: str,
             key: str, wire: str, data: dict[str, Any], at: datetime, flow: str | None,
             published: bool, status: str | None = None,
             timers: list[dict[str, str]] | None = None) -> None:
    """One event at version 1 of its stream: its row, its outbox row and, if its relay had
    got to it, its record on Kafka (the outbox row then marked published)."""
    event_id, aggregate_id = str(uuid.uuid4()), stream.split(":", 1)[1]
    document = {"event_id": event_id, "type": wire, "schema_version": 1,
                "aggregate_id": aggregate_id, "aggregate_version": 1,
                "occurred_at": at.isoformat(), "correlation_id": key, "causation_id": None,
                "flow": flow, "data": data, **({"status": status} if status else {})}
    value = orjson.dumps(document)
    headers = [("type", wire), ("event_id", event_id), ("correlation_id", key),
               ("causation_id", ""), ("flow", flow or "")]
    if published:
        producer.produce(app.topic(topic), key=key.encode(), value=value,
                         headers=[(k, v.encode()) for k, v in headers])
        assert producer.flush(30) == 0
    with app.engine(store).begin() as connection:
        connection.execute(EVENTS.insert(), [{
            "event_id": event_id, "stream_id": stream, "version": 1, "type": wire,
            "data": orjson.dumps(data).decode(), "occurred_at": at.isoformat(),
            "correlation_id": key, "causation_id": None, "flow": flow}])
        connection.execute(OUTBOX.insert(), [{
            "message_id": event_id, "topic": app.topic(topic), "key": key, "value": value,
            "headers": orjson.dumps(headers).decode(), "created_at": at.isoformat(),
            "published_at": datetime.now(UTC).isoformat() if published else None}])
        if timers:
            connection.execute(TIMERS.insert(), timers)


def view_row(order_id: str, *, placed_seen: bool) -> dict[str, Any]:
    """An order_view row as 6737ebe's projector wrote it (no channel column yet)."""
    at = "2026-01-01T12:00:00.000000+00:00"
    placed = {"flow": "choreography", "customer_id": "alice", "total_cents": BOOK_CENTS,
              "lines": '[{"quantity":1,"sku":"BOOK-1","unit_price_cents":2499}]',
              "ship_to": "DE", "created_at": at}
    return {"order_id": order_id, "status": OrderStatus.CONFIRMED.value, "reason": None,
            "updated_at": at, "last_event_type": "order.confirmed.v1",
            "last_event_id": str(uuid.uuid4()), "version": 2 if placed_seen else 1,
            "stream_version": 2,
            **(placed if placed_seen else dict.fromkeys(placed))}  # NULL until it is seen


# --- reading the new world ------------------------------------------------------------------

def channel_of(app: Orderflow, order_id: str) -> str:
    """Where the order service (its store, upcast) and the read model (Kafka, upcast) say
    it was placed; they must agree."""
    order = app.orders().get(order_id)
    assert order is not None
    row = wait_until(lambda: _final_row(app, order_id), 30, f"order {order_id} projected")
    assert row["channel"] == order.channel.value, (row, order)
    return str(row["channel"])


def _final_row(app: Orderflow, order_id: str) -> dict[str, Any] | None:
    row = app.read_models().order(order_id)
    return row if row is not None and row["status"] == "confirmed" else None


def status_json(env: Env, order_id: str) -> dict[str, Any]:
    shown = run_cli(["status", order_id, "--json"], env.environ)
    assert shown.code == 0, shown.stderr
    return dict(json.loads(shown.stdout))


def stored_placed(app: Orderflow, order_ids: Any) -> dict[str, tuple[str, int]]:
    """(type, schema_version) of each order's stored OrderPlaced row."""
    events = sa.table("events", *map(sa.column, ("stream_id", "version", "type",
                                                 "schema_version")))
    streams = {f"order:{o}": o for o in order_ids}
    query = sa.select(events.c.stream_id, events.c.type, events.c.schema_version).where(
        events.c.stream_id.in_(streams), events.c.version == 1)
    with app.store("order").connect() as connection:
        return {streams[r.stream_id]: (r.type, r.schema_version)
                for r in connection.execute(query)}


def sent_types(app: Orderflow, order_ids: Any) -> set[bytes]:
    """The `type` header of these orders' OrderPlaced outbox rows, every one published."""
    outbox = sa.table("outbox", *map(sa.column, ("key", "value", "headers", "published_at")))
    query = sa.select(outbox).where(outbox.c.key.in_(list(order_ids)))
    with app.store("order").connect() as connection:
        rows = [r for r in connection.execute(query)
                if dict(orjson.loads(r.headers))["type"].startswith("order.placed.")]
    assert len(rows) == len(list(order_ids)) and all(r.published_at for r in rows)
    assert all(orjson.loads(r.value)["schema_version"] == 1 for r in rows)
    return {dict(orjson.loads(r.headers))["type"].encode() for r in rows}

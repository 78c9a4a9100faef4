"""`orderflow dlq` on real Kafka and both stores: a dead letter is listed, shown and
redriven once; the group that dead-lettered the record handles the copy exactly once,
every other group skips it, and a replay changes nothing. A quarantined row is listed
and given back to the relay. What cannot be redriven is refused and writes nothing.

The CLI runs in-process (`cli.main.run`) against the same stores the consumers use.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from adapters import relay as relay_module
from adapters.codec import encode, envelope_for
from adapters.kafka.consumer import ConsumerRuntime
from adapters.records import Incoming
from adapters.relay import OutboxRelay
from adapters.sql.retention import prune
from adapters.sql.tables import consumer_positions, outbox, timers
from adapters.sql.timers import set_timer
from cli.main import run
from domain.errors import Unhandleable
from domain.order_events import OrderConfirmed
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.support import InThread, run_cli, wait_until

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
KEY = "5d0c8a4e-1b2f-4c3d-9e8f-7a6b5c4d3e2f"
MIB = 1024 * 1024
ID = "00000000-1111-5222-8333-444444444444"
Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(params=STORES)
def env(request: pytest.FixtureRequest, make_env: MakeEnv) -> Env:
    if request.node.get_closest_marker("kafka"):
        return make_env(request.param, bootstrap=request.getfixturevalue("kafka"))
    return make_env(request.param)


@pytest.fixture
def app(env: Env, request: pytest.FixtureRequest) -> Iterator[Orderflow]:
    orderflow = bootstrap(env.settings)
    orderflow.upgrade()
    if request.node.get_closest_marker("kafka"):
        orderflow.create_topics()
    yield orderflow
    orderflow.close()


@pytest.fixture
def cli(env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`orderflow ARGS...` in-process with the test's environment: (code, stdout, stderr)."""
    for key in [k for k in os.environ if k.startswith(("ORDERFLOW_", "KAFKA_BOOTSTRAP"))]:
        monkeypatch.delenv(key)
    for key, value in {**env.environ, "COLUMNS": "80"}.items():
        monkeypatch.setenv(key, value)

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return call


def listed(cli: Cli, *options: str) -> list[dict[str, Any]]:
    code, out, err = cli("dlq", "list", "--json", *options)
    assert code == 0, err
    return list(json.loads(out))


class Running(InThread):
    """A consumer group on its own thread, recording what it handles in its store."""

    def __init__(self, app: Orderflow, store: str, name: str, broken: set[str]) -> None:
        self.store, self.group = store, app.group(name)
        self.runtime = ConsumerRuntime(engine=app.store(store),
                                       bootstrap=app.settings.bootstrap_servers,
                                       group=self.group, topics=[app.topic("orders")],
                                       handler=self.handle, name=name)
        self.broken = broken
        super().__init__(self.runtime.run)

    def handle(self, connection: sa.Connection, incoming: Incoming) -> None:
        if incoming.envelope.event_id in self.broken:
            raise Unhandleable(f"cannot handle {incoming.envelope.event_id} (yet)")
        set_timer(connection, "dlq-test", f"{incoming.envelope.event_id}@{incoming.offset}",
                  datetime.now(UTC))


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for each in started:
        each.close()


@pytest.fixture
def relays() -> Iterator[list[OutboxRelay]]:
    made: list[OutboxRelay] = []
    yield made
    for each in made:
        each.close()


def produce(app: Orderflow, count: int) -> list[str]:
    """`count` envelopes on one key of `orders`; their event ids, in order."""
    producer = Producer({"bootstrap.servers": app.settings.bootstrap_servers,
                         "enable.idempotence": True})
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for event_id in ids:
        body = OrderConfirmed(order_id=KEY, confirmed_at=datetime.now(UTC))
        envelope = envelope_for(body, event_id=event_id, aggregate_id=KEY, aggregate_version=2,
                                occurred_at=datetime.now(UTC), correlation_id=KEY,
                                causation_id=None, flow="choreography")
        producer.produce(app.topic("orders"), key=KEY.encode(), value=encode(envelope))
    assert producer.flush(30) == 0
    return ids


def position(app: Orderflow, each: Running) -> int:
    """How many records of `orders` the group has applied (its positions, summed)."""
    with app.store(each.store).connect() as connection:
        found = connection.execute(sa.select(sa.func.sum(consumer_positions.c.next_offset))
                                   .where(consumer_positions.c.group_id == each.group)).scalar()
    return int(found or 0)


def handled(app: Orderflow, store: str) -> Counter[str]:
    """How often each event id was handled, committed (one timer row per record)."""
    with app.store(store).connect() as connection:
        keys = connection.execute(sa.select(timers.c.key).where(timers.c.kind == "dlq-test"))
        return Counter(key.split("@")[0] for key in keys.scalars())


def drain(relay: OutboxRelay) -> None:
    def empty() -> bool:
        try:
            relay.publish_pending()
        except relay_module.PublishFailed:
            return False
        return relay.pending() == 0
    wait_until(empty, 60, f"{relay.name} to publish its outbox")


def outbox_rows(app: Orderflow, store: str) -> list[Any]:
    with app.store(store).connect() as connection:
        return list(connection.execute(sa.select(outbox).order_by(outbox.c.id)))


def last_record(app: Orderflow, partition: int) -> Any:
    """The newest record on one partition of `orders`."""
    consumer = Consumer({"bootstrap.servers": app.settings.bootstrap_servers,
                         "group.id": f"peek-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        _low, high = consumer.get_watermark_offsets(
            TopicPartition(app.topic("orders"), partition), timeout=10)
        consumer.assign([TopicPartition(app.topic("orders"), partition, high - 1)])
        return wait_until(lambda: consumer.poll(0.5), 30, "the newest record")
    finally:
        consumer.close()


@pytest.mark.kafka
def test_a_dead_letter_is_redriven_once_and_handled_exactly_once_by_its_group(
        app: Orderflow, cli: Cli, running: list[Running]) -> None:
    # given two groups on `orders`, one of which cannot handle the second record
    ids = produce(app, 3)
    broken = {ids[1]}
    failing, healthy = (Running(app, "inventory", "dlq-a", broken),
                        Running(app, "payment", "dlq-b", set()))
    running += [failing, healthy]
    wait_until(lambda: position(app, failing) == position(app, healthy) == 3, 60,
               "both groups to read the three records")
    # then that record is a dead letter of the failing group, listed and shown
    letter = listed_and_shown(app, cli, failing.group, ids[1])

    # when the handler is fixed and the dead letter redriven
    broken.clear()
    redrive_and_publish(app, cli, letter["id"])
    wait_until(lambda: position(app, failing) == position(app, healthy) == 4, 60,
               "both groups to read the copy")
    # then the failing group handled it once, the other group not again
    assert handled(app, "inventory") == Counter(ids)
    assert handled(app, "payment") == Counter(ids)
    record = last_record(app, letter["partition"])
    assert (record.key(), dict(record.headers())["redrive_of"]) == (KEY.encode(),
                                                                   letter["id"].encode())
    assert orjson.loads(record.value())["event_id"] == ids[1]

    # and a second redrive is refused, writing nothing
    before = outbox_rows(app, "inventory")
    code, _, err = cli("dlq", "redrive", letter["id"][:8])
    assert code == 1 and err.count("\n") == 1 and "already redriven" in err, err
    assert outbox_rows(app, "inventory") == before
    assert listed(cli)[0]["waiting"] is False
    assert cli("dlq", "redrive", "--all")[:2] == (0, "nothing to redrive\n")

    # and when the failing group reads everything again (a replay), nothing is redone
    replay(app, running, failing, broken={ids[1]})  # it would fail again, if asked
    assert handled(app, "inventory") == Counter(ids)
    assert len(listed(cli)) == 1


def listed_and_shown(app: Orderflow, cli: Cli, group: str, event_id: str) -> dict[str, Any]:
    """The one dead letter, as `dlq list` and `dlq show` give it."""
    [letter] = listed(cli)
    assert (letter["store"], letter["kind"], letter["source_topic"], letter["offset"],
            letter["order_id"], letter["error_type"], letter["consumer_group"],
            letter["waiting"]) == ("inventory", "dead letter", app.topic("orders"), 1, KEY,
                                   "Unhandleable", group, True)
    assert listed(cli, "--topic", "orders") == [letter]
    assert listed(cli, "--topic", "payments") == []
    code, out, _ = cli("dlq", "list")
    assert code == 0 and letter["id"][:8] in out and "orders[" in out
    assert max(len(line) for line in out.splitlines()) <= 80, out
    code, out, err = cli("dlq", "show", letter["id"][:8], "--json")
    shown = json.loads(out)
    assert code == 0 and shown["decodes"] and shown["envelope"]["event_id"] == event_id, err
    assert shown["headers"]["original_key_hex"] == KEY.encode().hex()
    return letter


def redrive_and_publish(app: Orderflow, cli: Cli, letter_id: str) -> None:
    """Redrive: the CLI publishes the copy, with `redrive_of`, marked after the ack."""
    code, out, err = cli("dlq", "redrive", letter_id, "--json")
    assert code == 0, err
    document = json.loads(out)
    [done] = document["redriven"]
    assert (document["unsent"], document["why"]) == (0, None)
    copy = next(r for r in outbox_rows(app, "inventory") if r.id == done["copy_row"])
    assert (copy.topic, copy.key, copy.publisher) == (app.topic("orders"), KEY, "cli")
    assert copy.published_at is not None
    assert ["redrive_of", letter_id] in orjson.loads(copy.headers)


def replay(app: Orderflow, running: list[Running], group: Running, broken: set[str]) -> None:
    """The group forgets its positions and reads `orders` from the start again."""
    running.remove(group)
    group.close()
    with app.store(group.store).begin() as connection:
        connection.execute(consumer_positions.delete().where(
            consumer_positions.c.group_id == group.group))
    again = Running(app, group.store, group.runtime.name, broken)
    running.append(again)
    wait_until(lambda: position(app, again) == 4, 60, "the replay to end")


@pytest.mark.kafka
def test_a_quarantined_row_is_listed_and_given_back_to_the_relay(
        app: Orderflow, cli: Cli, relays: list[OutboxRelay]) -> None:
    # given a row the broker refuses (larger than the topic takes), quarantined
    message_id = str(uuid.uuid4())
    with app.store("order").begin() as connection:
        connection.execute(outbox.insert().values(
            message_id=message_id, topic=app.topic("orders"), key=KEY, value=b"x" * 3 * MIB,
            headers=orjson.dumps([("correlation_id", KEY)]).decode(),
            created_at=datetime.now(UTC).isoformat()))
    relay = app.relay("order")
    relays.append(relay)
    for _ in range(relay_module.RELAY_TRIES):
        with pytest.raises(relay_module.PublishFailed):
            relay.publish_pending()
    assert (relay.pending(), relay.quarantined()) == (0, 1)
    # then it is listed as quarantined in the order store
    [row] = listed(cli)
    assert (row["id"], row["store"], row["kind"], row["error_type"], row["order_id"],
            row["waiting"]) == (message_id, "order", "quarantined", "MSG_SIZE_TOO_LARGE", KEY,
                                True)
    code, out, _ = cli("dlq", "show", message_id[:8])
    assert code == 0 and "3,145,728 bytes" in out and "--json has all" in out

    # when the topic is fixed to take it and the row is redriven
    allow_larger_records(app, 4 * MIB)
    code, out, err = cli("dlq", "redrive", message_id[:8], "--json")
    assert code == 0 and json.loads(out)["redriven"][0]["released"], err
    # then the relay publishes it, and a second redrive is refused
    drain(relay)
    [stored] = outbox_rows(app, "order")
    assert stored.published_at is not None and stored.quarantined_at is None
    assert stored.redriven_at is not None and relay.quarantined() == 0
    code, _, err = cli("dlq", "redrive", message_id)
    assert code == 1 and "not quarantined any more" in err, err
    assert listed(cli)[0]["waiting"] is False


def allow_larger_records(app: Orderflow, size: int) -> None:
    admin = AdminClient({"bootstrap.servers": app.settings.bootstrap_servers})
    resource = ConfigResource(ConfigResource.Type.TOPIC, app.topic("orders"), incremental_configs=[
        ConfigEntry("max.message.bytes", str(size),
                    incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)

    def applied() -> bool:
        [described] = admin.describe_configs([ConfigResource(
            ConfigResource.Type.TOPIC, app.topic("orders"))]).values()
        return bool(described.result(10)["max.message.bytes"].value == str(size))
    wait_until(applied, 30, "the topic to take larger records")


# --- what cannot be redriven, on the stores alone (no broker) ------------------------------

def dead_letter_row(app: Orderflow, value: bytes | None, key: bytes = KEY.encode(),
                    store: str = "shipping", message_id: str | None = None) -> str:
    """A dead letter as the consumer writes it, for a record at a made-up offset."""
    message_id = message_id or str(uuid.uuid4())
    now = datetime.now(UTC).isoformat()
    headers = [("event_id", message_id), ("original_topic", app.topic("shipping")),
               ("original_partition", "0"), ("original_offset", "7"),
               ("original_key_hex", key.hex()), ("error_type", "DecodeError"),
               ("error", "bad\nrecord"), ("consumer_group", app.group("order")),
               ("correlation_id", ""), ("failed_at", now)]
    with app.store(store).begin() as connection:
        connection.execute(outbox.insert().values(
            message_id=message_id, topic=app.topic("shipping.dlq"), key=key.hex(), value=value,
            headers=orjson.dumps(headers).decode(), created_at=now))
    return message_id


def good_value() -> bytes:
    body = OrderConfirmed(order_id=KEY, confirmed_at=datetime.now(UTC))
    return encode(envelope_for(body, event_id=str(uuid.uuid4()), aggregate_id=KEY,
                               aggregate_version=2, occurred_at=datetime.now(UTC),
                               correlation_id=KEY, causation_id=None, flow="choreography"))


def test_what_would_only_fail_again_is_refused_and_writes_nothing(
        app: Orderflow, cli: Cli) -> None:
    # given dead letters whose value does not decode, is a tombstone, or whose key is binary
    refused = [dead_letter_row(app, b"\xff not json"), dead_letter_row(app, None),
               dead_letter_row(app, good_value(), key=b"\xff\x00")]
    before = outbox_rows(app, "shipping")
    # when each is redriven, then each is refused with one line
    for message_id in refused:
        code, _, err = cli("dlq", "redrive", message_id)
        assert code == 1 and err.count("\n") == 1 and message_id[:8] in err, err
    # and --all skips them, exits 0 and says so
    code, out, err = cli("dlq", "redrive", "--all", "--topic", "shipping")
    assert (code, out) == (0, "nothing to redrive (3 skipped)\n"), err
    assert outbox_rows(app, "shipping") == before
    code, out, _ = cli("dlq", "show", refused[0][:8])
    assert code == 0 and "does not decode" in out and "\\xff not json" in out


def test_an_id_prefix_names_one_entry_or_is_refused(app: Orderflow, cli: Cli) -> None:
    first, second = (dead_letter_row(app, good_value(), message_id=f"abcd{n}" + ID[5:])
                     for n in (1, 2))
    dead_letter_row(app, good_value(), message_id="abcd" + ID[4:], store="payment")
    code, _, err = cli("dlq", "show", "abcd")  # three entries in two stores
    assert code == 1 and err.count("\n") == 1 and "matches 3" in err, err
    code, out, err = cli("dlq", "show", "abcd1", "--json")
    assert code == 0 and json.loads(out)["id"] == first, err
    code, out, err = cli("dlq", "show", second.upper(), "--json")
    assert code == 0 and json.loads(out)["id"] == second, err
    assert cli("dlq", "show", "abc")[0] == 2  # too short to be an id: a usage error


@pytest.mark.kafka
def test_retention_keeps_dead_letters_until_they_are_redriven(
        app: Orderflow, cli: Cli) -> None:
    # given two old, published dead letters, one of them redriven
    kept, redriven = dead_letter_row(app, good_value()), dead_letter_row(app, good_value())
    assert cli("dlq", "redrive", redriven)[0] == 0
    long_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    with app.store("shipping").begin() as connection:
        connection.execute(outbox.update().values(published_at=long_ago))
    # when the store is pruned
    prune(app.store("shipping"), app.settings.retention, datetime.now(UTC))
    # then the dead letter nobody redrove stays; the redriven one and its copy go
    assert [row.message_id for row in outbox_rows(app, "shipping")] == [kept]


@pytest.mark.kafka
def test_a_redrive_commits_before_it_sends_and_a_copy_left_unsent_goes_next_time(
        app: Orderflow, env: Env) -> None:
    """The redrive's transaction commits before any Kafka I/O: a CLI killed at its first
    produce leaves the dead letter redriven and its copy queued; the next redrive, with
    nothing left to send back, publishes that copy."""
    dead_letter_row(app, good_value())
    crashed = run_cli(["dlq", "redrive", "--all"],
                      {**env.environ, "ORDERFLOW_FAULT": "relay.before_produce:1"})
    assert crashed.code == 137, crashed.stderr
    [letter] = [row for row in outbox_rows(app, "shipping") if row.topic.endswith(".dlq")]
    [copy] = [row for row in outbox_rows(app, "shipping") if row.publisher == "cli"]
    assert letter.redriven_at is not None
    assert (copy.topic, copy.published_at) == (app.topic("shipping"), None)
    again = run_cli(["dlq", "redrive", "--all", "--json"], env.environ)
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout) == {"redriven": [], "skipped": [], "unsent": 0,
                                        "why": None}
    [sent] = [row for row in outbox_rows(app, "shipping") if row.publisher == "cli"]
    assert (sent.id, sent.published_at is not None) == (copy.id, True)

"""A secured three-node cluster (`broker start --nodes 3 --secure`): SASL_SSL with
SCRAM-SHA-512, StandardAuthorizer, no access without an ACL. Clients without credentials
or with a wrong password are refused with one line; under orchestration alone the ACLs
that `acl apply` derives from the services let a participant read its command topic
and nothing else; both flows run end to end, every service as its own principal; and a
dead letter goes back to a topic its consumer may only read, published as the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path as FilePath

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin._acl import AclBinding, AclBindingFilter

from adapters.credentials import ADMIN
from adapters.kafka import acl
from adapters.kafka.acl import READ, TOPIC, Applied, Grant
from adapters.kafka.admin import admin_client
from adapters.kafka.broker import LocalBroker
from adapters.kafka.client import base_config, consumer_config, producer_config
from adapters.settings import PROJECT_ROOT
from adapters.sql.published import published_topics
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration.test_exactly_once import (
    STOCK,
    Broker,
    Path,
    mix,
    opened,
    place_all,
    prepare,
    settle,
    unpublished,
)
from tests.support import free_port_pair, run_cli, wait_until
from tests.system import RunningSystem

pytestmark = [pytest.mark.kafka, pytest.mark.store("sqlite")]
DENIED = KafkaError.TOPIC_AUTHORIZATION_FAILED
INVENTORY = "User:inventory"
OVER_CREDIT = Path((("BOOK-1", 1),), "bob", "DE", ("rejected", "over_credit"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    nodes = LocalBroker(cache_dir=PROJECT_ROOT / ".cache", port=free_port_pair(3), nodes=3,
                        secure=True, home=tmp_path_factory.mktemp("secure"))
    nodes.start()
    yield nodes
    nodes.stop()


def secured(make_env: MakeEnv, cluster: LocalBroker, **more: str) -> Env:
    """A migrated, seeded environment on the cluster, its topics created and its ACLs
    applied by the admin (prepare does it on a secured cluster)."""
    env = prepare(make_env, {**cluster.environment(), **more}, "sqlite")
    with opened(env) as app:  # ACLs reach the other nodes a moment later; until then a
        # node describes fewer, and an apply re-creates them (harmlessly): wait for none
        wait_until(lambda: app.apply_acls().created == 0, 30, "every node to hold the ACLs")
        planned = sum(len(grants) for grants in app.acl_plan().values())
        assert app.apply_acls() == Applied(created=0, deleted=0, unchanged=planned)
    return env


def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(
        cluster: LocalBroker, tmp_path: FilePath) -> None:
    plain = {"KAFKA_BOOTSTRAP_SERVERS": cluster.address, "ORDERFLOW_DATA_DIR": str(tmp_path)}
    anonymous = run_cli(["topics", "create"], plain)
    assert anonymous.code == 1 and anonymous.stderr.count("\n") == 1
    assert "did not answer a PLAINTEXT client" in anonymous.stderr
    wrong = run_cli(["topics", "create"], {**cluster.environment(), **plain,
                                           "KAFKA_SASL_PASSWORD": "not-the-password"})
    assert wrong.code == 1 and wrong.stderr.count("\n") == 1
    assert "refused principal 'cli'" in wrong.stderr and "invalid credentials" in wrong.stderr
    assert "not-the-password" not in wrong.stderr + wrong.stdout


def test_under_orchestration_a_participant_reads_its_command_topic_and_nothing_else(
        cluster: LocalBroker, make_env: MakeEnv) -> None:
    env = secured(make_env, cluster, ORDERFLOW_FLOWS="orchestration")
    with opened(env) as app:
        commands = app.topic("inventory.commands")
        assert _read(app, "inventory", commands) is None  # allowed: the record arrives
        assert _read(app, "inventory", app.topic("payments")) == DENIED  # choreography's
        assert _read(app, "payment", commands) == DENIED
        assert _write(app, "payment", app.topic("orders")) == DENIED
        assert _write(app, "payment", app.topic("payments")) is None  # its own events


def test_both_flows_end_to_end_each_service_its_own_principal(
        cluster: LocalBroker, make_env: MakeEnv, tmp_path: FilePath) -> None:
    env = secured(make_env, cluster)
    system = RunningSystem(env.environ, tmp_path / "logs")
    try:
        system.start(["order", "inventory", "payment", "shipping", "orchestrator", "projector"])
        with opened(env) as app:
            placed = place_all(app, mix(12))
            settle(app, Broker(env.settings.kafka(ADMIN)), placed, timeout=120)
    finally:
        codes = system.stop()
    assert all(code == 0 for code in codes.values()), codes
    denied = [name for name in codes if "AUTHORIZATION_FAILED" in system.log(name)]
    assert denied == [], f"a service was refused something it does: {denied}"


def test_a_dead_letter_goes_back_to_a_topic_its_consumer_may_only_read(
        cluster: LocalBroker, make_env: MakeEnv, tmp_path: FilePath) -> None:
    """Inventory may read `payments`, never write it; its release of stock fails until
    the PaymentDeclined lands in `payments.dlq`. `redrive --all` sends the copy back as
    the CLI's principal: the stock comes back, nothing is quarantined, nothing waits."""
    env = secured(make_env, cluster, ORDERFLOW_FAULT_FAIL="release_stock:6")
    system = RunningSystem(env.environ, tmp_path / "logs")
    try:
        system.start(["order", "inventory", "payment"])
        with opened(env) as app:
            place_all(app, [(OVER_CREDIT, "choreography")])
            wait_until(lambda: _published_letters(app) == 1, 120,
                       "the release of stock to land in payments.dlq")
            outcome = app.dead_letters().redrive_all()
            assert (len(outcome.redriven), outcome.skipped, outcome.unsent) == (1, [], 0)
            wait_until(lambda: app.inventory().stock("BOOK-1").available == STOCK["BOOK-1"],
                       60, "the redriven release to give the stock back")
            wait_until(lambda: unpublished(app, ["order", "inventory", "payment"]) == 0, 30,
                       "every relay to publish what the release wrote")
            assert [letter.kind for letter in app.dead_letters().letters()] == ["dead letter"]
    finally:
        system.stop()


def _published_letters(app: Orderflow) -> int:
    return sum(1 for letter in app.dead_letters().letters() if letter.published_at)


def _read(app: Orderflow, principal: str, topic: str) -> int | None:
    """Fetch the record the admin first writes to `topic`, as `principal` in a group of
    its own: None when it arrives, else the error code (a topic the principal may not
    read is reported as TOPIC_AUTHORIZATION_FAILED)."""
    assert _write(app, ADMIN, topic) is None
    consumer = Consumer(consumer_config(app.settings.kafka(principal), app.group(principal)))
    try:
        consumer.subscribe([topic])
        answers: list[int | None] = []

        def answered() -> bool:
            message = consumer.poll(0.5)
            if message is not None:
                error = message.error()
                answers.append(None if error is None else error.code())
            return bool(answers)
        wait_until(answered, 30, f"a fetch of {topic} as {principal}")
        return answers[0]
    finally:
        consumer.close()


def _write(app: Orderflow, principal: str, topic: str) -> int | None:
    """The error code of producing one record to `topic` as `principal`, or None."""
    producer = Producer(producer_config(app.settings.kafka(principal),
                                        **{"message.timeout.ms": 20000}))
    reports: list[KafkaError | None] = []
    try:
        producer.produce(topic, key=uuid.uuid4().bytes, value=b"{}",
                         on_delivery=lambda error, _message: reports.append(error))
    except KafkaException as exc:
        return int(exc.args[0].code())
    producer.flush(30)
    assert len(reports) == 1
    return None if reports[0] is None else int(reports[0].code())


def test_the_admin_connection_never_shows_its_password(cluster: LocalBroker) -> None:
    admin = cluster.admin()
    password = cluster.security().passwords[ADMIN]
    assert password not in repr(admin) and password not in repr(cluster.security())
    assert base_config(admin)["sasl.password"] == password  # but librdkafka gets it


def test_topology_agrees_after_acl_apply_and_reports_an_acl_removed_by_hand(
        cluster: LocalBroker, make_env: MakeEnv, tmp_path: FilePath) -> None:
    """Declared, observed (inventory running, its stock published) and authorised agree;
    then one ACL is deleted with the admin client, and `topology` names that grant."""
    env = prepare(make_env, {**cluster.environment(), "ORDERFLOW_FLOWS": "orchestration"},
                  "sqlite")
    with opened(env) as app:
        app.apply_acls()  # idempotent: prepare may have applied them already
        gone = Grant(TOPIC, app.topic("inventory.commands"), READ)
        system = RunningSystem(env.environ, tmp_path / "logs")
        try:
            system.start(["inventory"])
            app.wait_for_groups(["inventory"])
            wait_until(lambda: published_topics(app.store("inventory")), 60,
                       "inventory's relay to publish its stock")
            agreed = run_cli(["topology", "--json"], env.environ)
        finally:
            system.stop()
    assert agreed.code == 0, agreed.stdout[-2000:] + agreed.stderr
    document = json.loads(agreed.stdout)
    assert document["differences"] == []
    inventory = document["observed"][INVENTORY]
    assert (inventory["state"], inventory["reads"]) == ("running", [gone.name])
    assert env.settings.topic_prefix + "inventory" in inventory["writes"]
    assert document["authorised"][INVENTORY] == document["declared"][INVENTORY]
    _delete(cluster, acl.binding(INVENTORY, gone))
    drifted = run_cli(["topology"], env.environ)
    assert drifted.code == 1, drifted.stdout[-2000:] + drifted.stderr
    assert drifted.stdout.splitlines()[-3:] == [
        "1 difference:", "- missing-acl: User:inventory READ topic inventory.commands",
        "  declared, but the broker has no such ACL"]


def _delete(cluster: LocalBroker, found: AclBinding) -> None:
    """Delete one binding by hand, as an operator with the admin client would."""
    exact = AclBindingFilter(found.restype, found.name, found.resource_pattern_type,
                             found.principal, found.host, found.operation,
                             found.permission_type)
    client = admin_client(cluster.admin())  # kept until the answer is in: its end cancels it
    for future in client.delete_acls([exact]).values():
        assert len(future.result()) == 1

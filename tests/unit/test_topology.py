"""`orderflow topology` without Kafka: the differences between the declared, observed and
authorised graphs (a pure function of the three), the outbox as the observed producers,
the broker's bindings read back as grants, and the command's table (80 columns, exit 1
on drift, 0 without) and `--json`, on a fake broker. Against a secured cluster, an ACL
removed by hand: tests/integration/test_secure_cluster.py."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from sqlalchemy.pool import StaticPool

from adapters.kafka import acl
from adapters.kafka.acl import GROUP, PREFIXED, READ, TOPIC, WRITE, Grant, Plan
from adapters.kafka.topology import NOT_RUNNING, REBALANCING, RUNNING, Consuming, Held, Unplanned
from adapters.settings import Settings
from adapters.sql.migrate import upgrade
from adapters.sql.published import OutboxUnreadable, published_topics
from adapters.sql.tables import outbox
from cli.main import run
from services import topology
from services.bootstrap import KNOWN_SERVICES, Orderflow
from services.topology import (
    EXTRA_ACL,
    MISSING_ACL,
    NO_AUTHORIZER,
    UNDECLARED_READ,
    UNDECLARED_WRITE,
    UNREAD,
    Observed,
    Topology,
    differences,
)

INVENTORY, PAYMENT = "User:inventory", "User:payment"
READS = Grant(TOPIC, "t.orders", READ)
GROUP_READ = Grant(GROUP, "t.orderflow.inventory", READ)
WRITES = Grant(TOPIC, "t.inventory", WRITE)
DECLARED: Plan = {INVENTORY: frozenset({READS, GROUP_READ, WRITES}), PAYMENT: frozenset()}


def _observed(state: str = RUNNING, reads: Collection[str] = ("t.orders",),
              writes: Collection[str] | None = ("t.inventory",)) -> Observed:
    return Observed({INVENTORY: Consuming("t.orderflow.inventory", state, frozenset(reads))},
                    {INVENTORY: None if writes is None else frozenset(writes)})


def _held(grants: Plan | None = None, **unplanned: tuple[Unplanned, ...]) -> Held:
    return Held(DECLARED if grants is None else grants,
                {INVENTORY: unplanned.get("inventory", ())})


def _kinds(found: list[topology.Difference]) -> list[tuple[str, str, Grant | None]]:
    return [(d.kind, d.principal, d.grant) for d in found]


def test_three_graphs_that_agree_have_no_difference() -> None:
    assert differences(DECLARED, _observed(), _held(), "t.") == []


def test_a_declared_grant_the_broker_lacks_is_a_missing_acl() -> None:
    held = _held({INVENTORY: DECLARED[INVENTORY] - {READS}})
    assert _kinds(differences(DECLARED, _observed(), held, "t.")) == [
        (MISSING_ACL, INVENTORY, READS)]


def test_an_acl_the_plan_lacks_is_extra_within_this_runs_names_only() -> None:
    mine, theirs = Grant(TOPIC, "t.payments", READ), Grant(TOPIC, "u.payments", READ)
    held = _held({INVENTORY: DECLARED[INVENTORY] | {mine, theirs}, PAYMENT: frozenset()})
    assert _kinds(differences(DECLARED, _observed(), held, "t.")) == [
        (EXTRA_ACL, INVENTORY, mine)]  # u.payments is another run's: not its business


def test_a_binding_no_plan_can_hold_is_extra_and_named() -> None:
    denied = Unplanned("t.orders", "ACL DENY User:inventory WRITE TOPIC t.orders")
    found = differences(DECLARED, _observed(), _held(inventory=(denied,)), "t.")
    assert _kinds(found) == [(EXTRA_ACL, INVENTORY, None)]
    assert found[0].detail.startswith("ACL DENY User:inventory WRITE TOPIC t.orders")


def test_a_broker_without_an_authorizer_is_one_difference_not_every_acl_missing() -> None:
    found = differences(DECLARED, _observed(), None, "t.")
    assert _kinds(found) == [(NO_AUTHORIZER, "", None)]
    assert "enforces no ACLs" in found[0].detail


def test_a_running_group_reading_what_its_service_does_not_declare_is_drift() -> None:
    observed = _observed(reads=("t.orders", "t.payments"))
    held = _held({INVENTORY: DECLARED[INVENTORY], PAYMENT: frozenset()})
    found = differences(DECLARED, observed, held, "t.")
    assert _kinds(found) == [(UNDECLARED_READ, INVENTORY, Grant(TOPIC, "t.payments", READ))]
    assert found[0].detail.endswith("and not authorised")


def test_a_running_group_not_reading_a_declared_topic_is_drift() -> None:
    assert _kinds(differences(DECLARED, _observed(reads=()), _held(), "t.")) == [
        (UNREAD, INVENTORY, READS)]


@pytest.mark.parametrize("state", [NOT_RUNNING, REBALANCING])
def test_a_group_not_running_or_rebalancing_is_not_drift(state: str) -> None:
    observed = _observed(state, reads=())
    assert differences(DECLARED, observed, _held(), "t.") == []
    assert observed.saw(INVENTORY, READS) is None  # unknown, not "no"


def test_a_service_seen_writing_an_undeclared_topic_is_drift_and_unknown_writes_are_not(
        ) -> None:
    written = _observed(writes=("t.inventory", "t.orders"))  # a redriven copy, say
    found = differences(DECLARED, written, _held(), "t.")
    assert _kinds(found) == [(UNDECLARED_WRITE, INVENTORY, Grant(TOPIC, "t.orders", WRITE))]
    assert "and not authorised" in found[0].detail
    assert differences(DECLARED, _observed(writes=None), _held(), "t.") == []
    assert differences(DECLARED, _observed(writes=()), _held(), "t.") == []  # not yet: fine


def test_observed_grants_are_what_was_seen_and_nothing_when_not_running() -> None:
    assert _observed().grants(INVENTORY) == DECLARED[INVENTORY]
    assert _observed(NOT_RUNNING, writes=None).grants(INVENTORY) == frozenset()


# the adapters: bindings read back as grants, the outbox as the observed producers


def test_a_binding_reads_back_as_the_grant_it_was_made_from() -> None:
    for grant in (READS, GROUP_READ, WRITES, Grant(GROUP, "orderflow-", READ, PREFIXED)):
        assert acl.grant_of(acl.binding(INVENTORY, grant)) == grant
    denied = AclBinding(ResourceType.TOPIC, "t.orders", ResourcePatternType.LITERAL, INVENTORY,
                        "*", AclOperation.READ, AclPermissionType.DENY)
    hosted = AclBinding(ResourceType.TOPIC, "t.orders", ResourcePatternType.LITERAL, INVENTORY,
                        "10.0.0.1", AclOperation.READ, AclPermissionType.ALLOW)
    altering = AclBinding(ResourceType.TOPIC, "t.orders", ResourcePatternType.LITERAL,
                          INVENTORY, "*", AclOperation.ALTER, AclPermissionType.ALLOW)
    assert [acl.grant_of(b) for b in (denied, hosted, altering)] == [None, None, None]


def _row(topic: str, n: int, **marks: str) -> dict[str, Any]:
    return {"message_id": f"m-{n}", "topic": topic, "key": "k", "value": b"{}",
            "headers": "[]", "created_at": "2026-01-01T00:00:00+00:00",
            "published_at": None, "quarantined_at": None, "publisher": None, **marks}


def test_the_observed_producers_are_the_topics_of_the_published_outbox_rows() -> None:
    """Its own rows only: a redriven copy, sent by the CLI, is not the service's write."""
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    upgrade(engine, "inventory", None)
    now = "2026-01-01T00:00:01+00:00"
    with engine.begin() as connection:
        connection.execute(outbox.insert(), [
            _row("t.inventory", 1, published_at=now), _row("t.inventory", 2, published_at=now),
            _row("t.orders.dlq", 3, published_at=now), _row("t.payments", 4),  # not yet
            _row("t.orders", 5, quarantined_at=now),  # refused: never written
            _row("t.payments", 6, published_at=now, publisher="cli")])  # a redriven copy
    assert published_topics(engine) == {"t.inventory", "t.orders.dlq"}
    with pytest.raises(OutboxUnreadable):
        published_topics(sa.create_engine("sqlite://"))  # no outbox table


# the command, on a fake broker and stores


class FakeBroker:
    """What the wiring asks the broker and the stores, from given answers."""

    def __init__(self, app: Orderflow, running: dict[str, Collection[str]],
                 written: dict[str, Collection[str]], held: Plan | None) -> None:
        self.app, self.running, self.written, self.held = app, running, written, held

    def consuming(self, groups: Sequence[str]) -> dict[str, Consuming]:
        found = {self.app.group(s): s for s in KNOWN_SERVICES}
        return {g: Consuming(g, RUNNING, frozenset(self.running[found[g]]))
                if found[g] in self.running else Consuming(g, NOT_RUNNING) for g in groups}

    def published(self, service: str) -> Collection[str]:
        if service not in self.written:
            raise OutboxUnreadable(service)
        return self.written[service]

    def authorised(self, principals: Collection[str]) -> Held | None:
        return None if self.held is None else Held(self.held)


@pytest.fixture
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("COLUMNS", "80")
    for name in ("ORDERFLOW_FLOWS", "ORDERFLOW_STEPS", "ORDERFLOW_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _faked(monkeypatch: pytest.MonkeyPatch, prefix: str, drop: Grant | None = None,
           **written: Collection[str]) -> Orderflow:
    """Every service running as declared, its ACLs held (less inventory's `drop`),
    `written` the topics of the stores that can be read."""
    monkeypatch.setenv("ORDERFLOW_TOPIC_PREFIX", prefix)
    app = Orderflow(Settings.from_env())
    declared = app.acl_plan()
    running = {s: [g.name for g in declared[acl.principal(s)]
                   if g.resource == TOPIC and g.operation == READ]
               for s in app.deployed()}
    held = {who: grants - {drop} if who == INVENTORY else grants
            for who, grants in declared.items()}
    broker = FakeBroker(app, running, written, held)
    survey = Topology(declared, KNOWN_SERVICES, app.group, broker.consuming, broker.published,
                      broker.authorised, prefix)
    monkeypatch.setattr(Orderflow, "topology", lambda self: survey)
    return app


def _rows(out: str) -> list[str]:
    """Each line with its cells one space apart."""
    return [" ".join(line.split()) for line in out.splitlines()]


def test_topology_without_drift_exits_0_within_80_columns_even_with_a_long_prefix(
        hermetic: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    prefix = "p" * 33 + "."
    _faked(monkeypatch, prefix, inventory=[prefix + "inventory"])
    assert run(["topology"]) == 0
    out = capsys.readouterr().out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80, out
    assert "User:inventory: group orderflow.inventory running" in out
    assert "User:order: group orderflow.order running, store unreadable" in out
    assert "WRITE topic inventory ✓ ✓ ✓" in _rows(out)
    assert "WRITE topic orders.dlq ✓ – ✓" in _rows(out)  # none written yet: not drift
    assert "READ group orderflow-* ✓ ? ✓" in _rows(out)  # the CLI's: not observed
    assert out.rstrip().endswith("no drift: declared, observed and authorised agree")
    assert prefix not in out
    assert run(["topology", "--wide"]) == 0
    assert f"WRITE topic {prefix}inventory ✓ ✓ ✓" in _rows(capsys.readouterr().out)


def test_topology_with_an_acl_removed_exits_1_and_names_the_grant(
        hermetic: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    gone = Grant(TOPIC, "t-1.inventory.commands", READ)
    _faked(monkeypatch, "t-1.", drop=gone)
    assert run(["topology"]) == 1
    out = capsys.readouterr().out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80, out
    assert "READ topic inventory.commands ✓ ✓ –" in _rows(out)
    assert out.splitlines()[-3:] == [
        "1 difference:", "- missing-acl: User:inventory READ topic inventory.commands",
        "  declared, but the broker has no such ACL"]


def test_topology_json_is_one_document_of_the_three_graphs_and_the_differences(
        hermetic: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    gone = Grant(TOPIC, "t-1.inventory.commands", READ)
    _faked(monkeypatch, "t-1.", drop=gone, inventory=["t-1.inventory", "t-1.orders"])
    assert run(["topology", "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"declared", "observed", "authorised", "differences"}
    assert document["observed"][INVENTORY]["writes"] == ["t-1.inventory", "t-1.orders"]
    assert document["observed"]["User:order"]["writes"] is None  # its store: unreadable
    assert document["observed"]["User:fraud"] == {
        "group": "t-1.orderflow.fraud", "state": NOT_RUNNING, "reads": None, "writes": None}
    assert [(d["kind"], d["principal"], d["name"]) for d in document["differences"]] == [
        (MISSING_ACL, INVENTORY, "t-1.inventory.commands"),
        (UNDECLARED_WRITE, INVENTORY, "t-1.orders")]
    assert {"resource": "topic", "name": "t-1.inventory.commands", "pattern": "literal",
            "operation": READ} in document["declared"][INVENTORY]
    assert len(document["authorised"][INVENTORY]) == len(document["declared"][INVENTORY]) - 1


def test_topology_against_no_broker_is_one_line_and_exit_1(
        hermetic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["topology"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("orderflow: error: no Kafka broker answers at 127.0.0.1:9")

"""Kafka ACLs derived from the services (adapters/kafka/acl.py): the plan follows the flows
and steps deployed, names carry the prefix, and `apply` converges a broker (a fake admin
here; a plain broker's refusal is tests/integration/test_acl_apply.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from adapters.kafka import acl
from adapters.kafka.acl import DESCRIBE, GROUP, PREFIXED, READ, TOPIC, WRITE, Grant
from adapters.kafka.client import reader_config
from adapters.kafka.errors import KafkaClientError
from adapters.kafka.topics import topic_specs
from adapters.settings import Settings
from cli.main import run
from domain.inventory_events import StockAllocated
from services.bootstrap import KNOWN_SERVICES, Orderflow
from services.inventory import Inventory
from services.payment import Payment
from services.port import MessageTable
from tests.specs import Spec

CLI = "User:cli"
INVENTORY = "User:inventory"


def _plan(tmp_path: Path, flows: str = "both", steps: str = "", prefix: str = "") -> acl.Plan:
    return _app(tmp_path, flows, steps, prefix).acl_plan()


def _app(tmp_path: Path, flows: str = "both", steps: str = "", prefix: str = "") -> Orderflow:
    return Orderflow(Settings.from_env({
        "ORDERFLOW_FLOWS": flows, "ORDERFLOW_STEPS": steps, "ORDERFLOW_TOPIC_PREFIX": prefix,
        "ORDERFLOW_DATA_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}))


def _names(grants: frozenset[Grant], operation: str, resource: str = TOPIC) -> set[str]:
    return {g.name for g in grants if g.operation == operation and g.resource == resource}


def test_under_orchestration_alone_inventory_reads_its_command_topic_and_nothing_else(
        tmp_path: Path) -> None:
    inventory = _plan(tmp_path, "orchestration")[INVENTORY]
    assert inventory == {
        Grant(TOPIC, "inventory.commands", READ),
        Grant(GROUP, "orderflow.inventory", READ),
        Grant(TOPIC, "inventory", WRITE),  # its replies: StockReserved, ...
        Grant(TOPIC, "inventory.commands.dlq", WRITE),  # its dead letters, via its relay
        Grant(TOPIC, "dead-letters", WRITE),  # and their notices
    }


def test_under_choreography_alone_the_orchestrator_gets_nothing(tmp_path: Path) -> None:
    acls = _plan(tmp_path, "choreography")
    assert acls["User:orchestrator"] == frozenset()
    assert _names(acls[INVENTORY], READ) == {"orders", "payments", "shipping"}
    assert _names(acls[INVENTORY], WRITE) == {"inventory", "orders.dlq", "payments.dlq",
                                              "shipping.dlq", "dead-letters"}
    commanding = {who for who, grants in acls.items() if who != CLI
                  for name in _names(grants, WRITE) if name.endswith(".commands")}
    assert commanding == set()  # nobody sends a command in choreography
    assert "orderflow.orchestrator" not in _names(acls[CLI], DESCRIBE, GROUP)


def test_with_both_flows_the_orchestrator_commands_every_core_participant(
        tmp_path: Path) -> None:
    acls = _plan(tmp_path)
    assert _names(acls["User:orchestrator"], WRITE) == {
        "inventory.commands", "payments.commands", "shipping.commands", "orders.commands",
        "sagas", "orders.dlq", "inventory.dlq", "payments.dlq", "shipping.dlq",
        "dead-letters"}
    assert _names(acls[INVENTORY], READ) == {"orders", "payments", "shipping",
                                             "inventory.commands"}
    assert acls["User:fraud"] == frozenset()  # not deployed without ORDERFLOW_STEPS=fraud


def test_the_fraud_step_gets_its_principal_and_its_command_topic(tmp_path: Path) -> None:
    acls = _plan(tmp_path, steps="fraud")
    assert _names(acls["User:fraud"], READ) == {"inventory", "fraud.commands"}
    assert _names(acls["User:fraud"], WRITE) == {"fraud", "inventory.dlq",
                                                 "fraud.commands.dlq", "dead-letters"}
    assert "fraud.commands" in _names(acls["User:orchestrator"], WRITE)
    assert "fraud" in _names(acls["User:payment"], READ)  # it waits for the clearance


def test_no_service_may_write_what_it_reads(tmp_path: Path) -> None:
    """A service that could write its inputs could forge what the others act on; the one
    exception is the projector's own dead-letter notices on the topic it projects."""
    for who, grants in _plan(tmp_path, steps="fraud").items():
        overlap = _names(grants, READ) & _names(grants, WRITE)
        if who == CLI:  # the operator's tools: the tutorial, `drill poison`
            continue
        assert overlap == ({"dead-letters"} if who == "User:projector" else set()), who


def test_every_name_is_a_topic_of_the_run_and_carries_its_prefix(tmp_path: Path) -> None:
    acls = _plan(tmp_path, steps="fraud", prefix="t-1.")
    topics = {spec.name for spec in topic_specs("t-1.")}
    for who, grants in acls.items():
        assert not who.startswith("User:t-1.")  # principals are not prefixed
        for grant in grants:
            if grant.resource == TOPIC:
                assert grant.name in topics, (who, grant)
            elif grant.pattern != PREFIXED:
                assert grant.name.startswith("t-1.orderflow."), (who, grant)
    assert _names(acls[CLI], READ) == topics  # tail reads every topic


def test_the_cli_reads_in_its_observers_throwaway_groups(tmp_path: Path) -> None:
    cli = _plan(tmp_path, prefix="t-1.")[CLI]
    assert Grant(GROUP, acl.READER_GROUPS, READ, PREFIXED) in cli
    assert reader_config("127.0.0.1:9", "tail")["group.id"].startswith(acl.READER_GROUPS)
    assert _names(cli, DESCRIBE, GROUP) == {f"t-1.orderflow.{s}" for s in (
        "order", "inventory", "payment", "shipping", "orchestrator", "projector")}


def test_describe_is_granted_only_where_read_or_write_does_not_imply_it(
        tmp_path: Path) -> None:
    for grants in _plan(tmp_path, steps="fraud").values():
        described = {(g.resource, g.name) for g in grants if g.operation == DESCRIBE}
        other = {(g.resource, g.name) for g in grants if g.operation != DESCRIBE}
        assert not described & other


def test_every_known_service_and_the_cli_is_a_principal_and_the_admin_is_not(
        tmp_path: Path) -> None:
    assert set(_plan(tmp_path)) == {f"User:{s}" for s in KNOWN_SERVICES} | {CLI}


def test_what_the_cli_commands_append_is_declared_too() -> None:
    """`stock add` and `credit set` write to the service's outbox as its handlers do; the
    spec fails on a type its table does not declare (tests/specs.py)."""
    inventory = Spec("inventory", Inventory)
    inventory.when_called(lambda service: service.add_stock("BOOK-1", 5))
    assert inventory.then_outbox() == [("inventory.stock-added.v1", "t.inventory")]
    payment = Spec("payment", Payment)
    payment.when_called(lambda service: service.set_credit("alice", 10_000))
    assert payment.then_outbox() == [("payment.credit-limit-set.v1", "t.payments")]


def test_describe_shows_what_a_service_publishes_within_80_columns(
        hermetic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["run", "inventory", "orchestrator", "--describe"]) == 0
    out = capsys.readouterr().out
    assert "orchestrator: what it publishes" in out
    assert "inventory.stock-added.v1" in out and "saga.progressed.v1" in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80


def test_a_publication_kept_in_the_store_only_cannot_be_declared() -> None:
    with pytest.raises(AssertionError, match="StockAllocated: stored only"):
        MessageTable(publishes=(StockAllocated,)).published()


# apply, against a fake admin


class FakeAdmin:
    """Holds bindings as a broker with an authorizer does. `refuse`: the error code
    every call named in `refused` answers (a plain broker lists no ACLs, as Kafka 4 does,
    and refuses to create or delete any)."""

    def __init__(self, refuse: int | None = None,
                 refused: tuple[str, ...] = ("describe", "create", "delete")) -> None:
        self.held: set[AclBinding] = set()
        self.refuse, self.refused = refuse, refused
        self.calls: list[str] = []

    def describe_acls(self, acl_binding_filter: AclBindingFilter, **_: Any) -> Future[Any]:
        return self._answer("describe", lambda: [
            b for b in self.held if b.principal == acl_binding_filter.principal])

    def create_acls(self, acls: list[AclBinding], **_: Any) -> dict[AclBinding, Future[Any]]:
        return {b: self._answer("create", lambda b=b: self.held.add(b))  # type: ignore[misc]
                for b in acls}

    def delete_acls(self, acl_binding_filters: list[AclBindingFilter],
                    **_: Any) -> dict[AclBindingFilter, Future[Any]]:
        return {f: self._answer("delete", lambda f=f: self._delete(f))  # type: ignore[misc]
                for f in acl_binding_filters}

    def _delete(self, exact: AclBindingFilter) -> list[AclBinding]:
        gone = [b for b in self.held if _fields(b) == _fields(exact)]
        self.held -= set(gone)
        return gone

    def _answer(self, call: str, work: Callable[[], Any]) -> Future[Any]:
        self.calls.append(call)
        future: Future[Any] = Future()
        if self.refuse is not None and call in self.refused:
            future.set_exception(KafkaException(KafkaError(self.refuse, "refused")))
        elif self.refuse is not None:
            future.set_result([])
        else:
            future.set_result(work())
        return future


def _fields(b: AclBinding) -> tuple[Any, ...]:
    return (b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
            b.permission_type)


def _bindings(plan: acl.Plan) -> set[AclBinding]:
    return {acl.binding(who, grant) for who, grants in plan.items() for grant in grants}


def test_apply_creates_what_is_missing_and_a_second_apply_changes_nothing(
        tmp_path: Path) -> None:
    plan, admin = _plan(tmp_path, "orchestration"), FakeAdmin()
    first = acl.apply(admin, plan)
    assert (first.created, first.deleted, first.unchanged) == (len(_bindings(plan)), 0, 0)
    assert admin.held == _bindings(plan)
    again = acl.apply(admin, plan)
    assert (again.created, again.deleted, again.unchanged) == (0, 0, len(_bindings(plan)))
    assert admin.held == _bindings(plan)


def test_apply_removes_the_stale_acls_of_our_principals_only(tmp_path: Path) -> None:
    admin = FakeAdmin()
    acl.apply(admin, _plan(tmp_path, "both"))
    foreign = acl.binding("User:someone", Grant(TOPIC, "orders", READ))
    denied = AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, INVENTORY,
                        "*", AclOperation.WRITE, AclPermissionType.DENY)
    admin.held |= {foreign, denied}
    narrower = _plan(tmp_path, "orchestration")
    applied = acl.apply(admin, narrower)
    assert admin.held == _bindings(narrower) | {foreign}
    assert applied.created == 0 and applied.deleted > 0
    assert acl.binding(INVENTORY, Grant(TOPIC, "orders", READ)) not in admin.held


def test_a_prefixed_run_leaves_other_runs_acls_alone(tmp_path: Path) -> None:
    admin = FakeAdmin()
    acl.apply(admin, _plan(tmp_path), prefix="")
    before = set(admin.held)
    run_plan = _plan(tmp_path, "orchestration", prefix="t-1.")
    acl.apply(admin, run_plan, prefix="t-1.")
    assert admin.held == before | _bindings(run_plan)


def test_a_broker_without_an_authorizer_is_one_error_and_nothing_else_is_tried(
        tmp_path: Path) -> None:
    admin = FakeAdmin(refuse=KafkaError.SECURITY_DISABLED, refused=("create", "delete"))
    with pytest.raises(acl.AuthorizerMissing, match=r"no authorizer.*nothing changed"):
        acl.apply(admin, _plan(tmp_path))
    assert set(admin.calls) == {"describe", "create"}  # the first refusal ends it
    assert admin.calls.index("create") == len(KNOWN_SERVICES) + 1  # every principal asked
    assert admin.held == set()


def test_another_refusal_names_what_was_refused(tmp_path: Path) -> None:
    admin = FakeAdmin(refuse=KafkaError.CLUSTER_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaClientError, match="describing the ACLs of User:order"):
        acl.apply(admin, _plan(tmp_path))


# the CLI


@pytest.fixture
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))  # nothing migrated
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # and no broker
    monkeypatch.setenv("COLUMNS", "80")
    for name in ("ORDERFLOW_FLOWS", "ORDERFLOW_STEPS", "ORDERFLOW_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_acl_plan_fits_80_columns_even_with_the_longest_prefix(
        hermetic: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_TOPIC_PREFIX", "p" * 33 + ".")
    monkeypatch.setenv("ORDERFLOW_STEPS", "fraud")
    assert run(["acl", "plan"]) == 0
    out = capsys.readouterr().out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    assert "User:inventory      READ         topic inventory.commands" in out
    assert "User:cli            READ         group orderflow-*" in out
    assert not (hermetic / "data").exists()  # no store, no broker


def test_acl_plan_json_is_one_document_per_principal(
        hermetic: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_FLOWS", "orchestration")
    assert run(["acl", "plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["flows"] == ["orchestration"]
    reads = [a["name"] for a in document["principals"][INVENTORY] if a["operation"] == READ]
    assert sorted(reads) == ["inventory.commands", "orderflow.inventory"]
    assert document["principals"]["User:fraud"] == []

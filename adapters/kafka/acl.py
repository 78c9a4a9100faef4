"""Kafka ACLs derived from the services: what each principal may read, write and describe.

Each service process speaks to Kafka as its own principal, `User:<service>`; the CLI's
own reads and writes as `User:cli`; `User:admin`, the only super user, needs no ACL and
is never touched. What a principal may do is what its process really does, derived:

- a service's consumer READs the topics its message table subscribes to, in its own
  group (READ on the group);
- its relay, in the same process, publishes the service's own outbox: WRITE on the topics
  of what its table `publishes` (services/port.py) and, since the consumer runtime writes
  its dead letters and their notices into that same outbox (adapters/kafka/dlq.py), WRITE
  on `<topic>.dlq` of every topic it reads and on the notices topic, `dead-letters`;
- the CLI observes (tail, tutorial listen, bench) every topic in throwaway groups
  `orderflow-<who>-<uuid>` (client.reader_config): READ on each topic and on the PREFIXED
  group `orderflow-`; `lag` and `watch` DESCRIBE the services' groups; its own
  producers (the tutorial, `drill poison`) WRITE the event and command topics.

The plan does not let a service write what it consumes (it could forge the records
others act on). A redriven dead letter (`orderflow dlq redrive`) goes back to its source
topic, one the service only reads, so the CLI sends that copy itself, as `cli`, whose
WRITE on the event and command topics covers every source topic (services/dead_letters.py).

DESCRIBE is granted only where nothing else is: an ALLOW of READ or WRITE implies
DESCRIBE on the same resource (Kafka's authorizer, IMPLIES_DESCRIBE). The relays'
idempotent producers need no IDEMPOTENT_WRITE on the cluster: since Kafka 2.8
(KIP-679) WRITE on a topic is enough. Topic and service-group names carry the run's
topic prefix; principals do not, and the observers' group prefix (set by client.py) does
not either.

`apply` makes the broker match a plan: it creates what is missing and deletes the
bindings of our principals that the plan no longer has, among the names of this run
(those starting with its prefix: a test run never deletes another run's ACLs), so
applying twice changes nothing the second time. A broker with no authorizer keeps no
ACLs and says SECURITY_DISABLED: that is `AuthorizerMissing`, one line, nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException

# confluent_kafka.admin re-exports these without saying so to mypy; they live here
from confluent_kafka.admin._acl import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
)
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from adapters.credentials import CLI
from adapters.kafka.dlq import dlq_topic
from adapters.kafka.errors import BrokerError, KafkaClientError
from adapters.kafka.topics import COMMAND_TOPICS, EVENT_TOPICS, topic_specs
from adapters.notices import NOTICES_TOPIC

TOPIC, GROUP = "topic", "group"
LITERAL, PREFIXED = "literal", "prefixed"
READ, WRITE, DESCRIBE = "READ", "WRITE", "DESCRIBE"
READER_GROUPS = "orderflow-"  # every observer's group.id starts so (client.reader_config)
ANY_HOST = "*"
_RESOURCES = {TOPIC: ResourceType.TOPIC, GROUP: ResourceType.GROUP}
_PATTERNS = {LITERAL: ResourcePatternType.LITERAL, PREFIXED: ResourcePatternType.PREFIXED}
_OPERATIONS = {READ: AclOperation.READ, WRITE: AclOperation.WRITE,
               DESCRIBE: AclOperation.DESCRIBE}


class AuthorizerMissing(BrokerError):
    """The broker has no authorizer: it keeps no ACLs, so there is nothing to apply."""


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW, from any host, for the principal whose plan holds it."""

    resource: str  # TOPIC | GROUP
    name: str
    operation: str  # READ | WRITE | DESCRIBE
    pattern: str = LITERAL  # LITERAL | PREFIXED: `name` is a prefix of the names granted


@dataclass(frozen=True)
class Access:
    """What one service process does on Kafka (full names, prefix included): its consumer
    reads `reads` in `group` (None: it consumes nothing), its relay writes `writes`."""

    reads: Sequence[str] = ()
    writes: Sequence[str] = ()
    group: str | None = None


Plan = dict[str, frozenset[Grant]]  # principal → its grants (none: any it has is stale)


@dataclass(frozen=True)
class Applied:
    created: int
    deleted: int
    unchanged: int


def principal(name: str) -> str:
    return f"User:{name}"


def plan(services: Mapping[str, Access | None], prefix: str) -> Plan:
    """Every principal's grants. `services`: each service orderflow knows → what its
    process does, None when this deployment does not run it (it gets nothing)."""
    grants = {principal(name): frozenset(_service(access, prefix) if access else ())
              for name, access in services.items()}
    groups = [access.group for access in services.values() if access and access.group]
    grants[principal(CLI)] = frozenset(_cli(prefix, groups))
    return grants


def _service(access: Access, prefix: str) -> Iterator[Grant]:
    yield from (Grant(TOPIC, topic, READ) for topic in access.reads)
    yield from (Grant(TOPIC, topic, WRITE) for topic in access.writes)
    if access.group is not None:  # a consumer: its dead letters go out through its relay
        yield Grant(GROUP, access.group, READ)
        yield from (Grant(TOPIC, topic, WRITE) for topic in dead_letter_topics(access, prefix))


def dead_letter_topics(access: Access, prefix: str) -> list[str]:
    """Where a consumer's dead letters and their notices go: `<topic>.dlq` of each topic
    it reads, and the notices topic."""
    return [*(dlq_topic(topic) for topic in access.reads), prefix + NOTICES_TOPIC]


def _cli(prefix: str, service_groups: Collection[str]) -> Iterator[Grant]:
    yield from (Grant(TOPIC, spec.name, READ) for spec in topic_specs(prefix))
    yield from (Grant(TOPIC, prefix + base, WRITE) for base in (*EVENT_TOPICS, *COMMAND_TOPICS))
    yield Grant(GROUP, READER_GROUPS, READ, PREFIXED)
    yield from (Grant(GROUP, group, DESCRIBE) for group in service_groups)


class AclAdmin(Protocol):
    """The part of confluent-kafka's AdminClient `apply` uses (a fake in unit tests)."""

    def describe_acls(self, acl_binding_filter: AclBindingFilter,
                      **kwargs: Any) -> Future[Any]: ...

    def create_acls(self, acls: list[AclBinding],
                    **kwargs: Any) -> dict[AclBinding, Future[Any]]: ...

    def delete_acls(self, acl_binding_filters: list[AclBindingFilter],
                    **kwargs: Any) -> dict[AclBindingFilter, Future[Any]]: ...


def apply(admin: AclAdmin, desired: Plan, prefix: str = "", timeout: float = 10.0) -> Applied:
    """Make the broker hold exactly `desired` for its principals (within this run's
    names): missing bindings created first, then stale ones deleted; returns once the
    broker describes exactly the plan (a created ACL reaches the nodes through the
    metadata log a moment later, and a client started before then is refused)."""
    wanted = {binding(who, grant) for who, grants in desired.items() for grant in grants}
    held = _held(admin, desired, timeout)
    missing = sorted(wanted - held)
    stale = sorted(found for found in held - wanted if found.name.startswith(prefix))
    if missing:
        for made, future in admin.create_acls(missing, request_timeout=timeout).items():
            _answer(future, f"creating {text(made)}")
    if stale:
        for gone, future in admin.delete_acls([_filter(b) for b in stale],
                                              request_timeout=timeout).items():
            _answer(future, f"deleting {text(gone)}")
    if missing or stale:
        _until_held(admin, desired, prefix, wanted, timeout)
    return Applied(created=len(missing), deleted=len(stale), unchanged=len(wanted & held))


def _held(admin: AclAdmin, desired: Plan, timeout: float) -> set[AclBinding]:
    return {found for bindings in described(admin, desired, timeout).values()
            for found in bindings}


def _until_held(admin: AclAdmin, desired: Plan, prefix: str, wanted: set[AclBinding],
                timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = _held(admin, desired, timeout)
        if wanted <= held and not any(b.name.startswith(prefix) for b in held - wanted):
            return
        time.sleep(0.2)
    raise BrokerError(f"the broker did not show the applied ACLs within {timeout:.0f}s")


def binding(who: str, grant: Grant) -> AclBinding:
    return AclBinding(_RESOURCES[grant.resource], grant.name, _PATTERNS[grant.pattern], who,
                      ANY_HOST, _OPERATIONS[grant.operation], AclPermissionType.ALLOW)


_KINDS: dict[Any, str] = {kind: name for name, kind in _RESOURCES.items()}
_SHAPES: dict[Any, str] = {shape: name for name, shape in _PATTERNS.items()}
_VERBS: dict[Any, str] = {verb: name for name, verb in _OPERATIONS.items()}


def grant_of(found: AclBinding) -> Grant | None:
    """The grant a binding is, `binding`'s inverse; None for one no plan can hold (a DENY,
    a host, an operation or resource type the plan never grants)."""
    if found.permission_type != AclPermissionType.ALLOW or found.host != ANY_HOST:
        return None
    try:
        return Grant(_KINDS[found.restype], found.name, _VERBS[found.operation],
                     _SHAPES[found.resource_pattern_type])
    except KeyError:
        return None


def described(admin: AclAdmin, principals: Collection[str],
              timeout: float) -> dict[str, list[AclBinding]]:
    """Every binding the broker holds for each of `principals`, whatever its resource,
    host or verdict (what `apply` converges, and the authorised graph of
    adapters/kafka/topology.py); all asked at once, then each answer awaited in turn."""
    asked = {who: admin.describe_acls(_every(who), request_timeout=timeout)
             for who in principals}
    return {who: list(_answer(future, f"describing the ACLs of {who}"))
            for who, future in asked.items()}


def _every(who: str) -> AclBindingFilter:
    return AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,  # type: ignore[arg-type]
                            who, None, AclOperation.ANY, AclPermissionType.ANY)  # type: ignore[arg-type]


def _filter(found: AclBinding) -> AclBindingFilter:
    """A filter that matches this one binding and nothing else."""
    return AclBindingFilter(found.restype, found.name, found.resource_pattern_type,
                            found.principal, found.host, found.operation,
                            found.permission_type)


def _answer(future: Future[Any], action: str) -> Any:
    try:
        return future.result()
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() == KafkaError.SECURITY_DISABLED:
            raise AuthorizerMissing(
                "the broker has no authorizer (SECURITY_DISABLED), so it keeps no ACLs:"
                " nothing changed; use one that enforces them"
                " (`orderflow broker start --secure`)") from exc
        raise KafkaClientError(action, error) from exc


def text(found: AclBinding) -> str:
    """`ACL ALLOW User:inventory READ TOPIC inventory.commands`."""
    fields = (found.permission_type, found.principal, found.operation, found.restype, found.name)
    return "ACL " + " ".join(str(getattr(field, "name", field)) for field in fields)

"""What the broker says for `orderflow topology`: which topics each consumer group's
members read now, and which ACLs it holds for our principals (if it enforces any).

Read-only, as the admin (only a super user may describe every group and every ACL);
services/topology.py sets this beside what the code declares and what the stores show.

- A group reads what its members are assigned: with every member's assignment in
  hand, the topics of a stable group are exactly those it subscribes to that exist. A
  group with no member is not running (its service is down: no drift); one with members
  but not stable is rebalancing (its assignments are moving: not compared).
- The ACLs are described as `acl apply` describes them (acl.described), every binding
  of each principal; one that a plan can hold (an ALLOW from any host) becomes its
  Grant, any other (a DENY, a host) is kept as text, since no plan ever has it.
- Whether the broker enforces ACLs at all: Kafka 4 answers DescribeAcls on a broker with
  no authorizer with an empty list, which would read as "every ACL is missing", so each
  node's `authorizer.class.name` is asked first; empty on any node: no authorizer. An
  older broker's SECURITY_DISABLED answer means the same.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource  # the stubs export it from here only
from confluent_kafka.admin._resource import ResourceType

from adapters.kafka import acl
from adapters.kafka.errors import KafkaClientError

RUNNING, NOT_RUNNING, REBALANCING = "running", "not running", "rebalancing"
TIMEOUT = 10.0  # seconds any one question may take
AUTHORIZER = "authorizer.class.name"


@dataclass(frozen=True)
class Consuming:
    """A consumer group as the broker describes it now: RUNNING, NOT_RUNNING (no member)
    or REBALANCING, and the topics its members are assigned."""

    group: str
    state: str
    topics: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Unplanned:
    """A binding no plan can hold (a DENY, a host): its name, and its text."""

    name: str
    text: str


@dataclass(frozen=True)
class Held:
    """The broker's ACLs, per principal: the grants, and the bindings no grant can be."""

    grants: Mapping[str, frozenset[acl.Grant]]
    unplanned: Mapping[str, tuple[Unplanned, ...]] = field(default_factory=dict)


def consuming(admin: AdminClient, groups: Sequence[str],
              timeout: float = TIMEOUT) -> dict[str, Consuming]:
    """Each group's state and the topics its members read (a group the broker does not
    know: not running)."""
    if not groups:
        return {}
    futures = admin.describe_consumer_groups(list(groups), request_timeout=timeout)
    return {group: _consuming(group, _answer(future, f"describing group {group}"))
            for group, future in futures.items()}


def _consuming(group: str, described: Any) -> Consuming:
    if not described.members:
        return Consuming(group, NOT_RUNNING)
    if described.state != ConsumerGroupState.STABLE:
        return Consuming(group, REBALANCING)
    return Consuming(group, RUNNING, frozenset(
        tp.topic for member in described.members for tp in member.assignment.topic_partitions))


def authorised(admin: AdminClient, principals: Collection[str],
               timeout: float = TIMEOUT) -> Held | None:
    """The ACLs the broker holds for `principals`; None when it enforces none."""
    if not enforces_acls(admin, timeout):
        return None
    try:
        found = acl.described(admin, principals, timeout)
    except acl.AuthorizerMissing:
        return None
    return Held({who: frozenset(g for g in map(acl.grant_of, bindings) if g is not None)
                 for who, bindings in found.items()},
                {who: tuple(_unplanned(b) for b in bindings if acl.grant_of(b) is None)
                 for who, bindings in found.items()})


def _unplanned(found: Any) -> Unplanned:
    host = "" if found.host == acl.ANY_HOST else f" from host {found.host}"
    return Unplanned(found.name, acl.text(found) + host)


def enforces_acls(admin: AdminClient, timeout: float = TIMEOUT) -> bool:
    """Whether every node runs an authorizer (its `authorizer.class.name` is set); one
    BROKER resource a call, as librdkafka wants it, all asked at once."""
    cluster = _answer(admin.describe_cluster(request_timeout=timeout), "describing the cluster")
    asked = {node.id: admin.describe_configs([ConfigResource(ResourceType.BROKER, str(node.id))],
                                             request_timeout=timeout)
             for node in cluster.nodes}
    return all(_authorizer(node, futures) for node, futures in asked.items())


def _authorizer(node: int, futures: Mapping[Any, Any]) -> str:
    """A node's authorizer class, "" for none."""
    (future,) = futures.values()
    entry = _answer(future, f"describing broker {node}").get(AUTHORIZER)
    return "" if entry is None else str(entry.value or "")


def _answer(future: Any, action: str) -> Any:
    try:
        return future.result()
    except KafkaException as exc:
        raise KafkaClientError(action, exc.args[0]) from exc

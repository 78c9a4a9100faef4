"""`orderflow topology`: three graphs of who reads and writes what, side by side, and
every difference between them.

- **declared**: the ACL plan (adapters/kafka/acl.py), which derives each principal's
  reads (its subscriptions and its group) and writes (its publications, its dead letters)
  from the services' message tables. It is the same source as the ACLs, said once: what
  the code says a principal does is what it may do.
- **observed**: what the running system does. Reads: the topics the members of each
  service's consumer group are assigned on the broker now. Writes: the topics of each
  service store's published outbox rows (adapters/sql/published.py): the relay is the
  only producer of a service process, so until OpenTelemetry traces exist, "observed
  producers" are what the outbox shows was published. The CLI's clients are short-lived
  and not observed.
- **authorised**: the broker's ACLs for our principals (None: it has no authorizer).

A difference is one of:

- a declared grant the broker does not hold (`missing-acl`), or an ACL of ours, within
  this run's names, that the plan lacks (`extra-acl`, as `acl apply` would delete);
- a running group reading a topic its service does not declare (`undeclared-read`), or
  not reading one it declares (`unread`: it runs with other settings, or the topic is
  missing); a service whose store shows a topic written that it does not declare
  (`undeclared-write`);
- a broker that enforces no ACLs at all (`no-authorizer`): least privilege is then not
  in force, whatever the code declares, so it is drift too.

A group with no member is "not running": its service is down, which is not drift (its
reads are unknown, not absent); one rebalancing is not compared either. A store that
cannot be read makes its writes unknown, never empty.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from adapters.kafka.acl import GROUP, READ, TOPIC, WRITE, Grant, Plan, principal
from adapters.kafka.topology import RUNNING, Consuming, Held
from domain.errors import OrderflowError

MISSING_ACL, EXTRA_ACL = "missing-acl", "extra-acl"
UNDECLARED_READ, UNREAD, UNDECLARED_WRITE = "undeclared-read", "unread", "undeclared-write"
NO_AUTHORIZER = "no-authorizer"


@dataclass(frozen=True)
class Observed:
    """Per principal: its group as the broker sees it, and the topics its store shows it
    published (None: unknown, its store cannot be read)."""

    groups: Mapping[str, Consuming]
    writes: Mapping[str, frozenset[str] | None]

    def saw(self, who: str, grant: Grant) -> bool | None:
        """Whether `who` was seen doing `grant`; None when that cannot be seen now."""
        group = self.groups.get(who)
        if grant.operation == READ and group is not None and group.state == RUNNING:
            return grant.name in group.topics if grant.resource == TOPIC \
                else grant.name == group.group
        if grant.operation == WRITE and grant.resource == TOPIC:
            written = self.writes.get(who)
            return None if written is None else grant.name in written
        return None

    def grants(self, who: str) -> frozenset[Grant]:
        """What `who` was seen doing, as grants."""
        group, written = self.groups.get(who), self.writes.get(who) or frozenset()
        seen = {Grant(TOPIC, topic, WRITE) for topic in written}
        if group is not None and group.state == RUNNING:
            seen |= {Grant(TOPIC, topic, READ) for topic in group.topics}
            seen.add(Grant(GROUP, group.group, READ))
        return frozenset(seen)


@dataclass(frozen=True)
class Difference:
    """One disagreement: its kind, whose, on what, and why it is one (names in full)."""

    kind: str
    principal: str  # "" for the broker as a whole (NO_AUTHORIZER)
    grant: Grant | None  # None: a binding no grant can be, or the whole broker
    detail: str


@dataclass(frozen=True)
class Survey:
    """The three graphs at one moment, and their differences."""

    declared: Plan
    observed: Observed
    authorised: Held | None  # None: the broker enforces no ACLs
    differences: list[Difference]
    prefix: str = ""

    def held(self, who: str) -> frozenset[Grant] | None:
        """The broker's grants for `who` that concern this run: declared ones, and others
        within its names (None: no authorizer)."""
        if self.authorised is None:
            return None
        return _ours(self.authorised.grants.get(who, frozenset()), self.declared.get(who, ()),
                     self.prefix)


def differences(declared: Plan, observed: Observed, authorised: Held | None,
                prefix: str = "") -> list[Difference]:
    """Every difference between the three graphs; `prefix`: this run's names (an ACL of
    another run's is none of its business, as for `acl apply`)."""
    if authorised is None:
        found = [Difference(NO_AUTHORIZER, "", None,
                            "the broker enforces no ACLs (no authorizer): nothing is authorised"
                            " or refused")]
    else:
        found = [*_acl_drift(declared, authorised, prefix)]
    return [*found, *_read_drift(declared, observed, authorised),
            *_write_drift(declared, observed, authorised)]


def _acl_drift(declared: Plan, held: Held, prefix: str) -> Iterator[Difference]:
    for who, grants in declared.items():
        on_broker = held.grants.get(who, frozenset())
        for grant in sorted(grants - on_broker):
            yield Difference(MISSING_ACL, who, grant, "declared, but the broker has no such ACL")
        for grant in sorted(_ours(on_broker, grants, prefix) - grants):
            yield Difference(EXTRA_ACL, who, grant, "an ACL on the broker the plan lacks")
        for odd in held.unplanned.get(who, ()):
            if odd.name.startswith(prefix):
                yield Difference(EXTRA_ACL, who, None, f"{odd.text}: no plan holds one")


def _read_drift(declared: Plan, observed: Observed,
                held: Held | None) -> Iterator[Difference]:
    for who, group in observed.groups.items():
        if group.state != RUNNING:
            continue
        reads = _topics(declared.get(who, frozenset()), READ)
        for topic in sorted(group.topics - reads):
            also = _also(held, who, topic, READ)
            yield Difference(UNDECLARED_READ, who, Grant(TOPIC, topic, READ),
                             f"its group reads it, undeclared{also}")
        for topic in sorted(reads - group.topics):
            yield Difference(UNREAD, who, Grant(TOPIC, topic, READ),
                             "declared, but its running group does not read it")


def _write_drift(declared: Plan, observed: Observed,
                 held: Held | None) -> Iterator[Difference]:
    for who, written in observed.writes.items():
        undeclared = (written or frozenset()) - _topics(declared.get(who, frozenset()), WRITE)
        for topic in sorted(undeclared):
            also = _also(held, who, topic, WRITE)
            yield Difference(UNDECLARED_WRITE, who, Grant(TOPIC, topic, WRITE),
                             f"its outbox published to it, undeclared{also}")


def _ours(held: frozenset[Grant], declared: Collection[Grant], prefix: str) -> frozenset[Grant]:
    return frozenset(g for g in held if g in declared or g.name.startswith(prefix))


def _topics(grants: Collection[Grant], operation: str) -> set[str]:
    return {g.name for g in grants if g.resource == TOPIC and g.operation == operation}


def _also(held: Held | None, who: str, topic: str, operation: str) -> str:
    """`, and not authorised` when the broker holds no ACL for it either."""
    if held is None or Grant(TOPIC, topic, operation) in held.grants.get(who, frozenset()):
        return ""
    return ", and not authorised"


class Topology:
    def __init__(self, declared: Plan, services: Sequence[str], group: Callable[[str], str],
                 consuming: Callable[[Sequence[str]], Mapping[str, Consuming]],
                 published: Callable[[str], Collection[str]],
                 authorised: Callable[[Collection[str]], Held | None], prefix: str) -> None:
        """`declared`: the ACL plan of every principal; `services`: those that have a
        group and a store; `group`, `consuming`, `published` and `authorised`: a
        service's group, what the broker says of groups, the topics a service's store
        shows published (an OrderflowError when it cannot be read), and the broker's
        ACLs for some principals (the wiring's, services/bootstrap.py)."""
        self.declared, self.services, self.group = declared, services, group
        self.consuming, self.published, self.authorised = consuming, published, authorised
        self.prefix = prefix

    def survey(self) -> Survey:
        """The three graphs now, and their differences."""
        groups = self.consuming([self.group(service) for service in self.services])
        observed = Observed(
            {principal(s): groups[self.group(s)] for s in self.services},
            {principal(s): self._written(s) for s in self.services})
        held = self.authorised(list(self.declared))
        return Survey(self.declared, observed, held,
                      differences(self.declared, observed, held, self.prefix), self.prefix)

    def _written(self, service: str) -> frozenset[str] | None:
        try:
            return frozenset(self.published(service))
        except OrderflowError:  # its store is away, or not migrated yet: unknown
            return None

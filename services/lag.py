"""Consumer lag per service: how many records its consumer group has still to apply.

What a group has applied is what its store says: the runtime commits each batch's
effects together with the group's positions (adapters/sql/tracking.py), and commits
offsets to Kafka only afterwards, advisorily, so Kafka's committed offsets may trail
(or, after a crash, never arrive). Lag is therefore measured against the stored
positions: summed over the partitions the group reads, the broker's high watermark minus
the stored next offset. A partition the group holds no position for yet is read from
its low watermark (a new group starts at the earliest record), so it counts whole.

Which partitions a group reads: those its members hold now, as the broker says. That is
the truth even when this process's settings differ from the running services' (`up
--with-step fraud` changes what payment reads). A group with no member (its service is
down, or rebalancing) is counted on the topics its service's plan subscribes to, so a
stopped service's lag keeps growing as records arrive.

Unknown is None, never 0: every service's lag is None when the broker does not answer,
and one service's when its store cannot be read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

from adapters.kafka.errors import BrokerError
from adapters.kafka.offsets import Key, Offsets
from domain.errors import OrderflowError

Positions = Mapping[Key, int]


class Lag:
    def __init__(self, offsets: Offsets, group: Callable[[str], str],
                 topics: Callable[[str], Sequence[str]],
                 positions: Callable[[str], Positions]) -> None:
        """`group`, `topics` and `positions`: a service's consumer group, the topics its
        plan subscribes to, and the positions its store holds, an OrderflowError when they
        cannot be read (the wiring's, services/bootstrap.py)."""
        self.offsets, self.group, self.topics = offsets, group, topics
        self.positions = positions
        self._subscribed: dict[str, Sequence[str]] = {}

    def of(self, services: Sequence[str]) -> dict[str, int | None]:
        """Each service's lag now (None: unknown)."""
        return {service: None if topics is None else sum(topics.values())
                for service, topics in self.by_topic(services).items()}

    def by_topic(self, services: Sequence[str]) -> dict[str, dict[str, int] | None]:
        """Each service's lag now per topic it reads (None: unknown), as `orderflow lag`
        shows it; `of` is its sum."""
        stored = {service: self._stored(service) for service in services}
        try:
            reads = self._reads(services)
            highs = self.offsets.latest(set().union(*reads.values()))
            lows = self.offsets.earliest(_unpositioned(reads, stored))
        except BrokerError:
            return dict.fromkeys(services)
        return {service: _per_topic(reads[service], highs, lows, stored[service])
                for service in services}

    def _reads(self, services: Sequence[str]) -> dict[str, set[Key]]:
        planned = self.offsets.partitions({t for s in services for t in self._planned(s)})
        held = self.offsets.assigned([self.group(service) for service in services])
        return {service: held.get(self.group(service)) or
                {key for key in planned if key[0] in self._planned(service)}
                for service in services}

    def _planned(self, service: str) -> Sequence[str]:
        if service not in self._subscribed:
            try:
                self._subscribed[service] = list(self.topics(service))
            except OrderflowError:  # a service this code does not know, an unmigrated store
                return ()
        return self._subscribed[service]

    def _stored(self, service: str) -> Positions | None:
        try:
            return self.positions(service)
        except OrderflowError:  # its store is away, or not migrated yet
            return None


def _unpositioned(reads: Mapping[str, set[Key]],
                  stored: Mapping[str, Positions | None]) -> set[Key]:
    """The partitions read by a service whose store holds no position for them yet."""
    found: set[Key] = set()
    for service, keys in reads.items():
        positions = stored[service]
        if positions is not None:
            found |= {key for key in keys if key not in positions}
    return found


def _per_topic(reads: Collection[Key], highs: Positions, lows: Positions,
               stored: Positions | None) -> dict[str, int] | None:
    """`behind` per topic, every topic read named (0 included), in name order."""
    if stored is None:
        return None
    topics = {topic: [key for key in reads if key[0] == topic]
              for topic in sorted({key[0] for key in reads})}
    return {topic: behind(keys, highs, lows, stored) for topic, keys in topics.items()}


def behind(reads: Collection[Key], highs: Positions, lows: Positions, stored: Positions) -> int:
    """Records in `reads` not applied yet: per partition, its high watermark minus the next
    offset stored (none stored: its low watermark); never below 0 per partition."""
    return sum(max(0, highs[key] - stored.get(key, lows.get(key, 0)))
               for key in reads if key in highs)

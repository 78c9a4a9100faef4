"""What the broker says about partitions, for consumer lag: which exist, which a group's
members hold now, and where each one begins and ends.

Read-only and bounded: one AdminClient serves every call, and every call waits at most
`timeout` seconds, then raises BrokerError. A caller that asks once a second (`orderflow
watch`) therefore shows "unknown" when the broker is away, instead of hanging on it.
Nothing here reads or commits a group's Kafka offsets: those are advisory in orderflow,
and the positions that count are in each service's store (services/lag.py).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin._listoffsets import OffsetSpec  # the stubs export it from here only

from adapters.credentials import Kafka, connection
from adapters.kafka.admin import admin_client
from adapters.kafka.errors import BrokerError

Key = tuple[str, int]  # (topic, partition)
TIMEOUT = 2.0  # seconds any one question may take
LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


class Offsets:
    def __init__(self, bootstrap: Kafka, timeout: float = TIMEOUT) -> None:
        self.bootstrap, self.timeout = connection(bootstrap).bootstrap, timeout
        self.admin = admin_client(bootstrap)

    def partitions(self, topics: Collection[str]) -> set[Key]:
        """Every partition of those of `topics` the broker has."""
        metadata = self._answer("listing topics",
                                lambda: self.admin.list_topics(timeout=self.timeout))
        return {(topic, partition) for topic in topics if topic in metadata.topics
                for partition in metadata.topics[topic].partitions}

    def assigned(self, groups: Collection[str]) -> dict[str, set[Key]]:
        """The partitions each group's members hold now (none: no member, or a group the
        broker does not know)."""
        if not groups:
            return {}
        futures = self.admin.describe_consumer_groups(list(groups),
                                                      request_timeout=self.timeout)
        return {group: _held(future) for group, future in futures.items()}

    def latest(self, partitions: Collection[Key]) -> dict[Key, int]:
        """Each partition's high watermark: the offset its next record will have."""
        return self._offsets(partitions, LATEST)

    def earliest(self, partitions: Collection[Key]) -> dict[Key, int]:
        """Each partition's low watermark: its oldest record kept, where a new group starts."""
        return self._offsets(partitions, EARLIEST)

    def _offsets(self, partitions: Collection[Key], spec: OffsetSpec) -> dict[Key, int]:
        if not partitions:
            return {}
        asked = {TopicPartition(topic, partition): spec for topic, partition in partitions}
        futures = self.admin.list_offsets(asked, request_timeout=self.timeout)
        return {(tp.topic, tp.partition): int(self._answer(
                    f"listing offsets of {tp.topic}[{tp.partition}]", future.result).offset)
                for tp, future in futures.items()}

    def _answer(self, what: str, call: Any) -> Any:
        try:
            return call()
        except KafkaException as exc:
            raise BrokerError(f"{what} on {self.bootstrap}: {exc.args[0]}") from exc


def _held(future: Any) -> set[Key]:
    try:
        group = future.result()
    except KafkaException:
        return set()
    return {(tp.topic, tp.partition) for member in group.members
            for tp in member.assignment.topic_partitions}

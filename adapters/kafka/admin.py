"""Broker probing and idempotent topic creation."""

from __future__ import annotations

import enum
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._scram import (  # the stubs export them from here only
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)
from confluent_kafka.cimpl import NewTopic  # the stubs export it from here only

from adapters.credentials import Kafka, KafkaConnection, connection
from adapters.kafka.client import base_config
from adapters.kafka.errors import AuthenticationFailed, BrokerError, KafkaClientError
from adapters.kafka.topics import TopicSpec

logger = logging.getLogger(__name__)


class PortState(enum.Enum):
    FREE = "free"
    KAFKA = "kafka"
    OTHER = "other"


def admin_client(bootstrap: Kafka) -> AdminClient:
    """An AdminClient as quiet as the others (client.base_config)."""
    return AdminClient(base_config(bootstrap))


def probe(address: Kafka, timeout: float = 3.0) -> PortState:
    """FREE if nothing listens at the first address, KAFKA if a metadata request succeeds
    (with the connection's credentials), else OTHER."""
    kafka = connection(address)
    first = kafka.at(kafka.bootstrap.split(",")[0])
    if not _listening(first.bootstrap, timeout):
        return PortState.FREE
    try:
        admin_client(first).list_topics(timeout=timeout)
    except KafkaException:
        return PortState.OTHER
    return PortState.KAFKA


def _listening(address: str, timeout: float) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=min(timeout, 1.0)):
            return True
    except OSError:
        return False


def require_broker(bootstrap: Kafka, timeout: float = 5.0) -> None:
    """Fail with one line when no broker answers, or refuses who we are (instead of
    hanging in a client): no listener, wrong password, or a secured listener spoken to
    without security."""
    kafka = connection(bootstrap)
    if not _listening(kafka.bootstrap.split(",")[0], timeout):
        raise BrokerError(f"no Kafka broker answers at {kafka.bootstrap}; start one with"
                          " `orderflow broker start` or set KAFKA_BOOTSTRAP_SERVERS")
    seen: list[KafkaError] = []  # librdkafka reports a refused login here, not in the call
    config: dict[str, Any] = {**base_config(kafka), "error_cb": seen.append}
    client = AdminClient(config)
    try:
        client.list_topics(timeout=timeout)
    except KafkaException as exc:
        client.poll(0.5)  # serves the error callbacks that are due
        login = [e for e in seen if e.code() == KafkaError._AUTHENTICATION]
        raise _refused(kafka, (login or [exc.args[0]])[0]) from exc


def _refused(kafka: KafkaConnection, error: KafkaError) -> BrokerError:
    protocol = kafka.security.get("security.protocol", "PLAINTEXT")
    if error.code() == KafkaError._AUTHENTICATION:
        return AuthenticationFailed(f"Kafka at {kafka.bootstrap} refused principal"
                                    f" {kafka.principal!r}: {error.str()}")
    return BrokerError(f"Kafka at {kafka.bootstrap} did not answer a {protocol} client"
                       f" ({error.str()}); a secured cluster needs KAFKA_SECURITY_PROTOCOL"
                       " and credentials (see the README's Security)")


def upsert_scram_users(admin: Kafka, mechanism: str, passwords: Mapping[str, str],
                       timeout: float = 30.0) -> None:
    """Give each user this SCRAM password (creating the user if new): idempotent."""
    kind = ScramMechanism.SCRAM_SHA_512 if mechanism == "SCRAM-SHA-512" \
        else ScramMechanism.SCRAM_SHA_256
    info = ScramCredentialInfo(kind, 8192)
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(user, info, password.encode())
        for user, password in passwords.items()]
    client = admin_client(admin)  # kept until every answer is in: its end cancels them
    futures = client.alter_user_scram_credentials(upserts, request_timeout=timeout)
    for user, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            raise KafkaClientError(f"setting the SCRAM credential of {user}",
                                   exc.args[0]) from exc


def broker_count(bootstrap: Kafka, timeout: float = 5.0) -> int:
    """How many brokers the cluster's metadata lists (0 when none answers)."""
    try:
        return len(admin_client(bootstrap).list_topics(timeout=timeout).brokers)
    except KafkaException:
        return 0


def under_replicated(bootstrap: Kafka, timeout: float = 5.0) -> int:
    """Partitions with a replica out of sync: a rolling restart waits for 0 between nodes."""
    topics = admin_client(bootstrap).list_topics(timeout=timeout).topics.values()
    return sum(1 for t in topics for p in t.partitions.values()
               if p.leader < 0 or len(p.isrs) < len(p.replicas))


def replication(brokers: int) -> tuple[int, dict[str, str]]:
    """A topic's replication factor on a cluster of `brokers`, and the config that goes
    with it: min(3, brokers) copies, of which all but one must be in sync for a write
    (acks=all) to succeed, so one broker may be down while every partition takes writes."""
    factor = max(1, min(3, brokers))
    return factor, {"min.insync.replicas": str(max(1, factor - 1))}


@dataclass(frozen=True)
class TopicReport:
    created: list[str]
    existing: list[str]


def create_topics(bootstrap: Kafka, specs: list[TopicSpec], timeout: float = 30.0) -> TopicReport:
    admin = admin_client(bootstrap)
    metadata = admin.list_topics(timeout=timeout)
    missing = [s for s in specs if s.name not in metadata.topics]
    factor, config = replication(len(metadata.brokers))
    created: list[str] = []
    if missing:
        new = [NewTopic(s.name, num_partitions=s.partitions, replication_factor=factor,
                        config={**config, **s.config}) for s in missing]
        for name, future in admin.create_topics(new, operation_timeout=timeout).items():
            _settle(name, future, created)
        _wait_for_leaders(admin, [s.name for s in missing], timeout)
    existing = [s.name for s in specs if s.name not in created]
    return TopicReport(created=created, existing=existing)


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout: float) -> None:
    """A topic is usable once every partition has a leader; right after creation a client
    asking too early gets NOT_LEADER_FOR_PARTITION."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout).topics
        if all(n in topics and topics[n].partitions and
               all(p.leader >= 0 for p in topics[n].partitions.values()) for n in names):
            return
        time.sleep(0.1)
    raise BrokerError(f"topics have no partition leaders after {timeout:.0f}s: {names[:3]}")


# A partition whose leadership is still moving (a new topic, a restarted broker) answers
# these for a moment even after the controller has named a leader.
SETTLING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                      KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.UNKNOWN_LEADER_EPOCH,
                      KafkaError.FENCED_LEADER_EPOCH})


def watermarks(consumer: Consumer, partition: TopicPartition, timeout: float = 30.0,
               **options: bool) -> tuple[int, int]:
    """(low, high) offsets of a partition, waiting out leadership that is still settling."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=10, **options)
            return int(low), int(high)
        except KafkaException as exc:
            if exc.args[0].code() not in SETTLING or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _settle(name: str, future: object, created: list[str]) -> None:
    try:
        future.result()  # type: ignore[attr-defined]
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:  # a concurrent creator won
            raise KafkaClientError(f"creating topic {name}", error) from exc
        return
    created.append(name)
    logger.info("created topic %s", name)


def wait_stable(bootstrap: Kafka, groups: list[str], timeout: float) -> None:
    """Poll until each consumer group is Stable with at least one member."""
    admin = admin_client(bootstrap)
    deadline = time.monotonic() + timeout
    pending = list(groups)
    while pending and time.monotonic() < deadline:
        described = admin.describe_consumer_groups(pending, request_timeout=5)
        pending = [g for g, f in described.items() if not _stable(f)]
        if pending:
            time.sleep(0.2)
    if pending:
        raise BrokerError(f"consumer groups did not join within {timeout:.0f}s: "
                          f"{', '.join(pending)}")


def _stable(future: object) -> bool:
    try:
        group = future.result()  # type: ignore[attr-defined]
    except KafkaException:
        return False
    return bool(group.members) and group.state == ConsumerGroupState.STABLE

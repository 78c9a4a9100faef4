"""Rebuild the read models by replaying the event topics from their beginning.

Stop the live projector first (`orderflow run projector`, or `up`): a rebuild resets
the projector group's positions and consumes in that same group, so a live member
would share the partitions and write rows meanwhile. It refuses to start while the
group has members.

One transaction empties the read-model tables and forgets the group's positions and
processed ids; then a consumer runtime in that group replays up to the high
watermarks captured at start. Event timestamps, not the clock, fill the rows, so the
tables come out identical. Nothing is re-sent: the projector produces nothing but
dead letters (a poison record is dead-lettered again).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from sqlalchemy import Engine

from adapters.credentials import Kafka
from adapters.kafka.admin import admin_client, watermarks
from adapters.kafka.consumer import ConsumerRuntime
from adapters.kafka.errors import KafkaClientError
from adapters.relay import OutboxRelay
from adapters.sql import tracking
from adapters.sql.engine import READONLY
from domain.errors import OrderflowError
from projections.projector import Projector
from projections.tables import ALL_TABLES

logger = logging.getLogger(__name__)
Marks = dict[tuple[str, int], tuple[int, int]]  # (topic, partition) -> (low, high)


class RebuildError(OrderflowError):
    """The rebuild could not start or did not finish (the live projector runs, a stall)."""


def rebuild(engine: Engine, bootstrap_servers: Kafka, topic_prefix: str, group: str,
            stall_timeout: float = 60.0) -> dict[str, Any]:
    projector = Projector(topic_prefix)
    _refuse_live_members(bootstrap_servers, group)
    started = time.monotonic()
    runtime = ConsumerRuntime(engine=engine, bootstrap=bootstrap_servers, group=group,
                              topics=projector.topics, handler=projector.handle,
                              batch_handler=projector.handle_batch,
                              name="projector-rebuild")
    try:
        marks = _watermarks(runtime.source.client, projector.topics)
        _reset(engine, group)
    except BaseException:
        runtime.close()
        raise
    _replay(runtime, engine, marks, stall_timeout)
    _publish_dead_letters(engine, bootstrap_servers)
    return {"events": runtime.processed, "partitions": len(marks),
            "seconds": round(time.monotonic() - started, 3)}


def _refuse_live_members(bootstrap: Kafka, group: str) -> None:
    admin = admin_client(bootstrap)
    try:
        description = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    except KafkaException as exc:
        raise KafkaClientError(f"describing consumer group {group}", exc.args[0]) from exc
    if description.members:
        raise RebuildError(f"consumer group {group} has {len(description.members)} live"
                           " member(s): stop the projector before rebuilding")


def _watermarks(consumer: Consumer, topics: list[str]) -> Marks:
    metadata = consumer.list_topics(timeout=10).topics
    marks: Marks = {}
    for topic in topics:
        if topic not in metadata or metadata[topic].error is not None:
            raise RebuildError(f"topic {topic} does not exist; run `orderflow topics create`")
        for partition in metadata[topic].partitions:
            marks[(topic, partition)] = watermarks(consumer, TopicPartition(topic, partition))
    return marks


def _publish_dead_letters(engine: Engine, bootstrap: Kafka) -> None:
    """The replay's dead letters are outbox rows like any other: publish them now, as the
    projector's relay would, so a rebuild leaves nothing waiting."""
    relay = OutboxRelay(engine, bootstrap, name="projector-rebuild-relay")
    try:
        while relay.publish_pending():
            pass
    finally:
        relay.close()


def _reset(engine: Engine, group: str) -> None:
    with engine.begin() as connection:
        for table in ALL_TABLES:
            connection.execute(table.delete())
        tracking.reset_group(connection, group)


def _replay(runtime: ConsumerRuntime, engine: Engine, marks: Marks, stall: float) -> None:
    stop = threading.Event()
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            runtime.run(stop)
        except BaseException as exc:  # handed to the waiting thread, which raises it
            failures.append(exc)
            stop.set()

    thread = threading.Thread(target=consume, name="projector-rebuild", daemon=True)
    thread.start()
    try:
        _wait_for(engine, runtime.group, marks, stop, stall)
    finally:
        stop.set()
        thread.join(30)
    if failures:
        raise failures[0]


def _wait_for(engine: Engine, group: str, marks: Marks, stop: threading.Event,
              stall: float) -> None:
    """Until every stored position reaches its high watermark, polling every 50 ms."""
    applied, moved_at = -1, time.monotonic()
    while not stop.is_set():
        with engine.connect().execution_options(**READONLY) as connection:
            stored = tracking.load_positions(connection, group, marks)
        now = {key: stored.get(key, low) for key, (low, _) in marks.items()}
        if all(now[key] >= high for key, (_, high) in marks.items()):
            return
        if sum(now.values()) > applied:
            applied, moved_at = sum(now.values()), time.monotonic()
        elif time.monotonic() - moved_at > stall:
            raise RebuildError(f"rebuild stalled: no progress for {stall:g}s")
        stop.wait(0.05)

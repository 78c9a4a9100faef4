"""The partition source: what one member of a group owns, read from the stored positions.

On assignment it seeks each partition to its stored position (the database holds the
truth; Kafka offset commits are advisory), and it hands out `Record`s at or past the
applied positions only, so a redelivery after a rewind changes nothing. It knows when
the backlog found at assignment has been read (`caught_up`: timers wait for it), and
replaces a librdkafka client that stays out of its group past a deadline.

The Kafka client is made by `client_factory` (default: confluent_kafka.Consumer), so
a test hands the source a fake client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from adapters.kafka.reading import position
from adapters.records import Key, Positions, Record

logger = logging.getLogger(__name__)

REJOIN_DEADLINE = 60.0  # seconds without any assignment before the Kafka client is replaced
ClientFactory = Callable[[dict[str, Any]], Consumer]


class PartitionSource:
    def __init__(self, *, config: dict[str, Any], topics: Sequence[str], name: str,
                 stored: Callable[[list[Key]], Positions],
                 revoked: Callable[[list[Key]], None] = lambda _keys: None,
                 client_factory: ClientFactory = Consumer,
                 rejoin_deadline: float = REJOIN_DEADLINE) -> None:
        """`stored`: the stored positions of partitions just assigned (waits out an
        outage); `revoked`: told which partitions left this member."""
        self.topics, self.name = list(topics), name
        self._config, self._factory = config, client_factory
        self._stored, self._revoked = stored, revoked
        self.client: Consumer = client_factory(config)
        self.rejoin_deadline = rejoin_deadline
        self.caught_up = threading.Event()  # the backlog found at assignment is read
        self.rebalances = 0
        self.replacements = 0  # Kafka clients replaced because they stayed out of the group
        self._next: Positions = {}  # applied positions of owned partitions
        self._assigned: list[Key] | None = None
        self._targets: dict[Key, tuple[int, int]] | None = None  # (log start, high watermark)
        self._unassigned_since = time.monotonic()

    def subscribe(self) -> None:
        self.client.subscribe(self.topics, on_assign=self._on_assign,
                              on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def poll(self, timeout: float, max_records: int) -> list[Record]:
        """Block up to `timeout` for a first record, then take what is already fetched."""
        first = self.client.poll(timeout)
        self._check_caught_up()
        if first is None:
            return []
        batch = [first, *self.client.consume(num_messages=max_records - 1, timeout=0)]
        return [_record(m) for m in batch if self._is_new(m)]

    def advance(self, positions: Positions) -> None:
        """The batch up to `positions` is committed in the store."""
        self._next.update(positions)
        try:  # advisory: the stored positions are the truth
            self.client.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()],
                               asynchronous=True)
        except KafkaException as exc:
            logger.info("%s: advisory offset commit failed: %s", self.name, exc)

    def rewind(self, records: Sequence[Record]) -> None:
        """After a failed batch, fetch again from the applied positions."""
        for key in {(r.topic, r.partition) for r in records}:
            if key in self._next:
                try:
                    self.client.seek(TopicPartition(key[0], key[1], self._next[key]))
                except Exception as exc:  # partition revoked meanwhile: its owner starts over
                    logger.warning("%s: rewind %s failed: %s", self.name, key, exc,
                                   extra=_at(*key, self._next[key]))

    def replace_if_stuck(self) -> None:
        """librdkafka can stay out of its group for good after requests to the group
        coordinator timed out (seen with the broker paused for 10 s on a loaded machine:
        revoked, then never assigned again). Past the deadline without any assignment, a
        fresh client joins instead. The positions live in the store: nothing is lost."""
        waited = time.monotonic() - self._unassigned_since
        if self._assigned is not None or waited < self.rejoin_deadline:
            return
        logger.warning("%s: no partitions for %.0f s; replacing the Kafka consumer", self.name,
                       waited)
        retiring, self.client = self.client, self._factory(self._config)
        self.replacements += 1
        self._unassigned_since = time.monotonic()
        self._next.clear()
        self._targets = None
        self.subscribe()
        # Closing may wait on the coordinator that stopped answering: not on this thread.
        threading.Thread(target=_close_quietly, args=(retiring, self.name), daemon=True,
                         name=f"{self.name}-retire").start()

    def close(self) -> None:
        try:
            self.client.close()  # leaves the group; partitions move on now, not after a timeout
        except KafkaException as exc:
            logger.warning("%s: leaving the group failed: %s", self.name, exc)

    def _is_new(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            topic, partition, offset = position(message)
            return (topic, partition) in self._next and offset >= self._next[(topic, partition)]
        if error.code() != KafkaError._PARTITION_EOF:
            logger.warning("%s: consumer error: %s", self.name, error,
                           extra=_at(message.topic(), message.partition(), message.offset()))
        return False

    def _check_caught_up(self) -> None:
        """Timers must not fire on a backlog: after a restart, replies that arrived
        while the service was down are applied before any deadline is judged."""
        if self.caught_up.is_set() or self._assigned is None:
            return  # already caught up, or not assigned yet
        if self._targets is None:  # the broker did not tell at assignment: ask again
            self._targets = self._watermarks(self.client, self._assigned)
            if self._targets is None:
                return
        if all(max(self._next.get(key, 0), low) >= high
               for key, (low, high) in self._targets.items()):
            logger.info("%s: caught up with the backlog found at start", self.name)
            self.caught_up.set()

    def _on_assign(self, client: Consumer, partitions: list[TopicPartition]) -> None:
        if client is not self.client:
            return  # a replaced client, closing
        self.rebalances += 1
        keys = [(tp.topic, tp.partition) for tp in partitions]
        stored = self._stored(keys)
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            self._next[(tp.topic, tp.partition)] = stored.get((tp.topic, tp.partition), 0)
        client.assign(partitions)
        self._assigned = keys
        self._targets = self._watermarks(client, keys)
        logger.info("%s: assigned %s", self.name,
                    ", ".join(f"{t}[{p}]@{stored.get((t, p), 0)}" for t, p in keys) or "nothing")

    def _on_revoke(self, client: Consumer, partitions: list[TopicPartition]) -> None:
        if client is not self.client:
            return  # a replaced client, closing
        self._unassigned_since = time.monotonic()
        self.rebalances += 1
        self.caught_up.clear()  # partitions move: deadlines wait until the new owner caught up
        self._assigned = None
        self._targets = None
        keys = [(tp.topic, tp.partition) for tp in partitions]
        for key in keys:
            self._next.pop(key, None)
        self._revoked(keys)
        logger.info("%s: revoked %d partitions", self.name, len(partitions))

    def _watermarks(self, client: Consumer, keys: list[Key]) -> dict[Key, tuple[int, int]] | None:
        """(log start, high watermark) of the assigned partitions, or None while the
        broker cannot say (a leader moving): raising here would kill the consumer inside
        a callback. A partition whose records below the high watermark were deleted by
        retention is caught up at its log start: nothing below it can be read."""
        try:
            return {key: _low_high(client.get_watermark_offsets(TopicPartition(*key), timeout=5))
                    for key in keys}
        except KafkaException as exc:
            logger.warning("%s: watermarks unavailable (%s); asking again later", self.name, exc)
            return None


def _record(message: Message) -> Record:
    topic, partition, offset = position(message)
    kind, stamp = message.timestamp()
    return Record(topic, partition, offset, message.key(), message.value(),
                  None if kind == TIMESTAMP_NOT_AVAILABLE else stamp)


def _at(topic: str | None, partition: int | None, offset: int | None) -> dict[str, Any]:
    """A line's record position, for JSON logs (adapters/logs.py); a negative offset is
    librdkafka's "none" and a broker-wide error names no topic."""
    return {"topic": topic, "partition": partition,
            "offset": offset if offset is not None and offset >= 0 else None}


def _low_high(offsets: tuple[int, int]) -> tuple[int, int]:
    return int(offsets[0]), int(offsets[1])


def _close_quietly(client: Consumer, name: str) -> None:
    try:
        client.close()
    except KafkaException as exc:
        logger.warning("%s: closing the replaced Kafka consumer failed: %s", name, exc)

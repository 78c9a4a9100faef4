"""The exactly-once-effects consumer runtime.

One database transaction per batch holds the handlers' effects (events, outbox
rows, read-model rows) AND the group's positions. On assignment the consumer seeks
to the stored positions, so Kafka redelivery changes nothing; Kafka offset commits
happen after the database commit and are advisory only. A record that cannot be
decoded or handled goes to `<topic>.dlq` with the error in its headers, and the
partition moves on. Database outages are not poison: the batch is rolled back and
the partitions rewound to the stored positions.

Speed without weaker guarantees: messages the service declares no interest in (`wants`)
advance the positions and nothing else; the rest of a batch runs straight in the one
transaction (or through a `batch_handler` that writes set-wise), and only if something
in it fails is the batch redone with a savepoint per message, to dead-letter just that one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from adapters import faults
from adapters.codec import DecodeError, Envelope, decode
from adapters.kafka.admin import quiet_client_config
from adapters.kafka.dlq import DeadLetters
from adapters.sql import tracking
from adapters.sql.event_store import ConcurrencyError
from domain.errors import OrderflowError

logger = logging.getLogger(__name__)

MAX_RECORD_BYTES = 256 * 1024  # our envelopes are < 10 KiB; anything this big is poison
REJOIN_DEADLINE = 60.0  # seconds without any assignment before the Kafka client is replaced
HANDLER_ATTEMPTS = 5


@dataclass(frozen=True)
class Incoming:
    """A decoded record and where it came from (for logs, timelines and the DLQ)."""

    envelope: Envelope
    topic: str
    partition: int
    offset: int

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


Handler = Callable[[Connection, Incoming], None]
BatchHandler = Callable[[Connection, Sequence[Incoming]], None]  # several at once, same effects
Interest = Callable[[Envelope], bool]  # False: the service ignores this message


def everything(_envelope: Envelope) -> bool:
    return True


class Unhandleable(OrderflowError):
    """A well-formed message this service cannot act on (e.g. an unknown order)."""


class _OneByOne(Exception):
    """A message failed inside a batch applied in one piece: apply it one by one."""


class ConsumerRuntime:
    def __init__(self, *, engine: Engine, bootstrap: str, group: str, topics: Sequence[str],
                 handler: Handler, wants: Interest = everything,
                 batch_handler: BatchHandler | None = None, batch_size: int = 500,
                 name: str = "consumer", client_overrides: dict[str, Any] | None = None,
                 rejoin_deadline: float = REJOIN_DEADLINE) -> None:
        self.engine, self.group, self.topics = engine, group, list(topics)
        self.handler, self.wants, self.batch_size, self.name = handler, wants, batch_size, name
        self.batch_handler = batch_handler or self._one_after_another
        self._client_config = {
            **quiet_client_config(bootstrap), "group.id": group,
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100,  # data still returns at once
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,  # dead members go soon
            **(client_overrides or {})}
        self.consumer = Consumer(self._client_config)
        self.rejoin_deadline = rejoin_deadline
        self._unassigned_since = time.monotonic()
        self.replacements = 0  # Kafka clients replaced because they stayed out of the group
        self.dead_letters = DeadLetters(bootstrap, group)
        self._next: dict[tuple[str, int], int] = {}  # applied positions of owned partitions
        self._assigned: list[tuple[str, int]] | None = None
        self._targets: dict[tuple[str, int], int] | None = None  # high watermarks at assignment
        self.caught_up = threading.Event()  # the backlog found at start is applied
        self.rebalances = 0
        self.processed = 0

    def run(self, stop: threading.Event) -> None:
        self._subscribe()
        logger.info("%s: group %s consuming %s", self.name, self.group, ", ".join(self.topics))
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.poll_once(timeout=0.2)
                    self._replace_if_stuck()
                    failures = 0
                except (DBAPIError, ConcurrencyError, KafkaException) as exc:  # rolled back
                    failures += 1
                    logger.error("%s: batch failed (%s), retrying: %s", self.name,
                                 type(exc).__name__, str(exc).splitlines()[0][:200])
                    stop.wait(min(5.0, 0.1 * 2**failures))
        finally:
            self.close()

    def _subscribe(self) -> None:
        self.consumer.subscribe(self.topics, on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_revoke)

    def _replace_if_stuck(self) -> None:
        """librdkafka can stay out of its group for good after requests to the group
        coordinator timed out (seen with the broker paused for 10 s on a loaded machine:
        revoked, then never assigned again). Past the deadline without any assignment, a
        fresh client joins instead. The positions live in the store: nothing is lost."""
        waited = time.monotonic() - self._unassigned_since
        if self._assigned is not None or waited < self.rejoin_deadline:
            return
        logger.warning("%s: no partitions for %.0f s; replacing the Kafka consumer", self.name,
                       waited)
        retiring, self.consumer = self.consumer, Consumer(self._client_config)
        self.replacements += 1
        self._unassigned_since = time.monotonic()
        self._next.clear()
        self._targets = None
        self._subscribe()
        # Closing may wait on the coordinator that stopped answering: not on this thread.
        threading.Thread(target=_close_quietly, args=(retiring, self.name), daemon=True,
                         name=f"{self.name}-retire").start()

    def poll_once(self, timeout: float) -> int:
        """Handle one batch: block for the first record, then drain what is fetched."""
        first = self.consumer.poll(timeout)
        self._check_caught_up()
        if first is None:
            return 0
        batch = [first, *self.consumer.consume(num_messages=self.batch_size - 1, timeout=0)]
        records = [m for m in batch if self._is_record(m)]
        if records:
            self._apply(records)
        return len(records)

    def _check_caught_up(self) -> None:
        """Timers must not fire on a backlog: after a restart, replies that arrived
        while the service was down are applied before any deadline is judged."""
        if self.caught_up.is_set() or self._assigned is None:
            return  # already caught up, or not assigned yet
        if self._targets is None:  # the broker did not tell at assignment: ask again
            self._targets = self._watermarks(self.consumer, self._assigned)
            if self._targets is None:
                return
        if all(self._next.get(key, 0) >= high for key, high in self._targets.items()):
            logger.info("%s: caught up with the backlog found at start", self.name)
            self.caught_up.set()

    def close(self) -> None:
        self.consumer.close()  # leaves the group; partitions move on now, not after a timeout
        self.dead_letters.close()

    def _is_record(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            key = (message.topic(), message.partition())
            return key in self._next and message.offset() >= self._next[key]  # not stale
        if error.code() != KafkaError._PARTITION_EOF:
            logger.warning("%s: consumer error: %s", self.name, error)
        return False

    def _apply(self, records: list[Message]) -> None:
        try:
            positions = self._transaction(records)
        except Exception:
            self._rewind(records)
            raise
        self._next.update(positions)
        self.processed += len(records)
        self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in positions.items()],
                             asynchronous=True)

    def _transaction(self, records: list[Message]) -> dict[tuple[str, int], int]:
        """Apply a batch in one transaction. The common case runs every handler straight
        in it; if any message fails, that attempt is rolled back and the batch is applied
        again with a savepoint per message, so only the failing one is dead-lettered."""
        decoded = [self._decode(m) for m in records]
        try:
            return self._apply_batch(records, decoded, one_by_one=False)
        except _OneByOne as exc:
            cause = exc.__cause__
            logger.info("%s: %s (%s: %s); applying the batch of %d one by one", self.name, exc,
                        type(cause).__name__, cause, len(records))
            return self._apply_batch(records, decoded, one_by_one=True)

    def _apply_batch(self, records: list[Message], decoded: list[Incoming | Exception], *,
                     one_by_one: bool) -> dict[tuple[str, int], int]:
        positions = {(m.topic(), m.partition()): m.offset() + 1 for m in records}
        with self.engine.begin() as connection:
            wanted = [(m, d) for m, d in zip(records, decoded, strict=True)
                      if isinstance(d, Incoming) and self.wants(d.envelope)]
            seen = tracking.already_processed(connection, self.group,
                                              [d.envelope.event_id for _, d in wanted])
            todo: list[tuple[Message, Incoming]] = []
            for message, item in wanted:
                if item.envelope.event_id not in seen:  # else a re-published copy: a no-op
                    seen.add(item.envelope.event_id)
                    todo.append((message, item))
            if one_by_one:
                for message, item in todo:
                    self._handle(connection, message, item)
            else:
                self._handle_together(connection, [item for _, item in todo])
            faults.point("consumer.mid_batch")  # effects written, nothing committed yet
            for message, item in zip(records, decoded, strict=True):
                if not isinstance(item, Incoming):
                    self.dead_letters.add(message, item)
            tracking.mark_processed(connection, self.group,
                                    [item.envelope.event_id for _, item in todo])
            self.dead_letters.flush()  # DLQ records are durable before positions move on
            tracking.save_positions(connection, self.group, positions)
        return positions

    def _handle_together(self, connection: Connection, items: list[Incoming]) -> None:
        if not items:
            return
        try:
            self.batch_handler(connection, items)
        except Exception as exc:
            if isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError | DataError):
                raise  # the store is down, not the message: roll back and retry the batch
            raise _OneByOne(f"a batch from {items[0].where} failed") from exc

    def _one_after_another(self, connection: Connection, items: Sequence[Incoming]) -> None:
        for item in items:
            self.handler(connection, item)

    def _decode(self, message: Message) -> Incoming | Exception:
        value = message.value()
        if value is not None and len(value) > MAX_RECORD_BYTES:
            return DecodeError(f"record of {len(value)} bytes exceeds {MAX_RECORD_BYTES}")
        try:
            return Incoming(decode(value), message.topic(), message.partition(), message.offset())
        except DecodeError as exc:
            return exc

    def _handle(self, connection: Connection, message: Message, item: Incoming) -> None:
        for attempt in range(1, HANDLER_ATTEMPTS + 1):
            savepoint = connection.begin_nested()
            try:
                self.handler(connection, item)
                savepoint.commit()
                return
            except ConcurrencyError:
                savepoint.rollback()
                logger.info("%s: %s conflict, attempt %d", self.name, item.where, attempt)
            except DBAPIError as exc:
                savepoint.rollback()
                if not isinstance(exc, IntegrityError | DataError):
                    raise  # the store is down, not the message: roll back and retry the batch
                self.dead_letters.add(message, exc, item)
                return
            except Exception as exc:  # poison: whatever it is, it must not block the partition
                savepoint.rollback()
                self.dead_letters.add(message, exc, item)
                return
        raise ConcurrencyError(f"{item.where}: still conflicting after {HANDLER_ATTEMPTS} tries")

    def _rewind(self, records: list[Message]) -> None:
        """After a failed batch, fetch again from the applied positions."""
        for key in {(m.topic(), m.partition()) for m in records}:
            if key in self._next:
                try:
                    self.consumer.seek(TopicPartition(key[0], key[1], self._next[key]))
                except Exception as exc:  # partition revoked meanwhile: its owner starts over
                    logger.warning("%s: rewind %s failed: %s", self.name, key, exc)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self.consumer:
            return  # a replaced client, closing
        self.rebalances += 1
        keys = [(tp.topic, tp.partition) for tp in partitions]
        stored = self._stored_positions(keys)
        for tp in partitions:
            tp.offset = stored.get((tp.topic, tp.partition), OFFSET_BEGINNING)
            self._next[(tp.topic, tp.partition)] = stored.get((tp.topic, tp.partition), 0)
        consumer.assign(partitions)
        self._assigned = keys
        self._targets = self._watermarks(consumer, keys)
        logger.info("%s: assigned %s", self.name,
                    ", ".join(f"{t}[{p}]@{stored.get((t, p), 0)}" for t, p in keys) or "nothing")

    def _watermarks(self, consumer: Consumer,
                    keys: list[tuple[str, int]]) -> dict[tuple[str, int], int] | None:
        """High watermarks of the assigned partitions, or None while the broker cannot
        say (a leader moving): raising here would kill the consumer inside a callback."""
        try:
            return {key: int(consumer.get_watermark_offsets(TopicPartition(*key), timeout=5)[1])
                    for key in keys}
        except KafkaException as exc:
            logger.warning("%s: watermarks unavailable (%s); asking again later", self.name, exc)
            return None

    def _stored_positions(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        for attempt in range(1, 31):
            try:
                with self.engine.connect() as connection:
                    return tracking.load_positions(connection, self.group, keys)
            except DBAPIError as exc:  # the store is briefly unavailable: wait, never guess
                logger.warning("%s: reading positions failed (%s), retry %d", self.name,
                               exc.__class__.__name__, attempt)
                time.sleep(min(attempt * 0.2, 2.0))
        raise OrderflowError(f"{self.name}: cannot read consumer positions from the store")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if consumer is not self.consumer:
            return  # a replaced client, closing
        self._unassigned_since = time.monotonic()
        self.rebalances += 1
        self.caught_up.clear()  # partitions move: deadlines wait until the new owner caught up
        self._assigned = None
        self._targets = None
        for tp in partitions:
            self._next.pop((tp.topic, tp.partition), None)
        logger.info("%s: revoked %d partitions", self.name, len(partitions))


def _close_quietly(consumer: Consumer, name: str) -> None:
    try:
        consumer.close()
    except KafkaException as exc:
        logger.warning("%s: closing the replaced Kafka consumer failed: %s", name, exc)

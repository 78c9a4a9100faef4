"""The exactly-once-effects consumer runtime.

One database transaction per batch holds the handlers' effects (events, outbox
rows, read-model rows) AND the group's positions. On assignment the consumer seeks
to the stored positions, so Kafka redelivery changes nothing; Kafka offset commits
happen after the database commit and are advisory only. Stored positions only move
forward.

Outage or poison is decided in one function, `verdict`. A store or broker that is away
is an outage: the batch is rolled back, the partitions rewound to the stored positions,
and the loop backs off and tries again, for as long as it takes; nothing is lost. A
record that cannot be decoded, or whose handler keeps failing on a store that works
(`MESSAGE_TRIES` times, while the rest of its batch applies), is poison: it becomes a
dead letter for `<topic>.dlq` — an outbox row in the batch's own transaction, published
by the relay (dlq.py) — and the partition moves on. No Kafka I/O happens inside the
transaction. The loop survives every error; a thread that still dies takes the process
with it, and whoever started it restarts it.

Speed without weaker guarantees: messages the service declares no interest in (`wants`)
advance the positions and nothing else, and a batch of nothing but those writes nothing
at once — its positions go with the next batch that writes, or after `SAVE_SKIPPED_EVERY`
(a restart re-reads them, and skips them again); the rest of a batch runs straight in the one
transaction (or through a `batch_handler` that writes set-wise), and only if something
in it fails is the batch redone with a savepoint per message — its dedupe, handler and
bookkeeping all inside that savepoint — to dead-letter just the one that fails.
"""

from __future__ import annotations

import enum
import itertools
import logging
import random
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
from sqlalchemy.exc import DBAPIError

from adapters import faults
from adapters.codec import DecodeError, Envelope, decode
from adapters.kafka.client import consumer_config
from adapters.kafka.dlq import dead_letter
from adapters.kafka.errors import KafkaClientError
from adapters.kafka.reading import position
from adapters.retry import backoff, log_retry
from adapters.sql import tracking
from adapters.sql.event_store import ConcurrencyError
from adapters.sql.tables import outbox
from adapters.sql.transaction import write
from domain.errors import OrderflowError

logger = logging.getLogger(__name__)

MAX_RECORD_BYTES = 256 * 1024  # our envelopes are < 10 KiB; anything this big is poison
REJOIN_DEADLINE = 60.0  # seconds without any assignment before the Kafka client is replaced
MESSAGE_TRIES = 5  # a handler failing this often on a store that works: poison
SAVE_SKIPPED_EVERY = 1.0  # seconds: positions moved only by skipped messages are stored then


class Verdict(enum.Enum):
    OUTAGE = "outage"  # the store or the broker is away: wait and retry, lose nothing
    RETRY = "retry"  # this message failed on a store that works: try it again
    POISON = "poison"  # this message can never be applied: dead-letter it


def verdict(error: BaseException, tries: int) -> Verdict:
    """Outage or poison, decided here and nowhere else. `tries`: how often this one
    message has failed so far while the store kept answering."""
    if isinstance(error, KafkaException | KafkaClientError):
        return Verdict.OUTAGE
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return Verdict.OUTAGE  # SQLAlchemy saw the connection drop
    if isinstance(error, DBAPIError) and _contended(error):
        return Verdict.OUTAGE  # another writer's locks: only rolling the whole batch back helps
    if isinstance(error, DBAPIError | ConcurrencyError) and tries < MESSAGE_TRIES:
        return Verdict.RETRY
    return Verdict.POISON


# A deadlock, a serialization failure, a lock not granted: the transaction lost a race
# with another writer (two projector instances updating one customer's credit row). A
# retry inside the same transaction keeps its own locks and meets the same deadlock.
_CONTENDED_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def _contended(error: DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in _CONTENDED_SQLSTATES or "database is locked" in str(error.orig)


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


class _OneByOne(Exception):
    """A message failed inside a batch applied in one piece: apply it one by one."""


class StoreAway(OrderflowError):
    """A savepoint could not even be rolled back: the store, not the message, failed."""


class ConsumerRuntime:
    def __init__(self, *, engine: Engine, bootstrap: str, group: str, topics: Sequence[str],
                 handler: Handler, wants: Interest = everything,
                 batch_handler: BatchHandler | None = None, batch_size: int = 500,
                 name: str = "consumer", client_overrides: dict[str, Any] | None = None,
                 rejoin_deadline: float = REJOIN_DEADLINE,
                 notice_prefix: str | None = None) -> None:
        self.engine, self.group, self.topics = engine, group, list(topics)
        self.notice_prefix = notice_prefix  # the run's topic prefix: queue notices; None: none
        self.handler, self.wants, self.batch_size, self.name = handler, wants, batch_size, name
        self.batch_handler = batch_handler or self._one_after_another
        self._client_config = consumer_config(bootstrap, group, **(client_overrides or {}))
        self.consumer = Consumer(self._client_config)
        self.rejoin_deadline = rejoin_deadline
        self._unassigned_since = time.monotonic()
        self.replacements = 0  # Kafka clients replaced because they stayed out of the group
        self._stop = threading.Event()
        self._next: dict[tuple[str, int], int] = {}  # applied positions of owned partitions
        self._assigned: list[tuple[str, int]] | None = None
        # (log start, high watermark) of each partition at assignment
        self._targets: dict[tuple[str, int], tuple[int, int]] | None = None
        self.caught_up = threading.Event()  # the backlog found at start is applied
        self.rebalances = 0
        self.processed = 0
        self._unsaved: dict[tuple[str, int], int] = {}  # moved past skipped messages only
        self._saved_at = time.monotonic()

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        self._subscribe()
        logger.info("%s: group %s consuming %s", self.name, self.group, ", ".join(self.topics))
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.poll_once(timeout=0.2)
                    self._replace_if_stuck()
                    failures = 0
                except Exception as exc:  # rolled back and rewound: nothing is lost
                    failures += 1
                    log_retry(logger, f"{self.name}: batch", exc, failures)
                    stop.wait(backoff(failures))
        finally:
            self._save_skipped_quietly()
            self.close()

    def _save_skipped_quietly(self) -> None:
        try:
            self.save_skipped()
        except Exception as exc:  # stopping anyway: they are re-read and skipped next time
            logger.info("%s: storing skipped positions on stop failed: %s", self.name, exc)

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
            if self._unsaved and time.monotonic() - self._saved_at >= SAVE_SKIPPED_EVERY:
                self.save_skipped()  # quiet now: what was skipped is stored anyway
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
        if all(max(self._next.get(key, 0), low) >= high
               for key, (low, high) in self._targets.items()):
            logger.info("%s: caught up with the backlog found at start", self.name)
            self.caught_up.set()

    def close(self) -> None:
        try:
            self.consumer.close()  # leaves the group; partitions move on now, not after a timeout
        except KafkaException as exc:
            logger.warning("%s: leaving the group failed: %s", self.name, exc)

    def _is_record(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            topic, partition, offset = position(message)
            return (topic, partition) in self._next and offset >= self._next[(topic, partition)]
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
        try:  # advisory: the stored positions are the truth
            self.consumer.commit(offsets=[TopicPartition(t, p, o)
                                          for (t, p), o in positions.items()], asynchronous=True)
        except KafkaException as exc:
            logger.info("%s: advisory offset commit failed: %s", self.name, exc)

    def _transaction(self, records: list[Message]) -> dict[tuple[str, int], int]:
        """Apply a batch in one transaction. The common case runs every handler straight
        in it; if any message fails, that attempt is rolled back and the batch is applied
        again with a savepoint per message, so only the failing one is dead-lettered."""
        decoded = [self._decode(m) for m in records]
        if not any(isinstance(i, Exception) or self.wants(i.envelope) for i in decoded):
            return self._skip(records)
        try:
            return self._apply_batch(records, decoded, one_by_one=False)
        except _OneByOne as exc:
            cause = exc.__cause__
            logger.info("%s: %s (%s: %s); applying the batch of %d one by one", self.name, exc,
                        type(cause).__name__, cause, len(records))
            return self._apply_batch(records, decoded, one_by_one=True)

    def _skip(self, records: list[Message]) -> dict[tuple[str, int], int]:
        """Nothing in the batch to apply: no transaction now (see the module docstring)."""
        positions = {(t, p): o + 1 for t, p, o in map(position, records)}
        self._unsaved.update(positions)
        if time.monotonic() - self._saved_at >= SAVE_SKIPPED_EVERY:
            self.save_skipped()
        return positions

    def save_skipped(self) -> None:
        """Store the positions that only skipped messages moved."""
        if self._unsaved:
            with write(self.engine) as connection:
                tracking.save_positions(connection, self.group, self._unsaved)
            self._unsaved.clear()
        self._saved_at = time.monotonic()

    def _apply_batch(self, records: list[Message], decoded: list[Incoming | Exception], *,
                     one_by_one: bool) -> dict[tuple[str, int], int]:
        positions = {(t, p): o + 1 for t, p, o in map(position, records)}
        unsaved = {**self._unsaved, **positions}
        with write(self.engine) as connection:
            pairs = list(zip(records, decoded, strict=True))
            if one_by_one:
                for message, item in pairs:
                    self._one(connection, message, item)
            else:
                self._together(connection, pairs)
            faults.point("consumer.mid_batch")  # effects written, nothing committed yet
            tracking.save_positions(connection, self.group, unsaved)
        self._unsaved.clear()
        self._saved_at = time.monotonic()
        return positions

    def _together(self, connection: Connection,
                  pairs: list[tuple[Message, Incoming | Exception]]) -> None:
        """The whole batch straight in the transaction, dedupe and bookkeeping set-wise."""
        wanted = [i for _, i in pairs if isinstance(i, Incoming) and self.wants(i.envelope)]
        letters = [dead_letter(self.group, m, i, notice_prefix=self.notice_prefix)
                   for m, i in pairs if isinstance(i, Exception)]
        seen = tracking.already_processed(connection, self.group,
                                          [i.envelope.event_id for i in wanted]
                                          + [letter.message_id for letter in letters])
        todo = list({i.envelope.event_id: i for i in wanted
                     if i.envelope.event_id not in seen}.values())  # copies are no-ops
        self._handle_together(connection, todo)
        letters = [letter for letter in letters if letter.message_id not in seen]
        if letters:
            connection.execute(outbox.insert(), [row for letter in letters for row in letter.rows])
        tracking.mark_processed(connection, self.group,
                                [i.envelope.event_id for i in todo]
                                + [letter.message_id for letter in letters])

    def _handle_together(self, connection: Connection, items: list[Incoming]) -> None:
        if not items:
            return
        try:
            self.batch_handler(connection, items)
        except Exception as exc:
            if verdict(exc, 1) is Verdict.OUTAGE:
                raise  # the store is away, not the message: roll back and retry the batch
            raise _OneByOne(f"a batch from {items[0].where} failed") from exc

    def _one_after_another(self, connection: Connection, items: Sequence[Incoming]) -> None:
        for item in items:
            self.handler(connection, item)

    def _decode(self, message: Message) -> Incoming | Exception:
        value = message.value()
        if value is not None and len(value) > MAX_RECORD_BYTES:
            return DecodeError(f"record of {len(value)} bytes exceeds {MAX_RECORD_BYTES}")
        try:
            return Incoming(decode(value), *position(message))
        except DecodeError as exc:
            return exc

    def _one(self, connection: Connection, message: Message, item: Incoming | Exception) -> None:
        """One message in savepoints of its own: applied, retried, or dead-lettered."""
        if isinstance(item, Exception):
            self._dead_letter(connection, message, item, None)
            return
        if not self.wants(item.envelope):
            return
        for tries in itertools.count(1):
            savepoint = connection.begin_nested()
            try:
                self._apply_one(connection, item)
                savepoint.commit()
                return
            except Exception as exc:
                _roll_back(savepoint, exc)
                match verdict(exc, tries):
                    case Verdict.OUTAGE:
                        raise
                    case Verdict.RETRY:
                        log_retry(logger, f"{self.name}: {item.where}", exc, tries)
                        time.sleep(random.uniform(0, 0.005 * 2**tries))  # jittered
                    case Verdict.POISON:
                        self._dead_letter(connection, message, exc, item)
                        return

    def _apply_one(self, connection: Connection, item: Incoming) -> None:
        event_id = item.envelope.event_id
        if tracking.already_processed(connection, self.group, [event_id]):
            return  # a re-published copy: a no-op
        self.handler(connection, item)
        tracking.mark_processed(connection, self.group, [event_id])

    def _dead_letter(self, connection: Connection, message: Message, error: BaseException,
                     item: Incoming | None) -> None:
        letter = dead_letter(self.group, message, error, item.envelope if item else None,
                             self.notice_prefix)
        if tracking.already_processed(connection, self.group, [letter.message_id]):
            return
        connection.execute(outbox.insert(), letter.rows)
        tracking.mark_processed(connection, self.group, [letter.message_id])

    def _rewind(self, records: list[Message]) -> None:
        """After a failed batch, fetch again from the applied positions."""
        for key in {(t, p) for t, p, _ in map(position, records)}:
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

    def _watermarks(self, consumer: Consumer, keys: list[tuple[str, int]]
                    ) -> dict[tuple[str, int], tuple[int, int]] | None:
        """(log start, high watermark) of the assigned partitions, or None while the
        broker cannot say (a leader moving): raising here would kill the consumer inside
        a callback. A partition whose records below the high watermark were deleted by
        retention is caught up at its log start: nothing below it can be read."""
        try:
            return {key: _low_high(consumer.get_watermark_offsets(TopicPartition(*key),
                                                                  timeout=5))
                    for key in keys}
        except KafkaException as exc:
            logger.warning("%s: watermarks unavailable (%s); asking again later", self.name, exc)
            return None

    def _stored_positions(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """The stored positions; while the store is away, wait for it (never guess)."""
        for attempt in itertools.count(1):
            try:
                with self.engine.connect() as connection:
                    return tracking.load_positions(connection, self.group, keys)
            except Exception as exc:
                log_retry(logger, f"{self.name}: reading positions", exc, attempt)
                if self._stop.wait(backoff(attempt)):
                    raise
        raise AssertionError("unreachable")

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
            self._unsaved.pop((tp.topic, tp.partition), None)  # its next owner skips again
        logger.info("%s: revoked %d partitions", self.name, len(partitions))


def _low_high(offsets: tuple[int, int]) -> tuple[int, int]:
    return int(offsets[0]), int(offsets[1])


def _roll_back(savepoint: Any, error: BaseException) -> None:
    """A savepoint the store cannot even roll back means the store failed, not the
    message: the whole batch goes back (an outage)."""
    try:
        savepoint.rollback()
    except Exception as exc:
        raise StoreAway(f"rolling back after {type(error).__name__} failed: {exc}") from exc


def _close_quietly(consumer: Consumer, name: str) -> None:
    try:
        consumer.close()
    except KafkaException as exc:
        logger.warning("%s: closing the replaced Kafka consumer failed: %s", name, exc)

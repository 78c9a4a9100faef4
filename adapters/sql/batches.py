"""The batch applier: a batch of records and the group's positions in ONE transaction.

It needs no Kafka: it takes `Record`s (adapters/records.py) and returns the positions
they move to, so a unit test drives it with records it made (tests/unit/test_batches.py).

- A batch is decoded first. A record that does not decode is poison at once.
- Messages the service declares no interest in (`wants`) advance the positions and
  nothing else. A batch of nothing but those writes nothing at once: its positions go
  with the next batch that writes, or after `SAVE_SKIPPED_EVERY` (a restart re-reads
  them and skips them again).
- The rest runs straight in the transaction (through a `batch_handler` that writes
  set-wise), with dedupe and bookkeeping set-wise too. Only if something in it fails is
  the batch redone with a savepoint per message — its dedupe, handler and bookkeeping
  all inside that savepoint — to dead-letter just the one that fails.
- A dead letter is an outbox row of the same transaction (adapters/kafka/dlq.py); the
  relay publishes it. No Kafka I/O happens inside the transaction.

Outage or poison is decided in one function, `verdict`. A store that is away, or a
race lost to another writer, is an outage: the whole batch rolls back and the caller
rewinds and retries it, for as long as it takes. A message whose handler keeps failing
on a store that works (`MESSAGE_TRIES` times, while the rest of its batch applies) is
poison.
"""

from __future__ import annotations

import enum
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from adapters import faults, logs
from adapters.codec import DecodeError, Envelope, decode
from adapters.kafka.dlq import DeadLetter, dead_letter
from adapters.kafka.errors import KafkaClientError
from adapters.records import Incoming, Key, Positions, Record, next_positions
from adapters.retry import backoff, log_retry
from adapters.sql import tracking
from adapters.sql.event_store import ConcurrencyError
from adapters.sql.tables import outbox
from adapters.sql.transaction import write
from domain.errors import OrderflowError

logger = logging.getLogger(__name__)

MAX_RECORD_BYTES = 256 * 1024  # our envelopes are < 10 KiB; anything this big is poison
MESSAGE_TRIES = 5  # a handler failing this often on a store that works: poison
SAVE_SKIPPED_EVERY = 1.0  # seconds: positions moved only by skipped messages are stored then

Handler = Callable[[Connection, Incoming], None]
BatchHandler = Callable[[Connection, Sequence[Incoming]], None]  # several at once, same effects
Interest = Callable[[Envelope], bool]  # False: the service ignores this message


def everything(_envelope: Envelope) -> bool:
    return True


class Verdict(enum.Enum):
    OUTAGE = "outage"  # the store or the broker is away: wait and retry, lose nothing
    RETRY = "retry"  # this message failed on a store that works: try it again
    POISON = "poison"  # this message can never be applied: dead-letter it


def verdict(error: BaseException, tries: int) -> Verdict:
    """Outage or poison, decided here and nowhere else. `tries`: how often this one
    message has failed so far while the store kept answering."""
    if isinstance(error, KafkaClientError):
        return Verdict.OUTAGE
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return Verdict.OUTAGE  # SQLAlchemy saw the connection drop
    if isinstance(error, DBAPIError) and _contended(error):
        return Verdict.OUTAGE  # another writer's locks: only rolling the whole batch back helps
    if isinstance(error, ConcurrencyError):
        # Another instance appended to a shared stream first (two inventory instances on
        # one SKU's stock): a race lost, never the message's fault. Seen at full size on
        # PostgreSQL: five quick retries lost five times and a good message was poison.
        return Verdict.OUTAGE
    if isinstance(error, DBAPIError) and tries < MESSAGE_TRIES:
        return Verdict.RETRY
    return Verdict.POISON


# A deadlock, a serialization failure, a lock not granted: the transaction lost a race
# with another writer (two projector instances updating one customer's credit row). A
# retry inside the same transaction keeps its own locks and meets the same deadlock.
_CONTENDED_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def _contended(error: DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate in _CONTENDED_SQLSTATES or "database is locked" in str(error.orig)


class _OneByOne(Exception):
    """A message failed inside a batch applied in one piece: apply it one by one."""


class StoreAway(OrderflowError):
    """A savepoint could not even be rolled back: the store, not the message, failed."""


class BatchApplier:
    def __init__(self, *, engine: Engine, group: str, handler: Handler,
                 wants: Interest = everything, batch_handler: BatchHandler | None = None,
                 name: str = "consumer", notice_prefix: str | None = None) -> None:
        self.engine, self.group, self.name = engine, group, name
        self.handler, self.wants = handler, wants
        self.batch_handler = batch_handler or self._one_after_another
        self.notice_prefix = notice_prefix  # the run's topic prefix: queue notices; None: none
        self._unsaved: Positions = {}  # moved past skipped messages only
        self._saved_at = time.monotonic()

    def apply(self, records: list[Record]) -> Positions:
        """Apply a batch in one transaction; return the positions it moved to. Raises
        (nothing committed) on an outage: the caller rewinds and tries again."""
        decoded = [self._decode(r) for r in records]
        if not any(isinstance(i, Exception) or self.wants(i.envelope) for i in decoded):
            return self._skip(records)
        try:
            return self._apply_batch(records, decoded, one_by_one=False)
        except _OneByOne as exc:
            cause = exc.__cause__
            logger.info("%s: %s (%s: %s); applying the batch of %d one by one", self.name, exc,
                        type(cause).__name__, cause, len(records))
            return self._apply_batch(records, decoded, one_by_one=True)

    def idle(self) -> None:
        """Nothing came: store what skipped messages moved, once the interval passed."""
        if self._unsaved and time.monotonic() - self._saved_at >= SAVE_SKIPPED_EVERY:
            self.save_skipped()

    def save_skipped(self) -> None:
        """Store the positions that only skipped messages moved."""
        if self._unsaved:
            with write(self.engine) as connection:
                tracking.save_positions(connection, self.group, self._unsaved)
            self._unsaved.clear()
        self._saved_at = time.monotonic()

    def save_skipped_quietly(self) -> None:
        try:
            self.save_skipped()
        except Exception as exc:  # stopping anyway: they are re-read and skipped next time
            logger.info("%s: storing skipped positions on stop failed: %s", self.name, exc)

    def forget(self, keys: Sequence[Key]) -> None:
        """Partitions that moved to another member: their next owner skips again."""
        for key in keys:
            self._unsaved.pop(key, None)

    def stored_positions(self, keys: Sequence[Key], stop: threading.Event) -> Positions:
        """The stored positions; while the store is away, wait for it (never guess)."""
        for attempt in itertools.count(1):
            try:
                with self.engine.connect() as connection:
                    return tracking.load_positions(connection, self.group, keys)
            except Exception as exc:
                log_retry(logger, f"{self.name}: reading positions", exc, attempt)
                if stop.wait(backoff(attempt)):
                    raise
        raise AssertionError("unreachable")

    def _skip(self, records: list[Record]) -> Positions:
        """Nothing in the batch to apply: no transaction now (see the module docstring)."""
        positions = next_positions(records)
        self._unsaved.update(positions)
        if time.monotonic() - self._saved_at >= SAVE_SKIPPED_EVERY:
            self.save_skipped()
        return positions

    def _apply_batch(self, records: list[Record], decoded: list[Incoming | Exception], *,
                     one_by_one: bool) -> Positions:
        positions = next_positions(records)
        unsaved = {**self._unsaved, **positions}
        with write(self.engine) as connection:
            pairs = list(zip(records, decoded, strict=True))
            if one_by_one:
                for record, item in pairs:
                    with about(record, item):
                        self._one(connection, record, item)
            else:
                self._together(connection, pairs)
            faults.point("consumer.mid_batch")  # effects written, nothing committed yet
            tracking.save_positions(connection, self.group, unsaved)
        self._unsaved.clear()
        self._saved_at = time.monotonic()
        return positions

    def _together(self, connection: Connection,
                  pairs: list[tuple[Record, Incoming | Exception]]) -> None:
        """The whole batch straight in the transaction, dedupe and bookkeeping set-wise."""
        wanted = [i for _, i in pairs if isinstance(i, Incoming) and self.wants(i.envelope)]
        letters = [self._undecoded(r, i) for r, i in pairs if isinstance(i, Exception)]
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

    def _undecoded(self, record: Record, error: Exception) -> DeadLetter:
        with about(record, error):
            return dead_letter(self.group, record, error, notice_prefix=self.notice_prefix)

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
            with about(item, item):
                self.handler(connection, item)

    def _decode(self, record: Record) -> Incoming | Exception:
        value = record.value
        if value is not None and len(value) > MAX_RECORD_BYTES:
            return DecodeError(f"record of {len(value)} bytes exceeds {MAX_RECORD_BYTES}")
        try:
            return Incoming(decode(value), record.topic, record.partition, record.offset)
        except DecodeError as exc:
            return exc

    def _one(self, connection: Connection, record: Record, item: Incoming | Exception) -> None:
        """One message in savepoints of its own: applied, retried, or dead-lettered."""
        if isinstance(item, Exception):
            self._dead_letter(connection, record, item, None)
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
                        self._dead_letter(connection, record, exc, item)
                        return

    def _apply_one(self, connection: Connection, item: Incoming) -> None:
        event_id = item.envelope.event_id
        if tracking.already_processed(connection, self.group, [event_id]):
            return  # a re-published copy: a no-op
        self.handler(connection, item)
        tracking.mark_processed(connection, self.group, [event_id])

    def _dead_letter(self, connection: Connection, record: Record, error: BaseException,
                     item: Incoming | None) -> None:
        letter = dead_letter(self.group, record, error, item.envelope if item else None,
                             self.notice_prefix)
        if tracking.already_processed(connection, self.group, [letter.message_id]):
            return
        connection.execute(outbox.insert(), letter.rows)
        tracking.mark_processed(connection, self.group, [letter.message_id])


def about(record: Record | Incoming, item: Incoming | Exception) -> AbstractContextManager[None]:
    """Lines logged meanwhile name the record, and its order once it decoded
    (adapters/logs.py); a `batch_handler` that takes a batch set-wise says it per
    message itself (services/applier.py)."""
    order = item.order_id if isinstance(item, Incoming) else None
    return logs.applying(record.topic, record.partition, record.offset, order)


def _roll_back(savepoint: Any, error: BaseException) -> None:
    """A savepoint the store cannot even roll back means the store failed, not the
    message: the whole batch goes back (an outage)."""
    try:
        savepoint.rollback()
    except Exception as exc:
        raise StoreAway(f"rolling back after {type(error).__name__} failed: {exc}") from exc

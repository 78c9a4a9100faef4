"""The unit-of-work port (services/port.py) on a store: a consumer batch in memory,
written in a few statements.

A `Batch` belongs to one database transaction. It loads the streams its units read —
the streams a service keeps per order for a whole consumer batch in ONE query
(`prefetch`), any other from the commit-safe fold cache (fold_cache.py), caught up with
only the rows after the cached version. Each message runs its handler on a `Unit`:
what the handler appends is folded into the batch's states at once, so the next message
of the batch sees it, and queued as rows. `flush` writes every event, outbox row and
timer of the batch with one `executemany` each, as plain DBAPI statements (SQLAlchemy's
statement machinery was a third of a consumer's CPU). The consumer runtime then adds
the processed ids and positions and commits; the folds are shared only once the COMMIT
is confirmed.

Optimistic concurrency is unchanged: an append's expected version is what its unit
loaded, and the unique (stream, version) index refuses a write that raced another
writer (`ConcurrencyError`, and the unit is rerun on fresh state).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from adapters.codec import Envelope, OrderFacts, envelope_for
from adapters.registry import registration
from adapters.sql.engine import READONLY
from adapters.sql.event_store import (
    ConcurrencyError,
    Context,
    EventStore,
    event_row,
    new_envelope,
    outbox_row,
    stored_body,
    stored_envelope,
)
from adapters.sql.plain import chunks, in_list, run
from adapters.sql.tables import timers
from adapters.sql.transaction import write
from adapters.sql.upserts import upsert
from domain.streams import StreamId

logger = logging.getLogger(__name__)
S = TypeVar("S")
T = TypeVar("T")
Clock = Callable[[], datetime]
ATTEMPTS = 12  # a command rerun on concurrent changes at most this often

_EVENT_COLUMNS = ("event_id", "stream_id", "version", "type", "schema_version", "data",
                  "occurred_at", "correlation_id", "causation_id", "flow")
_OUTBOX_COLUMNS = ("message_id", "topic", "key", "value", "headers", "created_at")
_INSERT_EVENTS = (f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
                  f"VALUES ({', '.join(':' + c for c in _EVENT_COLUMNS)})")
_INSERT_OUTBOX = (f"INSERT INTO outbox ({', '.join(_OUTBOX_COLUMNS)}) "
                  f"VALUES ({', '.join(':' + c for c in _OUTBOX_COLUMNS)})")
_STREAM_ROWS = ("SELECT stream_id, version, type, schema_version, data FROM events "
                "WHERE stream_id = :stream AND version > :version ORDER BY version")
_LAST_ROW = "SELECT * FROM events WHERE stream_id = :stream ORDER BY version DESC LIMIT 1"
_CLEAR_TIMER = "DELETE FROM timers WHERE kind = :kind AND key = :key"
_DUE_TIMERS = ("SELECT key FROM timers WHERE kind = :kind AND due_at <= :now "
               "ORDER BY due_at LIMIT 200")


class Batch:
    """What the units of one transaction read and write, in memory until `flush`."""

    def __init__(self, connection: Connection, store: EventStore) -> None:
        self.connection, self.store = connection, store
        self._engine_key = id(connection.engine)
        self._fetched: dict[str, list[Any]] = {}  # prefetched rows of whole streams
        self._states: dict[tuple[int, str, Callable[..., Any]], tuple[int, Any]] = {}
        self._versions: dict[str, int] = {}  # each touched stream's version in this batch
        self._appended: dict[str, list[tuple[int, Envelope]]] = {}  # not yet in the store
        self._events: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._timers: dict[tuple[str, str], datetime | None] = {}
        self.sent: list[object] = []  # commands queued, in order

    def prefetch(self, streams: Iterable[StreamId]) -> None:
        """Load these streams whole, one query per 500 (new streams come back empty)."""
        ids = sorted({str(s) for s in streams} - self._fetched.keys())
        for chunk in chunks(ids):
            marks, names = in_list(chunk)
            rows = run(self.connection,
                       "SELECT stream_id, version, type, schema_version, data FROM events "
                       f"WHERE stream_id IN ({marks}) ORDER BY stream_id, version", names)
            for sid in chunk:
                self._fetched[sid] = []
            for row in rows:
                self._fetched[row.stream_id].append(row)

    def unit(self, *, now: datetime, cause: Envelope | None = None,
             correlation_id: str | None = None, flow: str | None = None) -> Unit:
        """A unit for one message (`cause`), or for a command with no cause."""
        if cause is not None:
            return Unit(self, now, cause, cause.correlation_id, cause.flow)
        assert correlation_id is not None
        return Unit(self, now, None, correlation_id, flow)

    @property
    def wrote(self) -> bool:
        return bool(self._events or self._outbox or self._timers)

    def state(self, stream: StreamId, initial: S, evolve: Callable[[S, Any], S]) -> tuple[int, S]:
        sid = str(stream)
        key = (self._engine_key, sid, evolve)
        found = self._states.get(key)
        if found is None:
            found = self._load(sid, key, initial, evolve)
            self._states[key] = found
            self._versions.setdefault(sid, found[0])
        return found

    def _load(self, sid: str, key: Any, initial: Any, evolve: Callable[[Any, Any], Any]
              ) -> tuple[int, Any]:
        version, state = self.store.folds.get(self.connection, key) or (0, initial)
        rows: Iterable[Any] | None = self._fetched.get(sid)
        if rows is None:
            rows = run(self.connection, _STREAM_ROWS, {"stream": sid, "version": version})
        for row in rows:
            if row.version > version:
                state, version = evolve(state, stored_body(row)[1]), row.version
        for at, envelope in self._appended.get(sid, ()):  # this batch's, not stored yet
            if at > version:
                state, version = evolve(state, envelope.body), at
        return version, state

    def append(self, stream: StreamId, expected: int, events: Sequence[object],
               context: Context) -> int:
        sid = str(stream)
        if self._versions.get(sid, expected) != expected:
            raise ConcurrencyError(f"stream {sid} moved on to version {self._versions[sid]} "
                                   f"in this batch; expected {expected}")
        written = [(expected + i, new_envelope(stream, expected + i, e, context))
                   for i, e in enumerate(events, start=1)]
        self._appended.setdefault(sid, []).extend(written)
        self._events.extend(event_row(envelope, sid) for _, envelope in written)
        self._outbox.extend(outbox_row(envelope, self.store.topic_prefix)
                            for _, envelope in written if registration(envelope.body).topic)
        version = written[-1][0]
        self._versions[sid] = version
        for key, (_, state) in list(self._states.items()):
            if key[1] == sid:
                for event in events:
                    state = key[2](state, event)
                self._states[key] = (version, state)
        return version

    def send(self, commands: Sequence[object], context: Context) -> None:
        for command in commands:
            envelope = envelope_for(command, event_id=str(uuid.uuid4()),
                                    aggregate_id=context.correlation_id, aggregate_version=0,
                                    occurred_at=context.now,
                                    correlation_id=context.correlation_id,
                                    causation_id=context.causation_id, flow=context.flow)
            self._outbox.append(outbox_row(envelope, self.store.topic_prefix))
            self.sent.append(command)

    def answer_again(self, stream: StreamId, context: Context) -> None:
        sid = str(stream)
        pending = self._appended.get(sid)
        if pending:
            last = pending[-1][1]
        else:
            row = run(self.connection, _LAST_ROW, {"stream": sid}).first()
            if row is None:
                return
            last = stored_envelope(row)
        again = envelope_for(last.body, event_id=last.event_id, aggregate_id=last.aggregate_id,
                             aggregate_version=last.aggregate_version,
                             occurred_at=last.occurred_at, correlation_id=last.correlation_id,
                             causation_id=last.causation_id, flow=context.flow,
                             order=context.order)
        self._outbox.append(outbox_row(again, self.store.topic_prefix))

    def set_timer(self, kind: str, key: str, due: datetime | None) -> None:
        self._timers[(kind, key)] = due

    def due(self, kind: str, now: datetime) -> list[str]:
        rows = run(self.connection, _DUE_TIMERS, {"kind": kind, "now": _text(now)})
        return [row.key for row in rows]

    def flush(self) -> None:
        """Write what the units queued: a statement per kind of row, not per message.
        Then stage the folds (published once the COMMIT is confirmed)."""
        if self._events:
            try:
                run(self.connection, _INSERT_EVENTS, self._events)
            except IntegrityError as exc:
                raise ConcurrencyError(f"a stream of {self._events[0]['stream_id']} and "
                                       f"{len(self._events) - 1} more events changed "
                                       "concurrently") from exc
        if self._outbox:
            run(self.connection, _INSERT_OUTBOX, self._outbox)
        cleared = [{"kind": k, "key": key} for (k, key), due in self._timers.items()
                   if due is None]
        if cleared:
            run(self.connection, _CLEAR_TIMER, cleared)
        upsert(self.connection, timers,
               [{"kind": k, "key": key, "due_at": _text(due)}
                for (k, key), due in self._timers.items() if due is not None], _moved)
        for key, entry in self._states.items():
            self.store.folds.put(self.connection, key, entry)
        self._events, self._outbox, self._timers = [], [], {}


class Unit:
    """The `UnitOfWork` of one message or command, inside a `Batch`."""

    def __init__(self, batch: Batch, now: datetime, cause: Envelope | None,
                 correlation_id: str, flow: str | None) -> None:
        self._batch, self._now, self._cause = batch, now, cause
        self._correlation_id, self._flow = correlation_id, flow
        self._loaded: dict[str, int] = {}  # stream → the version this unit saw

    @property
    def now(self) -> datetime:
        return self._now

    def state(self, stream: StreamId, initial: S, evolve: Callable[[S, Any], S]) -> S:
        version, state = self._batch.state(stream, initial, evolve)
        self._loaded[str(stream)] = version
        return state

    def append(self, decision: Mapping[StreamId, Sequence[object]], *,
               order: OrderFacts | None = None) -> None:
        context = self._context(order)
        for stream, events in sorted(decision.items()):
            if events:
                sid = str(stream)
                self._loaded[sid] = self._batch.append(stream, self._loaded.get(sid, 0),
                                                       events, context)

    def send(self, commands: Sequence[object]) -> None:
        if commands:
            self._batch.send(commands, self._context(None))

    def publish(self, messages: Sequence[object]) -> None:
        if messages:
            self._batch.send(messages, self._context(None))

    def answer_again(self, stream: StreamId) -> None:
        self._batch.answer_again(stream, self._context(None))

    def set_timer(self, kind: str, key: str, due: datetime) -> None:
        self._batch.set_timer(kind, key, due)

    def clear_timer(self, kind: str, key: str) -> None:
        self._batch.set_timer(kind, key, None)

    def due(self, kind: str) -> list[str]:
        return self._batch.due(kind, self._now)

    def _context(self, order: OrderFacts | None) -> Context:
        cause = self._cause
        return Context(correlation_id=self._correlation_id,
                       causation_id=cause.event_id if cause else None, flow=self._flow,
                       now=self._now, order=order or (cause.order if cause else None))


class StoreUnits:
    """The `Units` port on one store: a CLI command or a timer's work, one transaction each."""

    def __init__(self, engine: Engine | Callable[[], Engine], store: EventStore, clock: Clock,
                 attempts: int = ATTEMPTS) -> None:
        """`engine`, or what opens it on first use (so a service is built, e.g. to
        describe it, without touching its store)."""
        self._engine, self.store, self.clock, self.attempts = engine, store, clock, attempts

    @property
    def engine(self) -> Engine:
        if not isinstance(self._engine, Engine):
            self._engine = self._engine()
        return self._engine

    def write(self, work: Callable[[Unit], T], what: str, *, correlation_id: str,
              flow: str | None) -> T:
        """load → decide → append inside `work`; on a clash, load and decide again."""
        for attempt in range(1, self.attempts + 1):
            try:
                with write(self.engine) as connection:
                    batch = Batch(connection, self.store)
                    result = work(batch.unit(now=self.clock(), correlation_id=correlation_id,
                                             flow=flow))
                    batch.flush()
                    return result
            except ConcurrencyError:
                logger.info("%s: concurrent change, attempt %d of %d", what, attempt,
                            self.attempts)
                # Exponential backoff with full jitter: 20 writers on one stream spread
                # out instead of colliding again in lockstep.
                time.sleep(random.uniform(0, min(0.5, 0.002 * 2**attempt)))
        raise ConcurrencyError(f"{what}: the data kept changing concurrently;"
                               f" gave up after {self.attempts} attempts, nothing was written")

    def read(self, work: Callable[[Unit], T]) -> T:
        with self.engine.connect().execution_options(**READONLY) as connection:
            batch = Batch(connection, self.store)
            result = work(batch.unit(now=self.clock(), correlation_id="-", flow=None))
            if batch.wrote:
                raise RuntimeError("a read-only unit of work tried to write")
            batch.flush()  # shares the folds it caught up (committed rows only)
            return result


def _moved(new: Any) -> dict[str, Any]:
    return {"due_at": new.due_at}


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()

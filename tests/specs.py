"""Given/when/then specs of the service layer, on in-memory SQLite, with no Kafka.

A `Spec` is one service on a fresh in-memory store at the migrations' head (the Alembic
history runs once per store and the result is copied, so a spec costs a millisecond, not
thirty), driven through the same port and the same `TableApplier` the consumer runtime
uses. `given` appends events through the real unit of work, so versions are real;
`when` applies one message as a consumer batch of one, inside the runtime's write
transaction; `then_*` read back only what the last `when` wrote, so a spec that
compares them with lists also says "and nothing else". The clock is fixed (`T0`) and
moves only when a spec moves it, so every deadline is exact.

Every outbox row a `when` writes must be of a type the table declares it `publishes`:
the service's Kafka ACLs are derived from that declaration, so a handler that starts
writing something new fails its spec before it fails, unauthorised, on a secure broker.

`covers(flow, type)` names the message-table row a spec exercises; the spec fails unless
it did apply such a message. `uncovered(table, namespace)` lists the rows no spec of a
module covers: each spec module asserts it is empty, so a row added to a table without
a spec fails the suite.

A support module: spec modules import it; no test module imports another.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import QueuePool, StaticPool

from adapters.codec import Envelope, OrderFacts, decode, envelope_for
from adapters.records import Incoming
from adapters.registry import BY_CLASS
from adapters.sql import migrate
from adapters.sql.event_store import EventStore, stored_body
from adapters.sql.tables import events, outbox, timers
from adapters.sql.transaction import write
from adapters.sql.unit_of_work import StoreUnits
from domain.commands import ALL_COMMAND_CLASSES
from domain.streams import StreamId
from services.applier import TableApplier
from services.port import MessageTable, UnitOfWork

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PREFIX = "t."
ORDER_ID = "0b7e6c1a-3f0e-4c1b-9a51-2f1f3c9d8e01"
OTHER_ORDER_ID = "5d0c8f4e-7a2b-4e3d-8c9f-6b1a2d3e4f50"
CUSTOMER = "alice"
FACTS = OrderFacts(customer_id=CUSTOMER, total_cents=4998, ship_to="DE")


def order_id(n: int) -> str:
    """A distinct valid order id per integer."""
    return f"00000000-0000-4000-8000-{n:012x}"


class HasTable(Protocol):
    def messages(self) -> MessageTable: ...


Service = TypeVar("Service", bound=HasTable)


@cache
def _migrated(store: str) -> Engine:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    migrate.upgrade(engine, store, None)
    return engine


def memory_store(store: str, shared: bool = False) -> Engine:
    """A fresh in-memory store at the migrations' head. `shared`: a named database that
    several connections open at once (two writers), instead of one static connection."""
    if shared:
        name = f"file:spec-{uuid.uuid4().hex}?mode=memory&cache=shared&uri=true"
        engine = create_engine(f"sqlite:///{name}", poolclass=QueuePool)
    else:
        engine = create_engine("sqlite://", poolclass=StaticPool)
    source, target = _migrated(store).raw_connection(), engine.raw_connection()
    try:
        source.driver_connection.backup(target.driver_connection)  # type: ignore[union-attr]
    finally:
        source.close()
        target.close()  # a shared database lives on in the pool's open connection
    return engine


class Spec(Generic[Service]):
    """One service on its own in-memory store: given events, when a message, then what
    it appended, queued and armed."""

    def __init__(self, store: str, build: Callable[[StoreUnits], Service], *,
                 shared: bool = False) -> None:
        self.now = T0
        self.engine = memory_store(store, shared)
        self.store = EventStore(PREFIX)
        self.units = StoreUnits(self.engine, self.store, self.clock)
        self.service = build(self.units)
        self.table = self.service.messages()
        self._since = self._until = self._marks()

    def clock(self) -> datetime:
        return self.now

    # given

    def given(self, stream: StreamId, *history: object, flow: str | None = None) -> None:
        """Append these events to the stream (after what it holds), as a writer would."""
        def work(uow: UnitOfWork) -> None:
            uow.state(stream, 0, _count)  # the stream's real version is the expected one
            uow.append({stream: list(history)})

        correlation_id = getattr(history[0], "order_id", None) or stream.key
        self.units.write(work, f"given {stream}", correlation_id=correlation_id, flow=flow)

    def given_timer(self, kind: str, key: str, due: datetime) -> None:
        self.units.write(lambda uow: uow.set_timer(kind, key, due), f"given timer {key}",
                         correlation_id=key, flow=None)

    # when

    def envelope(self, body: object, *, flow: str | None, order: OrderFacts | None = None,
                 correlation_id: str | None = None) -> Envelope:
        """The message as a consumer decodes it: a new id, the order as correlation."""
        correlation = correlation_id or str(getattr(body, "order_id", ""))
        return envelope_for(body, event_id=str(uuid.uuid4()), aggregate_id=correlation,
                            aggregate_version=1, occurred_at=self.now,
                            correlation_id=correlation, causation_id=None, flow=flow,
                            order=order)

    def when(self, body: object, *, flow: str | None, order: OrderFacts | None = None,
             correlation_id: str | None = None) -> Envelope:
        """This message arrives (a consumer batch of one); returns its envelope."""
        envelope = self.envelope(body, flow=flow, order=order, correlation_id=correlation_id)
        self.apply(envelope)
        return envelope

    def apply(self, *batch: Envelope) -> None:
        """These messages arrive in one consumer batch, applied as the runtime does."""
        for envelope in batch:
            _exercised(envelope.flow, type(envelope.body))
        applier = TableApplier(self.table, self.store, self.clock)
        with self._watched(), write(self.engine) as connection:
            applier.apply(connection, [Incoming(envelope, f"{PREFIX}topic", 0, offset)
                                       for offset, envelope in enumerate(batch)])

    def when_called(self, call: Callable[[Service], Any]) -> Any:
        """A command from outside the message table (the CLI's `place`, `stock add`)."""
        with self._watched():
            return call(self.service)

    def when_time_passes(self, by: timedelta) -> list[int]:
        """The clock moves on and every timer of the table runs once: how much each did."""
        self.now += by
        with self._watched():
            return [tick() for tick in self.table.timers]

    # then

    def then_events(self) -> list[tuple[str, object]]:
        """(stream, event) appended by the last `when`, in the order they were written."""
        return [(row.stream_id, stored_body(row)[1]) for row in self._new_events()]

    def then_versions(self) -> list[tuple[str, int]]:
        return [(row.stream_id, row.version) for row in self._new_events()]

    def then_outbox(self) -> list[tuple[str, str]]:
        """(wire type, topic) queued by the last `when`, in commit order."""
        return [(envelope.type, topic) for topic, envelope in self._new_outbox()]

    def then_published(self) -> list[Envelope]:
        """The envelopes the relay will publish for the last `when`, as consumers decode them."""
        return [envelope for _, envelope in self._new_outbox()]

    def then_commands(self) -> list[object]:
        """The commands the last `when` sent, in order."""
        return [e.body for e in self.then_published() if isinstance(e.body, ALL_COMMAND_CLASSES)]

    def then_timers(self) -> dict[tuple[str, str], datetime]:
        """Every timer armed in the store now: (kind, key) → when it is due."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(timers)).all()
        return {(row.kind, row.key): datetime.fromisoformat(row.due_at) for row in rows}

    def stream(self, stream: StreamId) -> list[object]:
        """A whole stream, given and appended alike."""
        with self.engine.connect() as connection:
            return self.store.load(connection, stream)

    # how

    @contextmanager
    def _watched(self) -> Iterator[None]:
        self._since = self._marks()
        try:
            yield
        finally:
            self._until = self._marks()
        self._check_published()

    def _check_published(self) -> None:
        """Fail the spec on an outbox row whose type the table does not declare."""
        declared = set(self.table.publishes)
        stray = [f"{envelope.type} on {topic}" for topic, envelope in self._new_outbox()
                 if type(envelope.body) not in declared]
        assert not stray, (f"{type(self.service).__name__} wrote {', '.join(stray)}, which"
                           " its message table does not declare in `publishes`")

    def _marks(self) -> tuple[int, int]:
        with self.engine.connect() as connection:
            position = connection.execute(sa.select(sa.func.max(events.c.position))).scalar()
            row_id = connection.execute(sa.select(sa.func.max(outbox.c.id))).scalar()
        return int(position or 0), int(row_id or 0)

    def _new_events(self) -> list[Any]:
        (since, _), (until, _) = self._since, self._until
        with self.engine.connect() as connection:
            return list(connection.execute(
                sa.select(events).where(events.c.position > since, events.c.position <= until)
                .order_by(events.c.position)))

    def _new_outbox(self) -> list[tuple[str, Envelope]]:
        (_, since), (_, until) = self._since, self._until
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(outbox.c.topic, outbox.c.value)
                .where(outbox.c.id > since, outbox.c.id <= until).order_by(outbox.c.id))
            return [(row.topic, decode(row.value)) for row in rows]


def _count(version: int, _event: object) -> int:
    return version + 1


# Which rows a spec covers

Row = tuple[str, type]
_watching: list[set[Row]] = []  # one set per running `covers` spec (they can be stacked)
F = TypeVar("F", bound=Callable[..., None])


def _exercised(flow: str | None, message: type) -> None:
    for seen in _watching:
        seen.add((str(flow), message))


def covers(flow: str, message: type) -> Callable[[F], F]:
    """This spec exercises the (flow, message type) row; it fails if it applies no such
    message, so a declaration cannot drift from what the spec does."""
    def declare(spec: F) -> F:
        @functools.wraps(spec)
        def checked(*args: Any, **kwargs: Any) -> None:
            seen: set[Row] = set()
            _watching.append(seen)
            try:
                spec(*args, **kwargs)
            finally:
                _watching.remove(seen)
            assert (flow, message) in seen, (
                f"{spec.__name__} covers {flow} {message.__name__} but applied no such message")

        checked.spec_rows = (*getattr(spec, "spec_rows", ()), (flow, message))  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]
    return declare


def uncovered(table: MessageTable, namespace: Mapping[str, object]) -> list[str]:
    """The table's rows that no `covers` spec in `namespace` (a module's globals) covers."""
    covered = {row for value in namespace.values() for row in getattr(value, "spec_rows", ())}
    return [f"{flow} {BY_CLASS[cls].wire}" for flow, cls, _ in table.rows()
            if (flow, cls) not in covered]

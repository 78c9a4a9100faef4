"""What a service's handlers see: a message table, and a unit of work behind a port.

A service declares ONE `MessageTable`: per flow, the message type it acts on → the
handler that acts. Everything else derives from it — the runtime's dispatch, the
interest filter (a message with no row costs one dict lookup and is skipped), the
topics the service subscribes to (each row's type is registered on one topic), and the
`orderflow run SERVICE --describe` text. Nothing says it twice. Next to the rows, the
table says what the service `publishes`: every message type its outbox can hold (what
its handlers, timers and CLI commands append or send), so the topics its relay writes
derive from it too; with the subscriptions they are the service's Kafka ACLs
(adapters/kafka/acl.py), and a spec fails when a handler writes a type not declared.

A handler gets the message and a `UnitOfWork`: load a stream's state, append events,
send commands, set or clear a deadline. It never sees a SQLAlchemy connection, a Kafka
record or a crash hook, so a spec drives it with no broker (tests/specs.py). What it
appends and sends commits in one transaction with the consumer's position; the
expected version of an append is the version the handler loaded, so a concurrent
writer makes the whole unit fail (and retry), never interleave.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from adapters.codec import Envelope, OrderFacts
from adapters.registry import BY_CLASS
from domain.errors import Unhandleable
from domain.streams import StreamId

S = TypeVar("S")
T = TypeVar("T")

CHOREOGRAPHY = "choreography"
ORCHESTRATION = "orchestration"


class UnitOfWork(Protocol):
    """One message's (or one command's) reads and writes, all committed together."""

    @property
    def now(self) -> datetime:
        """The service clock's time for this unit (decisions take time as an argument)."""
        ...

    def state(self, stream: StreamId, initial: S, evolve: Callable[[S, Any], S]) -> S:
        """The stream's state, folded from `initial` with `evolve`, as of this unit."""
        ...

    def append(self, decision: Mapping[StreamId, Sequence[object]], *,
               order: OrderFacts | None = None) -> None:
        """Append each stream's events (those registered on a topic are published).
        Expected version: what this unit loaded of the stream (0 if it never did).
        `order`: facts to carry forward (default: the cause's)."""
        ...

    def send(self, commands: Sequence[object]) -> None:
        """Queue commands for their topics."""
        ...

    def publish(self, messages: Sequence[object]) -> None:
        """Queue integration messages that are no stream's event (a summary for the
        read models) for their topics."""
        ...

    def answer_again(self, stream: StreamId) -> None:
        """Publish the stream's latest event again, same id: the answer to a command
        repeated after it was already decided is its first outcome."""
        ...

    def set_timer(self, kind: str, key: str, due: datetime) -> None: ...

    def clear_timer(self, kind: str, key: str) -> None: ...

    def due(self, kind: str) -> list[str]:
        """Keys of `kind` timers due by now, soonest first."""
        ...


class Units(Protocol):
    """Opens units of work for what is not a consumed message: a CLI command, a timer."""

    def write(self, work: Callable[[UnitOfWork], T], what: str, *, correlation_id: str,
              flow: str | None) -> T:
        """Run `work` in one transaction; a concurrent change reruns it from the start."""
        ...

    def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` on committed data; whatever it appends is refused."""
        ...


Handler = Callable[[Envelope, UnitOfWork], None]


@dataclass(frozen=True)
class MessageTable:
    """What a service does: message type → handler, per flow.

    `undo`: the handlers that compensate (the fault suite fails and crashes them on
    purpose). `per_order`: the streams the service keeps per order, all loaded for a
    whole consumer batch in one query. `timers`: what the service does when time
    passes; each call does the work due now and returns how much it did.
    `publishes`: the message types its outbox can hold, in every flow (a topic is
    authorised whole, whichever flow's message is on it); dead letters and their
    notices are the consumer runtime's, not the table's.
    """

    choreography: Mapping[type, Handler] = field(default_factory=dict)
    orchestration: Mapping[type, Handler] = field(default_factory=dict)
    undo: frozenset[Handler] = frozenset()
    per_order: tuple[Callable[[str], StreamId], ...] = ()
    timers: tuple[Callable[[], int], ...] = ()
    publishes: tuple[type, ...] = ()

    def handler_for(self, envelope: Envelope) -> Handler | None:
        """The row for this message, or None: the service ignores it."""
        if envelope.flow == CHOREOGRAPHY:
            return self.choreography.get(type(envelope.body))
        if envelope.flow == ORCHESTRATION:
            return self.orchestration.get(type(envelope.body))
        return None  # a message of no flow (a stock or credit change) is nobody's business

    def only(self, flows: Collection[str]) -> MessageTable:
        """This table with the rows of `flows` alone (a deployment's ORDERFLOW_FLOWS)."""
        return dataclasses.replace(
            self, choreography=self.choreography if CHOREOGRAPHY in flows else {},
            orchestration=self.orchestration if ORCHESTRATION in flows else {})

    def topics(self, prefix: str) -> list[str]:
        """The topics the service subscribes to: where its rows' messages are published."""
        found = {BY_CLASS[cls].topic for cls in [*self.choreography, *self.orchestration]}
        return sorted(prefix + topic for topic in found if topic is not None)

    def published_topics(self, prefix: str) -> list[str]:
        """The topics the service's relay writes: where its publications are registered."""
        return sorted({prefix + topic for topic in self.published().values()})

    def published(self) -> dict[type, str]:
        """Each declared publication → its base topic; one kept in the store only (no
        topic) is refused, as declaring it would promise what the relay never does."""
        unpublished = [cls.__name__ for cls in self.publishes if BY_CLASS[cls].topic is None]
        assert not unpublished, f"{', '.join(unpublished)}: stored only, never published"
        return {cls: str(BY_CLASS[cls].topic) for cls in self.publishes}

    def rows(self) -> list[tuple[str, type, Handler]]:
        """(flow, message type, handler), in declaration order."""
        return [(CHOREOGRAPHY, cls, h) for cls, h in self.choreography.items()] + \
               [(ORCHESTRATION, cls, h) for cls, h in self.orchestration.items()]


def facts_of(cause: Envelope) -> OrderFacts:
    """The order facts a choreography event carries forward (see OrderFacts)."""
    if cause.order is None:
        raise Unhandleable(f"{cause.type} for order {cause.correlation_id} carries no order facts")
    return cause.order


def decide(uow: UnitOfWork, cause: Envelope, decision: Mapping[StreamId, Sequence[object]],
           reply_stream: StreamId, order: OrderFacts | None = None) -> None:
    """Append what was decided; if nothing (decided before) and the cause was a
    command, answer it again with the first outcome, the latest of `reply_stream`."""
    if any(decision.values()):
        uow.append(decision, order=order)
    elif cause.flow == ORCHESTRATION:
        uow.answer_again(reply_stream)

"""What every reacting service does with a message: derive the write context from
its cause, and append a multi-stream decision in the consumer's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection

from adapters.codec import Envelope, OrderFacts
from adapters.kafka.consumer import Interest, Unhandleable
from adapters.sql.event_store import Context, EventStore
from domain.streams import StreamId
from services.clock import Clock

CHOREOGRAPHY = "choreography"
ORCHESTRATION = "orchestration"


def participant(commands: tuple[type, ...], reactions: tuple[type, ...]) -> Interest:
    """What a participant acts on: its commands, and in choreography the events it
    reacts to. Everything else on its topics is skipped before a handler runs."""
    def wants(envelope: Envelope) -> bool:
        body = envelope.body
        return isinstance(body, commands) or (envelope.flow == CHOREOGRAPHY
                                              and isinstance(body, reactions))
    return wants


def caused_by(cause: Envelope, clock: Clock, order: OrderFacts | None = None) -> Context:
    """Same order, same flow, caused by this message; order facts travel on."""
    return Context(correlation_id=cause.correlation_id, causation_id=cause.event_id,
                   flow=cause.flow, now=clock(), order=order or cause.order)


def facts_of(cause: Envelope) -> OrderFacts:
    if cause.order is None:
        raise Unhandleable(f"{cause.type} for order {cause.correlation_id} carries no order facts")
    return cause.order


def append_decision(store: EventStore, connection: Connection,
                    decision: Mapping[StreamId, Sequence[object]],
                    versions: Mapping[StreamId, int], context: Context,
                    reply_stream: StreamId) -> None:
    """Append what was decided; if nothing (already decided) and the cause was a
    command, answer it again with the first outcome, the latest of `reply_stream`."""
    changes = {stream: (versions.get(stream, 0), events) for stream, events in decision.items()
               if events}
    if changes:
        store.append_many(connection, changes, context)
    elif context.flow == ORCHESTRATION:
        store.republish_last(connection, reply_stream, context)

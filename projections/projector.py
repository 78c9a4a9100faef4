"""The projector: turns every event on the event topics into read-model rows.

It runs under the consumer runtime, whose transaction also holds the group's
positions and processed ids; on top of that each event is applied at most once by
the projector itself (`projected_events`), because the stock and credit views add
deltas. It writes only its own tables and produces nothing (except dead letters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import Connection

from adapters.codec import Envelope
from adapters.notices import NOTICES_TOPIC
from adapters.records import Incoming
from domain.errors import Unhandleable
from domain.ids import validate_order_id
from projections import (
    credit_view,
    dead_letter_view,
    order_view,
    saga_view,
    shipment_view,
    stock_view,
    timeline,
)
from projections.tables import projected_events
from projections.upsert import insert_new

View = Callable[[Connection, Envelope], None]


def _views(*tables: Mapping[type, View]) -> dict[type, View]:
    """One view per message type: a second one would silently replace the first."""
    views: dict[type, View] = {}
    for table in tables:
        shared = views.keys() & table.keys()
        assert not shared, f"two views for {sorted(t.__name__ for t in shared)}"
        views.update(table)
    return views


VIEWS = _views(order_view.HANDLERS, stock_view.HANDLERS, credit_view.HANDLERS,
               shipment_view.HANDLERS, saga_view.HANDLERS, dead_letter_view.HANDLERS)
# Event topics (base names) and the service that emits on each.
SERVICES = {"orders": "order", "inventory": "inventory", "payments": "payment",
            "shipping": "shipping", "fraud": "fraud"}
MAX_TEXT = 64  # every id and reason column is String(64)
MAX_AMOUNT = 2**53  # far above any real quantity or cents; sums stay inside BIGINT


class Projector:
    def __init__(self, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix

    @property
    def topics(self) -> list[str]:
        """Every event topic, the saga topic and the command topics: the timeline of an
        orchestrated order shows the commands between the replies."""
        bases = [*SERVICES, "sagas", NOTICES_TOPIC, *(f"{base}.commands" for base in SERVICES)]
        return [self.topic_prefix + base for base in bases]

    def handle(self, connection: Connection, incoming: Incoming) -> None:
        self.handle_batch(connection, [incoming])

    def handle_batch(self, connection: Connection, batch: Sequence[Incoming]) -> None:
        """Project a consumer batch: the bookkeeping and the timeline take a few
        statements per batch, the views one or two per event."""
        checked = [(incoming, _checked_order_id(incoming.envelope)) for incoming in batch]
        fresh = insert_new(connection, projected_events,
                           [incoming.envelope.event_id for incoming in batch])
        new = []
        for incoming, order_id in checked:
            if incoming.envelope.event_id in fresh:  # else applied before: count it once
                fresh.discard(incoming.envelope.event_id)
                new.append((incoming, order_id))
        timeline.record(connection, [(incoming, order_id, self.service_of(incoming.topic))
                                     for incoming, order_id in new if order_id is not None])
        for incoming, _ in new:
            view = VIEWS.get(type(incoming.envelope.body))
            if view is not None:
                view(connection, incoming.envelope)

    def service_of(self, topic: str) -> str:
        """Who emitted a record, from its topic (commands come from the orchestrator)."""
        base = topic.removeprefix(self.topic_prefix)
        if base.endswith(".commands") or base == "sagas":
            return "orchestrator"
        if base == NOTICES_TOPIC:
            return "dlq"
        return SERVICES.get(base, base)


def _checked_order_id(envelope: Envelope) -> str | None:
    """The order the event belongs to (None: stock or credit bookkeeping), checked to fit.

    A well-formed record with values the tables cannot hold would otherwise fail in the
    database, look like an outage and be retried forever; as Unhandleable it goes to the DLQ.
    """
    values = [envelope.event_id, envelope.causation_id, envelope.flow,
              *(getattr(envelope.body, f.name) for f in dataclasses.fields(envelope.body))]
    for value in values:
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise Unhandleable(f"{envelope.type}: a value is longer than {MAX_TEXT} characters")
        if isinstance(value, int) and abs(value) > MAX_AMOUNT:
            raise Unhandleable(f"{envelope.type}: an amount is out of range")
    order_id = getattr(envelope.body, "order_id", None)
    return None if order_id is None else validate_order_id(order_id)

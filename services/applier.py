"""A service's message table, run by the consumer runtime: one unit of work per batch.

`apply` loads every per-order stream the batch touches in one query, runs each message's
handler in memory on its own `Unit` (later messages see what earlier ones appended), and
writes the batch's events, outbox rows and timers in a few statements, inside the
runtime's transaction. If a handler fails, the runtime rolls the batch back and applies
it again one message at a time (each in a savepoint), so only the failing one is
dead-lettered.

The fault suite's hooks live here, at the runtime's boundary, not in handlers:
`ORDERFLOW_FAULT_FAIL=<handler>:<n>` fails a handler for an order, and the
`compensation` crash point fires once a unit that compensates is written, uncommitted.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from adapters import faults, logs
from adapters.codec import Envelope
from adapters.records import Incoming
from adapters.sql.event_store import EventStore
from adapters.sql.unit_of_work import Batch
from domain.commands import UNDO_COMMANDS
from services.clock import Clock
from services.port import MessageTable


class TableApplier:
    def __init__(self, table: MessageTable, store: EventStore, clock: Clock) -> None:
        self.table, self.store, self.clock = table, store, clock

    def wants(self, envelope: Envelope) -> bool:
        return self.table.handler_for(envelope) is not None

    def handle(self, connection: Connection, incoming: Incoming) -> None:
        self.apply(connection, [incoming])

    def apply(self, connection: Connection, items: Sequence[Incoming]) -> None:
        batch = Batch(connection, self.store)
        batch.prefetch(stream(item.envelope.correlation_id)
                       for stream in self.table.per_order for item in items)
        undoing = False
        for item in items:
            with logs.applying(item.topic, item.partition, item.offset,
                               item.order_id):  # what its handler logs names them
                undoing = self._handle(batch, item) or undoing
        batch.flush()
        if undoing or any(isinstance(command, UNDO_COMMANDS) for command in batch.sent):
            faults.point("compensation")  # effects written, nothing committed yet

    def _handle(self, batch: Batch, item: Incoming) -> bool:
        """Run the message's handler on its own unit; True: the handler undoes a step."""
        handler = self.table.handler_for(item.envelope)
        assert handler is not None, f"{item.where}: {item.envelope.type} has no handler"
        faults.fail(handler.__name__, item.envelope.correlation_id)
        handler(item.envelope, batch.unit(now=self.clock(), cause=item.envelope))
        return handler in self.table.undo

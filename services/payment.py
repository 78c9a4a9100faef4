"""Payment: credit per customer and a payment per order.

Commands: `set_credit` (CLI). Reactions and command handlers arrive with the
consumer runtime.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from adapters.sql.event_store import Context, EventStore
from domain.credit import Credit, fold_credit, set_credit
from domain.ids import validate_customer_id
from domain.streams import credit_stream
from services.clock import Clock
from services.transact import transact


class Payment:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock) -> None:
        self.engine, self.store, self.clock = engine, store, clock

    def set_credit(self, customer_id: str, limit_cents: int) -> Credit:
        def work(connection: Connection) -> Credit:
            stream = credit_stream(validate_customer_id(customer_id))
            credit = fold_credit(self.store.load(connection, stream))
            events = set_credit(credit, customer_id, limit_cents)
            context = Context(correlation_id=customer_id, causation_id=None, flow=None,
                              now=self.clock())
            self.store.append(connection, stream, credit.version, events, context)
            return fold_credit(self.store.load(connection, stream))

        return transact(self.engine, work, f"credit set {customer_id}")

    def credit(self, customer_id: str) -> Credit:
        with self.engine.connect() as connection:
            stream = credit_stream(validate_customer_id(customer_id))
            return fold_credit(self.store.load(connection, stream))

"""Fraud: the optional fifth participant (`ORDERFLOW_STEPS=fraud`), one verdict per order.

It exists so a workshop can measure what adding a step changes in each style
(`orderflow compare --with-step fraud`): its message table is the whole service. In
choreography it screens every reserved order and payment waits for its clearance; in
orchestration it answers the saga's CheckFraud. The rule (`domain.fraud`) needs only
the order's total, which choreography carries forward on the events and orchestration
puts in the command. A screening holds nothing, so it has nothing to undo.
"""

from __future__ import annotations

from adapters.codec import Envelope
from domain.commands import CheckFraud
from domain.fraud import FraudCleared, FraudRejected, Screening, evolve_screening, screen
from domain.inventory_events import StockReserved
from domain.streams import screening_stream
from services.port import MessageTable, UnitOfWork, Units, decide, facts_of


class Fraud:
    def __init__(self, units: Units) -> None:
        self.units = units

    def messages(self) -> MessageTable:
        return MessageTable(
            choreography={StockReserved: self.screen_reserved},
            orchestration={CheckFraud: self.check_fraud},
            per_order=(screening_stream,),
            publishes=(FraudCleared, FraudRejected))

    def screen_reserved(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Screen the reserved order's total: FraudCleared | FraudRejected."""
        self._screen(msg, uow, facts_of(msg).total_cents)

    def check_fraud(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Screen the amount: FraudCleared | FraudRejected."""
        self._screen(msg, uow, msg.body.amount_cents)

    def _screen(self, msg: Envelope, uow: UnitOfWork, amount_cents: int) -> None:
        order_id = msg.body.order_id
        stream = screening_stream(order_id)
        screening = uow.state(stream, Screening(), evolve_screening)
        decide(uow, msg, {stream: screen(screening, order_id, amount_cents)}, stream)

"""Payment: credit per customer and a payment per order.

What it does is its message table (`messages`); a repeated command gets its first
outcome again. Commands from the CLI: `set_credit`; query: `credit`.
"""

from __future__ import annotations

from collections.abc import Collection

from adapters.codec import Envelope
from domain.commands import AuthorizePayment, VoidPayment
from domain.credit import Credit, evolve_credit, set_credit
from domain.fraud import FraudCleared
from domain.ids import validate_customer_id
from domain.inventory_events import StockReserved
from domain.order_events import OrderExpired
from domain.payment import Payment as Payment_
from domain.payment import authorize, cancel, evolve_payment
from domain.payment_events import (
    CreditLimitSet,
    PaymentAuthorized,
    PaymentCancelled,
    PaymentDeclined,
    PaymentVoided,
)
from domain.shipping import ShipmentRejected
from domain.streams import credit_stream, payment_stream
from services.port import MessageTable, UnitOfWork, Units, decide, facts_of


class Payment:
    def __init__(self, units: Units, steps: Collection[str] = ()) -> None:
        """`steps`: the optional saga steps deployed; with fraud, payment waits for its
        clearance instead of the reservation."""
        self.units, self.steps = units, frozenset(steps)

    def messages(self) -> MessageTable:
        ready: type = FraudCleared if "fraud" in self.steps else StockReserved
        return MessageTable(
            choreography={ready: self.authorize_reserved,
                          ShipmentRejected: self.void_payment,
                          OrderExpired: self.void_payment},
            orchestration={AuthorizePayment: self.authorize_payment,
                           VoidPayment: self.void_payment},
            undo=frozenset({self.void_payment}),
            per_order=(payment_stream,),
            publishes=(PaymentAuthorized, PaymentDeclined, PaymentVoided, PaymentCancelled,
                       CreditLimitSet))

    def authorize_reserved(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Authorise the order total (stock reserved, and cleared where fraud screens):
        PaymentAuthorized | PaymentDeclined."""
        facts = facts_of(msg)
        self._authorize(msg, uow, facts.customer_id, facts.total_cents)

    def authorize_payment(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Authorise the amount: PaymentAuthorized | PaymentDeclined."""
        self._authorize(msg, uow, msg.body.customer_id, msg.body.amount_cents)

    def void_payment(self, msg: Envelope, uow: UnitOfWork) -> None:
        """PaymentVoided, releasing what the order holds; PaymentCancelled if it was
        never authorised (so a late StockReserved after expiry authorises nothing)."""
        order_id = msg.body.order_id
        payment = uow.state(payment_stream(order_id), Payment_(), evolve_payment)
        credit = uow.state(credit_stream(payment.customer_id), Credit(),
                           evolve_credit) if payment.customer_id else Credit()
        decide(uow, msg, cancel(payment, credit, order_id), payment_stream(order_id))

    def _authorize(self, msg: Envelope, uow: UnitOfWork, customer_id: str,
                   amount_cents: int) -> None:
        order_id = msg.body.order_id
        payment = uow.state(payment_stream(order_id), Payment_(), evolve_payment)
        credit = uow.state(credit_stream(customer_id), Credit(), evolve_credit)
        decide(uow, msg, authorize(payment, credit, order_id, customer_id, amount_cents),
               payment_stream(order_id))

    def set_credit(self, customer_id: str, limit_cents: int) -> Credit:
        stream = credit_stream(validate_customer_id(customer_id))

        def work(uow: UnitOfWork) -> Credit:
            credit = uow.state(stream, Credit(), evolve_credit)
            uow.append({stream: set_credit(credit, customer_id, limit_cents)})
            return uow.state(stream, Credit(), evolve_credit)

        return self.units.write(work, f"credit set {customer_id}", correlation_id=customer_id,
                                flow=None)

    def credit(self, customer_id: str) -> Credit:
        stream = credit_stream(validate_customer_id(customer_id))
        return self.units.read(lambda uow: uow.state(stream, Credit(), evolve_credit))

"""Payment: credit per customer and a payment per order.

Choreography — reacts on its own:
  StockReserved                  → authorise the order total: PaymentAuthorized | PaymentDeclined
  ShipmentRejected, OrderExpired → PaymentVoided (releasing what the order holds), or
                                   PaymentCancelled if it was never authorised
Orchestration — obeys the orchestrator (a repeated command gets the first outcome again):
  AuthorizePayment → PaymentAuthorized | PaymentDeclined
  VoidPayment      → PaymentVoided | PaymentCancelled (the same two answers)
Commands from the CLI: `set_credit`.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from adapters import faults
from adapters.codec import Envelope
from adapters.kafka.consumer import Incoming
from adapters.sql.event_store import Context, EventStore
from domain.commands import AuthorizePayment, VoidPayment
from domain.credit import Credit, evolve_credit, set_credit
from domain.ids import validate_customer_id
from domain.inventory_events import StockReserved
from domain.order_events import OrderExpired
from domain.payment import Payment as Payment_
from domain.payment import authorize, cancel, evolve_payment
from domain.shipping import ShipmentRejected
from domain.streams import credit_stream, payment_stream
from services.clock import Clock
from services.messaging import CHOREOGRAPHY, append_decision, caused_by, facts_of, participant
from services.runner import ServicePlan
from services.transact import reading, transact

WANTS = participant((AuthorizePayment, VoidPayment),
                    (StockReserved, ShipmentRejected, OrderExpired))


class Payment:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock, prefix: str) -> None:
        self.engine, self.store, self.clock, self.prefix = engine, store, clock, prefix

    def plan(self) -> ServicePlan:
        topics = [self.prefix + t for t in ("inventory", "orders", "shipping",
                                             "payments.commands")]
        return ServicePlan("payment", "payment", topics, self.handle, wants=WANTS)

    def handle(self, connection: Connection, incoming: Incoming) -> None:
        cause = incoming.envelope
        match cause.body:
            case AuthorizePayment(order_id=order_id, customer_id=customer, amount_cents=amount):
                self.authorize(connection, cause, order_id, customer, amount)
            case VoidPayment(order_id=order_id):
                self.void(connection, cause, order_id)
            case _:
                self.react(connection, cause)

    def react(self, connection: Connection, cause: Envelope) -> None:
        if cause.flow != CHOREOGRAPHY:
            return  # orchestrated orders reach payment as commands, not as events
        match cause.body:
            case StockReserved(order_id=order_id):
                facts = facts_of(cause)
                self.authorize(connection, cause, order_id, facts.customer_id, facts.total_cents)
            case ShipmentRejected(order_id=order_id) | OrderExpired(order_id=order_id):
                self.void(connection, cause, order_id)

    def authorize(self, connection: Connection, cause: Envelope, order_id: str,
                  customer_id: str, amount_cents: int) -> None:
        payment = self.store.state(connection, payment_stream(order_id), Payment_(),
                                   evolve_payment)
        credit = self.store.state(connection, credit_stream(customer_id), Credit(), evolve_credit)
        decision = authorize(payment, credit, order_id, customer_id, amount_cents)
        versions = {payment_stream(order_id): payment.version,
                    credit_stream(customer_id): credit.version}
        append_decision(self.store, connection, decision, versions, caused_by(cause, self.clock),
                        payment_stream(order_id))

    def void(self, connection: Connection, cause: Envelope, order_id: str) -> None:
        """Void an authorisation, or cancel one that has not happened yet (so a late
        StockReserved after the order expired authorises nothing)."""
        faults.fail("void_payment", order_id)
        payment = self.store.state(connection, payment_stream(order_id), Payment_(),
                                   evolve_payment)
        credit = self.store.state(connection, credit_stream(payment.customer_id), Credit(),
                                  evolve_credit) if payment.customer_id else Credit()
        decision = cancel(payment, credit, order_id)
        versions = {payment_stream(order_id): payment.version,
                    credit_stream(payment.customer_id): credit.version}
        append_decision(self.store, connection, decision, versions, caused_by(cause, self.clock),
                        payment_stream(order_id))
        faults.point("compensation")

    def set_credit(self, customer_id: str, limit_cents: int) -> Credit:
        def work(connection: Connection) -> Credit:
            stream = credit_stream(validate_customer_id(customer_id))
            credit = self.store.state(connection, stream, Credit(), evolve_credit)
            events = set_credit(credit, customer_id, limit_cents)
            context = Context(correlation_id=customer_id, causation_id=None, flow=None,
                              now=self.clock())
            self.store.append(connection, stream, credit.version, events, context)
            return self.store.state(connection, stream, Credit(), evolve_credit)

        return transact(self.engine, work, f"credit set {customer_id}")

    def credit(self, customer_id: str) -> Credit:
        with reading(self.engine) as connection:
            stream = credit_stream(validate_customer_id(customer_id))
            return self.store.state(connection, stream, Credit(), evolve_credit)

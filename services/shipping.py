"""Shipping: one shipment per order, to a country the catalog serves.

Choreography — reacts on its own:
  PaymentAuthorized → schedule: ShipmentScheduled | ShipmentRejected (country not served)
  OrderExpired      → cancel the shipment (or refuse to schedule it later)
Orchestration — obeys the orchestrator (a repeated command gets the first outcome again):
  ScheduleShipment → ShipmentScheduled | ShipmentRejected;  CancelShipment → ShipmentCancelled
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import Connection, Engine

from adapters import faults
from adapters.codec import Envelope
from adapters.kafka.consumer import Incoming
from adapters.sql.event_store import EventStore
from domain.commands import CancelShipment, ScheduleShipment
from domain.order_events import OrderExpired
from domain.payment_events import PaymentAuthorized
from domain.shipping import Shipment, cancel, evolve_shipment, schedule
from domain.streams import shipment_stream
from services.clock import Clock
from services.messaging import CHOREOGRAPHY, append_decision, caused_by, facts_of, participant
from services.runner import ServicePlan

WANTS = participant((ScheduleShipment, CancelShipment), (PaymentAuthorized, OrderExpired))


class Shipping:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock, prefix: str,
                 served_countries: Collection[str]) -> None:
        self.engine, self.store, self.clock, self.prefix = engine, store, clock, prefix
        self.served = served_countries

    def plan(self) -> ServicePlan:
        topics = [self.prefix + t for t in ("payments", "orders", "shipping.commands")]
        return ServicePlan("shipping", "shipping", topics, self.handle, wants=WANTS)

    def handle(self, connection: Connection, incoming: Incoming) -> None:
        cause = incoming.envelope
        match cause.body:
            case ScheduleShipment(order_id=order_id, country=country):
                self.schedule(connection, cause, order_id, country)
            case CancelShipment(order_id=order_id):
                self.cancel(connection, cause, order_id)
            case _:
                self.react(connection, cause)

    def react(self, connection: Connection, cause: Envelope) -> None:
        if cause.flow != CHOREOGRAPHY:
            return  # orchestrated orders reach shipping as commands, not as events
        match cause.body:
            case PaymentAuthorized(order_id=order_id):
                self.schedule(connection, cause, order_id, facts_of(cause).ship_to)
            case OrderExpired(order_id=order_id):
                self.cancel(connection, cause, order_id)

    def schedule(self, connection: Connection, cause: Envelope, order_id: str,
                 country: str) -> None:
        shipment = self._shipment(connection, order_id)
        events = schedule(shipment, order_id, country, self.served)
        self._append(connection, cause, order_id, shipment, events)

    def cancel(self, connection: Connection, cause: Envelope, order_id: str) -> None:
        faults.fail("cancel_shipment", order_id)
        shipment = self._shipment(connection, order_id)
        self._append(connection, cause, order_id, shipment, cancel(shipment, order_id))
        faults.point("compensation")

    def _shipment(self, connection: Connection, order_id: str) -> Shipment:
        return self.store.state(connection, shipment_stream(order_id), Shipment(),
                                evolve_shipment)

    def _append(self, connection: Connection, cause: Envelope, order_id: str,
                shipment: Shipment, events: Sequence[object]) -> None:
        decision = {shipment_stream(order_id): events}
        append_decision(self.store, connection, decision,
                        {shipment_stream(order_id): shipment.version},
                        caused_by(cause, self.clock), shipment_stream(order_id))

"""Shipping: one shipment per order, to a country the catalog serves.

What it does is its message table (`messages`); a repeated command gets its first
outcome again.
"""

from __future__ import annotations

from collections.abc import Collection

from adapters.codec import Envelope
from domain.commands import CancelShipment, ScheduleShipment
from domain.order_events import OrderExpired
from domain.payment_events import PaymentAuthorized
from domain.shipping import (
    Shipment,
    ShipmentCancelled,
    ShipmentRejected,
    ShipmentScheduled,
    cancel,
    evolve_shipment,
    schedule,
)
from domain.streams import shipment_stream
from services.port import MessageTable, UnitOfWork, decide, facts_of


class Shipping:
    def __init__(self, served_countries: Collection[str]) -> None:
        self.served = served_countries

    def messages(self) -> MessageTable:
        return MessageTable(
            choreography={PaymentAuthorized: self.schedule_paid,
                          OrderExpired: self.cancel_shipment},
            orchestration={ScheduleShipment: self.schedule_shipment,
                           CancelShipment: self.cancel_shipment},
            undo=frozenset({self.cancel_shipment}),
            per_order=(shipment_stream,),
            publishes=(ShipmentScheduled, ShipmentRejected, ShipmentCancelled))

    def schedule_paid(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Ship to the order's country: ShipmentScheduled | ShipmentRejected (not served)."""
        self._schedule(msg, uow, facts_of(msg).ship_to)

    def schedule_shipment(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Ship to the command's country: ShipmentScheduled | ShipmentRejected (not served)."""
        self._schedule(msg, uow, msg.body.country)

    def cancel_shipment(self, msg: Envelope, uow: UnitOfWork) -> None:
        """ShipmentCancelled (or refuse to schedule it later)."""
        stream = shipment_stream(msg.body.order_id)
        shipment = uow.state(stream, Shipment(), evolve_shipment)
        decide(uow, msg, {stream: cancel(shipment, msg.body.order_id)}, stream)

    def _schedule(self, msg: Envelope, uow: UnitOfWork, country: str) -> None:
        stream = shipment_stream(msg.body.order_id)
        shipment = uow.state(stream, Shipment(), evolve_shipment)
        decide(uow, msg, {stream: schedule(shipment, msg.body.order_id, country, self.served)},
               stream)

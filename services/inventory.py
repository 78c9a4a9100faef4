"""Inventory: stock per SKU and a reservation per order.

Choreography — reacts on its own:
  OrderPlaced                                  → reserve every line: StockReserved | StockRejected
  PaymentDeclined, ShipmentRejected, OrderExpired → release what the order holds
Orchestration — obeys the orchestrator (a repeated command gets the first outcome again):
  ReserveStock → StockReserved | StockRejected;  ReleaseStock → StockReleased
Commands from the CLI: `add_stock`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from adapters import faults
from adapters.codec import Envelope, OrderFacts
from adapters.kafka.consumer import Incoming
from adapters.sql.event_store import Context, EventStore
from domain.commands import ReleaseStock, ReserveStock
from domain.ids import validate_sku
from domain.inventory import Line, Reservation, evolve_reservation, release, reserve
from domain.order_events import OrderExpired, OrderPlaced
from domain.payment_events import PaymentDeclined
from domain.shipping import ShipmentRejected
from domain.stock import Stock, add_stock, evolve_stock
from domain.streams import StreamId, reservation_stream, stock_stream
from services.clock import Clock
from services.messaging import CHOREOGRAPHY, append_decision, caused_by, participant
from services.runner import ServicePlan
from services.transact import reading, transact

WANTS = participant((ReserveStock, ReleaseStock),
                    (OrderPlaced, PaymentDeclined, ShipmentRejected, OrderExpired))


class Inventory:
    def __init__(self, engine: Engine, store: EventStore, clock: Clock, prefix: str) -> None:
        self.engine, self.store, self.clock, self.prefix = engine, store, clock, prefix

    def plan(self) -> ServicePlan:
        topics = [self.prefix + t for t in ("orders", "payments", "shipping",
                                             "inventory.commands")]
        return ServicePlan("inventory", "inventory", topics, self.handle, wants=WANTS)

    def handle(self, connection: Connection, incoming: Incoming) -> None:
        cause = incoming.envelope
        match cause.body:
            case ReserveStock(order_id=order_id, lines=lines):
                self.reserve(connection, cause, order_id, lines)
            case ReleaseStock(order_id=order_id):
                self.release(connection, cause, order_id)
            case _:
                self.react(connection, cause)

    def react(self, connection: Connection, cause: Envelope) -> None:
        if cause.flow != CHOREOGRAPHY:
            return  # orchestrated orders reach inventory as commands, not as events
        match cause.body:
            case OrderPlaced(order_id=order_id, lines=lines):
                facts = OrderFacts(customer_id=cause.body.customer_id,
                                   total_cents=cause.body.total_cents, ship_to=cause.body.ship_to)
                self.reserve(connection, cause, order_id, lines, facts)
            case PaymentDeclined(order_id=order_id) | ShipmentRejected(order_id=order_id) | \
                    OrderExpired(order_id=order_id):
                self.release(connection, cause, order_id)

    def reserve(self, connection: Connection, cause: Envelope, order_id: str,
                lines: Sequence[Line], facts: OrderFacts | None = None) -> None:
        reservation = self.store.state(connection, reservation_stream(order_id),
                                       Reservation(), evolve_reservation)
        stocks = self._stocks(connection, [line.sku for line in lines])
        decision = reserve(reservation, stocks, order_id, lines)
        versions = self._versions(stocks) | {reservation_stream(order_id): reservation.version}
        append_decision(self.store, connection, decision, versions,
                        caused_by(cause, self.clock, facts), reservation_stream(order_id))

    def release(self, connection: Connection, cause: Envelope, order_id: str) -> None:
        faults.fail("release_stock", order_id)
        reservation = self.store.state(connection, reservation_stream(order_id),
                                       Reservation(), evolve_reservation)
        stocks = self._stocks(connection, [line.sku for line in reservation.lines])
        decision = release(reservation, stocks, order_id)
        versions = self._versions(stocks) | {reservation_stream(order_id): reservation.version}
        append_decision(self.store, connection, decision, versions, caused_by(cause, self.clock),
                        reservation_stream(order_id))
        faults.point("compensation")

    def add_stock(self, sku: str, quantity: int) -> Stock:
        def work(connection: Connection) -> Stock:
            stream = stock_stream(validate_sku(sku))
            stock = self.store.state(connection, stream, Stock(), evolve_stock)
            events = add_stock(stock, sku, quantity)
            context = Context(correlation_id=sku, causation_id=None, flow=None, now=self.clock())
            self.store.append(connection, stream, stock.version, events, context)
            return self.store.state(connection, stream, Stock(), evolve_stock)

        return transact(self.engine, work, f"stock add {sku}")

    def stock(self, sku: str) -> Stock:
        with reading(self.engine) as connection:
            return self.store.state(connection, stock_stream(validate_sku(sku)), Stock(),
                                    evolve_stock)

    def _stocks(self, connection: Connection, skus: list[str]) -> dict[str, Stock]:
        return {sku: self.store.state(connection, stock_stream(sku), Stock(), evolve_stock)
                for sku in skus}

    @staticmethod
    def _versions(stocks: dict[str, Stock]) -> dict[StreamId, int]:
        return {stock_stream(sku): stock.version for sku, stock in stocks.items()}

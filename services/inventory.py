"""Inventory: stock per SKU and a reservation per order.

What it does is its message table (`messages`); a repeated command gets its first
outcome again. Commands from the CLI: `add_stock`; query: `stock`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from adapters.codec import Envelope, OrderFacts
from domain.commands import ReleaseStock, ReserveStock
from domain.fraud import FraudRejected
from domain.ids import validate_sku
from domain.inventory import Line, Reservation, evolve_reservation, release, reserve
from domain.inventory_events import StockAdded, StockRejected, StockReleased, StockReserved
from domain.order_events import OrderExpired, OrderPlaced
from domain.payment_events import PaymentDeclined
from domain.shipping import ShipmentRejected
from domain.stock import Stock, add_stock, evolve_stock
from domain.streams import reservation_stream, stock_stream
from services.port import Handler, MessageTable, UnitOfWork, Units, decide


class Inventory:
    def __init__(self, units: Units, steps: Collection[str] = ()) -> None:
        """`steps`: the optional saga steps deployed; fraud's rejection releases too."""
        self.units, self.steps = units, frozenset(steps)

    def messages(self) -> MessageTable:
        fraud: dict[type, Handler] = ({FraudRejected: self.release_stock}
                                      if "fraud" in self.steps else {})
        return MessageTable(
            choreography={OrderPlaced: self.reserve_placed,
                          **fraud,
                          PaymentDeclined: self.release_stock,
                          ShipmentRejected: self.release_stock,
                          OrderExpired: self.release_stock},
            orchestration={ReserveStock: self.reserve_stock,
                           ReleaseStock: self.release_stock},
            undo=frozenset({self.release_stock}),
            per_order=(reservation_stream,),
            publishes=(StockReserved, StockRejected, StockReleased, StockAdded))

    def reserve_placed(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Reserve every line: StockReserved | StockRejected; the order's facts travel on."""
        placed = msg.body
        facts = OrderFacts(customer_id=placed.customer_id, total_cents=placed.total_cents,
                           ship_to=placed.ship_to)
        self._reserve(msg, uow, placed.lines, facts)

    def reserve_stock(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Reserve every line: StockReserved | StockRejected."""
        self._reserve(msg, uow, msg.body.lines, None)

    def release_stock(self, msg: Envelope, uow: UnitOfWork) -> None:
        """Release what the order holds: StockReleased (nothing held: nothing to do)."""
        order_id = msg.body.order_id
        reservation = uow.state(reservation_stream(order_id), Reservation(), evolve_reservation)
        stocks = _stocks(uow, [line.sku for line in reservation.lines])
        decide(uow, msg, release(reservation, stocks, order_id), reservation_stream(order_id))

    def _reserve(self, msg: Envelope, uow: UnitOfWork, lines: Sequence[Line],
                 facts: OrderFacts | None) -> None:
        order_id = msg.body.order_id
        reservation = uow.state(reservation_stream(order_id), Reservation(), evolve_reservation)
        stocks = _stocks(uow, [line.sku for line in lines])
        decide(uow, msg, reserve(reservation, stocks, order_id, lines),
               reservation_stream(order_id), facts)

    def add_stock(self, sku: str, quantity: int) -> Stock:
        stream = stock_stream(validate_sku(sku))

        def work(uow: UnitOfWork) -> Stock:
            uow.append({stream: add_stock(uow.state(stream, Stock(), evolve_stock), sku,
                                          quantity)})
            return uow.state(stream, Stock(), evolve_stock)

        return self.units.write(work, f"stock add {sku}", correlation_id=sku, flow=None)

    def stock(self, sku: str) -> Stock:
        stream = stock_stream(validate_sku(sku))
        return self.units.read(lambda uow: uow.state(stream, Stock(), evolve_stock))


def _stocks(uow: UnitOfWork, skus: list[str]) -> dict[str, Stock]:
    return {sku: uow.state(stock_stream(sku), Stock(), evolve_stock) for sku in skus}

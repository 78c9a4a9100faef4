"""Stateful: stock never goes negative, nothing is created or lost, reservations are
all-or-nothing and end states absorb, whatever the sequence of decisions."""

from collections.abc import Mapping

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from domain.errors import DomainError
from domain.inventory import (
    InventoryDecision,
    Reservation,
    ReservationEvent,
    ReservationStatus,
    ReservedLine,
    Stock,
    StockEvent,
    StockReserved,
    add_stock,
    evolve_reservation,
    evolve_stock,
    fold_reservation,
    fold_stock,
    release,
    reserve,
)
from domain.streams import StreamCategory, stock_stream
from tests.unit.domain.builders import order_id

SKUS = ("BOOK-1", "MUG-1", "PEN-1")
ORDERS = tuple(order_id(n) for n in range(4))
wanted_lines = st.dictionaries(st.sampled_from(SKUS), st.integers(1, 6), min_size=1).map(
    lambda wanted: tuple(ReservedLine(sku=sku, quantity=q) for sku, q in wanted.items())
)


class InventoryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stock_events: dict[str, list[StockEvent]] = {sku: [] for sku in SKUS}
        self.reservation_events: dict[str, list[ReservationEvent]] = {o: [] for o in ORDERS}
        self.stocks: dict[str, Stock] = {sku: Stock() for sku in SKUS}
        self.reservations = {o: Reservation() for o in ORDERS}
        self.added = dict.fromkeys(SKUS, 0)
        self.ended: dict[str, ReservationStatus] = {}

    def append(self, decision: InventoryDecision) -> None:
        for stream, events in decision.items():
            for event in events:
                if stream.category is StreamCategory.STOCK:
                    assert not isinstance(event, ReservationEvent)
                    self.stock_events[stream.key].append(event)
                    self.stocks[stream.key] = evolve_stock(self.stocks[stream.key], event)
                else:
                    assert isinstance(event, ReservationEvent)
                    self.reservation_events[stream.key].append(event)
                    reservation = evolve_reservation(self.reservations[stream.key], event)
                    self.reservations[stream.key] = reservation

    @rule(sku=st.sampled_from(SKUS), quantity=st.integers(1, 8))
    def add(self, sku: str, quantity: int) -> None:
        [event] = add_stock(self.stocks[sku], sku, quantity)
        self.append({stock_stream(sku): [event]})
        self.added[sku] += quantity

    @rule(sku=st.sampled_from(SKUS), quantity=st.sampled_from([0, -1, True, 10**12]))
    def bad_add_changes_nothing(self, sku: str, quantity: int) -> None:
        try:
            add_stock(self.stocks[sku], sku, quantity)
        except DomainError:
            return
        raise AssertionError("a bad quantity was accepted")

    @rule(order=st.sampled_from(ORDERS), lines=wanted_lines)
    def reserve(self, order: str, lines: tuple[ReservedLine, ...]) -> None:
        before = self.reservations[order]
        decision = reserve(before, self.stocks, order, lines)
        assert (decision == {}) == (before.status is not ReservationStatus.NONE)
        self.append(decision)

    @rule(order=st.sampled_from(ORDERS))
    def release(self, order: str) -> None:
        self.append(release(self.reservations[order], self.stocks, order))

    @invariant()
    def fold_rebuilds_every_state(self) -> None:
        for sku, events in self.stock_events.items():
            assert fold_stock(events) == self.stocks[sku]
            assert self.stocks[sku].version == len(events)
        for order, reservation_events in self.reservation_events.items():
            assert fold_reservation(reservation_events) == self.reservations[order]
            assert self.reservations[order].version == len(reservation_events)

    @invariant()
    def stock_is_never_negative_created_or_lost(self) -> None:
        for sku, stock in self.stocks.items():
            assert stock.available >= 0
            assert all(units > 0 for units in stock.reserved.values())
            assert stock.total == self.added[sku]

    @invariant()
    def an_order_holds_all_its_lines_or_nothing(self) -> None:
        for order, reservation in self.reservations.items():
            holdings = _holdings(self.stocks, order)
            if reservation.status is ReservationStatus.RESERVED:
                assert holdings == {line.sku: line.quantity for line in reservation.lines}
            else:
                assert holdings == {}

    @invariant()
    def ended_reservations_stay_ended(self) -> None:
        for order, reservation in self.reservations.items():
            if order in self.ended:
                assert reservation.status is self.ended[order]
            elif reservation.status in (ReservationStatus.REJECTED, ReservationStatus.RELEASED):
                self.ended[order] = reservation.status

    @precondition(lambda self: any(self.reservation_events.values()))
    @invariant()
    def reservations_record_one_outcome_first(self) -> None:
        for events in self.reservation_events.values():
            assert all(not isinstance(e, StockReserved) for e in events[1:])


def _holdings(stocks: Mapping[str, Stock], order: str) -> dict[str, int]:
    return {sku: s.reserved[order] for sku, s in stocks.items() if order in s.reserved}


TestInventoryMachine = InventoryMachine.TestCase
TestInventoryMachine.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)

"""The unit of work behind the port (adapters/sql/unit_of_work.py) as the applier runs it:
a consumer batch in memory, loaded in one query, written in a few statements, refused
whole when a stream moved on under it, and shared with the fold cache only once committed.
On in-memory SQLite; two writers get a shared in-memory database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from adapters.codec import Envelope
from adapters.records import Incoming
from adapters.sql.event_store import ConcurrencyError
from adapters.sql.transaction import write
from domain.commands import ReserveStock
from domain.inventory import (
    InvalidReservation,
    Reservation,
    ReservationStatus,
    evolve_reservation,
)
from domain.inventory_events import (
    ReservedLine,
    StockAdded,
    StockAllocated,
    StockDeallocated,
    StockRejected,
    StockReleased,
    StockReserved,
)
from domain.order_events import OrderExpired, OrderLine, OrderPlaced
from domain.stock import Stock, add_stock, evolve_stock
from domain.streams import reservation_stream, stock_stream
from services.applier import TableApplier
from services.inventory import Inventory
from services.port import CHOREOGRAPHY, ORCHESTRATION, MessageTable, UnitOfWork
from tests.specs import CUSTOMER, ORDER_ID, OTHER_ORDER_ID, T0, Spec, order_id

BOOKS = stock_stream("BOOK-1")


def an_order(oid: str, *lines: tuple[str, int]) -> OrderPlaced:
    order_lines = tuple(OrderLine(sku=sku, quantity=n, unit_price_cents=100) for sku, n in lines)
    return OrderPlaced(order_id=oid, customer_id=CUSTOMER, lines=order_lines,
                       total_cents=sum(line.total_cents for line in order_lines), ship_to="DE",
                       flow=CHOREOGRAPHY, channel="cli", placed_at=T0,
                       deadline=T0 + timedelta(seconds=30))


def reserve(oid: str, quantity: int = 2) -> ReserveStock:
    return ReserveStock(order_id=oid, lines=(ReservedLine(sku="BOOK-1", quantity=quantity),))


def inventory(*, shared: bool = False, books: int = 10) -> Spec[Inventory]:
    spec = Spec("inventory", Inventory, shared=shared)
    spec.service.add_stock("BOOK-1", books)  # through the port: its fold is cached
    return spec


def apply(spec: Spec[Inventory], table: MessageTable, *batch: Envelope) -> None:
    """The batch through the runtime's applier, in one write transaction."""
    with write(spec.engine) as connection:
        TableApplier(table, spec.store, spec.clock).apply(
            connection, [Incoming(e, "t.orders", 0, n) for n, e in enumerate(batch)])


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, bool]]]:
    """(first word of each statement sent to the database, executemany?) while inside."""
    seen: list[tuple[str, bool]] = []

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
               executemany: bool) -> None:
        seen.append((statement.split(None, 1)[0].upper(), executemany))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


# one batch, in memory


def test_the_second_order_of_a_batch_sees_the_stock_the_first_one_took() -> None:
    spec = inventory(books=3)
    spec.apply(spec.envelope(an_order(ORDER_ID, ("BOOK-1", 2)), flow=CHOREOGRAPHY),
               spec.envelope(an_order(OTHER_ORDER_ID, ("BOOK-1", 2)), flow=CHOREOGRAPHY))
    assert spec.then_events() == [
        (str(reservation_stream(ORDER_ID)), StockReserved(
            order_id=ORDER_ID, lines=(ReservedLine(sku="BOOK-1", quantity=2),))),
        (str(BOOKS), StockAllocated(sku="BOOK-1", order_id=ORDER_ID, quantity=2)),
        (str(reservation_stream(OTHER_ORDER_ID)), StockRejected(
            order_id=OTHER_ORDER_ID, reason="out_of_stock", sku="BOOK-1"))]


def test_a_later_message_of_a_batch_acts_on_what_an_earlier_one_appended() -> None:
    spec = inventory(books=5)
    spec.apply(spec.envelope(an_order(ORDER_ID, ("BOOK-1", 2)), flow=CHOREOGRAPHY),
               spec.envelope(OrderExpired(order_id=ORDER_ID, expired_at=T0), flow=CHOREOGRAPHY))
    assert [(s, type(e), v) for (s, e), (_, v) in zip(spec.then_events(), spec.then_versions(),
                                                       strict=True)] == [
        (str(reservation_stream(ORDER_ID)), StockReserved, 1), (str(BOOKS), StockAllocated, 2),
        (str(reservation_stream(ORDER_ID)), StockReleased, 2), (str(BOOKS), StockDeallocated, 3)]
    assert spec.service.stock("BOOK-1") == Stock(sku="BOOK-1", available=5, version=3)


def test_a_failing_message_leaves_nothing_of_its_batch_behind() -> None:
    spec = inventory()
    with pytest.raises(InvalidReservation):
        spec.apply(spec.envelope(an_order(ORDER_ID, ("BOOK-1", 2)), flow=CHOREOGRAPHY),
                   spec.envelope(an_order(OTHER_ORDER_ID, ("BOOK-1", 1), ("BOOK-1", 1)),
                                 flow=CHOREOGRAPHY))
    assert (spec.then_events(), spec.then_outbox()) == ([], [])
    assert spec.service.stock("BOOK-1").available == 10


def test_appends_of_one_batch_to_one_stream_take_consecutive_versions() -> None:
    spec = inventory()
    spec.apply(*(spec.envelope(reserve(order_id(n), n), flow=ORCHESTRATION) for n in (1, 2, 3)))
    assert [(s, v) for s, v in spec.then_versions() if s == str(BOOKS)] == [
        (str(BOOKS), 2), (str(BOOKS), 3), (str(BOOKS), 4)]
    assert spec.service.stock("BOOK-1").available == 10 - 1 - 2 - 3
    assert len(spec.then_outbox()) == 3  # a StockReserved per order (allocations stay inside)


def test_a_repeated_command_in_the_same_batch_is_answered_with_the_first_outcome() -> None:
    spec = inventory()
    spec.apply(*(spec.envelope(reserve(ORDER_ID), flow=ORCHESTRATION) for _ in range(2)))
    assert [type(event) for _, event in spec.then_events()] == [StockReserved, StockAllocated]
    reserved, again = spec.then_published()
    assert (again.event_id, again.body) == (reserved.event_id, reserved.body)


@pytest.mark.parametrize("orders", [3, 40])
def test_a_batch_loads_its_per_order_streams_in_one_query_however_many_orders(
        orders: int) -> None:
    spec = inventory(books=1000)
    spec.service.add_stock("MUG-1", 1000)
    batch = [spec.envelope(an_order(order_id(n), ("BOOK-1", 1), ("MUG-1", 1)), flow=CHOREOGRAPHY)
             for n in range(orders)]
    with statements(spec.engine) as seen:
        apply(spec, spec.table, *batch)
    # One SELECT for every order's reservation stream; one per SKU for the stock rows
    # after its cached fold (none); one INSERT of all events, one of all outbox rows.
    assert seen == [("SELECT", False), ("SELECT", False), ("SELECT", False),
                    ("INSERT", True), ("INSERT", True)]
    assert spec.service.stock("MUG-1").available == 1000 - orders


# concurrency


def racing(spec: Spec[Inventory]) -> MessageTable:
    """Inventory's ReserveStock row, with another writer adding books between the
    handler's decision and the batch's flush."""
    def reserve_then_race(msg: Envelope, uow: UnitOfWork) -> None:
        spec.service.reserve_stock(msg, uow)
        spec.service.add_stock("BOOK-1", 5)  # another connection commits first

    return MessageTable(orchestration={ReserveStock: reserve_then_race},
                        per_order=(reservation_stream,))


def test_a_stream_that_moved_on_under_the_batch_refuses_the_whole_batch() -> None:
    spec = inventory(shared=True)
    command = spec.envelope(reserve(ORDER_ID), flow=ORCHESTRATION)
    with pytest.raises(ConcurrencyError, match="changed concurrently"):
        apply(spec, racing(spec), command)
    assert spec.stream(BOOKS) == [StockAdded(sku="BOOK-1", quantity=10),
                                  StockAdded(sku="BOOK-1", quantity=5)]  # the other writer's
    assert spec.stream(reservation_stream(ORDER_ID)) == []  # nothing of the refused batch
    apply(spec, spec.table, command)  # the runtime applies it again, on fresh state
    assert spec.service.stock("BOOK-1") == Stock(sku="BOOK-1", available=13,
                                                 reserved={ORDER_ID: 2}, version=3)


def test_a_unit_rerun_after_a_concurrent_change_decides_on_fresh_state() -> None:
    spec = inventory(shared=True)
    seen: list[int] = []

    def work(uow: UnitOfWork) -> None:
        stock = uow.state(BOOKS, Stock(), evolve_stock)
        seen.append(stock.available)
        if len(seen) == 1:
            spec.service.add_stock("BOOK-1", 5)  # another connection commits first
        uow.append({BOOKS: add_stock(stock, "BOOK-1", 1)})

    spec.units.write(work, "stock add BOOK-1", correlation_id="BOOK-1", flow=None)
    assert seen == [10, 15]
    assert spec.service.stock("BOOK-1").available == 16


def test_a_read_only_unit_that_writes_is_refused_and_leaves_no_trace() -> None:
    spec = inventory()

    def sneaky(uow: UnitOfWork) -> None:
        uow.state(BOOKS, Stock(), evolve_stock)
        uow.append({BOOKS: [StockAdded(sku="BOOK-1", quantity=1)]})

    with pytest.raises(RuntimeError, match="read-only unit of work tried to write"):
        spec.units.read(sneaky)
    with pytest.raises(RuntimeError, match="read-only unit of work tried to write"):
        spec.units.read(lambda uow: uow.send([reserve(ORDER_ID)]))
    assert spec.stream(BOOKS) == [StockAdded(sku="BOOK-1", quantity=10)]
    assert spec.service.stock("BOOK-1").available == 10  # no fold of the refused append


# the fold cache


class Abandoned(Exception):
    """The runtime's transaction fails after the batch was flushed (a later write, the
    COMMIT itself)."""


def test_the_fold_cache_shares_a_batchs_states_only_once_it_committed() -> None:
    spec = inventory(shared=True)
    books = (id(spec.engine), str(BOOKS), evolve_stock)
    held = (id(spec.engine), str(reservation_stream(ORDER_ID)), evolve_reservation)
    command = spec.envelope(reserve(ORDER_ID), flow=ORCHESTRATION)
    with pytest.raises(Abandoned), write(spec.engine) as connection:
        TableApplier(spec.table, spec.store, spec.clock).apply(
            connection, [Incoming(command, "t.inventory.commands", 0, 0)])
        assert spec.store.folds.get(connection, books)[0] == 2  # type: ignore[index]
        with spec.engine.connect() as other:  # another connection sees the committed fold
            assert spec.store.folds.get(other, books)[0] == 1  # type: ignore[index]
            assert spec.store.folds.get(other, held) is None
        raise Abandoned
    with spec.engine.connect() as connection:
        assert spec.store.folds.get(connection, books) == (
            1, Stock(sku="BOOK-1", available=10, version=1))
        assert spec.store.folds.get(connection, held) is None
    apply(spec, spec.table, command)
    with spec.engine.connect() as connection:
        assert spec.store.folds.get(connection, books) == (
            2, Stock(sku="BOOK-1", available=8, reserved={ORDER_ID: 2}, version=2))
        assert spec.store.folds.get(connection, held) == (1, Reservation(
            order_id=ORDER_ID, status=ReservationStatus.RESERVED,
            lines=(ReservedLine(sku="BOOK-1", quantity=2),), version=1))

"""The event store's contract, written once and run against every store.

A store's test module subclasses `EventStoreContract` and implements `make_engine`:
it returns an engine on a freshly migrated, empty store.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from adapters import registry, upcasters
from adapters.codec import OrderFacts, decode
from adapters.registry import BY_CLASS, registration
from adapters.sql import tracking
from adapters.sql.engine import READONLY
from adapters.sql.event_store import ConcurrencyError, Context, EventStore, UnreadableEvent
from adapters.sql.tables import events, outbox
from adapters.sql.transaction import write
from domain.inventory_events import ReservedLine, StockAdded, StockAllocated, StockReserved
from domain.order import Order, OrderStatus
from domain.order import evolve as evolve_order
from domain.order_events import Channel, OrderConfirmed, OrderLine, OrderPlaced
from domain.payment_events import CreditLimitSet
from domain.saga_events import SagaStarted, StepSucceeded
from domain.stock import Stock, evolve_stock, fold_stock
from domain.streams import (
    StreamId,
    credit_stream,
    order_stream,
    reservation_stream,
    saga_stream,
    stock_stream,
)
from tests.conftest import MakeEnv

PREFIX = "contract."
# A row that breaks a DEFERRABLE foreign key is refused at COMMIT, not at INSERT, on
# SQLite (foreign_keys=ON) and PostgreSQL alike: a commit that really fails.
DEFERRED_CHECK = (
    "CREATE TABLE t_parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE t_child (parent_id INTEGER REFERENCES t_parent (id)"
    " DEFERRABLE INITIALLY DEFERRED)",
)
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ORDER_A = "0b7e6c1a-3f0e-4c1b-9a51-2f1f3c9d8e01"
ORDER_B = "5d0c8f4e-7a2b-4e3d-8c9f-6b1a2d3e4f50"
CONTEXT = Context(correlation_id=ORDER_A, causation_id="cmd-1", flow="choreography", now=T0,
                  order=OrderFacts(customer_id="alice", total_cents=4998, ship_to="DE"))


class EventStoreContract:
    """Subclasses: `make_engine(make_env)` → engine on a migrated, empty store."""

    def make_engine(self, make_env: MakeEnv) -> Engine:
        raise NotImplementedError

    @pytest.fixture
    def engine(self, make_env: MakeEnv) -> Iterator[Engine]:
        engine = self.make_engine(make_env)
        yield engine
        engine.dispose()

    @pytest.fixture
    def store(self) -> EventStore:
        return EventStore(PREFIX)

    # --- append and load ----------------------------------------------------------------

    def test_append_then_load_returns_the_events_in_order(self, engine: Engine,
                                                          store: EventStore) -> None:
        history = [placed(ORDER_A), OrderConfirmed(order_id=ORDER_A, confirmed_at=T0)]
        append(engine, store, order_stream(ORDER_A), 0, history)
        assert load(engine, store, order_stream(ORDER_A)) == history

    def test_a_stream_never_written_is_empty_at_version_0(self, engine: Engine,
                                                          store: EventStore) -> None:
        with engine.connect() as connection:
            assert store.load(connection, order_stream(ORDER_A)) == []
            assert store.version(connection, order_stream(ORDER_A)) == 0

    def test_versions_run_from_1_to_n_across_appends(self, engine: Engine,
                                                     store: EventStore) -> None:
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1), added(2), added(3)])
        written = append(engine, store, stream, 3, [added(4), added(5)])
        assert [e.aggregate_version for e in written] == [4, 5]
        with engine.connect() as connection:
            recorded = store.read(connection, stream)
            assert store.version(connection, stream) == 5
        assert [r.envelope.aggregate_version for r in recorded] == [1, 2, 3, 4, 5]
        assert [r.envelope.body.quantity for r in recorded] == [1, 2, 3, 4, 5]
        assert stored_versions(engine, stream) == [1, 2, 3, 4, 5]

    def test_what_caused_the_events_is_recorded(self, engine: Engine, store: EventStore) -> None:
        append(engine, store, order_stream(ORDER_A), 0, [placed(ORDER_A)])
        with engine.connect() as connection:
            [recorded] = store.read(connection, order_stream(ORDER_A))
        envelope = recorded.envelope
        assert (envelope.aggregate_id, envelope.correlation_id, envelope.causation_id,
                envelope.flow, envelope.occurred_at) == (ORDER_A, ORDER_A, "cmd-1",
                                                         "choreography", T0)
        assert (envelope.type, envelope.schema_version) == ("order.placed.v2", 2)

    # --- optimistic concurrency ---------------------------------------------------------

    @pytest.mark.parametrize("stale", [0, 1])
    def test_a_stale_expected_version_raises_and_writes_nothing(
            self, engine: Engine, store: EventStore, stale: int) -> None:
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1), added(2)])
        before = counts(engine)
        with pytest.raises(ConcurrencyError):
            append(engine, store, stream, stale, [added(7), added(8)])
        assert counts(engine) == before
        assert load(engine, store, stream) == [added(1), added(2)]

    @pytest.mark.parametrize("ahead", [3, 5])
    def test_an_expected_version_ahead_of_the_stream_raises_and_leaves_no_gap(
            self, engine: Engine, store: EventStore, ahead: int) -> None:
        # given a stream at version 2
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1), added(2)])
        before = counts(engine)
        # when a writer claims it is at a version the stream never reached
        with pytest.raises(ConcurrencyError):
            append(engine, store, stream, ahead, [added(7)])
        # then nothing is written: versions stay 1..n without gaps
        assert counts(engine) == before
        assert stored_versions(engine, stream) == [1, 2]

    def test_a_clash_inside_the_callers_transaction_rolls_all_of_it_back(
            self, engine: Engine, store: EventStore) -> None:
        append(engine, store, stock_stream("BOOK-1"), 0, [added(1)])
        with pytest.raises(ConcurrencyError), engine.begin() as connection:
            store.append(connection, credit_stream("alice"), 0, [credit(100)], CONTEXT)
            store.append(connection, stock_stream("BOOK-1"), 0, [added(9)], CONTEXT)
        assert counts(engine) == {"events": 1, "outbox": 1}

    # --- append_many --------------------------------------------------------------------

    def test_append_many_writes_every_stream_in_one_call(self, engine: Engine,
                                                         store: EventStore) -> None:
        append(engine, store, stock_stream("MUG-1"), 0, [added(5)])
        with engine.begin() as connection:
            store.append_many(connection, {
                stock_stream("MUG-1"): (1, [allocated("MUG-1", ORDER_A, 2)]),
                reservation_stream(ORDER_A): (0, [reserved(ORDER_A, "MUG-1", 2)]),
            }, CONTEXT)
        assert load(engine, store, stock_stream("MUG-1")) == [added(5),
                                                              allocated("MUG-1", ORDER_A, 2)]
        assert load(engine, store, reservation_stream(ORDER_A)) == [reserved(ORDER_A, "MUG-1", 2)]
        # the allocation stays in the store; the added stock and the reservation are published
        assert counts(engine) == {"events": 3, "outbox": 2}

    def test_append_many_is_all_or_nothing(self, engine: Engine, store: EventStore) -> None:
        # given one of three streams has moved on
        append(engine, store, stock_stream("MUG-1"), 0, [added(5)])
        before = counts(engine)
        # when a multi-stream append clashes on that one stream only
        with pytest.raises(ConcurrencyError), engine.begin() as connection:
            store.append_many(connection, {
                stock_stream("BOOK-1"): (0, [allocated("BOOK-1", ORDER_A, 1)]),
                stock_stream("MUG-1"): (0, [allocated("MUG-1", ORDER_A, 1)]),
                reservation_stream(ORDER_A): (0, [reserved(ORDER_A, "MUG-1", 1)]),
            }, CONTEXT)
        # then no stream got events and no outbox row was written
        assert counts(engine) == before
        assert load(engine, store, stock_stream("BOOK-1")) == []
        assert load(engine, store, reservation_stream(ORDER_A)) == []

    # --- global position ----------------------------------------------------------------

    def test_every_event_has_a_strictly_increasing_global_position(
            self, engine: Engine, store: EventStore) -> None:
        streams = [stock_stream("BOOK-1"), credit_stream("alice"), stock_stream("MUG-1")]
        written: list[str] = []
        for round_ in range(3):
            for stream in streams:
                batch = [credit(round_)] if stream.category == "credit" else [added(round_ + 1)]
                written += [e.event_id for e in append(engine, store, stream, round_, batch)]
        with engine.connect() as connection:
            rows = connection.execute(sa.select(events.c.event_id, events.c.position)).all()
        position = dict(rows)
        in_append_order = [position[event_id] for event_id in written]
        assert in_append_order == sorted(set(in_append_order))  # unique and increasing
        with engine.connect() as connection:
            recorded = store.read(connection, stock_stream("BOOK-1"))
        assert [r.position for r in recorded] == [position[r.envelope.event_id]
                                                  for r in recorded]

    # --- the transactional outbox -------------------------------------------------------

    def test_outbox_rows_roll_back_with_the_events(self, engine: Engine,
                                                   store: EventStore) -> None:
        with pytest.raises(RuntimeError, match="crash"), engine.begin() as connection:
            store.append(connection, order_stream(ORDER_A), 0, [placed(ORDER_A)], CONTEXT)
            assert counts(engine, connection) == {"events": 1, "outbox": 1}
            raise RuntimeError("crash before commit")
        assert counts(engine) == {"events": 0, "outbox": 0}

    def test_only_events_with_a_topic_get_an_outbox_row(
            self, engine: Engine, store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
        # given a message the registry keeps in the store only (no topic)
        kept = dataclasses.replace(BY_CLASS[StepSucceeded], topic=None)
        monkeypatch.setitem(registry.BY_CLASS, StepSucceeded, kept)
        # when it is appended together with messages that have a topic
        written = append(engine, store, saga_stream(ORDER_A), 0,
                         [saga_started(ORDER_A), StepSucceeded(order_id=ORDER_A, step="x")])
        written += append(engine, store, order_stream(ORDER_A), 0, [placed(ORDER_A)])
        # then exactly the ones with a topic are in the outbox
        published = [e.event_id for e in written if registration(e.body).topic is not None]
        assert written[1].event_id not in published and written[2].event_id in published
        assert [r["message_id"] for r in outbox_rows(engine)] == published
        assert counts(engine)["events"] == 3

    @pytest.mark.parametrize(("stream", "event", "topic", "key"), [
        (order_stream(ORDER_A), "placed", "orders", ORDER_A),
        (stock_stream("BOOK-1"), "added", "inventory", "BOOK-1"),
        (reservation_stream(ORDER_B), "reserved", "inventory", ORDER_B),
        (credit_stream("alice"), "credit", "payments", "alice"),
    ], ids=["order", "stock", "reservation", "credit"])
    def test_an_outbox_row_holds_the_kafka_record(
            self, engine: Engine, store: EventStore, stream: StreamId, event: str, topic: str,
            key: str) -> None:
        body = {"placed": placed(ORDER_A), "added": added(3),
                "reserved": reserved(ORDER_B, "BOOK-1", 1), "credit": credit(500)}[event]
        [envelope] = append(engine, store, stream, store_version(engine, store, stream), [body])
        [row] = [r for r in outbox_rows(engine) if r["message_id"] == envelope.event_id]
        assert row["topic"] == PREFIX + topic
        assert row["key"] == key
        assert decode(bytes(row["value"])) == envelope
        assert row["published_at"] is None
        sent = dict(orjson.loads(row["headers"]))
        assert sent["type"] == envelope.type and sent["event_id"] == envelope.event_id

    def test_outbox_rows_are_in_event_order(self, engine: Engine, store: EventStore) -> None:
        written = append(engine, store, stock_stream("BOOK-1"), 0, [added(n) for n in (1, 2, 3)])
        written += append(engine, store, order_stream(ORDER_A), 0, [placed(ORDER_A)])
        written += append(engine, store, stock_stream("BOOK-1"), 3, [added(4)])
        assert [r["message_id"] for r in outbox_rows(engine)] == [e.event_id for e in written]

    # --- isolation ----------------------------------------------------------------------

    def test_streams_are_isolated(self, engine: Engine, store: EventStore) -> None:
        # same key in two categories, and keys that are prefixes of each other
        append(engine, store, stock_stream("alice"), 0, [added(1)])
        append(engine, store, credit_stream("alice"), 0, [credit(100), credit(200)])
        append(engine, store, stock_stream("alice-1"), 0, [added(9)])
        append(engine, store, order_stream(ORDER_A), 0, [placed(ORDER_A)])
        append(engine, store, order_stream(ORDER_B), 0, [placed(ORDER_B)])
        assert load(engine, store, stock_stream("alice")) == [added(1)]
        assert load(engine, store, credit_stream("alice")) == [credit(100), credit(200)]
        assert load(engine, store, stock_stream("alice-1")) == [added(9)]
        assert load(engine, store, order_stream(ORDER_B)) == [placed(ORDER_B)]
        # a clash on one stream does not touch the other
        with pytest.raises(ConcurrencyError):
            append(engine, store, credit_stream("alice"), 1, [credit(300)])
        append(engine, store, stock_stream("alice"), 1, [added(2)])
        assert stored_versions(engine, stock_stream("alice")) == [1, 2]

    # --- folded state (cached per process) ----------------------------------------------

    def test_state_is_the_fold_of_the_stream_and_catches_up(self, engine: Engine,
                                                             store: EventStore) -> None:
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1), added(2)])
        assert stock_state(engine, store, stream) == fold_stock(load(engine, store, stream))
        # another process (another store object) appends; this one catches up
        append(engine, EventStore(PREFIX), stream, 2, [added(3)])
        assert stock_state(engine, store, stream) == fold_stock(load(engine, store, stream))
        assert stock_state(engine, store, stream).available == 6

    def test_state_forgets_a_rolled_back_append(self, engine: Engine,
                                                store: EventStore) -> None:
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1)])
        with pytest.raises(RuntimeError, match="crash"), engine.begin() as connection:
            store.append(connection, stream, 1, [added(5)], CONTEXT)
            assert store.state(connection, stream, Stock(), evolve_stock).available == 6
            raise RuntimeError("crash before commit")
        assert stock_state(engine, store, stream) == fold_stock([added(1)])

    def test_state_forgets_an_append_whose_commit_failed(self, engine: Engine,
                                                          store: EventStore) -> None:
        # given a stream at version 1, and a deferred constraint that fails at COMMIT
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1)])
        with engine.begin() as connection:
            for statement in DEFERRED_CHECK:
                connection.exec_driver_sql(statement)

        def work(connection: sa.Connection) -> None:
            store.append(connection, stream, 1, [added(5)], CONTEXT)
            assert store.state(connection, stream, Stock(), evolve_stock).version == 2
            connection.exec_driver_sql("INSERT INTO t_child (parent_id) VALUES (42)")

        # when a writer appends and folds, and then the database refuses the COMMIT
        with pytest.raises(sa.exc.IntegrityError), write(engine) as connection:
            work(connection)
        # then the store holds one event, and so does the folded state
        assert stored_versions(engine, stream) == [1]
        assert stock_state(engine, store, stream) == fold_stock([added(1)])

    def test_state_never_shows_another_transactions_uncommitted_append(
            self, engine: Engine, store: EventStore) -> None:
        # given a stream at version 1 and a writer that appended but has not committed
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1)])
        with engine.connect() as writer:
            transaction = writer.begin()
            store.append(writer, stream, 1, [added(5)], CONTEXT)
            assert store.state(writer, stream, Stock(), evolve_stock).version == 2
            # when another connection of the same process reads the stream
            with engine.connect().execution_options(**READONLY) as reader:
                seen = store.state(reader, stream, Stock(), evolve_stock)
            transaction.rollback()
        # then it sees what is committed, never the writer's pending state
        assert (seen.version, seen.available) == (1, 1)

    def test_state_is_folded_with_the_evolve_function_given(self, engine: Engine,
                                                            store: EventStore) -> None:
        stream = stock_stream("BOOK-1")
        append(engine, store, stream, 0, [added(1), added(2)])
        assert stock_state(engine, store, stream).available == 3
        with engine.connect() as connection:
            count = store.state(connection, stream, 0, lambda n, _event: n + 1)
        assert count == 2

    # --- schema versions: every load upcasts -------------------------------------------

    def test_each_event_is_stored_with_its_schema_version(self, engine: Engine,
                                                          store: EventStore) -> None:
        append(engine, store, order_stream(ORDER_A), 0, [placed(ORDER_A)])
        append(engine, store, stock_stream("BOOK-1"), 0, [added(1)])
        with engine.connect() as connection:
            rows = connection.execute(sa.select(events.c.type, events.c.schema_version)
                                      .order_by(events.c.position)).all()
        assert [tuple(r) for r in rows] == [("order.placed.v2", 2),
                                            ("inventory.stock-added.v1", 1)]

    def test_a_v1_row_folds_and_reads_as_v2_with_channel_unknown(
            self, engine: Engine, store: EventStore) -> None:
        # given an order placed by the code before channels (a row as 6737ebe wrote it)
        insert_v1_placed(engine, ORDER_A)
        # when the order is folded, caught up from the fold cache, and read
        assert order_state(engine, store, ORDER_A).channel is Channel.UNKNOWN
        append(engine, store, order_stream(ORDER_A), 1,
               [OrderConfirmed(order_id=ORDER_A, confirmed_at=T0)])
        order = order_state(engine, store, ORDER_A)
        with engine.connect() as connection:
            first = store.read(connection, order_stream(ORDER_A))[0].envelope
        # then it is today's OrderPlaced, with the channel nobody recorded
        assert (order.status, order.channel, order.version) == (
            OrderStatus.CONFIRMED, Channel.UNKNOWN, 2)
        assert order_state(engine, EventStore(PREFIX), ORDER_A) == order  # folded afresh
        assert first.body == dataclasses.replace(placed(ORDER_A), channel="unknown")
        assert (first.type, first.schema_version) == ("order.placed.v2", 2)
        # and the row itself is never rewritten
        with engine.connect() as connection:
            row = connection.execute(sa.select(events.c.type, events.c.schema_version)
                                     .order_by(events.c.position)).first()
        assert tuple(row or ()) == ("order.placed.v1", 1)

    @pytest.mark.parametrize(("wire", "version", "said"), [
        ("order.placed.v2", 3, "newer than this code"),
        ("order.placed.v3", 3, "newer than this code"),
        ("order.placed.v1", 1, "no upcaster for OrderPlaced schema_version 1"),
    ], ids=["future version", "future name", "no upcaster"])
    def test_a_row_the_code_cannot_read_is_an_error_naming_it(
            self, engine: Engine, store: EventStore, monkeypatch: pytest.MonkeyPatch,
            wire: str, version: int, said: str) -> None:
        monkeypatch.delitem(upcasters.UPCASTERS, (OrderPlaced, 1))
        insert_v1_placed(engine, ORDER_A, type=wire, schema_version=version)
        named = re.escape(f"stored event order:{ORDER_A} version 1 ({wire}, schema_version "
                          f"{version}) cannot be read: ") + f".*{said}"
        with pytest.raises(UnreadableEvent, match=named):
            order_state(engine, store, ORDER_A)
        with pytest.raises(UnreadableEvent, match=named), engine.connect() as connection:
            store.read(connection, order_stream(ORDER_A))

    # --- consumer tracking ----------------------------------------------------------------

    def test_positions_only_move_forward(self, engine: Engine) -> None:
        # given a group that applied up to offset 10 of a partition
        key = ("contract.orders", 3)
        with engine.begin() as connection:
            tracking.save_positions(connection, "g", {key: 10})
        # when a late writer (the partition's previous owner) saves an older position
        with engine.begin() as connection:
            tracking.save_positions(connection, "g", {key: 4, ("contract.orders", 0): 2})
        # then the stored position stays where it was; new partitions are stored
        with engine.connect() as connection:
            stored = tracking.load_positions(connection, "g", [key, ("contract.orders", 0)])
        assert stored == {key: 10, ("contract.orders", 0): 2}
        with engine.begin() as connection:
            tracking.save_positions(connection, "g", {key: 11})
        with engine.connect() as connection:
            assert tracking.load_positions(connection, "g", [key]) == {key: 11}


# --- helpers --------------------------------------------------------------------------------

def append(engine: Engine, store: EventStore, stream: StreamId, expected: int,
           batch: Sequence[object]) -> list[Any]:
    with engine.begin() as connection:
        return store.append(connection, stream, expected, batch, CONTEXT)


def stock_state(engine: Engine, store: EventStore, stream: StreamId) -> Stock:
    with engine.connect().execution_options(**READONLY) as connection:
        return store.state(connection, stream, Stock(), evolve_stock)


def order_state(engine: Engine, store: EventStore, order_id: str) -> Order:
    with engine.connect().execution_options(**READONLY) as connection:
        order = store.state(connection, order_stream(order_id), None, evolve_order)
    assert order is not None
    return order


def insert_v1_placed(engine: Engine, order_id: str, **changes: object) -> None:
    """An OrderPlaced row exactly as the code at 6737ebe wrote it: type order.placed.v1,
    no channel in its data, and no schema_version (the column's default says 1)."""
    data = {"order_id": order_id, "customer_id": "alice",
            "lines": [{"sku": "BOOK-1", "quantity": 2, "unit_price_cents": 2499}],
            "total_cents": 4998, "ship_to": "DE", "flow": "choreography",
            "placed_at": T0.isoformat(), "deadline": (T0 + timedelta(seconds=30)).isoformat()}
    row = {"event_id": "8f3c2a10-0000-4000-8000-000000000001",
           "stream_id": str(order_stream(order_id)), "version": 1, "type": "order.placed.v1",
           "data": orjson.dumps(data).decode(), "occurred_at": T0.isoformat(),
           "correlation_id": order_id, "causation_id": None, "flow": "choreography"}
    with engine.begin() as connection:
        connection.execute(events.insert(), [row | changes])


def load(engine: Engine, store: EventStore, stream: StreamId) -> list[Any]:
    with engine.connect() as connection:
        return store.load(connection, stream)


def store_version(engine: Engine, store: EventStore, stream: StreamId) -> int:
    with engine.connect() as connection:
        return store.version(connection, stream)


def stored_versions(engine: Engine, stream: StreamId) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(
            sa.select(events.c.version).where(events.c.stream_id == str(stream))
            .order_by(events.c.version)).scalars())


def counts(engine: Engine, connection: sa.Connection | None = None) -> dict[str, int]:
    def count(conn: sa.Connection) -> dict[str, int]:
        return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (events, outbox)}
    if connection is not None:
        return count(connection)
    with engine.connect() as fresh:
        return count(fresh)


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(
            sa.select(outbox).order_by(outbox.c.id))]


def placed(order_id: str) -> OrderPlaced:
    return OrderPlaced(order_id=order_id, customer_id="alice",
                       lines=(OrderLine(sku="BOOK-1", quantity=2, unit_price_cents=2499),),
                       total_cents=4998, ship_to="DE", flow="choreography", channel="cli",
                       placed_at=T0, deadline=T0 + timedelta(seconds=30))


def added(quantity: int, sku: str = "BOOK-1") -> StockAdded:
    return StockAdded(sku=sku, quantity=quantity)


def allocated(sku: str, order_id: str, quantity: int) -> StockAllocated:
    return StockAllocated(sku=sku, order_id=order_id, quantity=quantity)


def reserved(order_id: str, sku: str, quantity: int) -> StockReserved:
    return StockReserved(order_id=order_id, lines=(ReservedLine(sku=sku, quantity=quantity),))


def credit(limit_cents: int) -> CreditLimitSet:
    return CreditLimitSet(customer_id="alice", limit_cents=limit_cents)


def saga_started(order_id: str) -> SagaStarted:
    return SagaStarted(order_id=order_id, customer_id="alice",
                       lines=(ReservedLine(sku="BOOK-1", quantity=2),), amount_cents=4998,
                       ship_to="DE", order_deadline=T0 + timedelta(seconds=30),
                       step_timeout_ms=5000, max_attempts=3, started_at=T0,
                       steps=("reserve_stock", "authorize_payment", "schedule_shipment",
                              "confirm_order"))

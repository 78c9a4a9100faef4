"""saga_view, dead_letter_view and the status they lend an order, read back through
ReadModels (what `sagas list/show`, `status` and `list` print), fed real events."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from adapters.notices import DeadLetterRedriven, MessageDeadLettered
from adapters.records import Incoming
from domain import inventory_events as inv
from domain import order_events as o
from domain import payment_events as p
from domain.commands import ReleaseStock
from domain.saga import Decision, Saga, SagaEvent, fold_saga, on_reply, on_tick, start_saga
from projections.projector import Projector
from projections.read_models import ReadModels
from tests.unit.test_projections_support import CUSTOMER, SKU, T0, Topics, memory_engine, placed

ORDER = "00000000-0000-4000-8000-000000000007"
PROJECTOR = Projector("t.")
LINES = (inv.ReservedLine(sku=SKU, quantity=2),)


class Saw:
    """A saga driven by the domain; each of its events projected as it is decided."""

    def __init__(self) -> None:
        self.engine, self.topics = memory_engine(), Topics("t.")
        self.models = ReadModels(self.engine)
        start = placed(self.topics, ORDER)
        self.project(start)
        self.events: list[SagaEvent] = []
        self.take(start_saga(start.envelope.body, T0, timedelta(seconds=5)), 0)

    def take(self, decision: Decision, seconds: float) -> None:
        for event in decision.events:
            self.events.append(event)
            self.project(self.topics.incoming(event, "sagas", seconds=seconds,
                                              version=len(self.events)))

    def project(self, record: Incoming) -> None:
        with self.engine.begin() as connection:
            PROJECTOR.handle(connection, record)

    @property
    def saga(self) -> Saga:
        saga = fold_saga(self.events)
        assert saga is not None
        return saga

    def reply(self, body: object, seconds: float) -> None:
        self.take(on_reply(self.saga, body, T0 + timedelta(seconds=seconds)), seconds)  # type: ignore[arg-type]

    def tick(self, seconds: float) -> None:
        self.take(on_tick(self.saga, T0 + timedelta(seconds=seconds)), seconds)

    def row(self) -> tuple[object, ...]:
        saga = self.models.saga(ORDER)
        assert saga is not None
        return (saga["state"], saga["current_step"], saga["attempt"], saga["compensated"])

    def status(self) -> str:
        order = self.models.order(ORDER)
        assert order is not None
        return str(order["status"])


def test_a_failing_compensation_shows_everywhere_until_it_gets_through() -> None:
    saw = Saw()
    saw.reply(inv.StockReserved(order_id=ORDER, lines=LINES), 1)
    saw.reply(p.PaymentDeclined(order_id=ORDER, customer_id=CUSTOMER, reason="over_credit"), 2)
    assert saw.row() == ("compensating", "release_stock", 1, "")
    assert saw.status() == "created"
    saw.tick(7)  # release_stock went unanswered: failing, and re-sent
    assert saw.row() == ("compensation_failed", "release_stock", 2, "")
    assert saw.status() == "compensation_failed"
    assert [o["order_id"] for o in saw.models.orders(status="compensation_failed")] == [ORDER]
    assert [s["order_id"] for s in saw.models.sagas("compensation_failed")] == [ORDER]
    saw.reply(inv.StockReleased(order_id=ORDER, lines=LINES), 8)
    assert saw.row() == ("compensating", "reject_order", 1, "release_stock")
    assert saw.status() == "created"
    assert saw.models.orders(status="compensation_failed") == []


def test_a_finished_saga_reads_back_step_by_step() -> None:
    saw = Saw()
    saw.reply(inv.StockReserved(order_id=ORDER, lines=LINES), 1)
    saw.reply(p.PaymentAuthorized(order_id=ORDER, customer_id=CUSTOMER, amount_cents=2500), 2)
    assert saw.row() == ("running", "schedule_shipment", 1, "")
    saga = saw.models.saga(ORDER)
    assert saga is not None
    assert (saga["steps_done"], saga["commands_sent"], saga["reason"]) == (
        "reserve_stock,authorize_payment", 3, None)
    assert saga["step_deadline"] == (T0 + timedelta(seconds=7)).isoformat(timespec="microseconds")
    with saw.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM saga_view")).scalar() == 1


def dead_lettered(topics: Topics, held: Incoming, group: str, seconds: float) -> Incoming:
    """The notice a participant's consumer queues when it dead-letters `held`."""
    notice = MessageDeadLettered(
        dead_letter_id=f"dl-{held.offset}-{group}", order_id=ORDER, group=group,
        topic=held.topic, partition=held.partition, offset=held.offset,
        message_type=held.envelope.type, error="RuntimeError: store said no")
    return topics.incoming(notice, "dead-letters", seconds=seconds, correlation=ORDER)


def test_a_choreography_compensation_in_a_dlq_shows_until_it_is_redriven() -> None:
    saw = Saw()  # its order is choreographed: no saga row is ever written for it
    declined = saw.topics.incoming(p.PaymentDeclined(order_id=ORDER, customer_id=CUSTOMER,
                                                     reason="over_credit"), "payments", seconds=2)
    saw.project(declined)
    saw.project(saw.topics.incoming(
        o.OrderRejected(order_id=ORDER, reason="over_credit", rejected_at=T0), "orders",
        seconds=3, version=2))
    assert saw.status() == "rejected"
    stuck = dead_lettered(saw.topics, declined, "t.inventory", 4)  # the release failed
    saw.project(stuck)
    assert saw.status() == "compensation_failed"
    assert [o["order_id"] for o in saw.models.orders(status="compensation_failed")] == [ORDER]
    saw.project(saw.topics.incoming(DeadLetterRedriven(
        dead_letter_id=stuck.envelope.body.dead_letter_id, order_id=ORDER), "dead-letters",
        seconds=5, correlation=ORDER))
    assert saw.status() == "rejected"
    assert saw.models.orders(status="compensation_failed") == []


def test_a_dead_letter_that_undoes_nothing_does_not_make_a_compensation_fail() -> None:
    saw = Saw()
    reserved = saw.topics.incoming(inv.StockReserved(order_id=ORDER, lines=LINES), "inventory",
                                   seconds=1)
    saw.project(reserved)
    saw.project(dead_lettered(saw.topics, reserved, "t.payment", 2))  # a forward step
    assert saw.status() == "created"
    columns, rows = saw.models.inspect("dead_letter_view")
    seen = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [(r["dead_letter_id"], r["service"], r["message_type"], r["compensation"])
            for r in seen] == [("dl-0-t.payment", "payment", "inventory.stock-reserved.v1",
                                False)]


def test_a_dead_lettered_undo_command_shows_until_the_service_undoes_it_after_all() -> None:
    saw = Saw()
    saw.reply(inv.StockReserved(order_id=ORDER, lines=LINES), 1)
    saw.reply(p.PaymentDeclined(order_id=ORDER, customer_id=CUSTOMER, reason="over_credit"), 2)
    release = saw.topics.incoming(ReleaseStock(order_id=ORDER), "inventory.commands", seconds=2)
    saw.project(release)
    saw.project(dead_lettered(saw.topics, release, "t.orderflow.inventory", 3))
    assert saw.status() == "compensation_failed"  # before the saga even noticed
    saw.project(saw.topics.incoming(inv.StockReleased(order_id=ORDER, lines=LINES),
                                    "inventory", seconds=9))  # the saga's re-send got through
    assert saw.status() == "created"

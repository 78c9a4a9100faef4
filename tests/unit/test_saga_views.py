"""saga_view and the status it lends an order, read back through ReadModels (what
`sagas list/show`, `status` and `list` print), fed the saga's real events."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from adapters.kafka.consumer import Incoming
from domain import inventory_events as inv
from domain import payment_events as p
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

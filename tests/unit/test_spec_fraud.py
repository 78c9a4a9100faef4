"""Fraud (the optional step), one spec per row of its message table, plus the rows the
step adds to the other services' tables when a deployment switches it on: given, when
a message arrives, then these events and messages, and nothing else."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from adapters.codec import OrderFacts
from domain.commands import CheckFraud
from domain.fraud import FRAUD_LIMIT_CENTS, FraudCleared, FraudRejected
from domain.inventory_events import ReservedLine, StockAllocated, StockReserved
from domain.order import Flow
from domain.order_events import OrderRejected
from domain.payment_events import CreditLimitSet
from domain.stock import StockAdded
from domain.streams import (
    credit_stream,
    order_stream,
    payment_stream,
    reservation_stream,
    screening_stream,
    stock_stream,
)
from services.fraud import Fraud
from services.inventory import Inventory
from services.order import Orders
from services.payment import Payment
from services.port import CHOREOGRAPHY, ORCHESTRATION
from tests.specs import CUSTOMER, FACTS, ORDER_ID, Spec, covers, uncovered
from tests.unit.domain.builders import CATALOG, placed

SCREENING = str(screening_stream(ORDER_ID))
BOOKS = (ReservedLine(sku="BOOK-1", quantity=2),)
RESERVED = StockReserved(order_id=ORDER_ID, lines=BOOKS)
SUSPECT = OrderFacts(customer_id=CUSTOMER, total_cents=FRAUD_LIMIT_CENTS + 1, ship_to="DE")
REJECTED = FraudRejected(order_id=ORDER_ID, reason="fraud_suspected")
WITH_FRAUD = frozenset({"fraud"})


@pytest.fixture
def spec() -> Spec[Fraud]:
    return Spec("fraud", Fraud)


def test_every_row_of_the_fraud_table_has_a_spec(spec: Spec[Fraud]) -> None:
    assert uncovered(spec.table, globals()) == []


@covers(CHOREOGRAPHY, StockReserved)
def test_a_reserved_order_within_the_limit_is_cleared_and_its_facts_travel_on(
        spec: Spec[Fraud]) -> None:
    spec.when(RESERVED, flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_events() == [(SCREENING, FraudCleared(order_id=ORDER_ID))]
    assert spec.then_outbox() == [("fraud.cleared.v1", "t.fraud")]
    assert [e.order for e in spec.then_published()] == [FACTS]  # payment needs the total


@covers(CHOREOGRAPHY, StockReserved)
def test_a_reserved_order_above_the_limit_is_rejected_once(spec: Spec[Fraud]) -> None:
    spec.when(RESERVED, flow=CHOREOGRAPHY, order=SUSPECT)
    assert spec.then_events() == [(SCREENING, REJECTED)]
    assert spec.then_outbox() == [("fraud.rejected.v1", "t.fraud")]
    spec.when(RESERVED, flow=CHOREOGRAPHY, order=SUSPECT)  # a new reservation message
    assert (spec.then_events(), spec.then_outbox()) == ([], [])  # decided already


@covers(ORCHESTRATION, CheckFraud)
def test_a_check_is_answered_and_a_repeated_check_gets_the_first_answer(
        spec: Spec[Fraud]) -> None:
    check = CheckFraud(order_id=ORDER_ID, customer_id=CUSTOMER,
                       amount_cents=FRAUD_LIMIT_CENTS + 1)
    spec.when(check, flow=ORCHESTRATION)
    assert spec.then_events() == [(SCREENING, REJECTED)]
    assert spec.then_outbox() == [("fraud.rejected.v1", "t.fraud")]  # where its events go
    spec.when(check, flow=ORCHESTRATION)  # re-sent: the first verdict, again
    assert (spec.then_events(), spec.then_outbox()) == ([], [("fraud.rejected.v1", "t.fraud")])


def test_payment_waits_for_the_clearance_instead_of_the_reservation() -> None:
    spec = Spec("payment", lambda units: Payment(units, WITH_FRAUD))
    spec.given(credit_stream(CUSTOMER), CreditLimitSet(customer_id=CUSTOMER, limit_cents=10_000))
    assert StockReserved not in spec.table.choreography  # no row for the reservation any more
    spec.when(FraudCleared(order_id=ORDER_ID), flow=CHOREOGRAPHY, order=FACTS)
    assert spec.then_outbox() == [("payment.authorized.v1", "t.payments")]
    assert str(payment_stream(ORDER_ID)) in {stream for stream, _ in spec.then_events()}


def test_inventory_releases_the_stock_of_an_order_fraud_rejected() -> None:
    spec = Spec("inventory", lambda units: Inventory(units, WITH_FRAUD))
    spec.given(stock_stream("BOOK-1"), StockAdded(sku="BOOK-1", quantity=10))
    spec.given(reservation_stream(ORDER_ID), RESERVED)
    spec.given(stock_stream("BOOK-1"), StockAllocated(sku="BOOK-1", order_id=ORDER_ID,
                                                      quantity=2))
    spec.when(REJECTED, flow=CHOREOGRAPHY, order=SUSPECT)
    assert spec.then_outbox() == [("inventory.stock-released.v1", "t.inventory")]


def test_the_order_service_rejects_an_order_fraud_rejected_with_its_reason() -> None:
    spec = Spec("order", lambda units: Orders(units, CATALOG, timedelta(seconds=30),
                                               WITH_FRAUD))
    spec.given(order_stream(ORDER_ID), placed(flow=Flow.CHOREOGRAPHY))
    spec.when(REJECTED, flow=CHOREOGRAPHY, order=SUSPECT)
    [(_, rejected)] = spec.then_events()
    assert isinstance(rejected, OrderRejected) and rejected.reason == "fraud_suspected"


def test_without_the_step_no_service_has_a_fraud_row() -> None:
    tables = [Spec("payment", Payment).table, Spec("inventory", Inventory).table,
              Spec("order", lambda u: Orders(u, CATALOG, timedelta(seconds=30))).table]
    for table in tables:
        assert not {FraudCleared, FraudRejected} & {cls for _, cls, _ in table.rows()}



def test_the_catalog_documents_the_fraud_rule_and_whether_it_is_on(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import run

    monkeypatch.setenv("ORDERFLOW_STEPS", "fraud")
    assert run(["catalog", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fraud"] == {"enabled": True,
                                                           "limit_cents": FRAUD_LIMIT_CENTS}
    monkeypatch.delenv("ORDERFLOW_STEPS")
    assert run(["catalog"]) == 0
    out = capsys.readouterr().out
    assert "fraud step: off" in out and "above 5000.00 as fraud_suspected" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_an_unknown_step_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from cli.main import run

    monkeypatch.setenv("ORDERFLOW_STEPS", "fraud,sideways")
    assert run(["catalog"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "orderflow: error: ORDERFLOW_STEPS: unknown step 'sideways' (known: fraud)"]
    monkeypatch.delenv("ORDERFLOW_STEPS")
    assert run(["up", "--with-step", "sideways"]) == 2
    assert "unknown step 'sideways'; choose from fraud" in capsys.readouterr().err

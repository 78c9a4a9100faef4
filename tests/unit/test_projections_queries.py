"""Read-model queries and the trace diagram, over tables the projector filled."""

from __future__ import annotations

from typing import Any

import pytest

from domain import order_events as o
from projections.mermaid import sequence_diagram
from projections.projector import Projector
from projections.read_models import ReadModels, UnknownTable
from tests.unit.test_projections_support import Topics, happy_saga, memory_engine, placed

FIRST, SECOND = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


@pytest.fixture
def models() -> ReadModels:
    """Two orders: FIRST confirmed, SECOND placed a minute later and rejected."""
    engine, topics, projector = memory_engine(), Topics(), Projector()
    second = placed(topics, SECOND, seconds=60)
    rejected = topics.incoming(o.OrderRejected(order_id=SECOND, reason="out_of_stock",
                                               rejected_at=second.envelope.occurred_at),
                               "orders", cause=second, seconds=61, version=2)
    for record in [*happy_saga(topics, FIRST), second, rejected]:
        with engine.begin() as connection:
            projector.handle(connection, record)
    return ReadModels(engine)


def test_orders_are_listed_newest_first_and_filtered(models: ReadModels) -> None:
    assert [r["order_id"] for r in models.orders()] == [SECOND, FIRST]
    assert [r["order_id"] for r in models.orders(status="confirmed")] == [FIRST]
    assert [r["order_id"] for r in models.orders(flow="orchestration")] == []
    assert len(models.orders(limit=1)) == 1


def test_an_unknown_order_is_none_and_has_no_timeline(models: ReadModels) -> None:
    missing = "00000000-0000-4000-8000-0000000000ff"
    assert models.order(missing) is None and models.timeline(missing) == []


def test_tables_counts_the_rows_of_every_read_model(models: ReadModels) -> None:
    assert dict(models.tables()) == {"order_view": 2, "order_timeline": 7, "stock_view": 1,
                                     "credit_view": 1, "shipment_view": 1, "saga_view": 0,
                                     "dead_letter_view": 0}


def test_inspect_returns_columns_and_rows_in_key_order(models: ReadModels) -> None:
    columns, rows = models.inspect("order_view", limit=5)
    assert columns[:2] == ["order_id", "flow"]
    assert [row[0] for row in rows] == [FIRST, SECOND]


@pytest.mark.parametrize("name", ["orders", "order_view; DROP TABLE order_view",
                                  "order_view --", "projected_events", "ORDER_VIEW", ""])
def test_inspect_refuses_anything_outside_the_allow_list(models: ReadModels, name: str) -> None:
    with pytest.raises(UnknownTable, match="valid tables: order_view, order_timeline"):
        models.inspect(name, limit=5)
    assert dict(models.tables())["order_view"] == 2


def test_the_choreography_diagram_has_one_arrow_per_reaction(models: ReadModels) -> None:
    diagram = sequence_diagram(models.timeline(FIRST), "choreography").splitlines()
    assert diagram[:5] == ["sequenceDiagram", "    participant order",
                           "    participant inventory", "    participant payment",
                           "    participant shipping"]
    assert diagram[5:] == [
        "    order->>inventory: order.placed.v2",
        "    inventory->>payment: inventory.stock-reserved.v1",
        "    payment->>shipping: payment.authorized.v1",
        "    shipping->>order: shipping.shipment-scheduled.v1",
        "    order->>order: order.confirmed.v1"]


def row(event_id: str, service: str, wire: str, cause: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id, "service": service, "type": wire, "causation_id": cause}


def test_a_record_goes_to_every_service_it_caused_and_otherwise_to_itself() -> None:
    rows = [row("1", "shipping", "shipping.shipment-rejected.v1"),
            row("2", "payment", "payment.voided.v1", cause="1"),
            row("3", "order", "order.rejected.v1", cause="1"),
            row("4", "payment", "payment.credit-released.v1", cause="1")]
    assert sequence_diagram(rows, "choreography").splitlines()[5:] == [
        "    shipping->>payment: shipping.shipment-rejected.v1",
        "    shipping->>order: shipping.shipment-rejected.v1",
        "    payment->>payment: payment.voided.v1",
        "    order->>order: order.rejected.v1",
        "    payment->>payment: payment.credit-released.v1"]


def test_orchestration_arrows_follow_commands_and_replies_through_the_orchestrator() -> None:
    rows = [row("1", "order", "order.placed.v2"),
            row("2", "orchestrator", "inventory.reserve-stock.v1", cause="1"),
            row("3", "inventory", "inventory.stock-reserved.v1", cause="2"),
            row("4", "orchestrator", "orchestrator.saga-progressed.v1", cause="3")]
    diagram = sequence_diagram(rows, "orchestration").splitlines()
    assert diagram[5] == "    participant orchestrator"
    assert diagram[6:] == ["    order->>orchestrator: order.placed.v2",
                           "    orchestrator->>inventory: inventory.reserve-stock.v1",
                           "    inventory->>orchestrator: inventory.stock-reserved.v1",
                           "    orchestrator->>orchestrator: orchestrator.saga-progressed.v1"]


def test_a_service_outside_the_five_is_drawn_as_a_participant_too() -> None:
    rows = [row("1", "order", "order.placed.v2"), row("2", "fraud", "fraud.cleared.v1", "1")]
    diagram = sequence_diagram(rows, "choreography").splitlines()
    assert diagram[5] == "    participant fraud"
    assert diagram[6] == "    order->>fraud: order.placed.v2"

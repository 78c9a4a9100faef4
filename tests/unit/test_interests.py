"""What each service acts on, as its message table says, and what derives from it: the
interest filter (`ServicePlan.wants`) and the topics it subscribes to."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.registry import BY_CLASS
from adapters.settings import Settings
from services.bootstrap import Orderflow
from services.port import CHOREOGRAPHY, ORCHESTRATION
from tests.unit.test_codec import a_placed_order, an_envelope

SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Orderflow:
    data: Path = tmp_path_factory.mktemp("interests")
    app = Orderflow(Settings(data_dir=data, topic_prefix="t."))
    app.upgrade()
    return app


def acted_on(app: Orderflow, service: str, flow: str) -> set[str]:
    table = app.messages(service)
    rows = table.choreography if flow == CHOREOGRAPHY else table.orchestration
    return {BY_CLASS[cls].wire for cls in rows}


def test_each_service_acts_on_what_the_saga_table_says(app: Orderflow) -> None:
    assert {s: acted_on(app, s, CHOREOGRAPHY) for s in SERVICES} == {
        "order": {"shipping.shipment-scheduled.v1", "inventory.stock-rejected.v1",
                  "payment.declined.v1", "shipping.shipment-rejected.v1"},
        "inventory": {"order.placed.v2", "payment.declined.v1",
                      "shipping.shipment-rejected.v1", "order.expired.v1"},
        "payment": {"inventory.stock-reserved.v1", "shipping.shipment-rejected.v1",
                    "order.expired.v1"},
        "shipping": {"payment.authorized.v1", "order.expired.v1"},
        "orchestrator": set()}
    assert {s: acted_on(app, s, ORCHESTRATION) for s in SERVICES} == {
        "order": {"order.confirm.v1", "order.reject.v1"},
        "inventory": {"inventory.reserve-stock.v1", "inventory.release-stock.v1"},
        "payment": {"payment.authorize.v1", "payment.void.v1"},
        "shipping": {"shipping.schedule-shipment.v1", "shipping.cancel-shipment.v1"},
        "orchestrator": {"order.placed.v2", "inventory.stock-reserved.v1",
                         "inventory.stock-rejected.v1", "inventory.stock-released.v1",
                         "payment.authorized.v1", "payment.declined.v1", "payment.voided.v1",
                         "payment.cancelled.v1", "shipping.shipment-scheduled.v1",
                         "shipping.shipment-rejected.v1", "shipping.shipment-cancelled.v1",
                         "order.confirmed.v1", "order.rejected.v1", "order.expired.v1"}}


def test_a_service_subscribes_to_the_topics_its_rows_arrive_on(app: Orderflow) -> None:
    topics = {s: app.plan(s).topics for s in SERVICES}
    assert topics == {
        "order": ["t.inventory", "t.orders.commands", "t.payments", "t.shipping"],
        "inventory": ["t.inventory.commands", "t.orders", "t.payments", "t.shipping"],
        "payment": ["t.inventory", "t.orders", "t.payments.commands", "t.shipping"],
        "shipping": ["t.orders", "t.payments", "t.shipping.commands"],
        "orchestrator": ["t.inventory", "t.orders", "t.payments", "t.shipping"]}


def test_an_order_placed_goes_to_whoever_acts_on_it_in_its_flow(app: Orderflow) -> None:
    wanted_by = {flow: {service for service in SERVICES
                        if app.plan(service).wants(an_envelope(a_placed_order(), flow=flow))}
                 for flow in (CHOREOGRAPHY, ORCHESTRATION)}
    assert wanted_by == {CHOREOGRAPHY: {"inventory"}, ORCHESTRATION: {"orchestrator"}}


def test_a_message_without_a_flow_is_nobodys(app: Orderflow) -> None:
    assert not [s for s in SERVICES if app.plan(s).wants(an_envelope(a_placed_order(), flow=None))]

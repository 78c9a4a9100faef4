"""A service's interest filter (`ServicePlan.wants`) skips messages before its handler
runs. It must never skip one the handler would act on: for every registered message
type and flow it declines, the handler must not so much as touch the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.kafka.consumer import Incoming
from adapters.settings import Settings
from services.bootstrap import Orderflow
from services.messaging import CHOREOGRAPHY, ORCHESTRATION
from tests.unit.test_codec import REGISTERED, a_placed_order, an_envelope, builds_for, wire_of

SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator")
FLOWS = st.sampled_from([CHOREOGRAPHY, ORCHESTRATION, None])


class Untouchable:
    """A connection that fails any use: a skipped message must have had no effect."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the handler used the connection ({name}) for a skipped message")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Orderflow:
    data: Path = tmp_path_factory.mktemp("interests")
    app = Orderflow(Settings(data_dir=data, topic_prefix="t."))
    app.upgrade()
    return app


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("cls", REGISTERED, ids=wire_of)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_a_message_the_service_declines_is_one_its_handler_ignores(
        app: Orderflow, service: str, cls: type, data: st.DataObject) -> None:
    plan = app.plan(service)
    envelope = an_envelope(data.draw(builds_for(cls)), flow=data.draw(FLOWS))
    if plan.wants(envelope):
        return  # handled as before: nothing to prove for this draw
    assert plan.handler is not None
    plan.handler(Untouchable(), Incoming(envelope, "t.topic", 0, 0))  # type: ignore[arg-type]


def test_an_order_placed_goes_to_whoever_acts_on_it_in_its_flow(app: Orderflow) -> None:
    wanted_by = {flow: {service for service in SERVICES
                        if app.plan(service).wants(an_envelope(a_placed_order(), flow=flow))}
                 for flow in (CHOREOGRAPHY, ORCHESTRATION)}
    assert wanted_by == {CHOREOGRAPHY: {"inventory"}, ORCHESTRATION: {"orchestrator"}}

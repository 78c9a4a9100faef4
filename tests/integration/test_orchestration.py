"""Orchestration end to end: the orchestrator commands, participants obey and reply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.saga import Saga
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration import saga_world as world
from tests.integration.saga_world import (
    PAST_EVERY_DEADLINE,
    PATIENT,
    assert_conserved,
    final,
    seeded,
)
from tests.support import ManualClock, run_cli, wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator")


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str, clock: ManualClock) -> Env:
    return seeded(make_env(system_store, bootstrap=kafka), **PATIENT, **clock.environ)


def place(env: Env, *items: str, customer: str = "alice", ship_to: str = "DE") -> str:
    return world.place(env, "orchestration", *items, customer=customer, ship_to=ship_to)


def saga(app: Orderflow, order_id: str) -> Saga:
    found = app.orchestrator().saga(order_id)
    assert found is not None
    return found


def test_every_orchestration_path(env: Env, system: RunningSystem, app: Orderflow) -> None:
    confirmed = place(env, "BOOK-1=2")
    out_of_stock = place(env, "MUG-1=5")
    declined = place(env, "BOOK-1=1", customer="bob")
    not_served = place(env, "BOOK-1=1", ship_to="BR")
    assert final(app, confirmed) == ("confirmed", None)
    assert final(app, out_of_stock) == ("rejected", "out_of_stock")
    assert final(app, declined) == ("rejected", "over_credit")
    assert final(app, not_served) == ("rejected", "country_not_served")
    for order_id in (confirmed, out_of_stock, declined, not_served):
        wait_until(lambda o=order_id: saga(app, o).is_terminal, 30, "sagas to finish")
    assert saga(app, confirmed).state.value == "completed"
    rejected = saga(app, not_served)
    assert [s.value for s in rejected.compensated] == ["void_payment", "release_stock",
                                                      "reject_order"]
    assert app.inventory().stock("BOOK-1").reserved.keys() == {confirmed}
    assert set(app.payment().credit("alice").held) == {confirmed}
    assert_conserved(app)


def test_a_silent_participant_times_out_and_its_late_reply_is_compensated(
        env: Env, system: RunningSystem, app: Orderflow, clock: ManualClock) -> None:
    system.stop(["payment"])
    order_id = place(env, "BOOK-1=3")
    wait_until(lambda: app.inventory().stock("BOOK-1").reserved.get(order_id) == 3, 30,
               "inventory to reserve (the saga now waits for payment)")
    clock.advance(PAST_EVERY_DEADLINE)  # nobody answered: the deadlines pass
    assert final(app, order_id) == ("rejected", "timeout")
    wait_until(lambda: not app.inventory().stock("BOOK-1").reserved, 30, "stock release")
    system.start(["payment"])  # it now sees AuthorizePayment and answers late
    wait_until(lambda: saga(app, order_id).late_successes or
               _payment(app, order_id) == "declined", 60, "the late reply")
    wait_until(lambda: app.payment().credit("alice").held_cents == 0, 60,
               "the late authorisation to be voided")
    assert saga(app, order_id).state.value == "rejected"
    assert_conserved(app)


def test_choreography_and_orchestration_share_the_broker_without_crosstalk(
        env: Env, system: RunningSystem, app: Orderflow, tmp_path: Path) -> None:
    chor = run_cli(["place", "--flow", "choreography", "--customer", "alice", "--item",
                    "BOOK-1=1", "--json"], env.environ)
    orch = place(env, "BOOK-1=1")
    assert final(app, orch) == ("confirmed", None)
    chor_id = json.loads(chor.stdout)["order_id"]
    assert app.orchestrator().saga(chor_id) is None  # the orchestrator ignored it


def _payment(app: Orderflow, order_id: str) -> str:
    from domain.payment import fold_payment
    from domain.streams import payment_stream

    with app.store("payment").connect() as connection:
        return fold_payment(app.event_store.load(connection, payment_stream(order_id))).status

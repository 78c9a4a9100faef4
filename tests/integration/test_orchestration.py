"""Orchestration end to end: the orchestrator commands, participants obey and reply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def test_a_shipment_scheduled_after_the_saga_gave_up_is_cancelled(
        env: Env, system: RunningSystem, app: Orderflow, clock: ManualClock) -> None:
    system.stop(["shipping"])
    order_id = place(env, "BOOK-1=2")
    wait_until(lambda: app.payment().credit("alice").held.get(order_id), 30,
               "payment to authorise (the saga now waits for shipping)")
    clock.advance(PAST_EVERY_DEADLINE)
    assert final(app, order_id) == ("rejected", "timeout")
    system.start(["shipping"])  # it now sees ScheduleShipment and schedules, late
    wait_until(lambda: _shipment(app, order_id) == "cancelled", 60,
               "the late shipment to be cancelled")
    wait_until(lambda: [s.value for s in saga(app, order_id).late_successes]
               == ["schedule_shipment"], 30, "the saga to record the late shipment")
    assert saga(app, order_id).state.value == "rejected"
    assert_conserved(app)


def test_a_compensation_without_answer_is_visible_retried_and_resumed(
        env: Env, system: RunningSystem, app: Orderflow, clock: ManualClock) -> None:
    system.start(["projector"])  # status, list and sagas read the read models
    system.stop(["payment"])
    order_id = place(env, "BOOK-1=1", customer="bob")  # bob's credit is too low
    wait_until(lambda: app.inventory().stock("BOOK-1").reserved.get(order_id), 30,
               "inventory to reserve")
    wait_until(lambda: saga(app, order_id).current_step is not None  # its answer is out
               and saga(app, order_id).current_step.value == "authorize_payment", 30,
               "the saga to hear of the reservation")
    system.stop(["inventory"])
    system.start(["payment"])  # declines: the saga sends ReleaseStock, nobody answers
    wait_until(lambda: saga(app, order_id).current_step is not None
               and saga(app, order_id).current_step.value == "release_stock", 30,
               "the saga to ask for the release")
    clock.advance(PATIENT_STEP + 1)
    wait_until(lambda: _shown(env, order_id) == "compensation_failed", 30,
               "status to show compensation_failed")
    stuck = _cli_json(env, "list", "--status", "compensation_failed")
    assert [o["order_id"] for o in stuck] == [order_id]
    [row] = _cli_json(env, "sagas", "list", "--state", "compensation_failed")
    assert (row["order_id"], row["current_step"], row["attempt"]) == (order_id, "release_stock", 2)
    retried = _cli_json(env, "sagas", "retry", order_id)
    assert (retried["state"], retried["step"], retried["attempt"]) == (
        "compensation_failed", "release_stock", 3)
    system.start(["inventory"])
    assert final(app, order_id) == ("rejected", "over_credit")
    wait_until(lambda: _shown(env, order_id) == "rejected", 30, "status back to rejected")
    shown = _cli_json(env, "sagas", "show", order_id)["saga"]
    assert (shown["state"], shown["compensated"]) == ("rejected", "release_stock,reject_order")
    assert not app.inventory().stock("BOOK-1").reserved
    assert_conserved(app)


def test_only_a_stuck_saga_can_be_retried(env: Env, system: RunningSystem,
                                          app: Orderflow) -> None:
    order_id = place(env, "BOOK-1=1")
    assert final(app, order_id) == ("confirmed", None)
    for target, says in ((order_id, "is completed, not compensation_failed"),
                         ("0b7e6c1a-3f0e-4c1b-9a51-2f1f3c9d8e01", "no saga for order")):
        result = run_cli(["sagas", "retry", target], env.environ)
        assert result.code == 1 and result.stdout == ""
        said = [line for line in result.stderr.splitlines() if "fault injected" not in line]
        assert len(said) == 1 and said[0].startswith("orderflow: error: ") and says in said[0]
    assert len(saga(app, order_id).history) == 4  # nothing was sent


PATIENT_STEP = int(PATIENT["ORDERFLOW_STEP_TIMEOUT"])


def _cli_json(env: Env, *args: str) -> Any:
    result = run_cli([*args, "--json"], env.environ)
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _shown(env: Env, order_id: str) -> str | None:
    """The status `orderflow status` shows, or None while the projector has not yet
    written the order into its read model ("no order … (yet)", exit 1)."""
    result = run_cli(["status", order_id, "--json"], env.environ)
    if result.code == 1 and "(yet)" in result.stderr:
        return None
    assert result.code == 0, result.stderr
    return str(json.loads(result.stdout)["status"])


def _shipment(app: Orderflow, order_id: str) -> str:
    from domain.shipping import fold_shipment
    from domain.streams import shipment_stream

    with app.store("shipping").connect() as connection:
        return fold_shipment(app.event_store.load(connection, shipment_stream(order_id))).status

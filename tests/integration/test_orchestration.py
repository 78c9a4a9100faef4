"""Orchestration end to end: the orchestrator commands, participants obey and reply."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.saga import Saga
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.integration.test_choreography import assert_conserved
from tests.support import run_cli, wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator")


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str) -> Env:
    env = make_env(system_store, bootstrap=kafka)
    env.environ.update(ORDERFLOW_ORDER_TIMEOUT="6", ORDERFLOW_STEP_TIMEOUT="1")
    for args in (["db", "upgrade"], ["topics", "create"], ["stock", "add", "BOOK-1", "10"],
                 ["stock", "add", "MUG-1", "1"], ["credit", "set", "alice", "1000"],
                 ["credit", "set", "bob", "1"]):
        result = run_cli(args, env.environ)
        assert result.code == 0, result.stderr
    return env


@pytest.fixture
def system(env: Env, tmp_path: Path) -> Iterator[RunningSystem]:
    running = RunningSystem(env.environ, tmp_path / "logs")
    running.start(SERVICES)
    yield running
    assert all(code == 0 for code in running.stop().values())


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    orderflow = bootstrap(env.settings)
    yield orderflow
    orderflow.close()


def place(env: Env, *items: str, customer: str = "alice", ship_to: str = "DE") -> str:
    args = ["place", "--flow", "orchestration", "--customer", customer, "--ship-to", ship_to]
    for item in items:
        args += ["--item", item]
    result = run_cli([*args, "--json"], env.environ)
    assert result.code == 0, result.stderr
    return str(json.loads(result.stdout)["order_id"])


def final(app: Orderflow, order_id: str, timeout: float = 60) -> tuple[str, str | None]:
    def settled() -> tuple[str, str | None] | None:
        order = app.orders().get(order_id)
        return (order.status.value, order.reason) if order and order.is_terminal else None

    return wait_until(settled, timeout, f"order {order_id} to settle")


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
        env: Env, system: RunningSystem, app: Orderflow) -> None:
    system.stop(["payment"])
    order_id = place(env, "BOOK-1=3")
    assert final(app, order_id) == ("rejected", "timeout")
    wait_until(lambda: not app.inventory().stock("BOOK-1").reserved, 30, "stock release")
    system.start(["payment"])  # it now sees AuthorizePayment (3 sends) and answers late
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

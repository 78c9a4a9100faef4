"""The optional fraud step (ORDERFLOW_STEPS=fraud) end to end, in both flows: real
processes, real Kafka, real stores. Within the limit an order goes through fraud's
clearance to payment; above it fraud rejects it, the stock comes back and no credit is
ever held, whoever coordinates."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.integration import saga_world as world
from tests.integration.saga_world import PATIENT, final, seeded
from tests.support import run_cli, wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator", "fraud", "projector")
FLOWS = ("choreography", "orchestration")


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str) -> Env:
    made = seeded(make_env(system_store, bootstrap=kafka), **PATIENT, ORDERFLOW_STEPS="fraud")
    assert run_cli(["stock", "add", "LAPTOP-15", "10"], made.environ).code == 0
    return made


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    orderflow = bootstrap(dataclasses.replace(env.settings, steps=frozenset({"fraud"})))
    yield orderflow
    orderflow.close()


@pytest.mark.parametrize("flow", FLOWS)
def test_fraud_clears_an_order_within_the_limit_and_rejects_one_above_it(
        env: Env, system: RunningSystem, app: Orderflow, flow: str) -> None:
    cleared = world.place(env, flow, "BOOK-1=2", customer="alice", ship_to="DE")
    suspect = world.place(env, flow, "LAPTOP-15=4", customer="alice", ship_to="DE")
    assert final(app, cleared) == ("confirmed", None)
    assert final(app, suspect) == ("rejected", "fraud_suspected")
    wait_until(lambda: not app.inventory().stock("LAPTOP-15").reserved, 30,
               "the suspect order's laptops back in stock")
    assert app.inventory().stock("LAPTOP-15").available == 10
    assert set(app.payment().credit("alice").held) == {cleared}  # payment never saw it
    wait_until(lambda: "fraud" in {row["service"] for row in app.read_models().timeline(cleared)},
               30, "fraud's verdict in the cleared order's timeline")

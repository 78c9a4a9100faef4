"""Choreography end to end: real processes, real Kafka, real stores; nobody in charge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.support import run_cli, wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
PARTICIPANTS = ("order", "inventory", "payment", "shipping")


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str) -> Env:
    env = make_env(system_store, bootstrap=kafka)
    env.environ["ORDERFLOW_ORDER_TIMEOUT"] = "4"
    for args in (["db", "upgrade"], ["topics", "create"], ["stock", "add", "BOOK-1", "10"],
                 ["stock", "add", "MUG-1", "1"], ["credit", "set", "alice", "1000"],
                 ["credit", "set", "bob", "1"]):
        result = run_cli(args, env.environ)
        assert result.code == 0, result.stderr
    return env


@pytest.fixture
def system(env: Env, tmp_path: Path) -> Iterator[RunningSystem]:
    running = RunningSystem(env.environ, tmp_path / "logs")
    running.start(PARTICIPANTS)
    yield running
    assert all(code == 0 for code in running.stop().values())


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    orderflow = bootstrap(env.settings)
    yield orderflow
    orderflow.close()


def place(env: Env, *items: str, customer: str = "alice", ship_to: str = "DE") -> str:
    args = ["place", "--flow", "choreography", "--customer", customer, "--ship-to", ship_to]
    for item in items:
        args += ["--item", item]
    result = run_cli([*args, "--json"], env.environ)
    assert result.code == 0, result.stderr
    return str(__import__("json").loads(result.stdout)["order_id"])


def final(app: Orderflow, order_id: str, timeout: float = 60) -> tuple[str, str | None]:
    def settled() -> tuple[str, str | None] | None:
        order = app.orders().get(order_id)
        return (order.status.value, order.reason) if order and order.is_terminal else None

    return wait_until(settled, timeout, f"order {order_id} to settle")


def assert_conserved(app: Orderflow) -> None:
    for sku, added in (("BOOK-1", 10), ("MUG-1", 1)):
        stock = app.inventory().stock(sku)
        assert stock.available + sum(stock.reserved.values()) == added
    for customer, limit in (("alice", 100_000), ("bob", 100)):
        credit = app.payment().credit(customer)
        assert credit.available + credit.held_cents == credit.limit_cents == limit


def test_every_choreography_path(env: Env, system: RunningSystem, app: Orderflow) -> None:
    confirmed = place(env, "BOOK-1=2")
    out_of_stock = place(env, "MUG-1=5")
    declined = place(env, "BOOK-1=1", customer="bob")
    not_served = place(env, "BOOK-1=1", ship_to="BR")
    assert final(app, confirmed) == ("confirmed", None)
    assert final(app, out_of_stock) == ("rejected", "out_of_stock")
    assert final(app, declined) == ("rejected", "over_credit")
    assert final(app, not_served) == ("rejected", "country_not_served")
    wait_until(lambda: app.inventory().stock("BOOK-1").reserved.keys() == {confirmed}, 30,
               "stock of the rejected orders to be released")
    wait_until(lambda: set(app.payment().credit("alice").held) == {confirmed}, 30,
               "credit of the rejected orders to be voided")
    assert app.inventory().stock("BOOK-1").available == 8
    assert app.inventory().stock("MUG-1").available == 1
    assert_conserved(app)


def test_an_order_nobody_answers_expires_and_is_compensated(
        env: Env, system: RunningSystem, app: Orderflow) -> None:
    system.stop(["payment"])
    order_id = place(env, "BOOK-1=3")
    wait_until(lambda: app.inventory().stock("BOOK-1").reserved.get(order_id) == 3, 30,
               "inventory to reserve")
    assert final(app, order_id) == ("rejected", "timeout")
    wait_until(lambda: not app.inventory().stock("BOOK-1").reserved, 30, "stock release")
    system.start(["payment"])  # its late StockReserved must not hold credit for a dead order
    wait_until(lambda: _payment_status(app, order_id) == "voided", 60,
               "payment to see the expiry (it either voids or never authorises)")
    assert app.payment().credit("alice").held_cents == 0
    assert_conserved(app)


def _payment_status(app: Orderflow, order_id: str) -> str:
    from domain.payment import fold_payment
    from domain.streams import payment_stream

    with app.store("payment").connect() as connection:
        events = app.event_store.load(connection, payment_stream(order_id))
    return fold_payment(events).status.value

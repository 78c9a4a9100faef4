"""Choreography end to end: real processes, real Kafka, real stores; nobody in charge."""

from __future__ import annotations

import pytest

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
from tests.support import ManualClock, wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
SERVICES = ("order", "inventory", "payment", "shipping")


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str, clock: ManualClock) -> Env:
    return seeded(make_env(system_store, bootstrap=kafka), **PATIENT, **clock.environ)


def place(env: Env, *items: str, customer: str = "alice", ship_to: str = "DE") -> str:
    return world.place(env, "choreography", *items, customer=customer, ship_to=ship_to)


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
        env: Env, system: RunningSystem, app: Orderflow, clock: ManualClock) -> None:
    system.stop(["payment"])
    order_id = place(env, "BOOK-1=3")
    wait_until(lambda: app.inventory().stock("BOOK-1").reserved.get(order_id) == 3, 30,
               "inventory to reserve")
    clock.advance(PAST_EVERY_DEADLINE)  # nobody answered: the deadline passes
    assert final(app, order_id) == ("rejected", "timeout")
    wait_until(lambda: not app.inventory().stock("BOOK-1").reserved, 30, "stock release")
    system.start(["payment"])  # its late StockReserved must not hold credit for a dead order
    # StockReserved and OrderExpired come on two topics: whichever payment reads first
    wait_until(lambda: _payment_status(app, order_id) in ("voided", "cancelled"), 60,
               "payment to see the expiry (it either voids or cancels, then never authorises)")
    assert app.payment().credit("alice").held_cents == 0
    assert_conserved(app)


def _payment_status(app: Orderflow, order_id: str) -> str:
    from domain.payment import fold_payment
    from domain.streams import payment_stream

    with app.store("payment").connect() as connection:
        events = app.event_store.load(connection, payment_stream(order_id))
    return fold_payment(events).status.value

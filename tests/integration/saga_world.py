"""The world both end-to-end suites share: seeded stock and credit, placing orders as a
user would (the CLI), waiting for their final status, and the conservation invariants."""

from __future__ import annotations

import json

from services.bootstrap import Orderflow
from tests.conftest import Env
from tests.support import run_cli, wait_until

STOCK = {"BOOK-1": 10, "MUG-1": 1}
# Deadlines far beyond any wait of the suites: an order expires, or a step times out,
# only when a test moves the services' clock (the `clock` fixture) past its deadline.
HOUR = 3600
PATIENT = {"ORDERFLOW_ORDER_TIMEOUT": str(10 * HOUR), "ORDERFLOW_STEP_TIMEOUT": str(HOUR)}
PAST_EVERY_DEADLINE = 11 * HOUR
CREDIT_CENTS = {"alice": 100_000, "bob": 100}


def seeded(env: Env, **timeouts: str) -> Env:
    """Migrated stores, topics, and the stock and credit every scenario relies on."""
    env.environ.update(timeouts)
    commands = [["db", "upgrade"], ["topics", "create"]]
    commands += [["stock", "add", sku, str(qty)] for sku, qty in STOCK.items()]
    commands += [["credit", "set", c, f"{cents // 100}.{cents % 100:02d}"]
                 for c, cents in CREDIT_CENTS.items()]
    for args in commands:
        result = run_cli(args, env.environ)
        assert result.code == 0, result.stderr
    return env


def place(env: Env, flow: str, *items: str, customer: str = "alice",
          ship_to: str = "DE") -> str:
    args = ["place", "--flow", flow, "--customer", customer, "--ship-to", ship_to, "--json"]
    for item in items:
        args += ["--item", item]
    result = run_cli(args, env.environ)
    assert result.code == 0, result.stderr
    return str(json.loads(result.stdout)["order_id"])


def final(app: Orderflow, order_id: str, timeout: float = 60) -> tuple[str, str | None]:
    def settled() -> tuple[str, str | None] | None:
        order = app.orders().get(order_id)
        return (order.status.value, order.reason) if order and order.is_terminal else None

    return wait_until(settled, timeout, f"order {order_id} to settle")


def assert_conserved(app: Orderflow) -> None:
    for sku, added in STOCK.items():
        stock = app.inventory().stock(sku)
        assert stock.available + sum(stock.reserved.values()) == added
    for customer, limit in CREDIT_CENTS.items():
        credit = app.payment().credit(customer)
        assert credit.available + credit.held_cents == credit.limit_cents == limit

"""`orderflow catalog`: the price list, the countries shipping serves, and the rule of
the optional fraud step (so a workshop can trigger each path on purpose)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import console, emit_json, table
from cli.parse import money


def catalog(ctx: typer.Context, json: Annotated[bool, typer.Option(
        "--json", help="One JSON document on stdout.")] = False) -> None:
    """Show the SKUs with their prices, the countries shipping serves and the fraud rule."""
    from domain.fraud import FRAUD_LIMIT_CENTS

    orderflow = app_of(ctx)
    current, fraud_on = orderflow.catalog, "fraud" in orderflow.settings.steps
    served = sorted(current.served_countries)
    if json:
        emit_json({"prices_cents": dict(current.prices), "served_countries": served,
                   "fraud": {"enabled": fraud_on, "limit_cents": FRAUD_LIMIT_CENTS}})
        return
    prices = sorted(current.prices.items())
    table("price list", ["sku", "price"], [(sku, money(cents)) for sku, cents in prices])
    console().print(f"shipping serves: {', '.join(served)}")
    console().print("any other ISO 3166-1 alpha-2 code is accepted and then rejected by shipping")
    console().print(f"fraud step: {'on' if fraud_on else 'off'} (ORDERFLOW_STEPS=fraud, or"
                    " --with-step fraud)")
    console().print(f"  it rejects an order above {money(FRAUD_LIMIT_CENTS)} as fraud_suspected")

"""`orderflow catalog`: the price list and the countries shipping serves."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import console, emit_json, table
from cli.parse import money


def catalog(ctx: typer.Context, json: Annotated[bool, typer.Option(
        "--json", help="One JSON document on stdout.")] = False) -> None:
    """Show the SKUs with their prices, and the countries shipping serves."""
    current = app_of(ctx).catalog
    served = sorted(current.served_countries)
    if json:
        emit_json({"prices_cents": dict(current.prices), "served_countries": served})
        return
    prices = sorted(current.prices.items())
    table("price list", ["sku", "price"], [(sku, money(cents)) for sku, cents in prices])
    console().print(f"shipping serves: {', '.join(served)}")
    console().print("any other ISO 3166-1 alpha-2 code is accepted and then rejected by shipping")

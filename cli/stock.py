"""`orderflow stock add SKU QTY | stock show SKU`."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import emit_json, table
from domain.stock import Stock

app = typer.Typer(help="Stock per SKU (inventory's write side).", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def _show(stock: Stock, sku: str, json: bool) -> None:
    document = {"sku": sku, "available": stock.available,
                "reserved": sum(stock.reserved.values()), "total": stock.total,
                "version": stock.version}
    if json:
        emit_json(document)
    else:
        table(f"stock {sku}", list(document), [list(document.values())])


@app.command()
def add(ctx: typer.Context, sku: str, quantity: Annotated[str, typer.Argument(
        metavar="QTY", help="Units to add (1..1,000,000,000).")], json: Json = False) -> None:
    """Add units of a SKU to stock."""
    if not quantity.lstrip("-").isdigit() or len(quantity) > 30:
        raise typer.BadParameter(f"QTY must be a whole number, got {quantity[:40]!r}")
    _show(app_of(ctx).inventory().add_stock(sku, int(quantity)), sku, json)


@app.command()
def show(ctx: typer.Context, sku: str, json: Json = False) -> None:
    """Show a SKU's available, reserved and total units."""
    _show(app_of(ctx).inventory().stock(sku), sku, json)

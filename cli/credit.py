"""`orderflow credit set CUSTOMER AMOUNT | credit show CUSTOMER`."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import emit_json, table
from cli.parse import amount_cents, money
from domain.credit import Credit

app = typer.Typer(help="Customer credit (payment's write side).", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def _show(credit: Credit, customer: str, json: bool) -> None:
    if json:
        emit_json({"customer_id": customer, "limit_cents": credit.limit_cents,
                   "held_cents": credit.held_cents, "available_cents": credit.available,
                   "version": credit.version})
        return
    table(f"credit {customer}", ["customer", "limit", "held", "available"],
          [[customer, money(credit.limit_cents), money(credit.held_cents),
            money(credit.available)]])


@app.command("set")
def set_(ctx: typer.Context, customer: str, amount: Annotated[str, typer.Argument(
        help="Credit limit in currency units, at most 2 decimals (e.g. 500 or 499.99).")],
         json: Json = False) -> None:
    """Set a customer's credit limit."""
    cents = amount_cents(amount)
    _show(app_of(ctx).payment().set_credit(customer, cents), customer, json)


@app.command()
def show(ctx: typer.Context, customer: str, json: Json = False) -> None:
    """Show a customer's limit, held and available credit."""
    _show(app_of(ctx).payment().credit(customer), customer, json)

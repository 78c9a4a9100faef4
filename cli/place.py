"""`orderflow place --flow F --customer C --item SKU=QTY [--item ...] [--ship-to CC]`."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from cli.context import app_of
from cli.output import console, emit_json
from cli.parse import item
from domain.order_events import Channel


class FlowChoice(enum.StrEnum):
    choreography = "choreography"
    orchestration = "orchestration"


def place(ctx: typer.Context,
          flow: Annotated[FlowChoice, typer.Option(help="Who coordinates the saga.")],
          customer: Annotated[str, typer.Option(help="Customer id (credit is per customer).")],
          items: Annotated[list[str], typer.Option(
              "--item", metavar="SKU=QTY", help="A line; repeat for more (1..50 lines).")],
          ship_to: Annotated[str, typer.Option(
              help="Destination country, ISO 3166-1 alpha-2 (see `orderflow catalog`).")] = "DE",
          json: Annotated[bool, typer.Option("--json", help="Print {\"order_id\": ...}.")] = False,
          ) -> None:
    """Place an order; prints its id. Follow it with `orderflow status ID --wait 30`."""
    lines = [item(text) for text in items]
    order_id = app_of(ctx).orders().place(customer_id=customer, items=lines, ship_to=ship_to,
                                          flow=flow.value, channel=Channel.CLI)
    if json:
        emit_json({"order_id": order_id})
    else:
        console().print(order_id)

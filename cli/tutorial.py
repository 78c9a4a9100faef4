"""`orderflow tutorial [listen]`: the Kafka tutorial's steps, literally."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import info

app = typer.Typer(help="The Kafka tutorial: produce an order event, print matching statuses.",
                  invoke_without_command=True)

ListenStatus = Annotated[str, typer.Option(help="Print only records with this status.")]


@app.callback()
def tutorial(ctx: typer.Context, listen_status: ListenStatus = "created",
             timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for "
                                                    "the event to come back.")] = 30.0,
             ) -> None:
    """Create `orders`, produce order-123 {"status": "created"}, consume and print it."""
    if ctx.invoked_subcommand is not None:
        return
    for line in app_of(ctx).run_tutorial(listen_status, timeout):
        typer.echo(line)


@app.command()
def listen(ctx: typer.Context, listen_status: ListenStatus = "created",
           from_beginning: Annotated[bool, typer.Option(
               "--from-beginning", help="Read `orders` from its start, not from now.")] = False,
           timeout: Annotated[float, typer.Option(
               min=0.1, help="Exit after this many seconds without new records.")] = 10.0,
           ) -> None:
    """The consumer alone: one line per matching record on `orders`, from any producer."""
    lines = app_of(ctx).listen(listen_status, from_beginning, timeout)
    info(f"listening for status {listen_status!r} (exits after {timeout:g}s without records)")
    for line in lines:
        typer.echo(line)

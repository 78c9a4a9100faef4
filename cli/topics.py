"""`orderflow topics create`: every topic of the design, idempotently."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import emit_json, table

app = typer.Typer(help="Kafka topics.", no_args_is_help=True)


@app.command()
def create(ctx: typer.Context,
           json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
           ) -> None:
    """Create every topic (names, partitions and configs from one place); safe to repeat."""
    report = app_of(ctx).create_topics()
    if json:
        emit_json({"created": report.created, "existing": report.existing})
        return
    rows = [(t, "created") for t in report.created] + [(t, "exists") for t in report.existing]
    table("topics", ["topic", "state"], sorted(rows))

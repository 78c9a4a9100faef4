"""`orderflow projections rebuild`: replay the event topics into fresh read models."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import console, emit_json, progress

app = typer.Typer(help="Read-model projections (the projector's tables).", no_args_is_help=True)


@app.command()
def rebuild(ctx: typer.Context,
            json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
            ) -> None:
    """Empty the read models and replay every event topic into them (projector stopped)."""
    from projections.rebuild import rebuild as rebuild_read_models

    orderflow = app_of(ctx)
    orderflow.require_broker()
    engine = orderflow.store("projector")
    if not json:
        progress("rebuilding the read models from the event topics …")
    figures = rebuild_read_models(engine, orderflow.settings.kafka("projector"),
                                  orderflow.settings.topic_prefix, orderflow.group("projector"))
    if json:
        emit_json(figures)
    else:
        console().print(f"rebuilt the read models: {figures['events']} events from"
                      f" {figures['partitions']} partitions in {figures['seconds']:.2f}s")

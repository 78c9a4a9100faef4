"""`orderflow db upgrade`: Alembic migrations for every store."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import app_of
from cli.output import emit_json, table

app = typer.Typer(help="Database stores (one per service).", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context,
            json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
            ) -> None:
    """Apply the migrations to every store (idempotent)."""
    orderflow = app_of(ctx)
    revisions = orderflow.upgrade()
    where = {s: orderflow.schema(s) or str(orderflow.engine(s).url.database) for s in revisions}
    if json:
        emit_json({s: {"revision": r, "location": where[s]} for s, r in revisions.items()})
    else:
        table("stores migrated", ["store", "revision", "location"],
              [(s, r, where[s]) for s, r in revisions.items()])

"""`orderflow db upgrade`: Alembic migrations for every store (with `--admin-url`: and a
PostgreSQL login role per store, adapters/sql/roles.py); `db prune`: retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from cli.context import app_of
from cli.output import emit_json, table

app = typer.Typer(help="Database stores (one per service).", no_args_is_help=True)


@app.command()
def upgrade(ctx: typer.Context,
            admin_url: Annotated[str | None, typer.Option(
                "--admin-url", metavar="URL",
                help="Migrate as this PostgreSQL administrator, then give each store its own"
                     " login role (ORDERFLOW_DATABASE_URL holds {service}). Leave the password"
                     " out: libpq reads PGPASSWORD or ~/.pgpass.")] = None,
            json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
            ) -> None:
    """Apply the migrations to every store (idempotent)."""
    orderflow = app_of(ctx)
    if admin_url is not None:
        _provision(ctx, admin_url, json)
        return
    revisions = orderflow.upgrade()
    where = {s: orderflow.schema(s) or str(orderflow.engine(s).url.database) for s in revisions}
    if json:
        emit_json({s: {"revision": r, "location": where[s]} for s, r in revisions.items()})
    else:
        table("stores migrated", ["store", "revision", "location"],
              [(s, r, where[s]) for s, r in revisions.items()])


def _provision(ctx: typer.Context, admin_url: str, json: bool) -> None:
    """Roles and where their passwords are; never a password (they stay in the 0600 file)."""
    done = app_of(ctx).provision_roles(admin_url)
    rows = [(r.store, done.revisions[r.store], r.schema, r.role) for r in done.roles]
    if json:
        emit_json({store: {"revision": revision, "location": schema, "role": role,
                           "credentials": str(done.credentials)}
                   for store, revision, schema, role in rows})
    else:
        table(f"stores migrated, a role each (passwords: {done.credentials})",
              ["store", "revision", "schema", "role"], rows)


@app.command()
def prune(ctx: typer.Context,
          json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
          ) -> None:
    """Delete processed ids and published outbox rows older than ORDERFLOW_RETENTION_HOURS
    in every store (services also do it on their own, every 10 minutes)."""
    orderflow = app_of(ctx)
    pruned = orderflow.prune()
    if json:
        emit_json({s: {"processed_ids": p.processed_ids, "outbox_rows": p.outbox_rows}
                   for s, p in pruned.items()})
    else:
        hours = orderflow.settings.retention / timedelta(hours=1)
        table(f"stores pruned (older than {hours:g} h)", ["store", "processed ids", "outbox rows"],
              [(s, f"{p.processed_ids:,}", f"{p.outbox_rows:,}") for s, p in pruned.items()])

"""`orderflow acl plan | apply`: the Kafka ACLs each principal needs, derived from the
services deployed (their message tables and publications; adapters/kafka/acl.py says
how), and the broker made to match them.

`plan` reads no broker: it is what the code says. `apply` asks the broker, creates what
is missing and deletes what the plan no longer has; run it again and nothing changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import emit_json, table

if TYPE_CHECKING:
    from adapters.kafka.acl import Grant, Plan
    from services.bootstrap import Orderflow

app = typer.Typer(help="Kafka ACLs derived from the services: least privilege per principal.",
                  no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
Wide = Annotated[bool, typer.Option("--wide", help="Names with the topic prefix.")]


@app.command()
def plan(ctx: typer.Context, wide: Wide = False, json: Json = False) -> None:
    """Every principal's READ, WRITE and DESCRIBE (each an ALLOW from any host), and its
    consumer group, for the flows and steps deployed (ORDERFLOW_FLOWS, ORDERFLOW_STEPS);
    no broker needed. Names are shown without the topic prefix (--wide: with it)."""
    orderflow = app_of(ctx)
    acls = orderflow.acl_plan()
    if json:
        emit_json(_document(orderflow, acls))
        return
    shown = "" if wide else orderflow.settings.topic_prefix
    table(f"Kafka ACLs ({_deployment(orderflow)})", ["principal", "operations", "resource"],
          [row for who, grants in acls.items() for row in _rows(who, grants, shown)],
          wide=wide)


@app.command()
def apply(ctx: typer.Context, json: Json = False) -> None:
    """Make the broker's ACLs match the plan: missing ones created, stale ones deleted."""
    applied = app_of(ctx).apply_acls()
    if json:
        emit_json({"created": applied.created, "deleted": applied.deleted,
                   "unchanged": applied.unchanged})
        return
    typer.echo(f"ACLs: {applied.created} created, {applied.deleted} deleted,"
               f" {applied.unchanged} unchanged")


def _rows(who: str, grants: frozenset[Grant], prefix: str) -> list[tuple[str, str, str]]:
    """One row per resource, its operations together; topics first, then groups; names
    without `prefix`."""
    if not grants:
        return [(who, "-", "none (not deployed)")]
    resources: dict[tuple[str, str, str], list[str]] = {}
    for grant in sorted(grants, key=lambda g: (g.resource != "topic", g.name, g.operation)):
        resources.setdefault((grant.resource, grant.name, grant.pattern), []).append(
            grant.operation)
    return [(who, ",".join(ops),
             f"{kind} {name.removeprefix(prefix)}{'*' if pattern == 'prefixed' else ''}")
            for (kind, name, pattern), ops in resources.items()]


def _deployment(orderflow: Orderflow) -> str:
    """`both flows, +fraud, prefix t-1.`: short, so the title fits 80 columns."""
    settings = orderflow.settings
    flows = "both flows" if len(settings.flows) > 1 else next(iter(settings.flows))
    steps = "".join(f", +{step}" for step in sorted(settings.steps))
    prefix = f", prefix {settings.topic_prefix}" if settings.topic_prefix else ""
    return f"{flows}{steps}{prefix}"


def _document(orderflow: Orderflow, acls: Plan) -> dict[str, Any]:
    settings = orderflow.settings
    return {"flows": sorted(settings.flows), "steps": sorted(settings.steps),
            "prefix": settings.topic_prefix,
            "principals": {who: [{"resource": g.resource, "name": g.name,
                                  "pattern": g.pattern, "operation": g.operation,
                                  "permission": "ALLOW", "host": "*"}
                                 for g in sorted(grants)]
                           for who, grants in acls.items()}}

"""Read-model queries: `status`, `list`, `trace`, `tables`, `inspect`.

Each reads through `app.read_models()` only; `--json` prints exactly one JSON document.
"""

from __future__ import annotations

import enum
import math
import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import emit_json, table
from cli.parse import money
from domain.order_events import OrderStatus

if TYPE_CHECKING:
    from projections.read_models import ReadModels, Row

Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
OrderId = Annotated[uuid.UUID, typer.Argument(metavar="ORDER_ID", help="The order's UUID.")]
TERMINAL = {OrderStatus.CONFIRMED.value, OrderStatus.REJECTED.value}
POLL_SECONDS = 0.05


class FlowChoice(enum.StrEnum):
    choreography = "choreography"
    orchestration = "orchestration"


class StatusChoice(enum.StrEnum):
    created = "created"
    confirmed = "confirmed"
    rejected = "rejected"
    compensation_failed = "compensation_failed"  # a saga's compensation is failing


class TraceFormat(enum.StrEnum):
    table = "table"
    mermaid = "mermaid"
    json = "json"


def status(ctx: typer.Context, order_id: OrderId,
           wait: Annotated[float, typer.Option(min=0, max=3600, help="Poll up to this many "
                                               "seconds for a final status.")] = 0.0,
           json: Json = False) -> None:
    """Show an order's status, reason, flow, channel, total and last update."""
    if math.isnan(wait):  # NaN passes the range check and would make the wait endless
        raise typer.BadParameter("expected a number of seconds, got nan", param_hint="--wait")
    from projections.read_models import NoSuchOrder

    key = str(order_id)
    order = _await(app_of(ctx).read_models(), key, wait)
    if order is None:
        raise NoSuchOrder(f"no order {key} (yet)")
    if json:
        emit_json(order)
        return
    table(f"order {key} (UTC)", ["status", "reason", "flow", "channel", "total", "updated"],
          [[order["status"], order["reason"], order["flow"], order["channel"],
            _money(order["total_cents"]), order["updated_at"][:19].replace("T", " ")]])


def _await(models: ReadModels, order_id: str, seconds: float) -> Row | None:
    """The order once final, or as it stands when the wait is over."""
    deadline = time.monotonic() + seconds
    while True:
        order = models.order(order_id)
        if (order is not None and order["status"] in TERMINAL) or time.monotonic() >= deadline:
            return order
        time.sleep(POLL_SECONDS)


def list_(ctx: typer.Context,
          flow: Annotated[FlowChoice | None, typer.Option(help="Only this flow.")] = None,
          status: Annotated[StatusChoice | None, typer.Option(help="Only this status.")] = None,
          limit: Annotated[int, typer.Option(min=1, max=10000, help="At most N orders.")] = 50,
          json: Json = False) -> None:
    """List orders, newest first."""
    orders = app_of(ctx).read_models().orders(flow=flow and flow.value,
                                              status=status and status.value, limit=limit)
    if json:
        emit_json(orders)
        return
    table("orders", ["order", "flow", "customer", "total", "status", "reason", "created"],
          [[o["order_id"], o["flow"], o["customer_id"], _money(o["total_cents"]), o["status"],
            o["reason"], o["created_at"]] for o in orders])


def trace(ctx: typer.Context, order_id: OrderId,
          fmt: Annotated[TraceFormat, typer.Option(
              "--format", help="table for people, mermaid for diagrams, json for scripts.")]
          = TraceFormat.table, json: Json = False) -> None:
    """The order's events across services, in causal order (`--json` = `--format json`)."""
    from projections.mermaid import sequence_diagram
    from projections.read_models import NoSuchOrder

    fmt = TraceFormat.json if json else fmt
    models, key = app_of(ctx).read_models(), str(order_id)
    rows, order = models.timeline(key), models.order(key)
    if not rows and order is None:
        raise NoSuchOrder(f"no order {key} (yet)")
    if fmt is TraceFormat.json:
        emit_json(rows)
    elif fmt is TraceFormat.mermaid:
        typer.echo(sequence_diagram(rows, order["flow"] if order else None))
    else:
        seq_of = {r["event_id"]: r["seq"] for r in rows}
        table(f"trace {key} (UTC)", ["#", "time", "service", "type", "record", "after #"],
              [[r["seq"], r["occurred_at"][11:23], r["service"], r["type"],
                f"{r['topic']}[{r['partition']}]@{r['offset']}", seq_of.get(r["causation_id"])]
               for r in rows])


def tables(ctx: typer.Context, json: Json = False) -> None:
    """The read-model tables and their row counts."""
    counts = app_of(ctx).read_models().tables()
    if json:
        emit_json({name: count for name, count in counts})
    else:
        table("read models", ["table", "rows"], counts)


def inspect(ctx: typer.Context,
            name: Annotated[str, typer.Argument(metavar="TABLE", help="A read-model table "
                                                "(see `orderflow tables`).")],
            limit: Annotated[int, typer.Option(min=1, max=10000, help="At most N rows.")] = 20,
            json: Json = False) -> None:
    """Show a read-model table's rows, in primary-key order."""
    from projections.tables import READ_MODELS as TABLES

    if name not in TABLES:  # checked here too, so a bad name is a usage error (exit 2)
        raise typer.BadParameter(f"unknown table {name[:40]!r}; valid tables: "
                                 f"{', '.join(TABLES)}", param_hint="TABLE")
    columns, rows = app_of(ctx).read_models().inspect(name, limit)
    if json:
        emit_json({"table": name, "columns": columns,
                   "rows": [dict(zip(columns, row, strict=True)) for row in rows]})
    else:
        table(name, columns, rows)


def _money(cents: Any) -> str | None:
    return None if cents is None else money(cents)

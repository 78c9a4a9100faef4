"""Read-model queries: `status`, `list`, `trace`, `tables`, `inspect`.

Each reads through `app.read_models()` only; `--json` prints exactly one JSON document.
"""

from __future__ import annotations

import enum
import math
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import compact_time, emit_json, fields, full_time, short_id, table
from cli.parse import money, order_ref
from domain.order_events import OrderStatus

if TYPE_CHECKING:
    from projections.read_models import ReadModels, Row

Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
OrderId = Annotated[str, typer.Argument(
    metavar="ORDER_ID", parser=order_ref,
    help="The order's UUID, or its first 8 or more hex digits (as the tables show it).")]
Wide = Annotated[bool, typer.Option("--wide", help="Full ids and times (wider than 80 columns).")]
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
    """Show an order's status, reason, flow, channel, customer, total and times."""
    if math.isnan(wait):  # NaN passes the range check and would make the wait endless
        raise typer.BadParameter("expected a number of seconds, got nan", param_hint="--wait")
    from projections.read_models import NoSuchOrder

    models = app_of(ctx).read_models()
    key = models.resolve(order_id)
    order = _await(models, key, wait)
    if order is None:
        raise NoSuchOrder(f"no order {key} (yet)")
    if json:
        emit_json(order)
        return
    fields(f"order {key}", [
        ("status", order["status"]), ("reason", order["reason"] or "-"),
        ("flow", order["flow"]), ("channel", order["channel"]),
        ("customer", order["customer_id"]), ("total", _money(order["total_cents"])),
        ("placed (UTC)", full_time(order["created_at"])),
        ("updated (UTC)", full_time(order["updated_at"]))])


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
          wide: Wide = False, json: Json = False) -> None:
    """List orders, newest first (times in UTC; `--wide` adds the customer)."""
    orders = app_of(ctx).read_models().orders(flow=flow and flow.value,
                                              status=status and status.value, limit=limit)
    if json:
        emit_json(orders)
        return
    columns = ["order", "flow", "status", "reason", "total", "placed"]
    rows = [[short_id(o["order_id"], wide), _flow(o["flow"], wide), o["status"], o["reason"],
             _money(o["total_cents"]), compact_time(o["created_at"], wide)] for o in orders]
    if wide:
        columns.insert(2, "customer")
        for row, order in zip(rows, orders, strict=True):
            row.insert(2, order["customer_id"])
    table(f"orders ({len(orders)}, times in UTC)", columns, rows, wide)


def _flow(flow: str | None, wide: bool) -> str | None:
    return flow if wide or flow is None else flow[:4]  # chor / orch


def trace(ctx: typer.Context, order_id: OrderId,
          fmt: Annotated[TraceFormat, typer.Option(
              "--format", help="table for people, mermaid for diagrams, json for scripts.")]
          = TraceFormat.table, wide: Wide = False, json: Json = False) -> None:
    """The order's events across services, in causal order (`--json` = `--format json`;
    `--wide` adds each event's Kafka record)."""
    from projections.mermaid import sequence_diagram
    from projections.read_models import NoSuchOrder

    fmt = TraceFormat.json if json else fmt
    models = app_of(ctx).read_models()
    key = models.resolve(order_id)
    rows, order = models.timeline(key), models.order(key)
    if not rows and order is None:
        raise NoSuchOrder(f"no order {key} (yet)")
    if fmt is TraceFormat.json:
        emit_json(rows)
    elif fmt is TraceFormat.mermaid:
        typer.echo(sequence_diagram(rows, order["flow"] if order else None))
    else:
        _trace_table(key, rows, wide)


def _trace_table(key: str, rows: list[Row], wide: bool) -> None:
    seq_of = {r["event_id"]: r["seq"] for r in rows}
    columns = ["#", "time (UTC)", "service", "type", "after"]
    lines = [[r["seq"], compact_time(r["occurred_at"], wide), r["service"], r["type"],
              seq_of.get(r["causation_id"])] for r in rows]
    if wide:
        columns.append("record")
        for line, r in zip(lines, rows, strict=True):
            line.append(f"{r['topic']}[{r['partition']}]@{r['offset']}")
    table(f"trace {key}", columns, lines, wide)


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

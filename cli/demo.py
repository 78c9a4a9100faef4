"""`orderflow demo`: the main job, on embedded defaults, from a fresh clone.

Starts the local broker if none answers, then every service (`cli.spawn`: migrations,
topics, a supervisor that restarts a service that exits, and says so on stderr), prints
the tutorial line, runs the comparison of all seven paths with live progress (the
timeout path pauses payment, which the demo can do: it started the services), prints
the final statuses and the comparison, writes it to the data dir as compare-report.md
and compare-report.html (self-contained, for a browser), then stops what it started. It
exits 1 when a path did not end as expected or an order was left unfinished.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from cli.compare import compare_with_progress, failed, render, report, sections
from cli.context import app_of
from cli.output import console, short_id, table
from cli.spawn import spawned, step
from cli.steps import WithStep, stepped
from domain.order_events import Channel

if TYPE_CHECKING:
    from services.bootstrap import Orderflow
    from services.supervisor import Supervisor


def demo(ctx: typer.Context,
         orders: Annotated[int, typer.Option("--orders", "-n", min=1, max=1000,
                                             help="Happy orders per flow, paced.")] = 20,
         rate: Annotated[float, typer.Option(min=0.1, max=1000,
                                             help="Orders per second, paced.")] = 10.0,
         with_step: WithStep = None,
         ) -> None:
    """Run both flows through all seven paths and compare them (under a minute)."""
    started_at = time.monotonic()
    orderflow = stepped(app_of(ctx), with_step)
    say = console().print
    address, broker_started = step("broker", orderflow.ensure_broker, say)
    say(f"Kafka at {address}" + (" (started for the demo)" if broker_started else ""))
    try:
        with spawned(orderflow, say) as supervisor:
            ok = _run(orderflow, supervisor, orders, rate)
    finally:
        if broker_started:
            say(f"broker: {orderflow.broker().stop()}")
    say(f"demo finished in {time.monotonic() - started_at:.0f}s")
    if not ok:
        raise typer.Exit(1)


def _run(orderflow: Orderflow, supervisor: Supervisor, orders: int, rate: float) -> bool:
    for line in orderflow.run_tutorial("created", 30):
        console().print(f"[bold]tutorial:[/bold] {line}")
    from experiments.compare import fraud_path
    from experiments.report import write_html

    extra = (fraud_path(orderflow, True),) if "fraud" in orderflow.settings.steps else ()
    comparison, results = compare_with_progress(orderflow, orders, 120.0, quiet=False,
                                                channel=Channel.DEMO, rate=rate,
                                                pauser=supervisor, extra=extra)
    placed = [o for r in results.values() for o in (*r.scenario_orders.values(), *r.batch[:2])]
    rows = [_status_row(orderflow, order_id) for order_id in placed]
    table("final status (the paths and two batch orders per flow)",
          ["order", "flow", "status", "reason", "customer"], rows)
    render(results)
    path = orderflow.settings.data_dir / "compare-report.md"
    path.write_text(report(comparison, results))
    page = path.with_suffix(".html")
    write_html(page, comparison.reader, results, sections(results))
    where = orderflow.settings.database_url or f"{orderflow.settings.data_dir}/projector.db"
    console().print(f"report with Mermaid traces: {path}\nHTML report: {page}\n"
                    f"read models: {where}\n"
                    "look inside:\n  orderflow tables\n  orderflow inspect order_view --limit 10\n"
                    f"  orderflow trace {short_id(placed[0])} --format mermaid")
    return not failed(results)


def _status_row(orderflow: Orderflow, order_id: str) -> list[object]:
    row = orderflow.read_models().order(order_id) or {}
    return [short_id(order_id), row.get("flow"), row.get("status"), row.get("reason"),
            row.get("customer_id")]

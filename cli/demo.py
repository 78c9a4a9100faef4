"""`orderflow demo`: the main job, on embedded defaults, from a fresh clone.

Starts the local broker if none answers, migrates the stores, creates the topics,
starts every service (a supervisor restarts one that exits, and says so on stderr),
prints the tutorial line, runs the comparison with live progress, prints the final
statuses and the comparison, then stops what it started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cli.compare import compare_with_progress, render, report
from cli.context import app_of
from cli.output import console, short_id, table
from cli.run import say_restart
from domain.order_events import Channel

if TYPE_CHECKING:
    from services.bootstrap import Orderflow
    from services.supervisor import Supervisor

T = TypeVar("T")


def demo(ctx: typer.Context,
         orders: Annotated[int, typer.Option("--orders", "-n", min=1, max=1000,
                                             help="Happy orders per flow.")] = 20,
         ) -> None:
    """Run both flows through every scenario and compare them (about a minute)."""
    from services.bootstrap import SERVICES
    from services.supervisor import Supervisor

    started_at = time.monotonic()
    orderflow = app_of(ctx)
    address, broker_started = _step("broker", orderflow.ensure_broker)
    console().print(f"Kafka at {address}" + (" (started for the demo)" if broker_started else ""))
    _step("migrations", orderflow.upgrade)
    _step("topics", orderflow.create_topics)
    supervisor = Supervisor(list(SERVICES), orderflow.settings.data_dir / "logs",
                            on_restart=say_restart)
    try:
        _run(orderflow, supervisor, orders)
    finally:
        supervisor.stop()
        console().print("services stopped")
        if broker_started:
            console().print(f"broker: {orderflow.broker().stop()}")
    console().print(f"demo finished in {time.monotonic() - started_at:.0f}s")


def _run(orderflow: Orderflow, supervisor: Supervisor, orders: int) -> None:
    from services.bootstrap import SERVICES

    children = supervisor.start()
    console().print(f"started {len(children)} services: {', '.join(c.service for c in children)}")
    _step("consumer groups", lambda: orderflow.wait_for_groups(list(SERVICES)))
    for line in orderflow.run_tutorial("created", 30):
        console().print(f"[bold]tutorial:[/bold] {line}")
    comparison, results = compare_with_progress(orderflow, orders, 120.0, quiet=False,
                                                channel=Channel.DEMO)
    placed = [o for r in results.values() for o in (*r.scenario_orders.values(), *r.batch[:2])]
    rows = [_status_row(orderflow, order_id) for order_id in placed]
    table("final status (scenarios and two batch orders per flow)",
          ["order", "flow", "status", "reason", "customer"], rows)
    render(results)
    path = orderflow.settings.data_dir / "compare-report.md"
    path.write_text(report(comparison, results))
    where = orderflow.settings.database_url or f"{orderflow.settings.data_dir}/projector.db"
    console().print(f"report with Mermaid traces: {path}\nread models: {where}\n"
                  "look inside:\n  orderflow tables\n  orderflow inspect order_view --limit 10\n"
                  f"  orderflow trace {placed[0]} --format mermaid")


def _status_row(orderflow: Orderflow, order_id: str) -> list[object]:
    row = orderflow.read_models().order(order_id) or {}
    return [short_id(order_id), row.get("flow"), row.get("status"), row.get("reason"),
            row.get("customer_id")]


def _step(name: str, action: Callable[[], T]) -> T:
    began = time.monotonic()
    result = action()
    console().print(f"[green]✓[/green] {name} ({time.monotonic() - began:.1f}s)")
    return result

"""`orderflow bench`: throughput and latency of both flows beside raw Kafka and raw SQL
baselines measured in the same run, with the issue's targets marked met or NOT met."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from cli.context import app_of
from cli.output import console, emit_json, err_console, table
from services.bench.config import BenchConfig, quick
from services.bench.report import sections
from services.bench.results import Document, append
from services.bench.run import Bench


class BarReporter:
    """Progress bars and one-line notes on stderr; stdout stays for the results."""

    def __init__(self, bar: Progress) -> None:
        self.bar, self.tasks = bar, dict[str, TaskID]()

    def progress(self, label: str, done: float, total: float) -> None:
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=total)
        self.bar.update(self.tasks[label], completed=done, total=total)

    def note(self, text: str) -> None:
        self.bar.console.print(f"[green]✓[/green] {text}")


def bench(ctx: typer.Context,
          orders: Annotated[int | None, typer.Option(
              "--orders", "-n", min=10, max=1_000_000,
              help="Burst size per flow [default: 10000].")] = None,
          rate: Annotated[float | None, typer.Option(
              min=1, max=10_000, help="Light load, orders/s [default: 100].")] = None,
          duration: Annotated[float | None, typer.Option(
              min=1, max=3600, help="Light load, seconds [default: 30].")] = None,
          raw_records: Annotated[int | None, typer.Option(
              min=100, max=10_000_000, help="Raw Kafka records [default: 100000].")] = None,
          quick_mode: Annotated[bool, typer.Option(
              "--quick", help="Tiny sizes; finishes in well under a minute.")] = False,
          postgres_url: Annotated[str | None, typer.Option(
              help="Also measure raw PostgreSQL appends here (postgresql://...).")] = None,
          results: Annotated[Path | None, typer.Option(
              help="Append the run as one JSON line here "
                   "[default: ORDERFLOW_DATA_DIR/bench-results.jsonl].")] = None,
          keep: Annotated[bool, typer.Option(
              help="Keep the run's topics, schemas and data dir.")] = False,
          json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
          ) -> None:
    """Measure the pipeline against raw Kafka and raw SQL on this machine (minutes)."""
    if postgres_url is not None and not postgres_url.startswith(("postgresql", "postgres")):
        raise typer.BadParameter("expected a postgresql://USER:PASSWORD@HOST/DB URL",
                                 param_hint="--postgres-url")
    orderflow = app_of(ctx)
    config = quick(BenchConfig()) if quick_mode else BenchConfig()
    given = {"orders": orders, "rate": rate, "duration": duration, "raw_records": raw_records}
    config = replace(config, postgres_url=postgres_url, keep=keep,
                     **{k: v for k, v in given.items() if v is not None})
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        result = Bench(orderflow.settings, config, BarReporter(bar)).run()
    path = results or orderflow.settings.data_dir / "bench-results.jsonl"
    append(path, result)
    if json:
        emit_json(result)
    else:
        render(result)
        console.print(f"results appended to {path}")


def render(result: Document) -> None:
    for title, columns, rows in sections(result):
        table(title, columns, rows)

"""`orderflow bench`: throughput and latency of both flows beside raw Kafka and raw SQL
baselines measured in the same run, with the issue's targets marked met or NOT met;
`bench --cli`: the start-up time of the quick commands beside `python -c pass`.

The experiments package and rich's progress bars are imported when the command runs,
never when the CLI starts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import console, emit_json, err_console, table

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from experiments.bench.config import BenchConfig
    from experiments.bench.results import Document
    from services.bootstrap import Orderflow


class BarReporter:
    """Progress bars and one-line notes on stderr; stdout stays for the results."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.tasks: dict[str, TaskID] = {}

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
          placers: Annotated[int | None, typer.Option(
              min=1, max=16, help="Placer processes in a burst [default: 2].")] = None,
          quick_mode: Annotated[bool, typer.Option(
              "--quick", help="Tiny sizes; finishes in well under a minute.")] = False,
          postgres_url: Annotated[str | None, typer.Option(
              help="Also measure raw PostgreSQL appends here (postgresql://...).")] = None,
          cli: Annotated[bool, typer.Option(
              "--cli", help="Only the start-up of --help, status, list and catalog, beside "
                            "`python -c pass` (seconds, no broker).")] = False,
          runs: Annotated[int | None, typer.Option(
              min=1, max=1000, help="--cli: runs per command [default: 10, 3 with "
                                    "--quick].")] = None,
          results: Annotated[Path | None, typer.Option(
              help="Append the run as one JSON line here "
                   "[default: ORDERFLOW_DATA_DIR/bench-results.jsonl].")] = None,
          keep: Annotated[bool, typer.Option(
              help="Keep the run's topics, schemas and data dir.")] = False,
          json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
          ) -> None:
    """Measure the pipeline against raw Kafka and raw SQL on this machine (minutes)."""
    sizes = {"orders": orders, "rate": rate, "duration": duration, "raw_records": raw_records,
             "placers": placers}
    _check(postgres_url)
    _check_cli(cli, runs, {**sizes, "postgres_url": postgres_url, "keep": keep or None})
    orderflow = app_of(ctx)
    with _bars() as reporter:
        result = (_startup(orderflow, runs or (3 if quick_mode else 10), reporter) if cli
                  else _pipeline(orderflow, _config(quick_mode, sizes, postgres_url, keep),
                                 reporter))
    path = results or orderflow.settings.data_dir / "bench-results.jsonl"
    _append(path, result)
    if json:
        emit_json(result)
    else:
        render(result)
        console().print(f"results appended to {path}")


def _check(postgres_url: str | None) -> None:
    if postgres_url is not None and not postgres_url.startswith(("postgresql", "postgres")):
        raise typer.BadParameter("expected a postgresql://USER:PASSWORD@HOST/DB URL",
                                 param_hint="--postgres-url")


def _check_cli(cli: bool, runs: int | None, pipeline: dict[str, Any]) -> None:
    """--cli times start-up only: the pipeline's options with it are usage errors."""
    stray = [name for name, value in pipeline.items() if value is not None]
    if cli and stray:
        raise typer.BadParameter(f"--{stray[0].replace('_', '-')} applies to the pipeline run;"
                                 " --cli times start-up only", param_hint="--cli")
    if runs is not None and not cli:
        raise typer.BadParameter("--runs applies to --cli only", param_hint="--runs")


def _config(quick_mode: bool, sizes: dict[str, Any], postgres_url: str | None,
            keep: bool) -> BenchConfig:
    from dataclasses import replace

    from experiments.bench.config import BenchConfig, quick

    config = quick(BenchConfig()) if quick_mode else BenchConfig()
    return replace(config, postgres_url=postgres_url, keep=keep,
                   **{k: v for k, v in sizes.items() if v is not None})


def _pipeline(orderflow: Orderflow, config: BenchConfig, reporter: BarReporter) -> Document:
    from experiments.bench.run import Bench

    return Bench(orderflow.settings, config, reporter).run()


def _startup(orderflow: Orderflow, runs: int, reporter: BarReporter) -> Document:
    from experiments.bench.startup import startup

    return startup(orderflow.settings, runs, reporter)


@contextmanager
def _bars() -> Iterator[BarReporter]:
    """Progress bars on stderr for the length of a run, gone when it ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err_console(), transient=True) as bar:
        yield BarReporter(bar)


def _append(path: Path, result: Document) -> None:
    from experiments.bench.results import append

    append(path, result)


def render(result: Document) -> None:
    from experiments.bench.report import sections, startup_sections

    chosen = startup_sections if "startup" in result else sections
    for title, columns, rows in chosen(result):
        table(title, columns, rows)

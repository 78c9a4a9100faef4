"""`orderflow bench`: throughput and latency of both flows beside raw Kafka and raw SQL
baselines measured in the same run, with the issue's targets marked met or NOT met."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

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
from services.bench.results import Document, append
from services.bench.run import Bench

FLOWS = ("choreography", "orchestration")


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


def sections(result: Document) -> list[tuple[str, list[str], list[list[Any]]]]:
    return [_run(result), _baselines(result), _pipeline(result), _latency(result),
            _ratios(result), _cpu(result), _memory(result), _targets(result)]


def _run(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    run, machine = result["run"], result["run"]["machine"]
    rows = [["machine", f"{machine['cpus']} CPUs, {machine['cpu']}, {machine['platform']}"],
            ["python", machine["python"]], ["store", run["store"]],
            ["broker", run["broker"]], ["topic prefix", run["topic_prefix"]],
            ["took", f"{run['seconds']:.0f} s"]]
    return "bench run", ["", ""], rows


def _baselines(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    kafka = result["baselines"]["kafka"]
    rows = [[f"Kafka produce → consume ({kafka['records']:,} × {kafka['record_bytes']} B)",
             f"{kafka['end_to_end_per_s']:,.0f} records/s",
             f"produce {kafka['produce_per_s']:,.0f}/s, consume {kafka['consume_per_s']:,.0f}/s"]]
    for kind, store in result["baselines"]["store"].items():
        rows.append([f"{kind} append_many ({store['events']:,} events, {store['batch']} per tx)",
                     f"{store['rows_per_s']:,.0f} rows/s",
                     f"{store['events_per_s']:,.0f} events (event + outbox row)/s"])
    return "raw baselines (same run, services not yet started)", ["", "rate", "detail"], rows


def _pipeline(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    flows = result["pipeline"]
    some = next(iter(flows.values()))

    def row(label: str, key: str, fmt: str = "{:,.0f}") -> list[Any]:
        return [label, *(fmt.format(flows[f][key]) for f in FLOWS if f in flows)]

    outcomes = ["outcomes", *(", ".join(f"{k} {v}" for k, v in flows[f]["outcomes"].items())
                              for f in FLOWS if f in flows)]
    rows = [row("orders/s to a final status", "orders_per_s"),
            row("seconds, first place → last final", "seconds", "{:.1f}"),
            row("placer alone, orders/s", "place_per_s"),
            row("Kafka messages", "messages"), row("messages per order", "messages_per_order",
                                                   "{:.1f}"),
            row("messages/s", "messages_per_s"), outcomes,
            row("CPU s per order (services)", "cpu_per_order", "{:.4f}"),
            row("CPU s per order (+ placer, broker)", "cpu_per_order_all", "{:.4f}")]
    title = f"pipeline: a burst of {some['orders']:,} orders per flow ({result['run']['store']})"
    return title, ["", *flows], rows


def _latency(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    flows = result["latency"]
    some = next(iter(flows.values()))
    rows = [[label, *(f"{flows[f][key]:.0f}" for f in flows)]
            for label, key in (("p50 ms", "p50_ms"), ("p95 ms", "p95_ms"), ("p99 ms", "p99_ms"),
                               ("max ms", "max_ms"))]
    rows += [["orders", *(flows[f]["orders"] for f in flows)],
             ["achieved orders/s", *(f"{flows[f]['achieved_rate']:.1f}" for f in flows)]]
    title = (f"latency: place → final at {some['rate']:g} orders/s for {some['duration']:g} s"
             " (event times)")
    return title, ["", *flows], rows


def _ratios(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    ratios = result["ratios"]
    rows = [["pipeline msgs/s ÷ raw Kafka records/s",
             *(f"{ratios[f]['kafka']:.1%}" for f in ratios)],
            [f"pipeline msgs/s ÷ raw {result['run']['store']} events/s",
             *(f"{ratios[f]['store']:.1%}" for f in ratios)]]
    return "ratios", ["", *ratios], rows


def _cpu(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    flows = result["pipeline"]
    names = sorted({n for f in flows.values() for n in f["cpu_seconds"]})
    rows = [[name, *(f"{flows[f]['cpu_seconds'].get(name, 0) / flows[f]['orders'] * 1000:.2f}"
                     for f in flows)] for name in names]
    return "CPU milliseconds per order during the burst, by process", ["process", *flows], rows


def _memory(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    rows = [[name, f"{mib:.0f}"] for name, mib in result["memory_mib"].items()]
    return "peak memory per process (VmHWM)", ["process", "MiB"], rows


def _targets(result: Document) -> tuple[str, list[str], list[list[Any]]]:
    rows = [[t["name"], t["target"], _figure(t), "met" if t["met"] else "NOT met"]
            for t in result["targets"]]
    return "targets (issue 7)", ["target", "wanted", "measured", "verdict"], rows


def _figure(target: dict[str, Any]) -> str:
    value = target["measured"]
    return f"{value:.1%}" if target["unit"] == "×" else f"{value:,.0f} {target['unit']}"

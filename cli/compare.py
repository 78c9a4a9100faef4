"""`orderflow compare`: both flows, the same seven paths, side by side.

The experiment itself lives in `experiments.compare`; this module renders its results
(tables, JSON, Markdown; HTML through `experiments.report`) and imports the experiment
only when a comparison runs. With
`--spawn` it starts every service itself (as `demo` does), which lets it run the timeout
path: it holds the services' supervisor and can pause payment.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import console, emit_json, err_console, table
from cli.steps import WithStep
from domain.order_events import Channel

if TYPE_CHECKING:
    from experiments.compare import Comparison, FlowResult, Pauser, Scenario
    from services.bootstrap import Orderflow

FLOW_NAMES = ["choreography", "orchestration"]


def compare(ctx: typer.Context,
            orders: Annotated[int, typer.Option(
                "--orders", "-n", min=1, max=10_000,
                help="Happy orders per flow in the latency batch.")] = 20,
            rate: Annotated[float, typer.Option(
                min=0.1, max=1000, help="Orders per second the latency batch is placed at "
                "(paced, after a warm-up).")] = 10.0,
            spawn: Annotated[bool, typer.Option(
                "--spawn", help="Start every service for the run and stop them after it; "
                "needed for the timeout path, which pauses payment.")] = False,
            timeout: Annotated[float, typer.Option(
                min=1, max=3600, help="Seconds to wait for every order to settle.")] = 60.0,
            markdown: Annotated[Path | None, typer.Option(
                help="Also write the comparison as a Markdown report to this file.")] = None,
            html: Annotated[Path | None, typer.Option(
                help="Also write a self-contained HTML report (sequence diagrams, latency "
                "chart, coupling graph, tables; works offline) to this file.")] = None,
            json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
            with_step: WithStep = None,
            ) -> None:
    """Place the seven paths through both flows and compare them, measured. With
    --with-step: twice, without and with the step, and what it changed (implies --spawn)."""
    from cli.spawn import spawned
    from experiments.report import check_writable, write_html

    for path in (p for p in (html, markdown) if p is not None):
        check_writable(path)  # before anything is seeded or placed: a bad path writes nothing
    orderflow = app_of(ctx)
    orderflow.require_broker()
    say = err_console().print if json else console().print
    if with_step:
        from cli.impact import compare_with_step

        options = Options(orders, rate, timeout, markdown, html, json)
        raise typer.Exit(compare_with_step(orderflow, with_step, options, say))
    with spawned(orderflow, say) if spawn else nullcontext() as pauser:
        comparison, results = compare_with_progress(orderflow, orders, timeout, quiet=json,
                                                    rate=rate, pauser=pauser)
    if json:
        emit_json(document(results))
    else:
        render(results)
    if markdown is not None:
        markdown.write_text(report(comparison, results))
        say(f"report written to {markdown}")
    if html is not None:
        write_html(html, comparison.reader, results, sections(results))
        say(f"HTML report written to {html}")
    if failed(results):
        raise typer.Exit(1)


@dataclass(frozen=True)
class Options:
    """What the user asked of a comparison's size and output."""

    orders: int
    rate: float
    timeout: float
    markdown: Path | None
    html: Path | None
    json: bool


def compare_with_progress(orderflow: Orderflow, orders: int, timeout: float, quiet: bool,
                          channel: str = Channel.COMPARE, *, rate: float = 10.0,
                          pauser: Pauser | None = None, extra: tuple[Scenario, ...] = (),
                          ) -> tuple[Comparison, dict[str, FlowResult]]:
    """Run the comparison with a live progress bar per flow on stderr; its orders say
    they came from `channel`."""
    from rich.progress import Progress, TaskID

    from experiments.compare import comparison

    with Progress(console=err_console(), transient=True, disable=quiet) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(flow: str, done: int, total: int) -> None:
            if flow not in tasks:
                tasks[flow] = bar.add_task(f"{flow}: orders settled", total=total)
            bar.update(tasks[flow], completed=done, total=total)

        experiment = comparison(orderflow, orders, timeout, progress, channel, rate=rate,
                                pauser=pauser, extra=extra)
        return experiment, experiment.run()


def render(results: dict[str, FlowResult]) -> None:
    for title, columns, rows in sections(results):
        table(title, columns, rows)


Section = tuple[str, list[str], list[list[Any]]]


def sections(results: dict[str, FlowResult]) -> list[Section]:
    return [_outcomes(results), _messages(results), _latency(results), _coupling(results),
            _deadlines(results), _late_reply(results)]


def _outcomes(results: dict[str, FlowResult]) -> Section:
    chor, orch = results["choreography"], results["orchestration"]
    rows = [[s.name, s.expected[1] or s.expected[0], _mark(chor, s), _mark(orch, s)]
            for s in chor.paths]
    return "outcome per path (✓: as expected)", ["path", "expected", *FLOW_NAMES], rows


def _messages(results: dict[str, FlowResult]) -> Section:
    chor, orch = results["choreography"], results["orchestration"]
    topics = sorted(set(chor.messages_per_order) | set(orch.messages_per_order))
    rows = [[t, _n(chor.messages_per_order.get(t)), _n(orch.messages_per_order.get(t))]
            for t in topics]
    rows.append(["total", _n(sum(chor.messages_per_order.values())),
                 _n(sum(orch.messages_per_order.values()))])
    rows.append(["  coordination", _n(chor.coordination_per_order),
                 _n(orch.coordination_per_order)])
    rows.append(["  read-model feed", _n(chor.feed_per_order), _n(orch.feed_per_order)])
    return "messages per order, by topic (latency batch)", ["topic", *FLOW_NAMES], rows


def _latency(results: dict[str, FlowResult]) -> Section:
    chor, orch = results["choreography"], results["orchestration"]
    rows: list[list[Any]] = [[f"p{q}", _ms(chor.percentile(q)), _ms(orch.percentile(q))]
                             for q in (50, 95, 99)]
    rows.append(["orders measured", len(chor.latencies_ms), len(orch.latencies_ms)])
    title = (f"place → final latency, ms, from event times (paced at {chor.rate:g}/s,"
             f" {chor.warmup} warm-up)")
    return title, ["", *FLOW_NAMES], rows


def _coupling(results: dict[str, FlowResult]) -> Section:
    chor, orch = results["choreography"], results["orchestration"]
    services = sorted(set(chor.coupling) | set(orch.coupling))
    rows = [[s, ", ".join(sorted(chor.coupling.get(s, ()))) or "-",
             ", ".join(sorted(orch.coupling.get(s, ()))) or "-"] for s in services]
    return ("coupling: topics each service consumed (from real traces)",
            ["service", *FLOW_NAMES], rows)


def _deadlines(results: dict[str, FlowResult]) -> Section:
    """Who holds each order's deadline: timer rows seen in the stores while in flight."""
    owners = {flow: r.timer_owners() for flow, r in results.items()}
    kinds = sorted({k for o in owners.values() for k in o})
    rows = [[kind, *(_of(owners[f].get(kind), len(results[f].placed)) for f in FLOW_NAMES)]
            for kind in kinds]
    return ("deadlines: orders with a timer row (store:kind), seen in flight",
            ["timer", *FLOW_NAMES], rows)


def _late_reply(results: dict[str, FlowResult]) -> Section:
    cells = [_late(results[flow]) for flow in FLOW_NAMES]
    return ("timeout: what payment did with the late order once resumed",
            ["", *FLOW_NAMES], [["payment's events", *cells]])


def _late(result: FlowResult) -> str:
    if result.late_reply is None:
        return result.skipped.get("timeout", "-")
    return " → ".join(result.late_reply)


def document(results: dict[str, FlowResult]) -> dict[str, Any]:
    return {flow: {"outcomes": {k: {"status": v[0], "reason": v[1]} for k, v in r.outcomes.items()},
                   "skipped": r.skipped,
                   "messages_per_order": r.messages_per_order,
                   "coordination_per_order": r.coordination_per_order,
                   "feed_per_order": r.feed_per_order,
                   "latency_ms": {"p50": r.percentile(50), "p95": r.percentile(95),
                                  "p99": r.percentile(99), "count": len(r.latencies_ms),
                                  "rate_per_s": r.rate, "warmup_orders": r.warmup},
                   "coupling": {k: sorted(v) for k, v in r.coupling.items()},
                   "timers": r.timer_owners(), "orders_placed": len(r.placed),
                   "late_reply": r.late_reply, "unfinished": r.unfinished}
            for flow, r in results.items()}


def report(comparison: Comparison, results: dict[str, FlowResult],
           more: list[Section] | None = None) -> str:
    """The Markdown report: every table (`more` after them), then one real trace per
    flow as a sequence diagram."""
    from experiments.compare import FLOWS, PLACED
    from projections.mermaid import sequence_diagram

    parts = ["# orderflow: choreography vs orchestration\n"]
    parts += [markdown_table(*section) for section in [*sections(results), *(more or [])]]
    if more is None:
        parts.append("What adding a step changes in each style: `orderflow compare"
                     " --with-step fraud` measures it.\n")
    for flow in FLOWS:
        happy = results[flow].scenario_orders[PLACED[0].name]
        diagram = sequence_diagram(comparison.reader.timeline(happy), flow)
        parts.append(f"## {flow}: one real trace (order {happy})\n\n```mermaid\n{diagram}\n```\n")
    return "\n".join(parts)


def markdown_table(title: str, columns: list[str], rows: list[list[Any]]) -> str:
    return (f"## {title}\n\n| {' | '.join(columns)} |\n|{'---|' * len(columns)}\n"
            + "".join(f"| {' | '.join(str(c) for c in row)} |\n" for row in rows))


def failed(results: dict[str, FlowResult]) -> bool:
    """An order left unfinished, or a path that ran and did not end as expected."""
    return any(r.unfinished or any(s.name not in r.skipped
                                   and r.outcomes.get(s.name) != s.expected for s in r.paths)
               for r in results.values())


def _mark(result: FlowResult, scenario: Scenario) -> str:
    """✓ when the flow ended as expected, why not when skipped, else what it got."""
    if scenario.name in result.skipped:
        return f"skipped: {result.skipped[scenario.name]}"
    got = result.outcomes.get(scenario.name, ("unfinished", None))
    return "✓" if got == scenario.expected else f"✗ {_show(got)}"


def _show(outcome: tuple[str, str | None]) -> str:
    return outcome[0] + (f" ({outcome[1]})" if outcome[1] else "")


def _of(count: int | None, total: int) -> str:
    return "-" if not count else f"{count} of {total}"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"

"""`orderflow compare`: both flows, the same scenarios, side by side.

The experiment itself lives in `experiments.compare`; this module renders its results
(tables, JSON, Markdown) and imports the experiment only when a comparison runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import console, emit_json, err_console, table
from domain.order_events import Channel

if TYPE_CHECKING:
    from experiments.compare import Comparison, FlowResult, Scenario
    from services.bootstrap import Orderflow


def compare(ctx: typer.Context,
            orders: Annotated[int, typer.Option(
                "--orders", "-n", min=1, max=10_000,
                help="Happy orders per flow in the latency batch.")] = 20,
            timeout: Annotated[float, typer.Option(
                min=1, max=3600, help="Seconds to wait for every order to settle.")] = 60.0,
            markdown: Annotated[Path | None, typer.Option(
                help="Also write the comparison as a Markdown report to this file.")] = None,
            json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
            ) -> None:
    """Place the same scenarios through both flows (against the running system)."""
    orderflow = app_of(ctx)
    orderflow.require_broker()
    comparison, results = compare_with_progress(orderflow, orders, timeout, quiet=json)
    if json:
        emit_json(document(results))
    else:
        render(results)
    if markdown is not None:
        markdown.write_text(report(comparison, results))
        console().print(f"report written to {markdown}")
    if any(r.unfinished or _unexpected(r) for r in results.values()):
        raise typer.Exit(1)


def compare_with_progress(orderflow: Orderflow, orders: int, timeout: float, quiet: bool,
                          channel: str = Channel.COMPARE,
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
            bar.update(tasks[flow], completed=done)

        experiment = comparison(orderflow, orders, timeout, progress, channel)
        return experiment, experiment.run()


def render(results: dict[str, FlowResult]) -> None:
    for title, columns, rows in sections(results):
        table(title, columns, rows)


def sections(results: dict[str, FlowResult]) -> list[tuple[str, list[str], list[list[Any]]]]:
    from experiments.compare import NEW_STEP, SCENARIOS, TIMEOUT_OWNER

    chor, orch = results["choreography"], results["orchestration"]
    outcome = [[s.name, _show(s.expected), _mark(chor, s), _mark(orch, s)] for s in SCENARIOS]
    topics = sorted(set(chor.messages_per_order) | set(orch.messages_per_order))
    messages = [[t, _n(chor.messages_per_order.get(t)), _n(orch.messages_per_order.get(t))]
                for t in topics]
    messages.append(["total", _n(sum(chor.messages_per_order.values())),
                     _n(sum(orch.messages_per_order.values()))])
    messages.append(["  coordination", _n(chor.coordination_per_order),
                     _n(orch.coordination_per_order)])
    messages.append(["  read-model feed", _n(chor.feed_per_order), _n(orch.feed_per_order)])
    latency = [[label, _ms(chor.percentile(q)), _ms(orch.percentile(q))]
               for label, q in (("p50", 50), ("p95", 95))]
    latency.append(["orders measured", str(len(chor.latencies_ms)), str(len(orch.latencies_ms))])
    services = sorted(set(chor.coupling) | set(orch.coupling))
    couple = [[s, ", ".join(sorted(chor.coupling.get(s, ()))) or "-",
               ", ".join(sorted(orch.coupling.get(s, ()))) or "-"] for s in services]
    duties = [["owns the timeout", TIMEOUT_OWNER["choreography"], TIMEOUT_OWNER["orchestration"]],
              ["a new step (fraud check)", NEW_STEP["choreography"], NEW_STEP["orchestration"]]]
    flows = ["choreography", "orchestration"]
    return [("outcome per scenario", ["scenario", "expected", *flows], outcome),
            ("messages per order, by topic (latency batch)", ["topic", *flows], messages),
            ("place → final latency (ms, from event times)", ["", *flows], latency),
            ("coupling: topics each service consumed (from real traces)", ["service", *flows],
             couple),
            ("who does what", ["", *flows], duties)]


def document(results: dict[str, FlowResult]) -> dict[str, Any]:
    from experiments.compare import TIMEOUT_OWNER

    return {flow: {"outcomes": {k: {"status": v[0], "reason": v[1]} for k, v in r.outcomes.items()},
                   "messages_per_order": r.messages_per_order,
                   "coordination_per_order": r.coordination_per_order,
                   "feed_per_order": r.feed_per_order,
                   "latency_ms": {"p50": r.percentile(50), "p95": r.percentile(95),
                                  "count": len(r.latencies_ms)},
                   "coupling": {k: sorted(v) for k, v in r.coupling.items()},
                   "unfinished": r.unfinished, "timeout_owner": TIMEOUT_OWNER[flow]}
            for flow, r in results.items()}


def report(comparison: Comparison, results: dict[str, FlowResult]) -> str:
    from experiments.compare import FLOWS, SCENARIOS
    from projections.mermaid import sequence_diagram

    parts = ["# orderflow: choreography vs orchestration\n"]
    for title, columns, rows in sections(results):
        parts.append(f"## {title}\n\n| {' | '.join(columns)} |\n"
                     f"|{'---|' * len(columns)}\n"
                     + "".join(f"| {' | '.join(str(c) for c in row)} |\n" for row in rows))
    for flow in FLOWS:
        happy = results[flow].scenario_orders[SCENARIOS[0].name]
        diagram = sequence_diagram(comparison.reader.timeline(happy), flow)
        parts.append(f"## {flow}: one real trace (order {happy})\n\n```mermaid\n{diagram}\n```\n")
    return "\n".join(parts)


def _mark(result: FlowResult, scenario: Scenario) -> str:
    """✓ when the flow ended as expected (the expected column says how), else what it got."""
    got = result.outcomes.get(scenario.name, ("unfinished", None))
    return "✓" if got == scenario.expected else f"✗ {_show(got)}"


def _unexpected(result: FlowResult) -> bool:
    from experiments.compare import SCENARIOS

    return any(result.outcomes.get(s.name) != s.expected for s in SCENARIOS)


def _show(outcome: tuple[str, str | None]) -> str:
    return outcome[0] + (f" ({outcome[1]})" if outcome[1] else "")


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"

"""`orderflow compare --with-step STEP`: the comparison twice, without and with the step.

Each run starts its own services (as `--spawn` does) on topics, groups and stores of
its own (`Settings.isolated`): a step's new consumer group reads its topics from the
beginning, and must not meet the other run's orders. Both runs place the seven paths
and the step's own path (for fraud: an order above the limit, confirmed without the
step, rejected with it). What changed is read from the services' message tables and
from the runs' traces (`experiments.impact`), and printed after the run with the step.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from cli.compare import (
    Options,
    Section,
    compare_with_progress,
    document,
    failed,
    render,
    report,
    sections,
)
from cli.output import emit_json, table

if TYPE_CHECKING:
    from cli.spawn import Say
    from experiments.compare import FlowResult
    from experiments.impact import ChangeImpact
    from services.bootstrap import Orderflow

FLOWS = ["choreography", "orchestration"]


def compare_with_step(orderflow: Orderflow, steps: list[str], options: Options,
                      say: Say) -> int:
    """Run both comparisons and report what the steps changed; the exit code (1 when a
    path of either run did not end as expected)."""
    from experiments.compare import FRAUD_PATH
    from experiments.impact import ChangeImpact, reactions, table_changes
    from services.bootstrap import bootstrap

    settings, named = orderflow.settings, ", ".join(steps)
    plain = bootstrap(dataclasses.replace(settings, steps=settings.steps - set(steps)))
    isolated = settings.isolated("with-" + "-".join(sorted(steps)))
    stepped = bootstrap(dataclasses.replace(isolated, steps=settings.steps | set(steps)))
    _, before = _run(plain, options, say, f"1 of 2: without {named}", stopped=False)
    comparison, after = _run(stepped, options, say, f"2 of 2: with {named}", stopped=True)
    changes = table_changes(reactions(plain), reactions(stepped))
    impact = ChangeImpact(named, FRAUD_PATH, changes, before, after)
    _output(impact, comparison, options, say)
    return 1 if failed(before) or failed(after) else 0


def _run(app: Orderflow, options: Options, say: Say, label: str, *,
         stopped: bool) -> tuple[Any, dict[str, FlowResult]]:
    from cli.spawn import spawned
    from experiments.compare import fraud_path

    say(f"== run {label} (topics {app.settings.topic_prefix}*)")
    with spawned(app, say) as pauser:
        return compare_with_progress(app, options.orders, options.timeout, quiet=options.json,
                                     rate=options.rate, pauser=pauser,
                                     extra=(fraud_path(app, stopped),))


def _output(impact: ChangeImpact, comparison: Any, options: Options, say: Say) -> None:
    if options.json:
        emit_json({"step": impact.step, "without": document(dict(impact.before)),
                   "with": document(dict(impact.after)), "impact": impact_document(impact)})
    else:
        render(dict(impact.after))
        for title, columns, rows in impact_sections(impact):
            table(title, columns, rows)
    if options.markdown is not None:
        options.markdown.write_text(report(comparison, dict(impact.after),
                                           impact_sections(impact)))
        say(f"report written to {options.markdown}")
    if options.html is not None:
        from experiments.report import write_html

        write_html(options.html, comparison.reader, impact.after,
                   [*sections(dict(impact.after)), *impact_sections(impact)])
        say(f"HTML report written to {options.html}")


def impact_sections(impact: ChangeImpact) -> list[Section]:
    """The change-impact tables, for the terminal, the Markdown and the HTML report."""
    return [_tables(impact), _coupling(impact), _measured(impact)]


def _tables(impact: ChangeImpact) -> Section:
    rows = [[c.service, c.flow, change] for c in impact.tables
            for change in [*(f"+ {m}" for m in c.added), *(f"- {m}" for m in c.removed)]]
    return (f"the {impact.step} step in the message tables (+ reacts now, - no longer)",
            ["service", "flow", "message"], rows)


def _coupling(impact: ChangeImpact) -> Section:
    from experiments.impact import coupling_changes

    changed = {f: coupling_changes(impact.before[f], impact.after[f]) for f in FLOWS}
    services = sorted({s for c in changed.values() for s in c})
    rows = [[s, *(_topics(changed[f].get(s)) for f in FLOWS)] for s in services]
    return ("topics each service consumed, with the step (from real traces)",
            ["service", *FLOWS], rows)


def _topics(change: tuple[list[str], list[str]] | None) -> str:
    if change is None:
        return "-"
    added, removed = change
    return " ".join([*(f"+{t}" for t in added), *(f"-{t}" for t in removed)])


def _measured(impact: ChangeImpact) -> Section:
    def both(value: Any) -> list[str]:
        return [f"{value(impact.before[f])} → {value(impact.after[f])}" for f in FLOWS]

    def outcome(result: FlowResult) -> str:
        status, reason = result.outcomes.get(impact.path, ("unfinished", None))
        return reason or status

    rows = [["services changed", *(str(len(impact.services_changed(f))) for f in FLOWS)],
            ["messages per order", *both(lambda r: f"{sum(r.messages_per_order.values()):.1f}")],
            ["  coordination", *both(lambda r: f"{r.coordination_per_order:.1f}")],
            ["p50 ms", *both(lambda r: _ms(r.percentile(50)))],
            ["p99 ms", *both(lambda r: _ms(r.percentile(99)))],
            [impact.path, *both(outcome)]]
    return "measured without → with the step", ["", *FLOWS], rows


def impact_document(impact: ChangeImpact) -> dict[str, Any]:
    from experiments.impact import coupling_changes

    return {"path": impact.path,
            "tables": [dataclasses.asdict(c) for c in impact.tables],
            "services_changed": {f: impact.services_changed(f) for f in FLOWS},
            "coupling": {f: coupling_changes(impact.before[f], impact.after[f]) for f in FLOWS},
            "outcome": {f: {"without": impact.outcome(impact.before, f),
                            "with": impact.outcome(impact.after, f)} for f in FLOWS}}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"

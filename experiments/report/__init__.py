"""The comparison as a report people look at: one self-contained HTML file, offline.

`write_html(path, reader, results, tables)` writes a page with, side by side per flow,
the happy path's real trace as a sequence diagram and the coupling graph (both Mermaid,
from `projections.mermaid`, the source the Markdown report shows), the latency CDF of
both flows in one chart (ECharts), and then every table it is given. The tables come in
ready-made (the CLI passes `cli.compare.sections(results)`), so nothing the terminal
shows is computed twice, and one more table (the change impact of `--with-step`) is
one more item in that list. `check_writable(path)` runs before the comparison: a report
that cannot be written stops the command before any order is placed.

`page` builds the text (pure; see its docstring for what the page guarantees and why
these libraries); `output` checks and writes the file; `vendor/` holds the pinned
libraries (`make vendor` re-fetches them and checks their sums).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from experiments.compare import FLOWS, PLACED, FlowResult, Reader
from experiments.report.output import ReportPathError, check_writable, write_atomically
from experiments.report.page import Figure, Report, Table, render
from projections.mermaid import coupling_flowchart, sequence_diagram

__all__ = ["ReportPathError", "Table", "check_writable", "report_of", "write_html"]
TITLE = "orderflow: choreography vs orchestration"


def write_html(path: Path, reader: Reader, results: Mapping[str, FlowResult],
               tables: Sequence[Table], now: datetime | None = None) -> None:
    """The report of `results` at `path`, written whole; `reader` gives the traces."""
    write_atomically(path, render(report_of(reader, results, tables, now)))


def report_of(reader: Reader, results: Mapping[str, FlowResult], tables: Sequence[Table],
              now: datetime | None = None) -> Report:
    flows = [flow for flow in FLOWS if flow in results]
    return Report(
        title=TITLE, meta=_meta([results[f] for f in flows], now or datetime.now(UTC)),
        sequences=[_trace(reader, results[flow]) for flow in flows],
        coupling=[Figure(flow, "topic → the service that consumed it",
                         coupling_flowchart(results[flow].coupling)) for flow in flows],
        latencies={flow: results[flow].latencies_ms for flow in flows}, tables=tables)


def _trace(reader: Reader, result: FlowResult) -> Figure:
    """The flow's happy-path order as the timeline recorded it."""
    order_id = result.scenario_orders.get(PLACED[0].name)
    if order_id is None:
        return Figure(result.flow, "no happy-path order was placed",
                      sequence_diagram([], result.flow))
    return Figure(result.flow, f"order {order_id}",
                  sequence_diagram(reader.timeline(order_id), result.flow))


def _meta(results: Sequence[FlowResult], now: datetime) -> str:
    if not results:
        return f"written {now:%Y-%m-%d %H:%M} UTC"
    first = results[0]
    return (f"{len(first.batch)} orders per flow in the latency batch, paced at "
            f"{first.rate:g}/s after {first.warmup} warm-up orders · "
            f"written {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC")

"""`orderflow watch`: a live view of both flows and every service, refreshed every second.

Per flow: orders in flight per step they wait for, confirmed, rejected by reason, timed
out. Per service: up or down, consumer lag, dead letters waiting, restarts. What each
number is, and where it comes from, is projections/live.py; this module measures a
snapshot once a second and shows it:

- at a terminal, as two tables redrawn in place (rich's Live); piped, one after another;
- `--once`: one snapshot as tables; `--json`: one JSON document per snapshot, so
  `--once --json` is one document for a script, and `--json` alone JSON lines;
- `--count N` stops after N snapshots (a script's or a test's bounded watch).

Stopping is how a watch ends: Ctrl-C or SIGTERM exits 0, with no traceback. The first
snapshot must succeed (no migrated stores: one line, exit 1); a later one that fails (a
store restarting) keeps the last view on screen and says why, and the next second tries
again. A broker that does not answer is not a failure: lag is then unknown (`-`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import console, emit_json, info, table_view
from cli.queries import FlowChoice

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import RenderableType
    from rich.live import Live

    from projections.live import FlowView, ServiceView, Snapshot
    from services.bootstrap import Orderflow

REFRESH = 1.0  # seconds between snapshots
Refresh = Callable[[bool], None]  # takes and shows one snapshot; True: the first


def watch(ctx: typer.Context,
          flow: Annotated[FlowChoice | None, typer.Option(help="Only this flow's orders.")]
          = None,
          once: Annotated[bool, typer.Option("--once", help="Print one snapshot and exit.")]
          = False,
          count: Annotated[int | None, typer.Option(
              min=1, max=10_000_000, help="Exit after N snapshots (default: at Ctrl-C).")]
          = None,
          json: Annotated[bool, typer.Option(
              "--json", help="One JSON document per snapshot (with --once: one in all).")]
          = False) -> None:
    """A live view, refreshed every second: orders in flight per step, confirmed,
    rejected by reason and timed out, per flow; each service up or down, its consumer
    lag, dead letters and restarts. Ctrl-C stops it."""
    if once and count not in (None, 1):
        raise typer.BadParameter("--once prints one snapshot; drop --once or --count",
                                 param_hint="--count")
    flows = [flow.value] if flow is not None else [choice.value for choice in FlowChoice]
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sources = _Sources(app_of(ctx), flows)
        _watch(sources, 1 if once else count, json)
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: the way a watch ends


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Sources:
    """What each snapshot is measured from, opened once for the whole watch."""

    def __init__(self, orderflow: Orderflow, flows: list[str]) -> None:
        from services.supervisor import UP_STATE

        self.flows, self.data_dir = flows, orderflow.settings.data_dir
        self.deployed = orderflow.deployed()  # with each optional step's service
        self.state_file = self.data_dir / UP_STATE
        self.models, self.letters = orderflow.read_models(), orderflow.dead_letters()
        self.lag = orderflow.lag()

    def snapshot(self) -> Snapshot:
        from projections import live
        from services.supervisor import is_alive, read_state

        up, processes = live.supervised(read_state(self.state_file), is_alive)
        names = live.service_names(self.deployed, processes)
        counts = live.OrderCounts(self.models.order_counts(),
                                  {flow: self.models.in_flight(flow) for flow in self.flows})
        return live.snapshot(datetime.now(UTC), self.flows, counts, up, processes, names,
                             self.lag.of(names), self.letters.waiting())


def _watch(sources: _Sources, limit: int | None, json: bool) -> None:
    if json:
        _every_second(_refresher(sources, lambda shot: emit_json(shot.document()),
                                 lambda why: info(f"no snapshot this second: {why}")), limit)
    elif limit == 1 or not console().is_terminal:
        _every_second(_refresher(sources, lambda shot: console().print(
            render(shot, sources.data_dir), soft_wrap=False),  # a long data dir wraps
            lambda why: info(f"not refreshed: {why}")), limit)
    else:
        _live(sources, limit)


def _live(sources: _Sources, limit: int | None) -> None:
    from rich.console import Console
    from rich.live import Live

    with Live(console=Console(highlight=False), auto_refresh=False) as live:
        screen = _Screen(live, sources.data_dir)
        _every_second(_refresher(sources, screen.show, screen.problem), limit)


class _Screen:
    """The live view on a terminal: the newest snapshot, and why it is not newer."""

    def __init__(self, live: Live, data_dir: Path) -> None:
        self.live, self.data_dir = live, data_dir
        self.last: Snapshot | None = None

    def show(self, shot: Snapshot) -> None:
        self.last = shot
        self.live.update(render(shot, self.data_dir, "refreshed every second; Ctrl-C stops"),
                         refresh=True)

    def problem(self, why: str) -> None:
        if self.last is not None:
            self.live.update(render(self.last, self.data_dir, f"not refreshed: {why}"),
                             refresh=True)


def _refresher(sources: _Sources, show: Callable[[Snapshot], None],
               problem: Callable[[str], None]) -> Refresh:
    """Take a snapshot and show it; a failure after the first is shown, not raised."""
    from sqlalchemy.exc import SQLAlchemyError

    from domain.errors import OrderflowError

    def refresh(first: bool) -> None:
        try:
            shot = sources.snapshot()
        except (OrderflowError, SQLAlchemyError) as error:
            if first:
                raise
            problem(" ".join(str(error).split())[:200])
            return
        show(shot)

    return refresh


def _every_second(refresh: Refresh, limit: int | None) -> None:
    """`refresh` once a second, `limit` times (None: until interrupted)."""
    done, due = 0, time.monotonic()
    while limit is None or done < limit:
        refresh(done == 0)
        done += 1
        due = max(due + REFRESH, time.monotonic())  # a slow one is not made up for
        if limit is None or done < limit:
            time.sleep(max(0.0, due - time.monotonic()))


def render(shot: Snapshot, data_dir: Path, footer: str | None = None) -> RenderableType:
    """The snapshot as people read it: a headline and two tables that fit 80 columns."""
    from rich.console import Group
    from rich.text import Text

    parts: list[RenderableType] = [Text(headline(shot, data_dir), overflow="fold"),
                                   table_view("orders", ["", *(f.flow for f in shot.flows)],
                                              order_rows(shot.flows)),
                                   table_view("services", SERVICE_COLUMNS,
                                              service_rows(shot.services))]
    return Group(*parts, *([Text(footer, style="dim")] if footer else []))


def headline(shot: Snapshot, data_dir: Path) -> str:
    at = f"{shot.at:%H:%M:%S} UTC"
    if shot.up is None:
        return f"{at}  every service is down: no `orderflow up` on {data_dir}"
    return f"{at}  `orderflow up` runs (pid {shot.up}) on {data_dir}"


def order_rows(flows: Sequence[FlowView]) -> list[list[Any]]:
    """Orders in flight (per step each waits for), confirmed, rejected (per reason, timed
    out last): a row each, a column per flow."""
    from projections.live import TIMEOUT, in_saga_order

    steps = in_saga_order(step for view in flows for step in view.in_flight)
    reasons = sorted({reason for view in flows for reason in view.rejected} - {TIMEOUT})
    return [["in flight", *(sum(view.in_flight.values()) for view in flows)],
            *([f"  at {step}", *(view.in_flight.get(step, 0) for view in flows)]
              for step in steps),
            ["confirmed", *(view.confirmed for view in flows)],
            ["rejected", *(sum(view.rejected.values()) for view in flows)],
            *([f"  {reason}", *(view.rejected.get(reason, 0) for view in flows)]
              for reason in reasons),
            ["  timed out", *(view.timed_out for view in flows)]]


SERVICE_COLUMNS = ["service", "state", "pid", "restarts", "lag", "dead letters"]


def service_rows(services: Sequence[ServiceView]) -> list[list[Any]]:
    from rich.text import Text

    return [[s.name, Text("up", style="green") if s.up else Text("down", style="red"),
             _known(s.pid), _known(s.restarts), _known(s.lag), _known(s.dead_letters)]
            for s in services]


def _known(value: int | None) -> int | str:
    return "-" if value is None else value

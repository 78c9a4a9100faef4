"""`orderflow lag` and `orderflow health`: consumer lag, and whether every service is well.

Both ask the broker first: no broker, one line and exit 1 (lag cannot be measured
without its high watermarks). Lag is the broker's high watermark minus the position the
service's own store holds (services/lag.py): that position commits with the batch's
effects, so it is what the service has applied; Kafka's committed offsets are advisory
and may trail, so they are not shown. `health` exits 0 when every service is healthy
and 1 when one is not, as services/health.py defines it, so a script or a probe can
trust the code; `--json` prints one document either way.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.context import app_of
from cli.output import console, emit_json, table

if TYPE_CHECKING:
    from services.bootstrap import Orderflow
    from services.health import Health, ServiceHealth

UNHEALTHY = 1
SECOND_LOOK = 1.0  # seconds before a service seen stalled is looked at again
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
StalledAfter = Annotated[float, typer.Option(
    min=1.0, max=86400.0, metavar="SECONDS",
    help="Records waiting this long with no batch committed: stalled.")]


def lag(ctx: typer.Context, json: Json = False) -> None:
    """Consumer lag per service and topic: records its group has still to apply, the
    broker's high watermark minus the position in the service's own store (the position
    that counts; Kafka's committed offsets are advisory). `-`: its store cannot be read.
    No broker: one line, exit 1."""
    orderflow = app_of(ctx)
    orderflow.require_broker()
    _, _, names = orderflow.services_shown()
    measured = orderflow.lag().by_topic(names)
    if json:
        emit_json({name: {"lag": None if topics is None else sum(topics.values()),
                          "topics": topics} for name, topics in measured.items()})
        return
    table("consumer lag: broker high watermark minus the position in the service's store",
          ["service", "topic", "lag"], lag_rows(measured))


def lag_rows(measured: dict[str, dict[str, int] | None]) -> list[list[Any]]:
    """A row per service and topic it reads; a service whose lag is unknown, one row."""
    return [row for name, topics in measured.items()
            for row in ([[name, topic, count] for topic, count in topics.items()]
                        if topics is not None else [[name, "-", "-"]])]


def health(ctx: typer.Context, json: Json = False,
           stalled_after: StalledAfter = 30.0) -> None:
    """Each service: up (a running `orderflow up` runs it), its lag (0: caught up on
    every partition), when it last committed a batch, its dead letters waiting. Exit 0
    when all are healthy; 1 when one is down, has dead letters waiting, is stalled (its
    lag is not draining: records wait and it committed no batch for --stalled-after
    seconds), or cannot be measured. No broker: one line, exit 1."""
    orderflow = app_of(ctx)
    orderflow.require_broker()
    report = _measured(orderflow, stalled_after)
    if json:
        emit_json(report.document())
    else:
        show(report, str(orderflow.settings.data_dir))
    raise typer.Exit(0 if report.healthy else UNHEALTHY)


def _measured(orderflow: Orderflow, stalled_after: float) -> Health:
    """The report; a service seen stalled is looked at once more a second later,
    since one whose last batch is old may have been handed a record just now."""
    from services.health import STALLED

    report = orderflow.health(stalled_after)
    if any(STALLED in service.problems for service in report.services):
        time.sleep(SECOND_LOOK)
        report = orderflow.health(stalled_after)
    return report


def show(report: Health, data_dir: str) -> None:
    """A headline, a table that fits 80 columns, and the verdict."""
    if report.up is None:
        _line(f"no `orderflow up` runs on {data_dir}: every service is down")
    else:
        _line(f"`orderflow up` runs (pid {report.up}) on {data_dir}")
    table("health", HEALTH_COLUMNS, health_rows(report.services))
    unhealthy = report.unhealthy
    _line(f"unhealthy: {', '.join(unhealthy)}" if unhealthy else "healthy")


def _line(text: str) -> None:
    """A line as it is (no markup), folded at the terminal's width (a long data dir)."""
    from rich.text import Text

    console().print(Text(text, overflow="fold"), soft_wrap=False)


HEALTH_COLUMNS = ["service", "state", "lag", "applied", "dead letters", "problems"]


def health_rows(services: tuple[ServiceHealth, ...]) -> list[list[Any]]:
    return [[s.name, "up" if s.up else "down", _known(s.lag), age(s.last_batch_age),
             _known(s.dead_letters), ", ".join(s.problems) or "-"] for s in services]


def age(seconds: float | None) -> str:
    """How long ago the last batch was applied, compactly: `0.4s ago`, `12s ago`, `5m
    ago`, `3h ago`, `2d ago`; `never`."""
    if seconds is None:
        return "never"
    if seconds < 10:
        return f"{seconds:.1f}s ago"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def _known(value: int | None) -> int | str:
    return "-" if value is None else value

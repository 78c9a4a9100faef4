"""`orderflow run SERVICE...` and `orderflow up`: the services as processes."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from cli.context import app_of
from cli.output import console, err_console, table
from cli.steps import WithStep, step_environ, stepped
from services.bootstrap import KNOWN_SERVICES
from services.signals import install_stop_handlers

if TYPE_CHECKING:
    from services.bootstrap import Orderflow

logger = logging.getLogger(__name__)
ServiceNames = Annotated[list[str], typer.Argument(
    metavar="SERVICE...", help=f"One or more of: {', '.join(KNOWN_SERVICES)}.")]


Describe = Annotated[bool, typer.Option(
    "--describe", help="Print what each service does (its message table) and exit.")]
Json = Annotated[bool, typer.Option("--json", help="With --describe: one JSON document.")]


def run(ctx: typer.Context, services: ServiceNames, describe: Describe = False,
        json: Json = False) -> None:
    """Run services in the foreground: one service here, several as child processes."""
    unknown = [s for s in services if s not in KNOWN_SERVICES]
    if unknown:
        raise typer.BadParameter(f"unknown service {unknown[0]!r}; choose from "
                                 f"{', '.join(KNOWN_SERVICES)}", param_hint="SERVICE")
    if describe:
        _describe(app_of(ctx), services, json)
        return
    if len(services) == 1:
        from adapters import logs
        logs.name_service(services[0])  # every line of this process names its service
        stop = threading.Event()
        install_stop_handlers(stop)  # before the slow start-up: a SIGTERM now is clean too
        orderflow = app_of(ctx)
        _serve_metrics(orderflow, services[0])  # first: a port that is taken fails at once
        _preflight(orderflow, services)
        process = orderflow.service_process(services[0], stop)
        raise typer.Exit(0 if stop.is_set() else process.serve())
    orderflow = app_of(ctx)
    _preflight(orderflow, services)
    _supervise(orderflow, services)


def _describe(orderflow: Orderflow, services: list[str], json: bool) -> None:
    """Each service's message table: on which message, in which flow, it does what."""
    from cli.output import emit_json
    described = {service: orderflow.describe(service) for service in services}
    if json:
        emit_json(described)
        return
    for service, rows in described.items():
        table(f"{service}: its message table", ["flow", "on", "handler"],
              [(row["flow"], row["on"], row["handler"]) for row in rows])
        does = {row["handler"]: row["does"] for row in rows}
        table(f"{service}: what each handler does", ["handler", "does"], list(does.items()))
        if service != "projector":  # it publishes nothing but dead letters
            table(f"{service}: what it publishes", ["topic", "messages"],
                  _publications(orderflow, service))


def _publications(orderflow: Orderflow, service: str) -> list[tuple[str, str]]:
    """Topic → the wire types of the service's declared publications on it."""
    from adapters.registry import BY_CLASS
    on: dict[str, list[str]] = {}
    for cls, topic in orderflow.messages(service).published().items():
        on.setdefault(topic, []).append(BY_CLASS[cls].wire)
    return [(topic, ", ".join(wires)) for topic, wires in sorted(on.items())]


def up(ctx: typer.Context, with_step: WithStep = None) -> None:
    """Start every service, relay and the projector as child processes; Ctrl-C stops all."""
    orderflow = stepped(app_of(ctx), with_step)
    _preflight(orderflow, orderflow.deployed())
    orderflow.create_topics()
    _supervise(orderflow, orderflow.deployed())


def _serve_metrics(orderflow: Orderflow, service: str) -> None:
    """This service's /metrics, at ORDERFLOW_METRICS_PORT plus its offset (0: none)."""
    from adapters import metrics

    port = metrics.metrics_port(orderflow.settings.metrics_port, service)
    if port is not None:
        metrics.serve(port)
        logger.info("%s: metrics on %s", service, metrics.url(port))


def _preflight(orderflow: Orderflow, services: list[str]) -> None:
    """Fail fast, with one line, before any process starts."""
    for service in services:
        orderflow.require_deployed(service)
    orderflow.require_broker()
    for service in services:
        orderflow.plan(service)  # stores must be migrated: says `orderflow db upgrade` if not


def _supervise(orderflow: Orderflow, services: list[str]) -> None:
    from services.supervisor import UP_STATE, Supervisor

    data_dir = orderflow.settings.data_dir
    supervisor = Supervisor(services, data_dir / "logs", on_restart=say_restart,
                            state_file=data_dir / UP_STATE,
                            environ=step_environ(orderflow.settings))
    children = supervisor.start()
    table("services", ["service", "pid", "log"],
          [(c.service, c.process.pid, c.log) for c in children])
    console().print("running; a service that exits is restarted; Ctrl-C stops them all")
    try:
        supervisor.wait()
    finally:
        supervisor.stop()
        console().print("stopped")


def say_restart(line: str) -> None:
    """A restart, in red on stderr (the supervisor also writes it to the service's log)."""
    err_console().print(line, style="red", markup=False)

"""`orderflow broker start|stop|status`: the local Apache Kafka broker.

`broker status` exits 0 when a broker runs on the port (orderflow's or another one) and
3 when none does, as `pg_ctl status` does, so scripts can test it without parsing text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.context import app_of
from cli.output import console, emit_json, progress

if TYPE_CHECKING:
    from adapters.kafka.broker import BrokerStatus

NOT_RUNNING = 3  # the exit code of `pg_ctl status` (and LSB `status`) for "not running"

app = typer.Typer(help="Run a local Apache Kafka 4.x broker (KRaft, 127.0.0.1).",
                  no_args_is_help=True)

Port = Annotated[int | None, typer.Option(min=1, max=65534, help="Broker port "
                 "(default: the port of KAFKA_BOOTSTRAP_SERVERS, 9092). Controller: port+1.")]
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def _document(status: BrokerStatus, **extra: object) -> dict[str, object]:
    return {"state": status.state, "address": status.address, "version": status.version,
            "pid": status.pid, "log_file": str(status.log_file), **extra}


@app.command()
def start(ctx: typer.Context, port: Port = None, json: Json = False) -> None:
    """Start the broker (downloads the jars with mvn on first use); reuse a running one."""
    broker = app_of(ctx).broker(port)
    if not json:
        progress(f"starting Apache Kafka on {broker.address} …")
    status, started = broker.start()
    if json:
        emit_json(_document(status, started=started))
    elif started:
        console().print(f"Kafka {status.version} running on {status.address} (pid {status.pid});"
                      f" log: {status.log_file}")
    else:
        who = "" if status.state == "running" else " (not started by orderflow)"
        console().print(f"Kafka already running on {status.address}{who}; reusing it")


@app.command()
def stop(ctx: typer.Context, port: Port = None) -> None:
    """Stop the broker gracefully (SIGTERM, wait, then report). Data is kept."""
    broker = app_of(ctx).broker(port)
    console().print(f"Kafka on {broker.address}: {broker.stop()}")


@app.command()
def status(ctx: typer.Context, port: Port = None, json: Json = False) -> None:
    """Say whether the broker runs, where, and which version; exit 3 when it does not."""
    current = app_of(ctx).broker(port).status()
    if json:
        emit_json(_document(current))
    else:
        console().print(_describe(current))
    if current.state == "stopped":
        raise typer.Exit(NOT_RUNNING)


def _describe(current: BrokerStatus) -> str:
    if current.state == "stopped":
        return f"stopped ({current.address})"
    version = f"Kafka {current.version}" if current.version else "Kafka (version unknown)"
    return (f"{current.state}: {version} on {current.address}"
            + (f" (pid {current.pid})" if current.pid else ""))

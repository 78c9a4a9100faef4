"""`orderflow broker start|stop|status`: the local Apache Kafka broker."""

from __future__ import annotations

from typing import Annotated

import typer

from adapters.kafka.broker import BrokerStatus
from cli.context import app_of
from cli.output import console, emit_json, progress

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
        console.print(f"Kafka {status.version} running on {status.address} (pid {status.pid});"
                      f" log: {status.log_file}")
    else:
        who = "" if status.state == "running" else " (not started by orderflow)"
        console.print(f"Kafka already running on {status.address}{who}; reusing it")


@app.command()
def stop(ctx: typer.Context, port: Port = None) -> None:
    """Stop the broker gracefully (SIGTERM, wait, then report). Data is kept."""
    broker = app_of(ctx).broker(port)
    console.print(f"Kafka on {broker.address}: {broker.stop()}")


@app.command()
def status(ctx: typer.Context, port: Port = None, json: Json = False) -> None:
    """Say whether the broker runs, where, and which version."""
    current = app_of(ctx).broker(port).status()
    if json:
        emit_json(_document(current))
        return
    version = f"Kafka {current.version}" if current.version else "Kafka (version unknown)"
    if current.state == "stopped":
        console.print(f"stopped ({current.address})")
    else:
        console.print(f"{current.state}: {version} on {current.address}"
                      + (f" (pid {current.pid})" if current.pid else ""))

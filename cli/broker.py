"""`orderflow broker start|stop|status`: the local Apache Kafka cluster (one node, or three).

`broker status` exits 0 when the broker runs on the port (orderflow's or another one),
1 when some nodes of orderflow's cluster are down, and 3 when none runs, as `pg_ctl
status` and LSB `status` do, so scripts can test it without parsing text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.context import app_of
from cli.output import console, emit_json, progress

if TYPE_CHECKING:
    from adapters.kafka.broker import BrokerStatus, LocalBroker

NOT_RUNNING = 3  # the exit code of `pg_ctl status` (and LSB `status`) for "not running"
DEGRADED = 1  # LSB's "dead, pid file left": some nodes are down

app = typer.Typer(help="Run a local Apache Kafka 4.x cluster (KRaft, 127.0.0.1): one node, or"
                  " three replicated ones with --nodes 3.", no_args_is_help=True)


def _nodes(value: int | None) -> int | None:
    from adapters.kafka.broker import check_nodes
    from adapters.kafka.errors import BrokerError
    if value is not None:
        try:
            check_nodes(value)
        except BrokerError as exc:
            raise typer.BadParameter(str(exc).split(": ", 1)[1]) from exc
    return value


Port = Annotated[int | None, typer.Option(min=1, max=65534, help="Node 1's port (default:"
                 " the first port of KAFKA_BOOTSTRAP_SERVERS, 9092). Node N listens on"
                 " port+2(N-1), its controller on the port after.")]
Nodes = Annotated[int | None, typer.Option(callback=_nodes, help="Nodes, each a broker and"
                  " a controller: 1, 3 or 5 (default: as many as KAFKA_BOOTSTRAP_SERVERS"
                  " names).")]
Secure = Annotated[bool | None, typer.Option("--secure/--plaintext", help="SASL_SSL with"
                   " SCRAM-SHA-512 and default-deny ACLs (default: as the settings say).")]
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


def _document(status: BrokerStatus, **extra: object) -> dict[str, object]:
    nodes = [{"node_id": n.node_id, "state": n.state, "address": n.address,
              "controller_address": n.controller_address, "pid": n.pid,
              "log_file": str(n.log_file)} for n in status.nodes]
    return {"state": status.state, "address": status.address, "version": status.version,
            "pid": status.pid, "log_file": str(status.log_file), "nodes": nodes, **extra}


@app.command()
def start(ctx: typer.Context, port: Port = None, nodes: Nodes = None, secure: Secure = None,
          json: Json = False) -> None:
    """Start the broker (downloads the jars with mvn on first use); reuse a running one,
    and start the nodes of a cluster that are down. `--secure` generates a local CA,
    certificates and every principal's password on first start (under .cache)."""
    from adapters.credentials import record_context

    orderflow = app_of(ctx)
    broker = orderflow.broker(port, nodes, secure)
    if not json:
        progress(f"starting Apache Kafka on {broker.address} …")
    status, started = broker.start()
    if status.state == "running":  # later commands find it (adapters/credentials.py)
        record_context(orderflow.settings.cache_dir, broker.environment(),
                       plain=len(status.nodes) == 1 and not broker.secure)
    if json:
        emit_json(_document(status, started=started, environment=broker.environment()))
    else:
        _print_started(status, started, broker, orderflow.settings.bootstrap_servers)


def _print_started(status: BrokerStatus, started: bool, broker: LocalBroker,
                   configured: str) -> None:
    """What `start` did, and how other shells reach the cluster."""
    out = console()
    if not started:
        who = "" if status.state == "running" else " (not started by orderflow)"
        out.print(f"Kafka already running on {status.address}{who}; reusing it")
    elif len(status.nodes) == 1:
        out.print(f"Kafka {status.version} running on {status.address} (pid {status.pid});"
                  f" log: {status.log_file}")
    else:
        out.print(f"Kafka {status.version} running on {len(status.nodes)} nodes:")
        for node in status.nodes:
            out.print(f"  node {node.node_id}  {node.address}  pid {node.pid}")
        out.print(f"logs: {status.log_file.parent.parent.parent}/node-N/logs/server.log")
    if broker.secure:
        out.print(f"passwords (0600): {broker.credentials}")
    if status.address != configured or broker.secure:
        out.print("orderflow commands here use it; elsewhere export:")
        for name, value in broker.environment().items():
            out.print(f"  export {name}={value}", soft_wrap=True)


@app.command()
def stop(ctx: typer.Context, port: Port = None, nodes: Nodes = None,
         secure: Secure = None) -> None:
    """Stop the broker, every node at once (SIGTERM, wait, then report). Data is kept."""
    broker = app_of(ctx).broker(port, nodes, secure)
    console().print(f"Kafka on {broker.address}: {broker.stop()}")


@app.command()
def status(ctx: typer.Context, port: Port = None, nodes: Nodes = None,
           secure: Secure = None, json: Json = False) -> None:
    """Say whether the broker runs, where, and which version; exit 3 when it does not, 1
    when some nodes are down."""
    current = app_of(ctx).broker(port, nodes, secure).status()
    if json:
        emit_json(_document(current))
    else:
        console().print(_describe(current))
        if len(current.nodes) > 1 and current.state in ("running", "degraded"):
            for node in current.nodes:
                pid = f"pid {node.pid}" if node.pid else "down"
                console().print(f"  node {node.node_id}  {node.address}  {pid}")
    if current.state == "stopped":
        raise typer.Exit(NOT_RUNNING)
    if current.state == "degraded":
        raise typer.Exit(DEGRADED)


def _describe(current: BrokerStatus) -> str:
    if current.state == "stopped":
        return f"stopped ({current.address})"
    version = f"Kafka {current.version}" if current.version else "Kafka (version unknown)"
    if len(current.nodes) > 1 and current.state != "foreign":
        up = sum(n.pid is not None for n in current.nodes)
        return f"{current.state}: {version}, {up} of {len(current.nodes)} nodes up"
    return (f"{current.state}: {version} on {current.address}"
            + (f" (pid {current.pid})" if current.pid else ""))

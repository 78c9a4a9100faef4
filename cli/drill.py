"""`orderflow drill kill|pause SERVICE | pause-broker SECONDS | poison TOPIC`: stage drills.

Each drill acts on the services of a running `orderflow up` (or `run A B`), found through
the state file its supervisor keeps, and prints what it did and what to watch for; the
drills themselves, and what they guarantee, are `experiments.drills`. With no running
`up`, a service it does not run or a topic the run does not have, a drill refuses with
one line (exit 1) and does nothing; a broker that `orderflow broker start` did not start
is not paused either (exit 2: pause that one yourself).
"""

from __future__ import annotations

import signal
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import click
import typer

from cli.context import app_of
from services.bootstrap import SERVICES

if TYPE_CHECKING:
    from services.bootstrap import Orderflow

app = typer.Typer(help="Stage drills on a running `orderflow up`: kill or pause a service, "
                       "pause the broker, poison a topic.", no_args_is_help=True)
Service = Annotated[str, typer.Argument(
    metavar="SERVICE", help=f"A service of the running `up`: {', '.join(SERVICES)}.")]
Seconds = Annotated[float, typer.Argument(
    metavar="SECONDS", min=0.1, max=3600, help="How long the pause lasts.")]
Topic = Annotated[str, typer.Argument(
    metavar="TOPIC", help="A topic of the run, without the prefix: orders, payments, "
                          "inventory.commands, ...")]


@app.command()
def kill(ctx: typer.Context, service: Service) -> None:
    """SIGKILL one service of the running `up`, which restarts it."""
    from experiments import drills
    from services.supervisor import BACKOFF

    target = drills.running_up(app_of(ctx).settings.data_dir).service(service)
    drills.kill(target.pid)
    _said(f"killed {service} (pid {target.pid}) with SIGKILL",
          f"`up` says on its stderr that {service} exited with code 137 (SIGKILL) and"
          f" starts it again after {BACKOFF.first:g} s (a quick repeat waits twice as long,"
          f" up to {BACKOFF.cap:g} s); its log: {target.log}",
          "the orders it had in flight finish, none twice: every effect commits with its"
          " consumer position, so the new process redoes nothing (`orderflow tail`)")


@app.command()
def pause(ctx: typer.Context, service: Service, seconds: Seconds) -> None:
    """SIGSTOP one service of the running `up` for SECONDS, then SIGCONT it: a process
    frozen, as by a long GC pause or a stalled VM. Ctrl-C ends the pause early."""
    from experiments import drills

    orderflow = app_of(ctx)
    target = drills.running_up(orderflow.settings.data_dir).service(service)
    step, order = (orderflow.settings.step_timeout.total_seconds(),
                   orderflow.settings.order_timeout.total_seconds())
    _pause(f"{service} (pid {target.pid})", target.pid, seconds,
           f"{service} holds its partitions and answers nothing; `up` leaves it alone (it"
           f" has not exited); past {drills.session_timeout():g} s its group drops it",
           f"what needs it stalls: past ORDERFLOW_STEP_TIMEOUT ({step:g} s) the"
           f" orchestrator re-sends, past ORDERFLOW_ORDER_TIMEOUT ({order:g} s) orders"
           " expire (reason timeout) and are compensated (`orderflow list`)",
           "resumed, it rejoins and goes on from its stored positions: nothing lost")


@app.command("pause-broker")
def pause_broker(ctx: typer.Context, seconds: Seconds) -> None:
    """SIGSTOP the local broker for SECONDS, then SIGCONT it: the broker gone silent, as
    behind a network partition. Only a broker started by `orderflow broker start` on the
    port of KAFKA_BOOTSTRAP_SERVERS; Ctrl-C ends the pause early."""
    from experiments import drills

    orderflow = app_of(ctx)
    drills.running_up(orderflow.settings.data_dir)
    address, pid = _local_broker(ctx, orderflow)
    _pause(f"the broker on {address} (pid {pid})", pid, seconds,
           "every client waits and retries (the services' logs say so); the relays keep"
           " their outbox rows, and orders placed meanwhile wait in the order store",
           f"past {drills.session_timeout():g} s the groups rebalance once it is back;"
           " then all goes on from the stored positions: nothing lost, nothing twice")


@app.command()
def poison(ctx: typer.Context, topic: Topic) -> None:
    """Produce one record to TOPIC that does not decode (it is not JSON): poison, which
    every consumer group reading the topic dead-letters."""
    from experiments import drills

    orderflow = app_of(ctx)
    up = drills.running_up(orderflow.settings.data_dir)
    name = drills.topic_of(topic, orderflow.settings.topic_prefix)
    orderflow.require_broker()
    readers = drills.readers(orderflow, name, up.services)
    partition, offset = drills.poison(orderflow.settings.kafka(), name)
    _said(f"poisoned {topic}[{partition}]@{offset}: one record, key"
          f" {drills.POISON_KEY.decode()}, value {drills.POISON!r}",
          *_poison_watch(topic, readers))


def _poison_watch(topic: str, readers: list[str]) -> list[str]:
    from adapters.kafka.topics import DLQ_SUFFIX

    if not readers:
        return [f"no service of this `up` reads {topic}: the record waits for one"]
    return [f"{_joined(readers)} each dead-letter it to {topic}{DLQ_SUFFIX} and go on;"
            f" `orderflow dlq list --topic {topic}` shows {len(readers)} dead letters, one"
            " per consumer group",
            "`orderflow tail` shows it as UNDECODABLE; `orderflow dlq redrive` refuses it"
            " (a copy would only be poison again)"]


def _local_broker(ctx: typer.Context, orderflow: Orderflow) -> tuple[str, int]:
    """The address and pid of the broker `orderflow broker start` started, or a usage
    error: a broker it did not start (Docker's, a cluster's) is not its to pause."""
    status = orderflow.broker().status()
    if status.pid is None:
        why = ("was not started by `orderflow broker start`: pause it yourself"
               if status.state == "foreign" else "is not running")
        raise click.UsageError(f"the broker on {status.address} {why}", ctx)
    return status.address, status.pid


def _pause(what: str, pid: int, seconds: float, *watch: str) -> None:
    import time

    from experiments import drills

    signal.signal(signal.SIGTERM, _interrupt)  # a SIGTERM, like Ctrl-C, still resumes it
    with drills.paused(pid):
        _said(f"paused {what} with SIGSTOP for {seconds:g} s", *watch)
        time.sleep(seconds)
    typer.echo(f"resumed {what} with SIGCONT")


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _said(did: str, *watch: str) -> None:
    typer.echo(did)
    for line in watch:
        typer.echo(f"watch: {line}")


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

"""The `orderflow` command: one typer group per file, wired here.

It starts at once: the command modules import only typer and light modules when they
load; services, SQLAlchemy, Alembic, Kafka clients, rich and the experiments are
imported inside the commands that use them, and `services.bootstrap` imports each of
those only in the factory that builds it. `orderflow bench --cli` measures the start-up;
`tests/unit/test_cli_startup.py` checks which modules loading the CLI imports.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cli import (
    acl,
    bench,
    broker,
    catalog,
    compare,
    credit,
    db,
    demo,
    dlq,
    drill,
    health,
    place,
    projections,
    queries,
    run,
    sagas,
    stock,
    tail,
    topics,
    topology,
    tutorial,
    watch,
)

app = typer.Typer(
    name="orderflow",
    help="Event choreography vs orchestration on Apache Kafka: an event-sourced order saga.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(broker.app, name="broker")
app.add_typer(db.app, name="db")
app.add_typer(topics.app, name="topics")
app.add_typer(tutorial.app, name="tutorial")
app.add_typer(stock.app, name="stock")
app.add_typer(credit.app, name="credit")
app.command("place")(place.place)
app.command("catalog")(catalog.catalog)
app.command("run")(run.run)
app.command("up")(run.up)
app.command("status")(queries.status)
app.command("list")(queries.list_)
app.command("trace")(queries.trace)
app.command("tail")(tail.tail)
app.command("watch")(watch.watch)
app.command("lag")(health.lag)
app.command("health")(health.health)
app.command("tables")(queries.tables)
app.command("inspect")(queries.inspect)
app.add_typer(projections.app, name="projections")
app.add_typer(sagas.app, name="sagas")
app.add_typer(dlq.app, name="dlq")
app.add_typer(drill.app, name="drill")
app.add_typer(acl.app, name="acl")
app.command("topology")(topology.topology)
app.command("compare")(compare.compare)
app.command("demo")(demo.demo)
app.command("bench")(bench.bench)


@app.callback()
def root(verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                               help="Log progress to stderr.")] = False) -> None:
    """Configure logging once; the wired application is built lazily by each command.
    The log format is read here, before anything can log (a bad one: exit 2)."""
    import os

    from adapters import logs
    from adapters.settings import parse_log_format

    log_format = parse_log_format(os.environ.get("ORDERFLOW_LOG_FORMAT") or "text")
    logs.configure(logging.INFO if verbose else logging.WARNING, log_format)
    logging.getLogger("librdkafka").setLevel(logging.INFO if verbose else logging.CRITICAL)

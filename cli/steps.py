"""`--with-step STEP` on `up`, `demo` and `compare`: an optional saga step for this run.

The option adds to what `ORDERFLOW_STEPS` already switches on. The CLI's own wiring and
every service it starts see the same settings: `stepped` rebuilds the application with
the steps, and `step_environ` hands the children the steps (and an isolated run's
prefix, data dir and store) through their environment variables.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Annotated

import typer

from adapters.settings import OPTIONAL_STEPS

if TYPE_CHECKING:
    from adapters.settings import Settings
    from services.bootstrap import Orderflow


def _known(values: list[str] | None) -> list[str]:
    for value in values or []:
        if value not in OPTIONAL_STEPS:
            raise typer.BadParameter(f"unknown step {value!r}; choose from "
                                     f"{', '.join(OPTIONAL_STEPS)}")
    return values or []


WithStep = Annotated[list[str] | None, typer.Option(
    "--with-step", metavar="STEP", callback=_known,
    help=f"Switch on an optional saga step for this run ({', '.join(OPTIONAL_STEPS)}).")]


def stepped(orderflow: Orderflow, steps: list[str] | None) -> Orderflow:
    """The application with these steps switched on too (itself when there are none)."""
    if not steps:
        return orderflow
    from services.bootstrap import bootstrap

    settings = orderflow.settings
    return bootstrap(dataclasses.replace(settings, steps=settings.steps | set(steps)))


def step_environ(settings: Settings) -> dict[str, str]:
    """The children's environment: this process's, with what a run may set apart from it
    (its steps, and for an isolated run its prefix, data dir and store URL), and the
    Kafka cluster this process resolved, so every child talks to the same one."""
    run = {**settings.kafka_environment(), "ORDERFLOW_STEPS": ",".join(sorted(settings.steps)),
           "ORDERFLOW_TOPIC_PREFIX": settings.topic_prefix,
           "ORDERFLOW_DATA_DIR": str(settings.data_dir)}
    if settings.database_url is not None:
        run["ORDERFLOW_DATABASE_URL"] = settings.database_url
    return {**os.environ, **run}

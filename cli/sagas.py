"""`orderflow sagas list [--state S] | show ORDER_ID | retry ORDER_ID`: the orchestrator's
sagas. A compensation that goes unanswered makes its saga `compensation_failed`; the
orchestrator keeps re-sending it with backoff, and `retry` sends it again now."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

import typer

from cli.context import app_of
from cli.output import console, emit_json, table

app = typer.Typer(help="Orchestration sagas (the saga_view read model).", no_args_is_help=True)
Json = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]


class SagaStateChoice(enum.StrEnum):
    running = "running"
    compensating = "compensating"
    completed = "completed"
    rejected = "rejected"
    compensation_failed = "compensation_failed"


@app.command("list")
def list_(ctx: typer.Context,
          state: Annotated[SagaStateChoice | None, typer.Option(help="Only this state.")] = None,
          limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
          json: Json = False) -> None:
    """Sagas, newest first: state, current step, attempts, reason."""
    rows = app_of(ctx).read_models().sagas(state.value if state else None, limit)
    if json:
        emit_json(rows)
        return
    table(f"sagas ({len(rows)})", ["order", "state", "step", "attempt", "done", "reason",
                                   "updated"],
          [(r["order_id"], r["state"], r["current_step"], r["attempt"], r["steps_done"],
            r["reason"], r["updated_at"]) for r in rows])


@app.command()
def show(ctx: typer.Context,
         order_id: Annotated[uuid.UUID, typer.Argument(metavar="ORDER_ID")],
         json: Json = False) -> None:
    """One saga: its state, then every step with times, commands sent, replies received."""
    from projections.read_models import NoSuchOrder

    models = app_of(ctx).read_models()
    saga = models.saga(str(order_id))
    if saga is None:
        raise NoSuchOrder(f"no saga for order {order_id} (not orchestrated, or not projected yet)")
    steps = [e for e in models.timeline(str(order_id)) if not e["topic"].endswith("sagas")]
    if json:
        emit_json({"saga": saga, "messages": steps})
        return
    console().print(f"saga {order_id}: [bold]{saga['state']}[/bold]"
                  + (f" ({saga['reason']})" if saga["reason"] else "")
                  + f"; done: {saga['steps_done'] or '-'}; compensated: "
                  f"{saga['compensated'] or '-'}; late: {saga['late_successes'] or '-'};"
                  f" commands sent: {saga['commands_sent']}")
    table("commands and replies", ["time", "from", "message", "topic"],
          [(e["occurred_at"], e["service"], e["type"], e["topic"]) for e in steps])


@app.command()
def retry(ctx: typer.Context,
          order_id: Annotated[uuid.UUID, typer.Argument(metavar="ORDER_ID")],
          json: Json = False) -> None:
    """Re-send a compensation_failed saga's failing compensation now.

    The orchestrator already retries it by itself, further apart each time; this skips
    the wait, e.g. once the participant is fixed. Refused for a saga that is not stuck.
    """
    saga = app_of(ctx).orchestrator().retry(str(order_id))
    step = saga.current_step.value if saga.current_step else None
    if json:
        emit_json({"order_id": saga.order_id, "state": saga.state.value, "step": step,
                   "attempt": saga.attempts, "deadline": saga.deadline})
        return
    console().print(f"saga {saga.order_id}: {step} sent again (attempt {saga.attempts}); "
                    f"the saga leaves compensation_failed when {step} answers")

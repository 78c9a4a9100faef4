"""`orderflow sagas list [--state S] | show ORDER_ID | retry ORDER_ID`: the orchestrator's
sagas. A compensation that goes unanswered makes its saga `compensation_failed`; the
orchestrator keeps re-sending it with backoff, and `retry` sends it again now."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from cli.context import app_of
from cli.output import compact_time, console, emit_json, short_id, table
from cli.queries import OrderId, Wide

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
          wide: Wide = False, json: Json = False) -> None:
    """Sagas, newest first: state, current step, attempts, reason (`--wide` adds the steps
    done and the last update)."""
    rows = app_of(ctx).read_models().sagas(state.value if state else None, limit)
    if json:
        emit_json(rows)
        return
    columns = ["order", "state", "step", "#", "reason"]
    lines = [[short_id(r["order_id"], wide), r["state"], r["current_step"], r["attempt"],
              r["reason"]] for r in rows]
    if wide:
        columns += ["done", "updated"]
        for line, r in zip(lines, rows, strict=True):
            line += [r["steps_done"], r["updated_at"]]
    table(f"sagas ({len(rows)})", columns, lines, wide)


@app.command()
def show(ctx: typer.Context, order_id: OrderId, wide: Wide = False,
         json: Json = False) -> None:
    """One saga: its state, then every command sent and reply received, with times
    (`--wide` adds their topics)."""
    from projections.read_models import NoSuchOrder

    models = app_of(ctx).read_models()
    order_id = models.resolve(order_id)
    saga = models.saga(order_id)
    if saga is None:
        raise NoSuchOrder(f"no saga for order {order_id} (not orchestrated, or not projected yet)")
    steps = [e for e in models.timeline(order_id) if not e["topic"].endswith("sagas")]
    if json:
        emit_json({"saga": saga, "messages": steps})
        return
    console().print(f"saga {order_id}: [bold]{saga['state']}[/bold]"
                    + (f" ({saga['reason']})" if saga["reason"] else "")
                    + f", {saga['commands_sent']} commands sent")
    for label, column in (("done", "steps_done"), ("compensated", "compensated"),
                          ("late", "late_successes")):
        console().print(f"  {label}: {(saga[column] or '-').replace(',', ', ')}")
    columns = ["time (UTC)", "from", "message", *(["topic"] if wide else [])]
    table("commands and replies", columns,
          [[compact_time(e["occurred_at"], wide), e["service"], e["type"],
            *([e["topic"]] if wide else [])] for e in steps], wide)


@app.command()
def retry(ctx: typer.Context, order_id: OrderId, json: Json = False) -> None:
    """Re-send a compensation_failed saga's failing compensation now.

    The orchestrator already retries it by itself, further apart each time; this skips
    the wait, e.g. once the participant is fixed. Refused for a saga that is not stuck.
    """
    app = app_of(ctx)
    saga = app.orchestrator().retry(app.read_models().resolve(order_id))
    step = saga.current_step.value if saga.current_step else None
    if json:
        emit_json({"order_id": saga.order_id, "state": saga.state.value, "step": step,
                   "attempt": saga.attempts, "deadline": saga.deadline})
        return
    console().print(f"saga {saga.order_id}: {step} sent again (attempt {saga.attempts});\n"
                    f"it leaves compensation_failed when {step} answers")

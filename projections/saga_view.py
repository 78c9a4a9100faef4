"""saga_view: where each orchestrated order's saga stands.

The orchestrator publishes a `SagaProgressed` summary when a saga starts or changes
how it stands (domain.saga.progress); the row is that summary, the last one winning.
A saga's summaries share its key (the order id), so they arrive in order on one
partition of `sagas`.

A log from before the summaries holds the saga's own events instead, one per step;
the handlers below `progressed` still project those, each reading the row and
writing the next one, so a rebuild of an old log gives the same view.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from adapters.codec import Envelope
from adapters.sql.upserts import upsert
from domain import saga_events as s
from domain.errors import Unhandleable
from projections.tables import saga_view, stamp
from projections.upsert import Excluded


def progressed(connection: Connection, envelope: Envelope) -> None:
    report: s.SagaProgressed = envelope.body
    row = {"order_id": report.order_id, "state": report.state,
           "current_step": report.current_step, "attempt": report.attempt,
           "steps_done": ",".join(report.steps_done),
           "compensated": ",".join(report.compensated),
           "late_successes": ",".join(report.late_successes), "reason": report.reason,
           "commands_sent": report.commands_sent,
           "step_deadline": stamp(report.step_deadline) if report.step_deadline else None,
           "started_at": stamp(report.started_at), "updated_at": stamp(envelope.occurred_at)}
    upsert(connection, saga_view, [row], _replaced)


def _replaced(new: Excluded) -> dict[str, object]:
    return {column.name: getattr(new, column.name)
            for column in saga_view.columns if not column.primary_key}


def started(connection: Connection, envelope: Envelope) -> None:
    connection.execute(saga_view.insert().values(
        order_id=envelope.body.order_id, state=s.SagaState.RUNNING.value, current_step=None,
        attempt=0, steps_done="", compensated="", late_successes="", reason=None,
        commands_sent=0, step_deadline=None, started_at=stamp(envelope.occurred_at),
        updated_at=stamp(envelope.occurred_at)))


def _change(connection: Connection, envelope: Envelope, **values: Any) -> None:
    done = connection.execute(saga_view.update()
                              .where(saga_view.c.order_id == envelope.body.order_id)
                              .values(updated_at=stamp(envelope.occurred_at), **values))
    if done.rowcount == 0:
        raise Unhandleable(f"{envelope.type} for order {envelope.body.order_id}: no saga row")


def _appended(column: sa.Column[Any], step: str) -> Any:
    return sa.case((column == "", step), else_=column + "," + step)


def command_sent(connection: Connection, envelope: Envelope) -> None:
    event = envelope.body
    _change(connection, envelope, current_step=event.step, attempt=event.attempt,
            commands_sent=saga_view.c.commands_sent + 1, step_deadline=stamp(event.deadline))


def step_succeeded(connection: Connection, envelope: Envelope) -> None:
    step = envelope.body.step
    if step in s.FORWARD_STEPS:
        column = saga_view.c.steps_done
        _change(connection, envelope, steps_done=_appended(column, step))
        return
    # A failing compensation that got through puts the saga back to compensating.
    column, stuck = saga_view.c.compensated, s.SagaState.COMPENSATION_FAILED.value
    state = sa.case((saga_view.c.state == stuck, s.SagaState.COMPENSATING.value),
                    else_=saga_view.c.state)
    _change(connection, envelope, compensated=_appended(column, step), state=state)


def step_failed(connection: Connection, envelope: Envelope) -> None:
    _change(connection, envelope, reason=envelope.body.reason)


def compensation_started(connection: Connection, envelope: Envelope) -> None:
    _change(connection, envelope, state=s.SagaState.COMPENSATING.value,
            reason=envelope.body.reason)


def compensation_failed(connection: Connection, envelope: Envelope) -> None:
    _change(connection, envelope, state=s.SagaState.COMPENSATION_FAILED.value)


def late_success(connection: Connection, envelope: Envelope) -> None:
    column = saga_view.c.late_successes
    _change(connection, envelope, late_successes=_appended(column, envelope.body.step))


def completed(connection: Connection, envelope: Envelope) -> None:
    _change(connection, envelope, state=s.SagaState.COMPLETED.value, current_step=None,
            step_deadline=None)


def rejected(connection: Connection, envelope: Envelope) -> None:
    _change(connection, envelope, state=s.SagaState.REJECTED.value, current_step=None,
            step_deadline=None, reason=envelope.body.reason)


HANDLERS = {s.SagaProgressed: progressed, s.SagaStarted: started, s.CommandSent: command_sent,
            s.StepSucceeded: step_succeeded, s.StepFailed: step_failed,
            s.CompensationStarted: compensation_started,
            s.CompensationFailed: compensation_failed, s.LateSuccess: late_success,
            s.SagaCompleted: completed, s.SagaRejected: rejected}

"""What adding a saga step changes in each style, measured rather than told.

`compare --with-step fraud` runs the whole comparison twice, each on topics and stores
of its own: once as deployed, once with the step switched on. This module holds what
is read from the two:

- the services' message tables with and without the step (`reactions`): which service
  reacts to which message in which flow, the very tables dispatch and subscriptions are
  derived from, so a changed row is a changed service;
- the two runs' real traces: which topics each service consumed (coupling, from
  causation ids), messages per order, latency, and the outcome of the new path (an
  order the step exists to stop, placed in both runs).

In choreography the step touches several services (fraud, payment, inventory, order);
in orchestration the orchestrator alone gains rows, besides the new participant. That
difference is the workshop's point, and here it comes out of the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from adapters.registry import BY_CLASS, family

if TYPE_CHECKING:
    from experiments.compare import FlowResult
    from services.bootstrap import Orderflow

Reactions = dict[str, set[tuple[str, str]]]  # service → {(flow, message family)}


@dataclass(frozen=True)
class TableChange:
    """One service's rows in one flow that the step added or removed."""

    service: str
    flow: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


def reactions(app: Orderflow) -> Reactions:
    """Every deployed service's message table, as (flow, message family) per service."""
    found: Reactions = {}
    for service in app.deployed():
        if service == "projector":  # it reads every event; it has no message table
            continue
        found[service] = {(flow, family(BY_CLASS[cls].wire))
                          for flow, cls, _ in app.messages(service).rows()}
    return found


def table_changes(before: Reactions, after: Reactions) -> list[TableChange]:
    """Per service and flow, the rows that differ, in service order of `after`."""
    changes = []
    services = [*after, *(s for s in before if s not in after)]
    for service in services:
        old, new = before.get(service, set()), after.get(service, set())
        for flow in ("choreography", "orchestration"):
            added = sorted(m for f, m in new - old if f == flow)
            removed = sorted(m for f, m in old - new if f == flow)
            if added or removed:
                changes.append(TableChange(service, flow, tuple(added), tuple(removed)))
    return changes


def coupling_changes(before: FlowResult, after: FlowResult) -> dict[str, tuple[list[str],
                                                                               list[str]]]:
    """Service → (topics it consumes only with the step, topics only without), from the
    two runs' traces."""
    changed = {}
    for service in sorted(set(before.coupling) | set(after.coupling)):
        old, new = before.coupling.get(service, set()), after.coupling.get(service, set())
        if old != new:
            changed[service] = (sorted(new - old), sorted(old - new))
    return changed


@dataclass
class ChangeImpact:
    step: str
    path: str  # the scenario the step exists for, placed in both runs
    tables: list[TableChange]
    before: Mapping[str, FlowResult]
    after: Mapping[str, FlowResult]

    def services_changed(self, flow: str) -> list[str]:
        """The services whose rows in `flow` changed (the new participant included)."""
        return sorted({c.service for c in self.tables if c.flow == flow})

    def outcome(self, run: Mapping[str, FlowResult], flow: str) -> tuple[str, str | None]:
        return run[flow].outcomes.get(self.path, ("unfinished", None))

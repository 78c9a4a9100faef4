"""The live view of `orderflow watch`: one snapshot of both flows and of every service.

Pure: a snapshot is assembled from numbers measured elsewhere — the read models' counts
(`ReadModels.order_counts` and `ReadModels.in_flight`), the state file of a
running `orderflow up` (services/supervisor.py), consumer lag (services/lag.py) and the
dead letters waiting in each store (services/dead_letters.py) — so a test hands it
numbers and reads what it says. It lives beside the read models because it is one more
read-side view, as mermaid.py is: it decides nothing and writes nothing.

What a snapshot guarantees:

- each order of a flow is counted once: in flight (status created), confirmed, or
  rejected by reason; timed out is rejected with reason `timeout`, counted among them;
- an order in flight is counted at the step it waits for, read from what the system
  itself records: the newest message of its timeline. In choreography that is the
  last participant's event; in orchestration the timeline holds the orchestrator's
  commands too, so it names the step asked for. The saga's summary (saga_view) is
  used only where it is that newest message: saga_view alone would lag, since the
  saga's forward progress is not summarised (domain/saga.py `progress` tells readers
  only of the unusual), and it would show reserve_stock while an order waits for
  payment. The tables below say what each message leaves the order waiting for;
- a service is up only while the supervisor of a running `up` lives and so does the
  process it names for the service; without a running up (no state file, or its
  supervisor gone) every service is down and its restarts unknown;
- an unknown number is None (JSON null, `-` in a table), never a 0 that looks measured.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.registry import family
from domain.order_events import Flow, OrderStatus
from domain.reasons import RejectionReason
from domain.saga_events import SagaState, Step

# What an order in flight waits for, in the order the saga goes (and tables show them).
START = "start"  # its saga has not started (orchestration)
STOCK, FRAUD, PAYMENT, SHIPPING = "stock", "fraud", "payment", "shipping"  # that answer
CONFIRM = "confirm"  # every step done: the order is to be confirmed
UNDO = "undo"  # a step failed: what was done is being undone (orchestration, first)
REJECT = "reject"  # a step failed: the order is to be rejected
DEAD_LETTER = "dead letter"  # its message was dead-lettered: it waits for a redrive
REDRIVEN = "redriven"  # that dead letter went back: it waits for the copy to be handled
STEPS = (START, STOCK, FRAUD, PAYMENT, SHIPPING, CONFIRM, UNDO, REJECT, DEAD_LETTER,
         REDRIVEN)

# The newest message of an order's timeline, by wire family → what the order waits for.
# On a failed step the order service rejects while the others undo, side by side, in
# choreography; in orchestration the saga asks for each undo first, then the rejection.
NEXT_STEP: Mapping[str, str] = {
    # events: choreography's whole conversation, orchestration's replies
    "order.placed": STOCK,  # START in orchestration: the saga asks for stock first
    "inventory.stock-reserved": PAYMENT,  # FRAUD where the fraud step runs: WITH_FRAUD
    "fraud.cleared": PAYMENT,
    "payment.authorized": SHIPPING,
    "shipping.shipment-scheduled": CONFIRM,
    "inventory.stock-rejected": REJECT,
    "fraud.rejected": REJECT,
    "payment.declined": REJECT,
    "shipping.shipment-rejected": REJECT,
    "inventory.stock-released": REJECT,
    "payment.voided": REJECT,
    "payment.cancelled": REJECT,
    "shipping.shipment-cancelled": REJECT,
    # commands (orchestration): the step the saga asked for
    "inventory.reserve-stock": STOCK,
    "fraud.check": FRAUD,
    "payment.authorize": PAYMENT,
    "shipping.schedule-shipment": SHIPPING,
    "order.confirm": CONFIRM,
    "inventory.release-stock": UNDO,
    "payment.void": UNDO,
    "shipping.cancel-shipment": UNDO,
    "order.reject": REJECT,
    # notices: a message of the order's is stuck in a DLQ, or went back
    "system.message-dead-lettered": DEAD_LETTER,
    "system.dead-letter-redriven": REDRIVEN,
}
WITH_FRAUD: Mapping[str, str] = {"inventory.stock-reserved": FRAUD}
FRAUD_SERVICE = "fraud"  # the fraud step runs where `up` runs this service
SAGA_PROGRESSED = "saga.progressed"  # the saga's summary: where it stands, saga_view says

# Where the saga's summary is the newest message: its current step → what the order
# waits for; a saga with no current step has ended (order_view to follow), or not begun.
SAGA_STEPS: Mapping[str, str] = {
    Step.RESERVE_STOCK: STOCK, Step.CHECK_FRAUD: FRAUD, Step.AUTHORIZE_PAYMENT: PAYMENT,
    Step.SCHEDULE_SHIPMENT: SHIPPING, Step.CONFIRM_ORDER: CONFIRM,
    Step.RELEASE_STOCK: UNDO, Step.VOID_PAYMENT: UNDO, Step.CANCEL_SHIPMENT: UNDO,
    Step.REJECT_ORDER: REJECT,
}
SAGA_ENDS: Mapping[str, str] = {SagaState.COMPLETED: CONFIRM, SagaState.REJECTED: REJECT}
TIMEOUT = RejectionReason.TIMEOUT.value
StatusCounts = Sequence[tuple[str, str, str | None, int]]  # (flow, status, reason, orders)


def step_of(flow: str, newest: str | None, saga_state: str | None = None,
            saga_step: str | None = None, fraud: bool = False) -> str:
    """What an order of `flow` in flight waits for, from the wire type of the newest
    message of its timeline (None: none yet) and, where that is the saga's summary, the
    saga's state and current step. A message the table does not know: its family."""
    kind = family(newest) if newest is not None else None
    if kind is None or (kind == "order.placed" and flow == Flow.ORCHESTRATION):
        return START if flow == Flow.ORCHESTRATION else STOCK
    if kind == SAGA_PROGRESSED:
        return _saga_says(saga_state, saga_step)
    return (WITH_FRAUD if fraud else {}).get(kind) or NEXT_STEP.get(kind, kind)


def _saga_says(state: str | None, step: str | None) -> str:
    if step is None:
        return SAGA_ENDS.get(state or "", START)
    return SAGA_STEPS.get(step, step)


@dataclass(frozen=True, slots=True)
class OrderCounts:
    """The read models' counts one snapshot is made of (projections/read_models.py)."""

    statuses: StatusCounts
    # per flow: (newest event type, saga state, saga step, orders in flight)
    in_flight: Mapping[str, Sequence[tuple[str | None, str | None, str | None, int]]]

    def steps(self, flow: str, fraud: bool) -> dict[str, int]:
        """Orders of `flow` in flight, per step, in saga order; steps with none left out."""
        pairs = [(step_of(flow, kind, state, step, fraud), n)
                 for kind, state, step, n in self.in_flight.get(flow, ())]
        return _ordered(_summed(pairs), STEPS)


@dataclass(frozen=True, slots=True)
class FlowView:
    flow: str
    in_flight: Mapping[str, int]  # step → orders, in saga order
    confirmed: int
    rejected: Mapping[str, int]  # reason → orders, timeout among them

    @property
    def timed_out(self) -> int:
        return self.rejected.get(TIMEOUT, 0)

    def document(self) -> dict[str, Any]:
        return {"in_flight": sum(self.in_flight.values()),
                "in_flight_by_step": dict(self.in_flight), "confirmed": self.confirmed,
                "rejected": sum(self.rejected.values()),
                "rejected_by_reason": dict(self.rejected), "timed_out": self.timed_out}


def flow_view(flow: str, counts: OrderCounts, fraud: bool = False) -> FlowView:
    mine = [(status, reason, n) for f, status, reason, n in counts.statuses if f == flow]
    rejected = _summed((reason or "-", n) for status, reason, n in mine
                       if status == OrderStatus.REJECTED)
    return FlowView(flow, counts.steps(flow, fraud),
                    sum(n for status, _, n in mine if status == OrderStatus.CONFIRMED),
                    dict(sorted(rejected.items())))


@dataclass(frozen=True, slots=True)
class Process:
    """One service of a running `up`, as its state file names it."""

    pid: int
    restarts: int
    alive: bool


def supervised(state: Mapping[str, Any] | None,
               alive: Callable[[int], bool]) -> tuple[int | None, dict[str, Process]]:
    """The pid of the `up` that `state` (its state file's document) describes, and its
    services; (None, {}) unless that up still runs. A document that is not one is none."""
    if state is None:
        return None, {}
    try:
        up = _pid(state["pid"])
        if up is None or not alive(up):
            return None, {}
        return up, {str(name): _process(entry, alive)
                    for name, entry in state["services"].items()}
    except (KeyError, TypeError, AttributeError, ValueError):
        return None, {}


def _process(entry: Mapping[str, Any], alive: Callable[[int], bool]) -> Process:
    pid = _pid(entry["pid"])
    if pid is None:
        raise ValueError(f"not a process id: {entry['pid']!r}")
    return Process(pid, int(entry["restarts"]), alive(pid))


def _pid(value: Any) -> int | None:
    """A real process id (0, -1 or 1 would name a process group, every process, or init)."""
    real = isinstance(value, int) and not isinstance(value, bool) and value > 1
    return value if real else None


@dataclass(frozen=True, slots=True)
class ServiceView:
    name: str
    up: bool
    pid: int | None  # the process a running up runs it as; None: not under one
    restarts: int | None  # None: no running up runs it
    lag: int | None  # records its consumer group has still to apply; None: unknown
    dead_letters: int | None  # waiting in its store to be redriven; None: unknown

    def document(self) -> dict[str, Any]:
        return {"up": self.up, "pid": self.pid, "restarts": self.restarts, "lag": self.lag,
                "dead_letters": self.dead_letters}


def service_names(known: Sequence[str], processes: Mapping[str, Process]) -> list[str]:
    """The services to show: every one deployed, then any other the up runs."""
    return [*known, *(name for name in processes if name not in known)]


def service_view(name: str, process: Process | None, lag: int | None,
                 dead_letters: int | None) -> ServiceView:
    if process is None:
        return ServiceView(name, False, None, None, lag, dead_letters)
    return ServiceView(name, process.alive, process.pid, process.restarts, lag, dead_letters)


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    up: int | None  # the pid of the running `up`; None: none runs
    flows: tuple[FlowView, ...]
    services: tuple[ServiceView, ...]

    def document(self) -> dict[str, Any]:
        """The snapshot as `watch --json` prints it."""
        return {"at": self.at.isoformat(), "up": None if self.up is None else {"pid": self.up},
                "flows": {view.flow: view.document() for view in self.flows},
                "services": {view.name: view.document() for view in self.services}}


def snapshot(at: datetime, flows: Sequence[str], counts: OrderCounts, up: int | None,
             processes: Mapping[str, Process], names: Sequence[str],
             lag: Mapping[str, int | None], dead_letters: Mapping[str, int]) -> Snapshot:
    """The snapshot of these numbers; `names` are the services shown (each service's
    store holds its dead letters, so it is looked up by the service's name). The fraud
    step runs where the running up runs its service; with no up, where it is deployed."""
    fraud = FRAUD_SERVICE in (processes if up is not None else names)
    return Snapshot(at, up, tuple(flow_view(flow, counts, fraud) for flow in flows),
                    tuple(service_view(name, processes.get(name), lag.get(name),
                                       dead_letters.get(name)) for name in names))


def in_saga_order(steps: Iterable[str]) -> list[str]:
    """`steps` once each, in the order the saga goes; any step it does not know last."""
    return list(_ordered(dict.fromkeys(steps, 1), STEPS))


def _summed(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for key, n in pairs:
        total[key] += n
    return dict(total)


def _ordered(counts: Mapping[str, int], order: Sequence[str]) -> dict[str, int]:
    """`counts` without its zeros, keys in `order` first, any other after, by name."""
    rank = {key: place for place, key in enumerate(order)}
    keys = sorted(counts, key=lambda key: (rank.get(key, len(order)), key))
    return {key: counts[key] for key in keys if counts[key]}

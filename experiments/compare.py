"""`orderflow compare`: the same scenarios through both flows, measured side by side.

It drives a running system from outside, as a workshop does: `comparison(app, ...)` seeds
the run's own customers and stock through the services' public methods, places the
scenarios and a latency batch, then reads everything back from the read models: outcomes
from `order_view`, latencies from its event times (placed → final), message counts and
the coupling matrix from `order_timeline` (which service reacted to which topic,
following causation ids through real traces).

Not measured yet: `TIMEOUT_OWNER` and `NEW_STEP` are fixed prose (issue 14 replaces
them with timer rows read from the stores and a real fraud step).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from domain.order_events import Channel

if TYPE_CHECKING:
    from services.bootstrap import Orderflow

FLOWS = ("choreography", "orchestration")
HAPPY_SKU = "BOOK-1"
SCARCE_SKU = "MUG-1"
TERMINAL = ("confirmed", "rejected")


@dataclass(frozen=True)
class Scenario:
    name: str
    customer: str  # "rich", "poor" or "nobody": resolved to this run's customer ids
    items: tuple[tuple[str, int], ...]
    ship_to: str
    expected: tuple[str, str | None]


SCENARIOS = (
    Scenario("happy path", "rich", ((HAPPY_SKU, 1),), "DE", ("confirmed", None)),
    Scenario("out of stock", "rich", ((SCARCE_SKU, 10_000),), "DE", ("rejected", "out_of_stock")),
    Scenario("over credit", "poor", ((HAPPY_SKU, 1),), "DE", ("rejected", "over_credit")),
    Scenario("unknown customer", "nobody", ((HAPPY_SKU, 1),), "DE",
             ("rejected", "unknown_customer")),
    Scenario("country not served", "rich", ((HAPPY_SKU, 1),), "BR",
             ("rejected", "country_not_served")),
)

TIMEOUT_OWNER = {
    "choreography": "order service (a timer row per order; on expiry it publishes "
                    "OrderExpired and every participant compensates itself)",
    "orchestration": "orchestrator (a step deadline per saga: re-send up to 3 times, then "
                     "compensate completed steps in reverse and reject)",
}
NEW_STEP = {
    "choreography": "a fraud check between stock and payment means: fraud subscribes to "
                    "`inventory`, payment re-subscribes to fraud's topic instead, the order "
                    "service and every compensating service learn fraud's rejection event; "
                    "no single file shows the new order of steps",
    "orchestration": "add one step (command + reply + compensation) to the saga state machine "
                     "and one command handler in the fraud service; no other participant "
                     "changes",
}


class Placer(Protocol):
    def place(self, *, customer_id: str, items: list[tuple[str, int]], ship_to: str,
              flow: str, channel: str) -> str: ...


class Reader(Protocol):
    def order(self, order_id: str) -> dict[str, Any] | None: ...
    def timeline(self, order_id: str) -> list[dict[str, Any]]: ...


@dataclass
class FlowResult:
    flow: str
    outcomes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    scenario_orders: dict[str, str] = field(default_factory=dict)
    batch: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    messages_per_order: dict[str, float] = field(default_factory=dict)
    # per order: messages some service acts on (the saga's coordination), and the rest,
    # which only the read models read
    coordination_per_order: float = 0.0
    feed_per_order: float = 0.0
    coupling: dict[str, set[str]] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)

    def percentile(self, q: int) -> float | None:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else None
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


Progress = Callable[[str, int, int], None]  # (flow, done, total)


@dataclass
class Comparison:
    placer: Placer
    reader: Reader
    customers: dict[str, str]
    prefix: str = ""
    batch_size: int = 20
    timeout: float = 60.0
    progress: Progress = lambda flow, done, total: None
    channel: str = Channel.COMPARE  # the demo runs it too, and says so on its orders
    acted_on: dict[str, set[str]] = field(default_factory=dict)  # flow → coordinating types
    results: dict[str, FlowResult] = field(default_factory=dict)

    def run(self) -> dict[str, FlowResult]:
        for flow in FLOWS:
            self.results[flow] = self._run_flow(flow)
        return self.results

    def _run_flow(self, flow: str) -> FlowResult:
        result = FlowResult(flow)
        for scenario in SCENARIOS:
            result.scenario_orders[scenario.name] = self.placer.place(
                customer_id=self.customers[scenario.customer], items=list(scenario.items),
                ship_to=scenario.ship_to, flow=flow, channel=self.channel)
        result.batch = [self.placer.place(customer_id=self.customers["rich"],
                                          items=[(HAPPY_SKU, 1)], ship_to="DE", flow=flow,
                                          channel=self.channel)
                        for _ in range(self.batch_size)]
        final = self._await(flow, [*result.scenario_orders.values(), *result.batch])
        self._measure(result, final)
        return result

    def _await(self, flow: str, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        final: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.timeout
        while len(final) < len(order_ids) and time.monotonic() < deadline:
            for order_id in order_ids:
                row = final.get(order_id) or self.reader.order(order_id)
                if row is not None and row["status"] in TERMINAL:
                    final[order_id] = row
            self.progress(flow, len(final), len(order_ids))
            time.sleep(0.05)
        return final

    def _measure(self, result: FlowResult, final: dict[str, dict[str, Any]]) -> None:
        for name, order_id in result.scenario_orders.items():
            row = final.get(order_id)
            result.outcomes[name] = (row["status"], row["reason"]) if row else ("unfinished", None)
        result.unfinished = [o for o in result.batch if o not in final]
        done = [final[o] for o in result.batch if o in final]
        result.latencies_ms = sorted(latency_ms(row) for row in done)
        timelines = [self.reader.timeline(o) for o in result.batch if o in final]
        result.messages_per_order = messages_per_order(timelines, self.prefix)
        result.coordination_per_order, result.feed_per_order = coordination_and_feed(
            timelines, self.acted_on.get(result.flow, set()))
        result.coupling = coupling([e for t in timelines for e in t], self.prefix)


def latency_ms(row: dict[str, Any]) -> float:
    """Placed → final, from the order's event times in `order_view` (not from polling)."""
    created, updated = (datetime.fromisoformat(str(row[k])) for k in ("created_at", "updated_at"))
    return (updated - created).total_seconds() * 1000


def messages_per_order(timelines: list[list[dict[str, Any]]], prefix: str) -> dict[str, float]:
    """Records per order on each topic (prefix removed), averaged over the timelines."""
    counts: Counter[str] = Counter(e["topic"].removeprefix(prefix) for t in timelines for e in t)
    return {topic: n / len(timelines) for topic, n in sorted(counts.items())} if timelines else {}


def coordination_and_feed(timelines: list[list[dict[str, Any]]],
                          acted_on: set[str]) -> tuple[float, float]:
    """Per order: the records some service acts on (its message table has a row for the
    type), and those only the read models read (saga bookkeeping, stock and credit
    entries)."""
    if not timelines:
        return 0.0, 0.0
    entries = [e for t in timelines for e in t]
    coordination = sum(1 for e in entries if e["type"] in acted_on)
    return coordination / len(timelines), (len(entries) - coordination) / len(timelines)


def coupling(events: list[dict[str, Any]], prefix: str = "") -> dict[str, set[str]]:
    """Service → the topics it consumed, learned from causation: an event caused by a
    record on topic T was emitted by a service that reads T."""
    topic_of = {e["event_id"]: e["topic"].removeprefix(prefix) for e in events}
    edges: dict[str, set[str]] = {}
    for event in events:
        source = topic_of.get(event.get("causation_id") or "")
        if source is not None:
            edges.setdefault(event["service"], set()).add(source)
    return edges


def run_id() -> str:
    return uuid.uuid4().hex[:8]


def comparison(app: Orderflow, batch_size: int, timeout: float, progress: Progress,
               channel: str = Channel.COMPARE) -> Comparison:
    """Seed this run's customers and stock on the live system, and aim a comparison at it."""
    customers = seed(app, run_id(), batch_size)
    return Comparison(app.orders(), app.read_models(), customers, app.settings.topic_prefix,
                      batch_size, timeout, progress, channel,
                      {flow: app.acted_on(flow) for flow in FLOWS})


def seed(app: Orderflow, tag: str, batch_size: int) -> dict[str, str]:
    """A rich, a poor and an unknown customer of this run; stock for every happy order, and
    a scarce SKU that is stocked but never holds 10,000. Returns kind → customer id."""
    customers = {kind: f"cmp-{tag}-{kind}" for kind in ("rich", "poor", "nobody")}
    inventory, payment = app.inventory(), app.payment()
    inventory.add_stock(HAPPY_SKU, 2 * (batch_size + 10))
    if inventory.stock(SCARCE_SKU).version == 0:
        inventory.add_stock(SCARCE_SKU, 1)
    payment.set_credit(customers["rich"], 10**11)
    payment.set_credit(customers["poor"], 100)
    return customers

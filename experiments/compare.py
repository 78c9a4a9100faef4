"""`orderflow compare`: the same seven paths through both flows, measured side by side.

It drives a running system from outside, as a workshop does. `comparison(app, ...)` seeds
the run's own customers and stock through the services' public methods; `run()` then,
per flow:

- places a few warm-up orders and waits for them to settle, not measured, so the first
  measured order does not pay for cold caches and a consumer's first fetch;
- places the six paths that end on the services' answers (confirmed, out_of_stock,
  unknown_sku, over_credit, unknown_customer, country_not_served);
- places the latency batch at a paced rate (`rate` orders per second), not as a burst:
  a burst measures the queue, not the saga;
- samples every store's `timers` table while the orders are in flight: which service
  holds each order's deadline is read from the stores, not stated.

Everything else is read back from the read models: outcomes from `order_view`, latency
from its event times (placed → final, not polling), messages per order and the coupling
matrix from `order_timeline` (which service reacted to which topic, following causation
ids through real traces).

The seventh path, timeout, needs the services in our hands: with a `pauser` (compare
started the services itself, as `demo` and `compare --spawn` do) it SIGSTOPs payment,
places one order per flow with a short deadline, waits for both to be rejected with
reason `timeout`, resumes payment and follows what payment does with the late work
(authorised then voided, or cancelled before it was authorised). Without one, the path
is skipped and says why.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from adapters.registry import family
from domain.order_events import Channel

if TYPE_CHECKING:
    from services.bootstrap import Orderflow

FLOWS = ("choreography", "orchestration")
HAPPY_SKU = "BOOK-1"
SCARCE_SKU = "MUG-1"
TERMINAL = ("confirmed", "rejected")
LATE_DEADLINE = timedelta(seconds=4)  # the timeout path's orders: expired while paused
PAUSED = "payment"  # the service the timeout path stops
# What payment may finally do with a late order's work: its last word on it.
SETTLED = frozenset({"payment.voided", "payment.cancelled", "payment.declined"})


@dataclass(frozen=True)
class Scenario:
    name: str
    customer: str  # "rich", "poor" or "nobody": resolved to this run's customer ids
    items: tuple[tuple[str, int], ...]  # (SKU role, quantity): "happy", "scarce", "unstocked"
    ship_to: str
    expected: tuple[str, str | None]


PLACED = (
    Scenario("happy path", "rich", (("happy", 1),), "DE", ("confirmed", None)),
    Scenario("out of stock", "rich", (("scarce", 10_000),), "DE", ("rejected", "out_of_stock")),
    Scenario("unknown sku", "rich", (("unstocked", 1),), "DE", ("rejected", "unknown_sku")),
    Scenario("over credit", "poor", (("happy", 1),), "DE", ("rejected", "over_credit")),
    Scenario("unknown customer", "nobody", (("happy", 1),), "DE",
             ("rejected", "unknown_customer")),
    Scenario("country not served", "rich", (("happy", 1),), "BR",
             ("rejected", "country_not_served")),
)
TIMEOUT = Scenario("timeout", "rich", (("happy", 1),), "DE", ("rejected", "timeout"))
SCENARIOS = (*PLACED, TIMEOUT)
FRAUD_PATH = "fraud suspected"  # `compare --with-step fraud`'s eighth path


def fraud_path(app: Orderflow, stopped: bool) -> Scenario:
    """A rich customer's order just above the fraud limit: the fraud step rejects it
    (`stopped`); without the step it is confirmed like any other."""
    from domain.fraud import FRAUD_LIMIT_CENTS

    units = FRAUD_LIMIT_CENTS // app.catalog.price_of(HAPPY_SKU) + 1
    expected = ("rejected", "fraud_suspected") if stopped else ("confirmed", None)
    return Scenario(FRAUD_PATH, "rich", (("happy", units),), "DE", expected)


class Placer(Protocol):
    def place(self, *, customer_id: str, items: list[tuple[str, int]], ship_to: str,
              flow: str, channel: str) -> str: ...


class Reader(Protocol):
    def order(self, order_id: str) -> dict[str, Any] | None: ...
    def timeline(self, order_id: str) -> list[dict[str, Any]]: ...


class Pauser(Protocol):
    """The services' supervisor, when compare started them (`Supervisor` is one)."""

    def pause(self, service: str) -> None: ...
    def resume(self, service: str) -> None: ...


Timers = Callable[[Collection[str]], dict[str, dict[str, set[str]]]]  # ids → store → kind → ids
Progress = Callable[[str, int, int], None]  # (flow, done, total)


@dataclass
class FlowResult:
    flow: str
    paths: tuple[Scenario, ...] = SCENARIOS  # what the run placed, in order
    outcomes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # scenario → why it did not run
    scenario_orders: dict[str, str] = field(default_factory=dict)
    batch: list[str] = field(default_factory=list)
    rate: float = 0.0  # orders per second the batch was placed at
    warmup: int = 0  # orders placed before the batch, not measured
    latencies_ms: list[float] = field(default_factory=list)
    messages_per_order: dict[str, float] = field(default_factory=dict)
    # per order: messages some service acts on (the saga's coordination), and the rest,
    # which only the read models read
    coordination_per_order: float = 0.0
    feed_per_order: float = 0.0
    coupling: dict[str, set[str]] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)
    timers: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # store → kind → ids
    late_reply: list[str] | None = None  # payment's events on the timed-out order, in order

    @property
    def placed(self) -> list[str]:
        """Every measured order of the flow: the scenarios and the batch."""
        return [*self.scenario_orders.values(), *self.batch]

    def percentile(self, q: int) -> float | None:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else None
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]

    def timer_owners(self) -> dict[str, int]:
        """`store:kind` → how many of this flow's measured orders had a timer row of that
        kind while in flight (the warm-up orders are not counted)."""
        placed = set(self.placed)
        return {f"{store}:{kind}": len(ids & placed)
                for store, kinds in sorted(self.timers.items())
                for kind, ids in sorted(kinds.items()) if ids & placed}

    def remember_timers(self, seen: dict[str, dict[str, set[str]]]) -> None:
        for store, kinds in seen.items():
            for kind, ids in kinds.items():
                self.timers.setdefault(store, {}).setdefault(kind, set()).update(ids)


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
    skus: dict[str, str | None] = field(default_factory=lambda: {
        "happy": HAPPY_SKU, "scarce": SCARCE_SKU, "unstocked": None})
    rate: float = 10.0
    warmup: int = 5
    timers: Timers = lambda ids: {}
    pauser: Pauser | None = None
    late_placer: Placer | None = None  # places the timeout path's orders (a short deadline)
    paths: tuple[Scenario, ...] = PLACED  # the paths placed before the batch
    results: dict[str, FlowResult] = field(default_factory=dict)

    def run(self) -> dict[str, FlowResult]:
        for flow in FLOWS:
            self.results[flow] = self._run_flow(flow)
        self._timeout_path()
        return self.results

    def _run_flow(self, flow: str) -> FlowResult:
        result = FlowResult(flow, (*self.paths, TIMEOUT), rate=self.rate, warmup=self.warmup)
        # Warm the path and wait for it to settle: a consumer's first fetch and cold
        # caches cost up to a second, which must not land on the measured orders.
        self._await(result, self._paced(result, self.warmup))
        for scenario in self.paths:
            self._place_scenario(result, scenario, self.placer)
            self._sample_until(result, result.placed[-1:], time.monotonic() + 1 / self.rate)
        result.batch = self._paced(result, self.batch_size)
        final = self._await(result, result.placed)
        self._measure(result, final)
        return result

    def _place_scenario(self, result: FlowResult, scenario: Scenario, placer: Placer) -> None:
        skus = [self.skus[role] for role, _ in scenario.items]
        if None in skus:
            result.skipped[scenario.name] = "every catalog SKU is stocked"
            return
        items = [(str(sku), n) for sku, (_, n) in zip(skus, scenario.items, strict=True)]
        result.scenario_orders[scenario.name] = placer.place(
            customer_id=self.customers[scenario.customer], items=items,
            ship_to=scenario.ship_to, flow=result.flow, channel=self.channel)

    def _paced(self, result: FlowResult, count: int) -> list[str]:
        """`count` happy orders, one every 1/rate s; the timers are sampled meanwhile."""
        placed: list[str] = []
        started = time.monotonic()
        for n in range(count):
            placed.append(self.placer.place(customer_id=self.customers["rich"],
                                            items=[(HAPPY_SKU, 1)], ship_to="DE",
                                            flow=result.flow, channel=self.channel))
            self._sample_until(result, placed[-5:], started + (n + 1) / self.rate)
        return placed

    def _sample_until(self, result: FlowResult, recent: list[str], until: float) -> None:
        """Look at the recent orders' timer rows every 40 ms until `until`: a deadline
        lives only while its order is in flight, a tenth of a second at light load."""
        while True:
            result.remember_timers(self.timers(recent))
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.04, left))

    def _await(self, result: FlowResult, order_ids: list[str],
               settled: Collection[str] = TERMINAL) -> dict[str, dict[str, Any]]:
        final: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + self.timeout
        while len(final) < len(order_ids) and time.monotonic() < deadline:
            waiting = [o for o in order_ids if o not in final]
            result.remember_timers(self.timers(waiting))
            for order_id in waiting:
                row = self.reader.order(order_id)
                if row is not None and row["status"] in settled:
                    final[order_id] = row
            self.progress(result.flow, len(final), len(order_ids))
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

    def _timeout_path(self) -> None:
        """Payment stopped past the orders' deadline in both flows at once, then resumed."""
        if self.pauser is None or self.late_placer is None:
            for result in self.results.values():
                result.skipped[TIMEOUT.name] = "needs --spawn"
            return
        self.pauser.pause(PAUSED)
        try:
            for result in self.results.values():
                self._place_scenario(result, TIMEOUT, self.late_placer)
            expired = {flow: self._await(r, [r.scenario_orders[TIMEOUT.name]])
                       for flow, r in self.results.items()}
        finally:
            self.pauser.resume(PAUSED)
        for flow, result in self.results.items():
            order_id = result.scenario_orders[TIMEOUT.name]
            row = expired[flow].get(order_id)
            result.outcomes[TIMEOUT.name] = ((row["status"], row["reason"]) if row
                                             else ("unfinished", None))
            result.late_reply = self._late_reply(order_id)

    def _late_reply(self, order_id: str) -> list[str]:
        """Payment's events on the order once it runs again, until its last word on it."""
        deadline = time.monotonic() + self.timeout
        while True:
            said = payment_events(self.reader.timeline(order_id))
            if any(f"payment.{word}" in SETTLED for word in said):
                return said
            if time.monotonic() >= deadline:
                return [*said, "nothing more"]
            time.sleep(0.05)


def payment_events(timeline: Iterable[dict[str, Any]]) -> list[str]:
    """`authorized`, `voided`, …: payment's published events on one order, in order."""
    return [family(e["type"]).removeprefix("payment.") for e in timeline
            if e["service"] == PAUSED and e["topic"].endswith("payments")]


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
               channel: str = Channel.COMPARE, *, rate: float = 10.0, warmup: int = 5,
               pauser: Pauser | None = None, extra: tuple[Scenario, ...] = ()) -> Comparison:
    """Seed this run's customers and stock on the live system, and aim a comparison at it.
    `extra`: paths placed after the six (their happy units are stocked too)."""
    happy = sum(n for s in extra for role, n in s.items if role == "happy")
    customers = seed(app, run_id(), batch_size + warmup + happy)
    skus: dict[str, str | None] = {"happy": HAPPY_SKU, "scarce": SCARCE_SKU,
                                   "unstocked": unstocked_sku(app)}
    return Comparison(app.orders(), app.read_models(), customers, app.settings.topic_prefix,
                      batch_size, timeout, progress, channel,
                      {flow: app.acted_on(flow) for flow in FLOWS}, skus, rate, warmup,
                      app.timers, pauser, app.orders(timeout=LATE_DEADLINE), (*PLACED, *extra))


def unstocked_sku(app: Orderflow) -> str | None:
    """A SKU the catalog sells and inventory never stocked: inventory answers unknown_sku."""
    inventory = app.inventory()
    for sku in sorted(app.catalog.prices):
        if sku not in (HAPPY_SKU, SCARCE_SKU) and inventory.stock(sku).version == 0:
            return sku
    return None


def seed(app: Orderflow, tag: str, orders: int) -> dict[str, str]:
    """A rich, a poor and an unknown customer of this run; stock for every happy order, and
    a scarce SKU that is stocked but never holds 10,000. Returns kind → customer id."""
    customers = {kind: f"cmp-{tag}-{kind}" for kind in ("rich", "poor", "nobody")}
    inventory, payment = app.inventory(), app.payment()
    inventory.add_stock(HAPPY_SKU, 2 * (orders + 10))
    if inventory.stock(SCARCE_SKU).version == 0:
        inventory.add_stock(SCARCE_SKU, 1)
    payment.set_credit(customers["rich"], 10**11)
    payment.set_credit(customers["poor"], 100)
    return customers

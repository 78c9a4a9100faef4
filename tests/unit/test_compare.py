"""`experiments.compare` without Kafka: percentiles, latencies, messages per order and
coupling computed from traces; whole comparisons of all seven paths against an
in-memory system that answers like the real one (a payment that can be paused, timer
rows per flow, a late reply); and the seeding on real SQLite stores. The change-impact
diff of `--with-step` is tested in test_impact.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.compare import failed
from cli.main import run
from experiments.compare import (
    FLOWS,
    HAPPY_SKU,
    PLACED,
    SCARCE_SKU,
    SCENARIOS,
    TIMEOUT,
    Comparison,
    FlowResult,
    coordination_and_feed,
    coupling,
    latency_ms,
    messages_per_order,
    payment_events,
    seed,
    unstocked_sku,
)
from services.bootstrap import bootstrap

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = {"rich": "c-rich", "poor": "c-poor", "nobody": "c-nobody"}
PREFIX = "cmp."
UNSTOCKED = "HOODIE-M"
SKUS: dict[str, str | None] = {"happy": HAPPY_SKU, "scarce": SCARCE_SKU, "unstocked": UNSTOCKED}
TIMER = {"choreography": ("order", "order-deadline"),
         "orchestration": ("orchestrator", "saga-step")}


def event(event_id: str, service: str, topic: str, cause: str | None = None,
          wire: str = "inventory.stock-allocated.v1") -> dict[str, Any]:
    return {"event_id": event_id, "service": service, "topic": PREFIX + topic,
            "causation_id": cause, "type": wire}


def trace(order_id: str, flow: str) -> list[dict[str, Any]]:
    """One order's happy start, as the projector's timeline records it in each flow."""
    placed = event(f"{order_id}-1", "order", "orders")
    if flow == "choreography":
        return [placed, event(f"{order_id}-2", "inventory", "inventory", placed["event_id"]),
                event(f"{order_id}-3", "payment", "payments", f"{order_id}-2")]
    return [placed, event(f"{order_id}-2", "orchestrator", "inventory.commands",
                          placed["event_id"]),
            event(f"{order_id}-3", "inventory", "inventory", f"{order_id}-2")]


def late_trace(order_id: str) -> list[dict[str, Any]]:
    """Payment's answers once resumed: the authorisation it owed, then the void."""
    return [event(f"{order_id}-1", "order", "orders", wire="order.placed.v2"),
            event(f"{order_id}-2", "payment", "payments", wire="payment.authorized.v1"),
            event(f"{order_id}-3", "payment", "payments", wire="payment.voided.v1")]


class FakeSystem:
    """Placer, reader, pauser and timers at once: decides each order as the real services
    would, at once, and answers `order` and `timeline` as the read models do. Order n
    (counted from 1) takes n ms; the orders numbered in `stuck` never reach a final
    status. An order placed through `late` while payment is paused expires (reason
    timeout, unless `never_expires`); its payment answers once payment is resumed."""

    def __init__(self, stuck: frozenset[int] = frozenset(), never_expires: bool = False,
                 late_answers: bool = True) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, str] = {}
        self.ids = itertools.count(1)
        self.stuck, self.never_expires, self.late_answers = stuck, never_expires, late_answers
        self.paused, self.calls, self.late_orders = False, list[tuple[str, str]](), set[str]()

    def place(self, *, customer_id: str, items: list[tuple[str, int]], ship_to: str,
              flow: str, channel: str) -> str:
        number = next(self.ids)
        order_id = f"o-{number}"
        status, reason = decide(customer_id, items, ship_to)
        self.rows[order_id] = {"status": status, "reason": reason, "created_at": T0.isoformat(),
                               "updated_at": (T0 + timedelta(milliseconds=number)).isoformat()}
        self.flows[order_id] = flow
        return order_id

    @property
    def late(self) -> LatePlacer:
        return LatePlacer(self)

    def order(self, order_id: str) -> dict[str, Any] | None:
        if int(order_id.removeprefix("o-")) in self.stuck:
            return {**self.rows[order_id], "status": "created", "reason": None}
        return self.rows.get(order_id)

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        if order_id in self.late_orders:
            answered = not self.paused and self.late_answers
            return late_trace(order_id)[:3 if answered else 1]
        return trace(order_id, self.flows[order_id])

    def pause(self, service: str) -> None:
        self.paused = True
        self.calls.append(("pause", service))

    def resume(self, service: str) -> None:
        self.paused = False
        self.calls.append(("resume", service))

    def timers(self, ids: Collection[str]) -> dict[str, dict[str, set[str]]]:
        """Each flow's deadline in its owner's store, for every order asked about."""
        found: dict[str, dict[str, set[str]]] = {}
        for order_id in ids:
            store, kind = TIMER[self.flows[order_id]]
            found.setdefault(store, {}).setdefault(kind, set()).add(order_id)
        return found


class LatePlacer:
    def __init__(self, system: FakeSystem) -> None:
        self.system = system

    def place(self, **order: Any) -> str:
        order_id = self.system.place(**order)
        self.system.late_orders.add(order_id)
        if self.system.paused:
            expired = ("created", None) if self.system.never_expires else ("rejected", "timeout")
            self.system.rows[order_id].update(zip(("status", "reason"), expired, strict=True))
        return order_id


def decide(customer: str, items: list[tuple[str, int]], ship_to: str) -> tuple[str, str | None]:
    if items == [(SCARCE_SKU, 10_000)]:
        return "rejected", "out_of_stock"
    if items[0][0] == UNSTOCKED:
        return "rejected", "unknown_sku"
    if customer != CUSTOMERS["rich"]:
        return "rejected", "over_credit" if customer == CUSTOMERS["poor"] else "unknown_customer"
    return ("rejected", "country_not_served") if ship_to == "BR" else ("confirmed", None)


def comparison(system: FakeSystem, batch_size: int = 5, timeout: float = 5.0, *,
               spawned: bool = True, skus: dict[str, str | None] = SKUS) -> Comparison:
    return Comparison(system, system, CUSTOMERS, PREFIX, batch_size, timeout,
                      skus=skus, rate=1000.0, warmup=2, timers=system.timers,
                      pauser=system if spawned else None,
                      late_placer=system.late if spawned else None)


def test_percentiles_are_inclusive_over_the_measured_latencies() -> None:
    result = FlowResult("choreography", latencies_ms=[float(v) for v in range(1, 102)])
    assert [result.percentile(q) for q in (50, 95, 99)] == [51.0, 96.0, 100.0]
    assert FlowResult("x", latencies_ms=[10.0, 20.0]).percentile(50) == 15.0


def test_percentiles_of_one_or_no_latency() -> None:
    assert FlowResult("x", latencies_ms=[42.0]).percentile(99) == 42.0
    assert FlowResult("x").percentile(50) is None


def test_latency_is_placed_to_final_from_event_times() -> None:
    row = {"created_at": T0.isoformat(),
           "updated_at": (T0 + timedelta(seconds=1, milliseconds=250)).isoformat()}
    assert latency_ms(row) == 1250.0


def test_coordination_is_what_some_service_acts_on_and_the_rest_feeds_the_read_models(
        ) -> None:
    acted_on = bootstrap().acted_on("choreography")
    placed = event("a-1", "order", "orders", wire="order.placed.v2")
    held = event("a-2", "payment", "payments", "x", wire="payment.credit-held.v1")
    reserved = event("a-3", "inventory", "inventory", "a-1", wire="inventory.stock-reserved.v1")
    assert coordination_and_feed([[placed, held, reserved], [placed]], acted_on) == (1.5, 0.5)
    assert coordination_and_feed([], acted_on) == (0.0, 0.0)


def test_messages_per_order_average_each_topic_without_the_prefix() -> None:
    timelines = [trace("a", "choreography"), trace("b", "choreography")[:2]]
    assert messages_per_order(timelines, PREFIX) == {"inventory": 1.0, "orders": 1.0,
                                                     "payments": 0.5}
    assert messages_per_order([], PREFIX) == {}


def test_coupling_follows_causation_ids_to_the_topic_each_service_read() -> None:
    assert coupling(trace("a", "choreography"), PREFIX) == {"inventory": {"orders"},
                                                            "payment": {"inventory"}}
    assert coupling(trace("a", "orchestration"), PREFIX) == {
        "orchestrator": {"orders"}, "inventory": {"inventory.commands"}}


def test_coupling_ignores_causes_outside_the_traces() -> None:
    events = [event("x", "payment", "payments", cause="not-in-any-trace"),
              event("y", "shipping", "shipping")]
    assert coupling(events, PREFIX) == {}


def test_a_spawned_comparison_runs_all_seven_paths_in_both_flows() -> None:
    system = FakeSystem()
    results = comparison(system).run()
    assert list(results) == list(FLOWS)
    for flow, result in results.items():
        assert result.outcomes == {s.name: s.expected for s in SCENARIOS}, flow
        assert result.skipped == {} and result.late_reply == ["authorized", "voided"]
        assert len(result.batch) == 5 and result.unfinished == []
        assert result.latencies_ms == sorted(result.latencies_ms) and len(result.latencies_ms) == 5
        assert sum(result.messages_per_order.values()) == 3.0
    assert system.calls == [("pause", "payment"), ("resume", "payment")]
    assert results["choreography"].coupling == {"inventory": {"orders"},
                                                "payment": {"inventory"}}
    assert results["orchestration"].coupling["inventory"] == {"inventory.commands"}
    assert not failed(results)


def test_warm_up_orders_are_placed_first_and_never_measured() -> None:
    system = FakeSystem()
    results = comparison(system, batch_size=3).run()
    chor = results["choreography"]
    # o-1 and o-2 warm up; the six placed paths are o-3..o-8; the batch o-9..o-11
    assert chor.scenario_orders[PLACED[0].name] == "o-3" and chor.batch[0] == "o-9"
    assert (chor.warmup, chor.rate) == (2, 1000.0)
    assert len(chor.placed) == len(PLACED) + 3 + 1  # the timeout path's order too
    assert "o-1" not in chor.placed and "o-2" not in chor.placed


def test_timer_owners_are_read_from_the_stores_per_flow_without_the_warm_up() -> None:
    results = comparison(FakeSystem()).run()
    total = len(PLACED) + 5 + 1
    assert results["choreography"].timer_owners() == {"order:order-deadline": total}
    assert results["orchestration"].timer_owners() == {"orchestrator:saga-step": total}


def test_without_the_services_in_hand_the_timeout_path_is_skipped_and_says_why() -> None:
    system = FakeSystem()
    results = comparison(system, spawned=False).run()
    for result in results.values():
        assert result.skipped == {TIMEOUT.name: "needs --spawn"}
        assert result.outcomes == {s.name: s.expected for s in PLACED}
        assert result.late_reply is None
    assert system.calls == [] and not failed(results)


def test_an_unknown_sku_path_needs_a_sku_inventory_never_stocked() -> None:
    results = comparison(FakeSystem(), skus={**SKUS, "unstocked": None}).run()
    for result in results.values():
        assert result.skipped == {"unknown sku": "every catalog SKU is stocked"}
        assert "unknown sku" not in result.outcomes and "unknown sku" not in result.scenario_orders


def test_an_order_that_never_expires_is_unfinished_and_the_comparison_failed() -> None:
    system = FakeSystem(never_expires=True)
    results = comparison(system, timeout=0.3).run()
    assert results["choreography"].outcomes[TIMEOUT.name] == ("unfinished", None)
    assert system.calls[-1] == ("resume", "payment")  # payment is resumed whatever happened
    assert failed(results)


def test_a_late_reply_that_never_settles_says_so() -> None:
    results = comparison(FakeSystem(late_answers=False), timeout=0.3).run()
    assert results["orchestration"].late_reply == ["nothing more"]
    assert results["orchestration"].outcomes[TIMEOUT.name] == TIMEOUT.expected


def test_payment_events_are_payments_own_published_words_in_order() -> None:
    rows = [*late_trace("x"), event("y", "payment", "payments.dlq", wire="payment.voided.v1"),
            event("z", "inventory", "inventory", wire="inventory.stock-released.v1")]
    assert payment_events(rows) == ["authorized", "voided"]


def test_a_path_that_ended_otherwise_fails_the_comparison() -> None:
    results = comparison(FakeSystem(), spawned=False).run()
    results["orchestration"].outcomes["over credit"] = ("confirmed", None)
    assert failed(results)


def test_orders_without_a_final_status_are_unfinished_and_not_measured() -> None:
    # choreography warms up with orders 1-2, places the 6 paths (3-8), then its batch (9-12)
    system = FakeSystem(stuck=frozenset({11, 12}))
    results = comparison(system, batch_size=4, timeout=0.2, spawned=False).run()
    chor, orch = results["choreography"], results["orchestration"]
    assert chor.unfinished == ["o-11", "o-12"] and len(chor.latencies_ms) == 2
    assert chor.outcomes == {s.name: s.expected for s in PLACED}
    assert orch.unfinished == [] and len(orch.latencies_ms) == 4
    assert failed(results)


def test_seeding_stocks_the_skus_and_sets_this_runs_credit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("ORDERFLOW_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path))
    assert run(["db", "upgrade", "--json"]) == 0
    capsys.readouterr()
    app = bootstrap()
    try:
        customers = seed(app, "t1", orders=5)
        assert customers == {k: f"cmp-t1-{k}" for k in ("rich", "poor", "nobody")}
        assert app.inventory().stock(HAPPY_SKU).available == 30
        assert app.inventory().stock(SCARCE_SKU).available == 1
        assert app.payment().credit(customers["poor"]).limit_cents == 100
        assert app.payment().credit(customers["nobody"]).version == 0
        seed(app, "t2", orders=5)  # the scarce SKU is stocked once, never topped up
        assert app.inventory().stock(SCARCE_SKU).available == 1
        assert unstocked_sku(app) == "HEADPHONES-1"  # the first in order, never stocked
        for sku in app.catalog.prices:
            app.inventory().add_stock(sku, 1)
        assert unstocked_sku(app) is None
    finally:
        app.close()

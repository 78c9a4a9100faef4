"""`experiments.compare` without Kafka: percentiles, latencies, messages per order and
coupling computed from traces, a whole comparison against an in-memory system that
answers like the real one, and the seeding on real SQLite stores.

Not tested here because it is not computed yet: the "who does what" rows
(`TIMEOUT_OWNER`, `NEW_STEP`) are fixed prose, and there is no change-impact diff
(issue 14, items 2 and 3, replace them with measurements).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cli.main import run
from experiments.compare import (
    FLOWS,
    HAPPY_SKU,
    SCARCE_SKU,
    SCENARIOS,
    Comparison,
    FlowResult,
    coordination_and_feed,
    coupling,
    latency_ms,
    messages_per_order,
    seed,
)
from services.bootstrap import bootstrap

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CUSTOMERS = {"rich": "c-rich", "poor": "c-poor", "nobody": "c-nobody"}
PREFIX = "cmp."


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


class FakeSystem:
    """Placer and reader at once: decides each order as the real services would, at once,
    and answers `order` and `timeline` as the read models do. Order n (counted from 1)
    takes n ms; the orders numbered in `stuck` never reach a final status."""

    def __init__(self, stuck: frozenset[int] = frozenset()) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, str] = {}
        self.ids = itertools.count(1)
        self.stuck = stuck

    def place(self, *, customer_id: str, items: list[tuple[str, int]], ship_to: str,
              flow: str, channel: str) -> str:
        number = next(self.ids)
        order_id = f"o-{number}"
        status, reason = decide(customer_id, items, ship_to)
        self.rows[order_id] = {"status": status, "reason": reason, "created_at": T0.isoformat(),
                               "updated_at": (T0 + timedelta(milliseconds=number)).isoformat()}
        self.flows[order_id] = flow
        return order_id

    def order(self, order_id: str) -> dict[str, Any] | None:
        if int(order_id.removeprefix("o-")) in self.stuck:
            return {**self.rows[order_id], "status": "created", "reason": None}
        return self.rows.get(order_id)

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        return trace(order_id, self.flows[order_id])


def decide(customer: str, items: list[tuple[str, int]], ship_to: str) -> tuple[str, str | None]:
    if items == [(SCARCE_SKU, 10_000)]:
        return "rejected", "out_of_stock"
    if customer != CUSTOMERS["rich"]:
        return "rejected", "over_credit" if customer == CUSTOMERS["poor"] else "unknown_customer"
    return ("rejected", "country_not_served") if ship_to == "BR" else ("confirmed", None)


def comparison(system: FakeSystem, batch_size: int = 5, timeout: float = 5.0) -> Comparison:
    return Comparison(system, system, CUSTOMERS, PREFIX, batch_size, timeout)


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


def test_a_comparison_reports_every_scenario_and_the_batch_in_both_flows() -> None:
    results = comparison(FakeSystem()).run()
    assert list(results) == list(FLOWS)
    for flow, result in results.items():
        assert result.outcomes == {s.name: s.expected for s in SCENARIOS}, flow
        assert len(result.batch) == 5 and result.unfinished == []
        assert result.latencies_ms == sorted(result.latencies_ms) and len(result.latencies_ms) == 5
        assert sum(result.messages_per_order.values()) == 3.0
    assert results["choreography"].coupling == {"inventory": {"orders"},
                                                "payment": {"inventory"}}
    assert results["orchestration"].coupling["inventory"] == {"inventory.commands"}


def test_orders_without_a_final_status_are_unfinished_and_not_measured() -> None:
    # choreography places the 5 scenarios (orders 1-5), then its batch (6-9)
    system = FakeSystem(stuck=frozenset({8, 9}))
    results = comparison(system, batch_size=4, timeout=0.2).run()
    chor, orch = results["choreography"], results["orchestration"]
    assert chor.unfinished == ["o-8", "o-9"] and len(chor.latencies_ms) == 2
    assert chor.outcomes == {s.name: s.expected for s in SCENARIOS}
    assert orch.unfinished == [] and len(orch.latencies_ms) == 4


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
        customers = seed(app, "t1", batch_size=5)
        assert customers == {k: f"cmp-t1-{k}" for k in ("rich", "poor", "nobody")}
        assert app.inventory().stock(HAPPY_SKU).available == 30
        assert app.inventory().stock(SCARCE_SKU).available == 1
        assert app.payment().credit(customers["poor"]).limit_cents == 100
        assert app.payment().credit(customers["nobody"]).version == 0
        seed(app, "t2", batch_size=5)  # the scarce SKU is stocked once, never topped up
        assert app.inventory().stock(SCARCE_SKU).available == 1
    finally:
        app.close()

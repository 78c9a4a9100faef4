"""`orderflow compare --spawn` end to end on the real broker and real SQLite stores: it
starts every service itself, runs all seven paths in both flows (the timeout path
pauses payment past the orders' deadline, then resumes it), measures paced latency,
reads the deadlines' owners from the stores' timer rows, and writes its Markdown
report with diagrams drawn from the traces' causation ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.compare import SCENARIOS
from tests.conftest import Env, MakeEnv
from tests.support import run_cli

pytestmark = [pytest.mark.kafka, pytest.mark.store("sqlite")]


@pytest.fixture
def env(kafka: str, make_env: MakeEnv) -> Env:
    return make_env("sqlite", bootstrap=kafka)


def test_compare_spawn_runs_every_path_in_both_flows_and_measures_them(
        env: Env, tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    done = run_cli(["compare", "--spawn", "-n", "5", "--rate", "20", "--json",
                    "--markdown", str(report)], env.environ, timeout=300)
    assert done.code == 0, done.stderr
    results = json.loads(done.stdout)
    for flow, result in results.items():
        got = {k: (v["status"], v["reason"]) for k, v in result["outcomes"].items()}
        assert got == {s.name: s.expected for s in SCENARIOS}, flow
        assert result["skipped"] == {} and result["unfinished"] == []
        assert result["latency_ms"]["count"] == 5 and result["latency_ms"]["rate_per_s"] == 20
        assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
        assert result["late_reply"][-1] in ("voided", "cancelled"), result["late_reply"]
        assert result["orders_placed"] == len(SCENARIOS) + 5
    chor, orch = results["choreography"]["timers"], results["orchestration"]["timers"]
    assert set(chor) == {"order:order-deadline"} and set(orch) == {"orchestrator:saga-step"}
    # the timeout path's order held its deadline for seconds: its row was always seen
    assert chor["order:order-deadline"] >= 1 and orch["orchestrator:saga-step"] >= 1
    text = report.read_text()
    assert "order->>inventory: order.placed.v2" in text  # choreography, from causation
    assert "orchestrator->>inventory: inventory.reserve-stock.v1" in text
    assert "compare --with-step fraud` measures it" in text
    assert "services stopped" in done.stderr


def test_compare_against_a_system_it_did_not_start_skips_only_the_timeout_path(
        env: Env) -> None:
    for args in (["db", "upgrade"], ["topics", "create"]):
        assert run_cli(args, env.environ).code == 0
    done = run_cli(["compare", "-n", "1", "--timeout", "3", "--json"], env.environ,
                   timeout=120)
    # nothing runs the services: every placed path stays unfinished, and says so
    assert done.code == 1
    result = json.loads(done.stdout)["choreography"]
    assert result["skipped"] == {"timeout": "needs --spawn"}
    assert {v["status"] for v in result["outcomes"].values()} == {"unfinished"}


def test_compare_with_the_fraud_step_measures_what_it_changed_in_each_style(
        env: Env) -> None:
    done = run_cli(["compare", "--with-step", "fraud", "-n", "3", "--rate", "20", "--json"],
                   env.environ, timeout=400)
    assert done.code == 0, done.stderr
    measured = json.loads(done.stdout)
    impact = measured["impact"]
    assert impact["services_changed"] == {
        "choreography": ["fraud", "inventory", "order", "payment"],
        "orchestration": ["fraud", "orchestrator"]}
    for flow in ("choreography", "orchestration"):
        assert impact["outcome"][flow] == {"without": ["confirmed", None],
                                           "with": ["rejected", "fraud_suspected"]}
        before = sum(measured["without"][flow]["messages_per_order"].values())
        after = sum(measured["with"][flow]["messages_per_order"].values())
        assert after > before, flow  # the step's own messages, counted from real traces
    # payment reads fraud's topic instead of inventory's, seen in the traces
    assert impact["coupling"]["choreography"]["payment"] == [["fraud"], ["inventory"]]
    assert "== run 2 of 2: with fraud" in done.stderr

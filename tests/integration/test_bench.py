"""`orderflow bench --quick --json` runs against real Kafka and produces a well-formed
document; the figures themselves are never asserted (benchmarks are not timed tests)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeEnv
from tests.support import run_cli

pytestmark = pytest.mark.kafka
FLOWS = ("choreography", "orchestration")


def numbers(node: Any) -> list[float]:
    if isinstance(node, dict):
        return [n for v in node.values() for n in numbers(v)]
    if isinstance(node, list):
        return [n for v in node for n in numbers(v)]
    return [node] if isinstance(node, int | float) and not isinstance(node, bool) else []


def test_quick_bench_prints_one_well_formed_document(kafka: str, make_env: MakeEnv,
                                                     tmp_path: Path) -> None:
    env = make_env("sqlite", bootstrap=kafka)
    results = tmp_path / "results.jsonl"
    done = run_cli(["bench", "--quick", "--json", "--results", str(results)], env.environ,
                   timeout=280)
    assert done.code == 0, done.stderr
    document = json.loads(done.stdout)
    for section in ("run", "baselines", "pipeline", "latency", "ratios", "memory_mib",
                    "targets"):
        assert document[section], section
    for flow in FLOWS:
        burst = document["pipeline"][flow]
        assert burst["orders_per_s"] > 0 and burst["messages_per_s"] > 0
        assert sum(burst["outcomes"].values()) == burst["orders"]
        assert all(document["latency"][flow][k] > 0 for k in ("p50_ms", "p95_ms", "p99_ms"))
        assert document["ratios"][flow]["kafka"] > 0 and document["ratios"][flow]["store"] > 0
        inside = document["latency"][flow]["service_hops"]  # every service's /metrics
        assert inside["unscraped"] == []
        assert all(inside["hops"][hop]["samples"] > 0 and inside["hops"][hop]["p50_ms"] > 0
                   for hop in ("relay_pickup", "relay_publish"))
    assert document["baselines"]["kafka"]["end_to_end_per_s"] > 0
    assert document["baselines"]["store"]["sqlite"]["rows_per_s"] > 0
    assert all(math.isfinite(n) and n >= 0 for n in numbers(document))
    assert {t["met"] for t in document["targets"]} <= {True, False}
    lines = results.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["run"]["id"] == document["run"]["id"]

"""The bench's one JSON document: figures, ratios, targets; and the results file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from experiments.bench.config import Target, targets
from experiments.bench.kafka import KafkaBaseline
from experiments.bench.latency import LatencyResult
from experiments.bench.pipeline import BurstResult
from experiments.bench.store import StoreBaseline

Document = dict[str, Any]


def document(run: Document, kafka: KafkaBaseline, stores: list[StoreBaseline],
             bursts: list[BurstResult], latencies: list[LatencyResult],
             memory_mib: dict[str, float]) -> Document:
    store = next(s for s in stores if s.store == run["store"])
    result: Document = {
        "run": run,
        "baselines": {"kafka": asdict(kafka), "store": {s.store: asdict(s) for s in stores}},
        "pipeline": {b.flow: asdict(b) for b in bursts},
        "latency": {r.flow: asdict(r) for r in latencies},
        "ratios": {b.flow: {"kafka": b.messages_per_s / kafka.end_to_end_per_s,
                            "orders_vs_kafka": 100 * b.orders_per_s / kafka.end_to_end_per_s,
                            "store": b.messages_per_s / store.events_per_s} for b in bursts},
        "memory_mib": memory_mib,
    }
    for figures in result["pipeline"].values():
        figures["cpu_ms_per_order"] = 1000 * figures["cpu_per_order"]
    result["targets"] = verdicts(targets(run["store"]), result)
    return result


def verdicts(targets: Sequence[Target], result: Document) -> list[Document]:
    """Each target the document has a figure for, met or not."""
    return [_verdict(t, result) for t in targets if _lookup(result, t.path)]


def _verdict(target: Target, result: Document) -> Document:
    measured = float(_lookup(result, target.path))
    met = measured >= target.threshold if target.at_least else measured <= target.threshold
    sign = ">=" if target.at_least else "<="
    return {"name": target.name, "target": f"{sign} {target.threshold:g} {target.unit}",
            "measured": measured, "unit": target.unit, "met": met}


def _lookup(result: Document, path: tuple[str, ...]) -> Any:
    node: Any = result
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def finite(node: Any) -> bool:
    """Every number in the document is finite (JSON has no NaN or infinity)."""
    if isinstance(node, dict):
        return all(finite(v) for v in node.values())
    if isinstance(node, list):
        return all(finite(v) for v in node)
    return not isinstance(node, float) or math.isfinite(node)


def append(path: Path, result: Document) -> None:
    """One JSON line per run, so runs can be compared over time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        out.write(orjson.dumps(result) + b"\n")

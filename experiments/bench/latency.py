"""Light load: orders placed at a fixed rate, place → final latency from event times
(order_view created_at → updated_at, as `orderflow compare` measures it), with where it
is spent: between the services (`hops`) and inside them (`service_hops`, their /metrics)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from adapters.credentials import ADMIN
from experiments.bench.hops import HopProbe, Hops
from experiments.bench.inside import MetricsProbe, ServiceHops
from experiments.bench.rig import Rig
from projections.tables import stamp
from services.clock import system_clock


@dataclass(frozen=True)
class LatencyResult:
    flow: str
    rate: float
    duration: float
    orders: int
    achieved_rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    hops: Hops
    service_hops: ServiceHops


def light_load(rig: Rig, flow: str, rate: float, duration: float) -> LatencyResult:
    count = max(2, round(rate * duration))
    since = stamp(system_clock())
    probe = HopProbe(rig.app.settings.kafka(ADMIN), rig.marks.topics)
    inside = MetricsProbe(rig.app.settings.metrics_port, rig.fleet.services)
    achieved = _paced(rig, flow, rate, count)
    rig.await_settled(flow, since, count, f"{flow}: light load final")
    latencies = sorted((final - placed).total_seconds() * 1000
                       for placed, final in rig.board.times(flow, since))
    p50, p95, p99 = (_percentile(latencies, q) for q in (50, 95, 99))
    hops = probe.read(flow, rig.app.acted_on(flow))  # reads until the topics are idle
    return LatencyResult(flow, rate, duration, count, achieved, p50, p95, p99, latencies[-1],
                         hops, inside.read())


def _paced(rig: Rig, flow: str, rate: float, count: int) -> float:
    """Place order i at start + i/rate (catching up if behind); return the achieved rate."""
    orders, label = rig.app.orders(), f"{flow}: light load placed"
    began = time.monotonic()
    for index in range(count):
        wait = began + index / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # pacing the load, not waiting for a result
        rig.workload.place(orders, flow)
        rig.reporter.progress(label, index + 1, count)
    return (count - 1) / max(1e-6, time.monotonic() - began)


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

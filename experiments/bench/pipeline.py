"""The burst: N orders placed as fast as one placer can, measured from the first
place to the last final status (event times in order_view), with the Kafka traffic
and the CPU time of every process while it ran."""

from __future__ import annotations

import time
from dataclasses import dataclass

from experiments.bench.procs import cpu_delta, cpu_snapshot
from experiments.bench.rig import Rig
from projections.tables import stamp
from services.clock import system_clock

SERVICE_ONLY = ("bench placer", "broker")  # counted, but not as the pipeline's own cost


@dataclass(frozen=True)
class BurstResult:
    flow: str
    orders: int
    seconds: float            # first place → last final status
    visible_seconds: float    # first place → every order final in order_view (polled)
    orders_per_s: float
    place_per_s: float        # how fast the placers alone went
    placers: int              # placer processes
    messages: int             # records appended to the run's topics
    messages_per_s: float
    messages_per_order: float
    outcomes: dict[str, int]
    cpu_seconds: dict[str, float]  # per process, during the burst
    cpu_per_order: float      # the services' CPU seconds per order
    cpu_per_order_all: float  # with the placer and the broker


def warm_up(rig: Rig, flow: str, count: int) -> None:
    """Orders through every code path, caches and connections; excluded from figures."""
    since = stamp(system_clock())
    rig.workload.burst(rig.app.settings, flow, count,
                       lambda n: rig.reporter.progress(f"{flow}: warm-up placed", n, count),
                       rig.placers)
    rig.await_settled(flow, since, count, f"{flow}: warm-up final")
    rig.quiesce()


def burst(rig: Rig, flow: str, count: int) -> BurstResult:
    since = stamp(system_clock())
    marks, cpu = rig.marks.total(), cpu_snapshot(rig.pids)
    began = time.monotonic()
    place_rate = rig.workload.burst(
        rig.app.settings, flow, count,
        lambda n: rig.reporter.progress(f"{flow}: burst placed", n, count), rig.placers)
    rig.await_settled(flow, since, count, f"{flow}: burst final")
    visible = time.monotonic() - began
    messages = rig.quiesce() - marks
    spent = cpu_delta(cpu, cpu_snapshot(rig.pids))
    times = rig.board.times(flow, since)
    seconds = max(1e-6, (max(f for _, f in times) - min(p for p, _ in times)).total_seconds())
    services = sum(v for k, v in spent.items() if k not in SERVICE_ONLY)
    return BurstResult(flow, count, seconds, visible, count / seconds, place_rate, rig.placers,
                       messages,
                       messages / seconds, messages / count, rig.board.outcomes(flow, since),
                       spent, services / count, sum(spent.values()) / count)

"""What a bench run measures, how big, and the targets it is held against."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from domain.errors import OrderflowError

FLOWS = ("choreography", "orchestration")
# Generous deadlines: a 10,000-order burst queues for seconds, and the bench measures
# capacity, not how the saga times out under overload (the defaults are 30 s and 5 s).
ORDER_TIMEOUT = timedelta(seconds=600)
STEP_TIMEOUT = timedelta(seconds=120)


class BenchError(OrderflowError):
    """The bench could not finish: a service died, a client failed, or the pipeline stalled."""


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    orders: int = 10_000          # burst size per flow
    rate: float = 100.0           # light load, orders/s
    duration: float = 30.0        # light load, seconds
    raw_records: int = 100_000    # raw Kafka baseline
    store_events: int = 20_000    # raw store baseline (events, each with its outbox row)
    store_batch: int = 100        # events per transaction in the store baseline
    warmup: int = 200             # orders per flow before anything is measured
    stall_timeout: float = 120.0  # no progress for this long is a failure
    placers: int = 2              # placer processes in a burst
    postgres_url: str | None = None
    keep: bool = False            # keep the run's topics, schemas and data dir
    quick: bool = False

    @property
    def total_orders(self) -> int:
        light = round(self.rate * self.duration)
        return len(FLOWS) * (self.warmup + self.orders + light)


def quick(config: BenchConfig) -> BenchConfig:
    """Tiny sizes: the whole run in well under a minute."""
    return replace(config, orders=200, rate=20.0, duration=2.0, raw_records=2_000,
                   store_events=2_000, warmup=20, quick=True)


@dataclass(frozen=True)
class Target:
    name: str
    path: tuple[str, ...]   # where the measured figure sits in the result document
    threshold: float
    at_least: bool          # True: measured >= threshold; False: measured <= threshold
    unit: str


def targets(store: str) -> tuple[Target, ...]:
    """Issue 13's targets. Throughput is a ratio to the same run's raw Kafka end-to-end
    rate (orders/s ÷ records/s), so it holds on a faster or slower machine; latency is
    held at the light-load rate the run used (100/s on SQLite, 20/s on PostgreSQL)."""
    sqlite = store == "sqlite"
    orders_vs_kafka = {"choreography": 1.9 if sqlite else 0.75,
                       "orchestration": 1.1 if sqlite else 0.47}
    p99 = {"choreography": 50, "orchestration": 100}
    cpu_ms = {"choreography": 2.0, "orchestration": 3.5}
    messages = {"choreography": 7, "orchestration": 11}
    return tuple(target for flow in FLOWS for target in (
        Target(f"{flow} orders/s ÷ raw Kafka records/s", ("ratios", flow, "orders_vs_kafka"),
               orders_vs_kafka[flow], True, "%"),
        Target(f"{flow} p99 place → final", ("latency", flow, "p99_ms"), p99[flow], False,
               "ms"),
        Target(f"{flow} CPU per order (services)", ("pipeline", flow, "cpu_ms_per_order"),
               cpu_ms[flow], False, "ms"),
        Target(f"{flow} Kafka messages per order", ("pipeline", flow, "messages_per_order"),
               messages[flow], False, "msgs")))

"""Prometheus metrics of a service process, served on /metrics, and the arithmetic to read them.

The envelopes' event times (`occurred_at`, a record's CreateTime) split a message's path
in two; these histograms split it where only the process can see: the relay noticing
a row and waiting for its ack, the consumer's fetch, a batch's apply and commit. Each is
a histogram on the default registry, so an observe is about a microsecond and a scrape
costs the process nothing until someone asks.

Each service process serves them on `metrics_port(base, service)`: the base
(ORDERFLOW_METRICS_PORT) plus a fixed offset per service, so the processes of one
machine never collide and a scraper knows where each one is; base 0 serves nothing.
Only 127.0.0.1 listens, like the local broker.

Readers (the bench) scrape before and after a phase, subtract, and read quantiles by
linear interpolation inside a bucket, as PromQL's `histogram_quantile` does: a figure is
as precise as the bucket it falls in, and a histogram with no samples has no quantile
(None), never a made-up number.
"""

from __future__ import annotations

import bisect
import errno
import math
import urllib.request
from collections.abc import Iterable, Mapping

from prometheus_client import Histogram, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from domain.errors import OrderflowError

HOST = "127.0.0.1"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
                   0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# Port = ORDERFLOW_METRICS_PORT + this (adapters/settings.py METRICS_PORT_MAX leaves room).
SERVICE_PORT_OFFSETS = {"order": 0, "inventory": 1, "payment": 2, "shipping": 3,
                        "orchestrator": 4, "projector": 5, "fraud": 6}

RELAY_PICKUP_SECONDS = Histogram(
    "orderflow_relay_pickup_seconds",
    "An outbox row's created_at (its unit of work's start) to the relay reading it.",
    buckets=LATENCY_BUCKETS)
RELAY_PUBLISH_SECONDS = Histogram(
    "orderflow_relay_publish_seconds",
    "The relay's produce call to the record's delivery report (the broker's ack).",
    buckets=LATENCY_BUCKETS)
CONSUMER_FETCH_SECONDS = Histogram(
    "orderflow_consumer_fetch_seconds",
    "A record's Kafka timestamp (CreateTime, set at produce) to the poll that returned it.",
    buckets=LATENCY_BUCKETS)
BATCH_APPLY_SECONDS = Histogram(
    "orderflow_batch_apply_seconds",
    "The poll that returned a consumer batch to the commit of its transaction.",
    buckets=LATENCY_BUCKETS)
BATCH_RECORDS = Histogram(
    "orderflow_batch_records", "Records in one consumer batch.", buckets=BATCH_BUCKETS)

# The hops of the pipeline in the order a message meets them: short name → metric name.
HOPS = {"relay_pickup": "orderflow_relay_pickup_seconds",
        "relay_publish": "orderflow_relay_publish_seconds",
        "consumer_fetch": "orderflow_consumer_fetch_seconds",
        "batch_apply": "orderflow_batch_apply_seconds"}

Buckets = dict[float, float]  # upper bound (le, +Inf included) → cumulative count


class MetricsPortTaken(OrderflowError):
    """The metrics server cannot listen on its port (taken, or not allowed)."""


def metrics_port(base: int, service: str) -> int | None:
    """Where `service` serves its metrics; None when metrics are off (base 0)."""
    return None if base == 0 else base + SERVICE_PORT_OFFSETS[service]


def serve(port: int) -> None:
    """Serve the default registry on http://HOST:port/metrics from a daemon thread."""
    try:
        start_http_server(port, addr=HOST)
    except OSError as exc:
        why = "is already in use" if exc.errno == errno.EADDRINUSE else f"refused: {exc}"
        raise MetricsPortTaken(f"metrics port {port} {why} (ORDERFLOW_METRICS_PORT sets the"
                               " base port, 0 turns metrics off)") from exc


def url(port: int) -> str:
    return f"http://{HOST}:{port}/metrics"


def fetch(port: int, timeout: float = 2.0) -> str:
    """One scrape of a process's exposition text."""
    with urllib.request.urlopen(url(port), timeout=timeout) as response:
        return response.read().decode()  # type: ignore[no-any-return]


def histograms(text: str) -> dict[str, Buckets]:
    """Every histogram of an exposition text, by name (label sets summed per bound)."""
    found: dict[str, Buckets] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        buckets = found.setdefault(family.name, {})
        for sample in family.samples:
            if sample.name == f"{family.name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return found


def subtract(after: Mapping[str, Buckets], before: Mapping[str, Buckets]) -> dict[str, Buckets]:
    """What happened between two scrapes of one process. A histogram whose total went
    down was reset (the process restarted): everything it holds is new, as in PromQL."""
    delta: dict[str, Buckets] = {}
    for name, buckets in after.items():
        earlier = before.get(name, {})
        reset = _total(buckets) < _total(earlier)
        delta[name] = {bound: count - (0.0 if reset else earlier.get(bound, 0.0))
                       for bound, count in buckets.items()}
    return delta


def merge(histograms: Iterable[Buckets]) -> Buckets:
    """Several processes' histograms of one metric as one (same buckets)."""
    merged: Buckets = {}
    for buckets in histograms:
        for bound, count in buckets.items():
            merged[bound] = merged.get(bound, 0.0) + count
    return merged


def quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """The q-quantile (0 ≤ q ≤ 1), interpolated linearly inside its bucket as PromQL's
    histogram_quantile does (the first bucket starts at 0; a rank in the +Inf bucket is
    the highest finite bound). None: no samples."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    bounds = sorted(buckets)
    if not bounds or not math.isinf(bounds[-1]):
        raise ValueError("a histogram needs its +Inf bucket")
    counts = [buckets[b] for b in bounds]
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    index = max(bisect.bisect_left(counts, rank), next(i for i, c in enumerate(counts) if c > 0))
    if index == len(bounds) - 1:
        return bounds[-2] if len(bounds) > 1 else None
    start = 0.0 if index == 0 else bounds[index - 1]
    below = 0.0 if index == 0 else counts[index - 1]
    return start + (bounds[index] - start) * (rank - below) / (counts[index] - below)


def samples(buckets: Mapping[float, float]) -> int:
    """How many observations a histogram holds."""
    return round(_total(buckets))


def _total(buckets: Mapping[float, float]) -> float:
    return buckets.get(math.inf, 0.0)

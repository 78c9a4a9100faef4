"""Where light-load latency is spent inside the services, from their /metrics.

`hops.py` splits a message's path by event times; the services' histograms
(adapters/metrics.py) split it where only a process can see:

- **relay pick-up**: an outbox row's `created_at` (its unit of work's start, so the
  handler and the COMMIT are in it) to the relay reading it;
- **relay publish**: the produce call to its delivery report (acks=all);
- **consumer fetch**: a record's CreateTime to the poll that returned it;
- **apply → commit**: that poll to the commit of the batch's transaction.

Every service's /metrics is scraped just before and just after the phase, and the
difference is the phase's. Pick-up and publish sum every service's relay, fetch and
apply every consumer (the projector's included). Quantiles are interpolated inside a
bucket as PromQL's histogram_quantile does, so a figure is as precise as its bucket; a
hop with no samples (a histogram nobody observes yet) is None, never a number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.error import URLError

from adapters import metrics
from adapters.metrics import HOPS, Buckets

logger = logging.getLogger(__name__)
Scrape = dict[str, Buckets]


@dataclass(frozen=True)
class ServiceHops:
    # per hop (adapters.metrics.HOPS' keys): p50_ms, p99_ms (None: no samples), samples
    hops: dict[str, dict[str, float | None]]
    by_service: dict[str, dict[str, float | None]]  # service → hop → p50 ms (None: none)
    unscraped: list[str]  # services whose /metrics did not answer, left out of the figures


class MetricsProbe:
    """Scrapes every service when opened (before a phase) and again when read (after)."""

    def __init__(self, base_port: int, services: Sequence[str]) -> None:
        self.ports = {s: port for s in services
                      if (port := metrics.metrics_port(base_port, s)) is not None}
        self.before = _scrape_all(self.ports)

    def read(self) -> ServiceHops:
        after = _scrape_all(self.ports)
        answered = sorted(s for s in self.ports if s in self.before and s in after)
        phase = {s: metrics.subtract(after[s], self.before[s]) for s in answered}
        return ServiceHops(hops=_figures(list(phase.values())),
                           by_service={s: _p50s(phase[s]) for s in answered},
                           unscraped=sorted(set(self.ports) - set(answered)))


def _figures(scrapes: Sequence[Scrape]) -> dict[str, dict[str, float | None]]:
    """p50 and p99 of each hop over every process, and how many samples it had."""
    merged = {hop: metrics.merge(s.get(name, {}) for s in scrapes)
              for hop, name in HOPS.items()}
    return {hop: {"p50_ms": _ms(metrics.quantile(0.5, b) if b else None),
                  "p99_ms": _ms(metrics.quantile(0.99, b) if b else None),
                  "samples": metrics.samples(b)}
            for hop, b in merged.items()}


def _p50s(scrape: Scrape) -> dict[str, float | None]:
    return {hop: _ms(metrics.quantile(0.5, scrape[name]) if name in scrape else None)
            for hop, name in HOPS.items()}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def _scrape_all(ports: Mapping[str, int]) -> dict[str, Scrape]:
    """Each service's histograms; one that does not answer is left out (and logged)."""
    found: dict[str, Scrape] = {}
    for service, port in ports.items():
        try:
            found[service] = metrics.histograms(metrics.fetch(port))
        except (URLError, OSError, ValueError) as exc:
            logger.warning("bench: %s's /metrics on port %d did not answer: %s", service,
                           port, exc)
    return found

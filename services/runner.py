"""One deployable service in one process: its outbox relay, its consumer, its timers.

Each part is a loop that survives store and Kafka errors (adapters/retry.py); a part
that still dies stops the process with exit code 1, and the supervisor that started it
(`up`, `demo`, `run A B`) starts it again.

SIGINT/SIGTERM stop it cleanly: the consumer finishes its batch and commits, leaves
the group, and the relay flushes what it has produced.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.kafka.consumer import ConsumerRuntime
from adapters.retry import backoff, log_retry
from adapters.sql.batches import BatchHandler, Handler, Interest, everything
from services.signals import install_stop_handlers

logger = logging.getLogger(__name__)

Ticker = Callable[[], int]  # does due work, returns how much
# The parts hand work to each other (a consumer's commit wakes the relay): with Python's
# default 5 ms, each hand-off waited up to 5 ms for the interpreter lock (issue 13).
SWITCH_INTERVAL = 0.0005


@dataclass(kw_only=True)
class ServicePlan:
    """What one service runs: the store it relays, what it consumes, what it ticks."""

    name: str
    relay_store: str | None
    topics: list[str] = field(default_factory=list)
    handler: Handler | None = None
    tickers: list[Ticker] = field(default_factory=list)
    wants: Interest = everything  # messages it ignores skip the handler and the bookkeeping
    batch_handler: BatchHandler | None = None  # same effects as `handler`, fewer statements


class ServiceProcess:
    def __init__(self, plan: ServicePlan, relay: Callable[[threading.Event], None] | None,
                 consumer: ConsumerRuntime | None, stop: threading.Event | None = None) -> None:
        self.plan, self.relay, self.consumer = plan, relay, consumer
        self.stop = stop or threading.Event()
        self.failed: list[BaseException] = []

    def serve(self) -> int:
        """Run until SIGINT/SIGTERM (or a part fails); return the process exit code."""
        install_stop_handlers(self.stop)
        sys.setswitchinterval(SWITCH_INTERVAL)
        threads = [threading.Thread(target=self._guard, args=(target,), name=name, daemon=True)
                   for name, target in self._parts()]
        for thread in threads:
            thread.start()
        logger.info("%s: running (%s)", self.plan.name, ", ".join(t.name for t in threads))
        while not self.stop.wait(0.5):
            pass
        for thread in threads:
            thread.join(timeout=30)
        logger.info("%s: stopped", self.plan.name)
        return 1 if self.failed else 0

    def _parts(self) -> list[tuple[str, Callable[[], None]]]:
        parts: list[tuple[str, Callable[[], None]]] = []
        if self.relay is not None:
            relay = self.relay
            parts.append((f"{self.plan.name}-relay", lambda: relay(self.stop)))
        if self.consumer is not None:
            consumer = self.consumer
            parts.append((f"{self.plan.name}-consumer", lambda: consumer.run(self.stop)))
        if self.plan.tickers:
            parts.append((f"{self.plan.name}-timers", self._tick))
        return parts

    def _tick(self) -> None:
        failures = 0
        while not self.stop.is_set():
            if self.consumer is not None and not self.consumer.caught_up.is_set():
                self.stop.wait(0.1)  # judge deadlines only once the backlog is applied
                continue
            try:
                busy = sum(ticker() for ticker in self.plan.tickers)
                failures = 0
            except Exception as exc:  # a timer's row stays due: it fires on a later tick
                failures += 1
                log_retry(logger, f"{self.plan.name}: timers", exc, failures)
                self.stop.wait(backoff(failures))
                continue
            self.stop.wait(0.0 if busy else 0.2)

    def _guard(self, target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:
            logger.exception("%s: %s failed: %s", self.plan.name,
                             threading.current_thread().name, exc)
            self.failed.append(exc)
            self.stop.set()

"""The exactly-once-effects consumer runtime: a partition source, a batch applier, a loop.

One database transaction per batch holds the handlers' effects (events, outbox rows,
read-model rows) AND the group's positions (adapters/sql/batches.py). On assignment
the source seeks to the stored positions, so Kafka redelivery changes nothing; Kafka
offset commits happen after the database commit and are advisory only
(adapters/kafka/source.py). Stored positions only move forward.

A batch that fails as a whole (an outage: the store or the broker is away) is rolled
back, its partitions are rewound to the applied positions, and the loop backs off and
tries again, for as long as it takes; nothing is lost. Poison becomes a dead letter in
the batch's own transaction and the partition moves on. No Kafka I/O happens inside a
transaction. The loop survives every error; a thread that still dies takes the
process with it, and whoever started it restarts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import Consumer
from sqlalchemy import Engine

from adapters import metrics
from adapters.credentials import Kafka
from adapters.kafka.client import consumer_config
from adapters.kafka.source import REJOIN_DEADLINE, ClientFactory, PartitionSource
from adapters.records import Record
from adapters.retry import backoff, log_retry
from adapters.sql.batches import BatchApplier, BatchHandler, Handler, Interest, everything

logger = logging.getLogger(__name__)


class ConsumerRuntime:
    def __init__(self, *, engine: Engine, bootstrap: Kafka, group: str, topics: Sequence[str],
                 handler: Handler, wants: Interest = everything,
                 batch_handler: BatchHandler | None = None, batch_size: int = 500,
                 name: str = "consumer", client_overrides: dict[str, Any] | None = None,
                 rejoin_deadline: float = REJOIN_DEADLINE, notice_prefix: str | None = None,
                 client_factory: ClientFactory = Consumer) -> None:
        self.engine, self.group, self.name, self.batch_size = engine, group, name, batch_size
        self._stop = threading.Event()
        self.applier = BatchApplier(engine=engine, group=group, handler=handler, wants=wants,
                                    batch_handler=batch_handler, name=name,
                                    notice_prefix=notice_prefix)
        self.source = PartitionSource(
            config=consumer_config(bootstrap, group, **(client_overrides or {})),
            topics=topics, name=name, client_factory=client_factory,
            stored=lambda keys: self.applier.stored_positions(keys, self._stop),
            revoked=self.applier.forget, rejoin_deadline=rejoin_deadline)
        self.processed = 0

    @property
    def caught_up(self) -> threading.Event:
        return self.source.caught_up

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        self.source.subscribe()
        logger.info("%s: group %s consuming %s", self.name, self.group,
                    ", ".join(self.source.topics))
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.poll_once(timeout=0.2)
                    self.source.replace_if_stuck()
                    failures = 0
                except Exception as exc:  # rolled back and rewound: nothing is lost
                    failures += 1
                    log_retry(logger, f"{self.name}: batch", exc, failures)
                    stop.wait(backoff(failures))
        finally:
            self.applier.save_skipped_quietly()
            self.source.close()

    def poll_once(self, timeout: float) -> int:
        """Apply one batch: block for its first record, then take what is fetched."""
        records = self.source.poll(timeout, self.batch_size)
        if not records:
            self.applier.idle()
            return 0
        polled = time.time()
        try:
            positions = self.applier.apply(records)
        except Exception:
            self.source.rewind(records)
            raise
        self.source.advance(positions)
        self.processed += len(records)
        _observe(records, polled, time.time())
        return len(records)

    def close(self) -> None:
        self.source.close()


def _observe(records: Sequence[Record], polled: float, committed: float) -> None:
    """Fetch (produced → polled, per record) and apply-to-commit (per batch)."""
    metrics.BATCH_RECORDS.observe(len(records))
    metrics.BATCH_APPLY_SECONDS.observe(committed - polled)
    for record in records:
        if record.timestamp_ms is not None:
            metrics.CONSUMER_FETCH_SECONDS.observe(max(0.0, polled - record.timestamp_ms / 1000))

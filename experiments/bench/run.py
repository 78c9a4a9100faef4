"""One bench run, start to finish: a fresh prefix and data dir, the raw baselines on
a quiet machine, then every service as its own process, warm-up, bursts, light load.

Whatever happens (Ctrl-C included) the services are stopped; the run's topics,
schemas and data are removed unless kept, and a failed run keeps its logs.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from adapters.credentials import ADMIN
from adapters.kafka.errors import BrokerError
from adapters.kafka.topics import topic_specs
from adapters.settings import Settings
from experiments.bench import kafka
from experiments.bench.config import FLOWS, ORDER_TIMEOUT, STEP_TIMEOUT, BenchConfig
from experiments.bench.env import child_environ, machine, run_settings
from experiments.bench.latency import LatencyResult, light_load
from experiments.bench.pipeline import BurstResult, burst, warm_up
from experiments.bench.procs import Fleet, peak_rss_mib
from experiments.bench.results import Document, document
from experiments.bench.rig import Reporter, Rig
from experiments.bench.store import Board, StoreBaseline, drop_schemas, store_baseline
from experiments.bench.workload import Placed, Workload, sample_orders, sample_record
from services.bootstrap import SERVICES, Orderflow, bootstrap

logger = logging.getLogger(__name__)


@dataclass
class Bench:
    base: Settings
    config: BenchConfig
    reporter: Reporter
    tag: str = ""

    def run(self) -> Document:
        self.tag = uuid.uuid4().hex[:8]
        address, started_broker = bootstrap(self.base).ensure_broker()
        settings = run_settings(self.base, self.tag, address)
        app = bootstrap(settings)
        fleet = Fleet(SERVICES, child_environ(settings), settings.data_dir / "logs")
        ok = False
        try:
            result = self._measure(app, fleet, started_broker)
            ok = True
            return result
        finally:
            app.close()  # first: an interrupted placer must not hold a store's write lock
            fleet.stop()
            self._clean(settings, remove_data=ok)
            if started_broker:
                self.reporter.note(f"broker: {app.broker().stop()}")

    def _measure(self, app: Orderflow, fleet: Fleet, started_broker: bool) -> Document:
        began = time.monotonic()
        meta = self._meta(app.settings, started_broker)
        workload = self._prepare(app)
        kafka_base, stores = self._baselines(app)
        fleet.start()
        _await_groups(app, fleet)
        self.reporter.note(f"{len(SERVICES)} services running; logs in {fleet.log_dir}")
        rig = self._rig(app, fleet, workload)
        try:
            bursts, latencies = self._phases(rig)
            memory = {name: peak_rss_mib(pid) for name, pid in rig.pids.items()}
        finally:
            rig.marks.close()
        meta |= {"finished_at": _now(), "seconds": time.monotonic() - began,
                 "load_after": os.getloadavg()[0]}
        return document(meta, kafka_base, stores, bursts, latencies, memory)

    def _prepare(self, app: Orderflow) -> Workload:
        app.upgrade()
        app.create_topics()
        workload = Workload.for_run(app.catalog, self.tag, self.config.total_orders)
        total = len(workload.customers)
        workload.seed(app.inventory(), app.payment(),
                      lambda n: self.reporter.progress("seeding customers", n, total))
        return workload

    def _baselines(self, app: Orderflow) -> tuple[kafka.KafkaBaseline, list[StoreBaseline]]:
        value, headers = sample_record(app.catalog)
        records = self.config.raw_records
        kafka_base = kafka.kafka_baseline(
            app.settings.kafka(ADMIN), app.topic("raw"), value, headers, records,
            lambda n: self.reporter.progress("raw Kafka produce → consume", n, 2 * records))
        self.reporter.note(f"raw Kafka: {kafka_base.end_to_end_per_s:,.0f} records/s")
        orders = sample_orders(app.catalog, self.config.store_events)
        stores = [self._store(settings, orders) for settings in self._scratch(app.settings)]
        return kafka_base, stores

    def _store(self, settings: Settings, orders: list[Placed]) -> StoreBaseline:
        kind = "postgresql" if settings.is_postgres else "sqlite"
        baseline = store_baseline(
            settings, orders, self.config.store_batch,
            lambda n: self.reporter.progress(f"raw {kind} append", n, len(orders)))
        self.reporter.note(f"raw {kind}: {baseline.rows_per_s:,.0f} rows/s")
        return baseline

    def _scratch(self, settings: Settings) -> list[Settings]:
        """Scratch stores for the store baselines: SQLite always, PostgreSQL if known."""
        prefix = f"bench-{self.tag}-raw."
        sqlite = replace(settings, database_url=None, data_dir=settings.data_dir / "scratch",
                         topic_prefix=prefix)
        url = self._postgres_url()
        return [sqlite] + ([replace(settings, database_url=url, topic_prefix=prefix)]
                           if url else [])

    def _postgres_url(self) -> str | None:
        return self.config.postgres_url or (self.base.database_url
                                            if self.base.is_postgres else None)

    def _rig(self, app: Orderflow, fleet: Fleet, workload: Workload) -> Rig:
        pids = fleet.pids() | {"bench placer": os.getpid()}
        broker = app.broker().status()
        if broker.pid is not None and broker.address == app.settings.bootstrap_servers:
            pids["broker"] = broker.pid
        marks = kafka.Watermarks(app.settings.kafka(ADMIN),
                                 [s.name for s in topic_specs(app.settings.topic_prefix)])
        return Rig(app, Board(app.store("projector")), fleet, workload, marks, self.reporter,
                   pids, self.config.stall_timeout, self.config.placers)

    def _phases(self, rig: Rig) -> tuple[list[BurstResult], list[LatencyResult]]:
        bursts: list[BurstResult] = []
        for flow in FLOWS:
            warm_up(rig, flow, self.config.warmup)
            bursts.append(burst(rig, flow, self.config.orders))
            self.reporter.note(f"{flow}: {bursts[-1].orders_per_s:,.0f} orders/s")
        latencies = [light_load(rig, flow, self.config.rate, self.config.duration)
                     for flow in FLOWS]
        return bursts, latencies

    def _meta(self, settings: Settings, started_broker: bool) -> Document:
        config = asdict(self.config) | {"postgres_url": bool(self._postgres_url())}
        return {"id": self.tag, "started_at": _now(), "machine": machine(),
                "load_before": os.getloadavg()[0],
                "store": "postgresql" if settings.is_postgres else "sqlite",
                "broker": settings.bootstrap_servers, "broker_started": started_broker,
                "topic_prefix": settings.topic_prefix, "config": config,
                "order_timeout_s": ORDER_TIMEOUT.total_seconds(),
                "step_timeout_s": STEP_TIMEOUT.total_seconds()}

    def _clean(self, settings: Settings, remove_data: bool) -> None:
        """Remove what the run made; a failure here is logged, never masks the run's own."""
        if self.config.keep:
            self.reporter.note(f"kept topics {settings.topic_prefix}* and {settings.data_dir}")
            return
        try:
            kafka.delete_topics(settings.kafka(ADMIN), f"bench-{self.tag}")
            url = self._postgres_url()
            if url:
                drop_schemas(url, f"bench_{self.tag}")
        except Exception as exc:
            logger.warning("bench %s: cleaning up failed: %s", self.tag, exc)
        if remove_data:
            shutil.rmtree(settings.data_dir, ignore_errors=True)


def _await_groups(app: Orderflow, fleet: Fleet, timeout: float = 90.0) -> None:
    """Every service's consumer group joined; a service that died says so at once."""
    deadline = time.monotonic() + timeout
    while True:
        fleet.check()
        try:
            app.wait_for_groups(list(SERVICES), timeout=5)
            return
        except BrokerError:
            if time.monotonic() > deadline:
                raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

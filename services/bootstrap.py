"""The one wiring point: builds stores, brokers and clients from settings.

The CLI, the services and the tests all go through `bootstrap(settings)`; nothing
here runs at import time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from adapters import faults
from adapters.catalog import load_catalog
from adapters.kafka import admin, tutorial
from adapters.kafka.broker import LocalBroker
from adapters.kafka.consumer import ConsumerRuntime
from adapters.kafka.topics import topic_name, topic_specs
from adapters.relay import OutboxRelay
from adapters.settings import Settings
from adapters.sql import migrate, retention
from adapters.sql.engine import STORES, make_engine, schema_name, sqlite_path
from adapters.sql.event_store import EventStore
from domain.catalog import Catalog
from domain.errors import OrderflowError
from projections.projector import Projector
from projections.read_models import ReadModels
from services.clock import Clock, system_clock
from services.compare import HAPPY_SKU, SCARCE_SKU, Comparison, Progress, run_id
from services.inventory import Inventory
from services.orchestrator import Orchestrator
from services.order import Orders
from services.payment import Payment
from services.runner import ServicePlan, ServiceProcess
from services.shipping import Shipping

SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator", "projector")


class UnknownService(OrderflowError):
    """A service name that orderflow does not have."""


@dataclass
class Orderflow:
    settings: Settings
    clock: Clock = system_clock
    _engines: dict[str, Engine] = field(default_factory=dict)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog()

    @cached_property
    def event_store(self) -> EventStore:
        return EventStore(self.settings.topic_prefix)

    def orders(self) -> Orders:
        return Orders(self.store("order"), self.event_store, self.clock, self.catalog,
                      self.settings.order_timeout, self.settings.topic_prefix)

    def inventory(self) -> Inventory:
        return Inventory(self.store("inventory"), self.event_store, self.clock,
                         self.settings.topic_prefix)

    def payment(self) -> Payment:
        return Payment(self.store("payment"), self.event_store, self.clock,
                       self.settings.topic_prefix)

    def shipping(self) -> Shipping:
        return Shipping(self.store("shipping"), self.event_store, self.clock,
                        self.settings.topic_prefix, self.catalog.served_countries)

    def orchestrator(self) -> Orchestrator:
        return Orchestrator(self.store("orchestrator"), self.event_store, self.clock,
                            self.settings.topic_prefix, self.settings.step_timeout)

    def comparison(self, batch_size: int, timeout: float, progress: Progress) -> Comparison:
        """Seed this run's customers and stock, and aim a comparison at the live system."""
        tag = run_id()
        customers = {kind: f"cmp-{tag}-{kind}" for kind in ("rich", "poor", "nobody")}
        inventory, payment = self.inventory(), self.payment()
        inventory.add_stock(HAPPY_SKU, 2 * (batch_size + 10))
        if inventory.stock(SCARCE_SKU).version == 0:
            inventory.add_stock(SCARCE_SKU, 1)  # stocked, but never 10,000
        payment.set_credit(customers["rich"], 10**11)
        payment.set_credit(customers["poor"], 100)
        return Comparison(self.orders(), self.read_models(), customers,
                          self.settings.topic_prefix, batch_size, timeout, progress)

    def plan(self, service: str) -> ServicePlan:
        match service:
            case "order":
                return self.orders().plan()
            case "inventory":
                return self.inventory().plan()
            case "payment":
                return self.payment().plan()
            case "shipping":
                return self.shipping().plan()
            case "orchestrator":
                return self.orchestrator().plan()
            case "projector":
                self.store("projector")
                projector = self.projector()
                return ServicePlan("projector", "projector", projector.topics, projector.handle,
                                   batch_handler=projector.handle_batch)
        raise UnknownService(f"unknown service {service!r}; choose from {', '.join(SERVICES)}")

    def service_process(self, service: str, stop: threading.Event | None = None) -> ServiceProcess:
        plan = self.plan(service)
        relay = self.relay(plan.relay_store).run if plan.relay_store else None
        consumer = self.consumer(plan) if plan.handler is not None else None
        if consumer is not None:  # its store holds the group's processed ids (and the outbox)
            plan.tickers.append(retention.pruner(consumer.engine, self.settings.retention,
                                                 system_clock))  # the clock that stamps them
        return ServiceProcess(plan, relay, consumer, stop)

    def consumer(self, plan: ServicePlan) -> ConsumerRuntime:
        """The consumer runtime of a service's plan, in the service's own group."""
        assert plan.handler is not None, f"{plan.name} consumes nothing"
        return ConsumerRuntime(engine=self.store(plan.relay_store or "projector"),
                               bootstrap=self.settings.bootstrap_servers,
                               group=self.group(plan.name), topics=plan.topics,
                               handler=plan.handler, wants=plan.wants,
                               batch_handler=plan.batch_handler, name=plan.name)

    def read_models(self) -> ReadModels:
        return ReadModels(self.store("projector"))

    def projector(self) -> Projector:
        return Projector(self.settings.topic_prefix)

    def group(self, service: str) -> str:
        """Consumer group of a service; the topic prefix isolates runs."""
        return f"{self.settings.topic_prefix}orderflow.{service}"

    def relay(self, store: str) -> OutboxRelay:
        return OutboxRelay(self.store(store), self.settings.bootstrap_servers,
                           name=f"{store}-relay")

    def topic(self, base: str) -> str:
        return topic_name(self.settings.topic_prefix, base)

    def broker(self, port: int | None = None) -> LocalBroker:
        return LocalBroker(cache_dir=self.settings.cache_dir,
                           port=port or self.settings.first_broker_port)

    def ensure_broker(self) -> tuple[str, bool]:
        """A broker that answers: the configured one, or the local one started now.
        Returns (address, started_here)."""
        if admin.probe(self.settings.bootstrap_servers.split(",")[0]) is admin.PortState.KAFKA:
            return self.settings.bootstrap_servers, False
        status, started = self.broker().start()
        return status.address, started

    def wait_for_groups(self, services: list[str], timeout: float = 60.0) -> None:
        """Block until every service's consumer group has joined (stable, with members)."""
        admin.wait_stable(self.settings.bootstrap_servers,
                          [self.group(s) for s in services], timeout)

    def require_broker(self) -> None:
        admin.require_broker(self.settings.bootstrap_servers)

    def create_topics(self) -> admin.TopicReport:
        self.require_broker()
        return admin.create_topics(self.settings.bootstrap_servers,
                                   topic_specs(self.settings.topic_prefix))

    def schema(self, store: str) -> str | None:
        return schema_name(self.settings, store) if self.settings.is_postgres else None

    def engine(self, store: str) -> Engine:
        if store not in self._engines:
            self._engines[store] = make_engine(self.settings, store)
        return self._engines[store]

    def upgrade(self) -> dict[str, str]:
        return {s: migrate.upgrade(self.engine(s), s, self.schema(s)) for s in STORES}

    def prune(self) -> dict[str, retention.Pruned]:
        """Prune every store now; all are checked first, so a refusal deletes nothing."""
        engines = {s: self.store(s) for s in STORES}
        now = system_clock()  # the wall clock stamps processed_at and published_at
        return {s: retention.prune(e, self.settings.retention, now) for s, e in engines.items()}

    def store(self, store: str) -> Engine:
        """The engine of a store that must already be migrated."""
        if not self.settings.is_postgres and not sqlite_path(self.settings, store).exists():
            raise migrate.NotMigrated(f"the {store} store does not exist yet;"
                                      " run `orderflow db upgrade`")
        engine = self.engine(store)
        migrate.ensure_migrated(engine, store, self.schema(store))
        return engine

    def run_tutorial(self, listen_status: str, timeout: float) -> Iterator[str]:
        self.require_broker()
        return tutorial.run_tutorial(self.settings.bootstrap_servers, self.topic("orders"),
                                     listen_status, timeout)

    def listen(self, listen_status: str, from_beginning: bool, timeout: float) -> Iterator[str]:
        self.require_broker()
        return tutorial.listen(self.settings.bootstrap_servers, self.topic("orders"),
                               listen_status, from_beginning=from_beginning,
                               idle_timeout=timeout)

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


def bootstrap(settings: Settings | None = None) -> Orderflow:
    return Orderflow(settings or Settings.from_env(), faults.skewed(system_clock))

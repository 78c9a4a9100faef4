"""The one wiring point: builds stores, brokers, clients and services from settings.

The CLI, the service processes, the experiments and the tests all go through
`bootstrap(settings)`. Nothing is built at import time, and nothing heavy is imported
then either: each factory imports what it builds (SQLAlchemy, Alembic, confluent-kafka,
the service modules) when it is first called, so a command that needs only the catalog
or one read model does not pay for Kafka clients and every service (`orderflow bench
--cli` measures it; a unit test checks which modules `import cli.app` loads).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from adapters import faults
from adapters.catalog import load_catalog
from adapters.credentials import ADMIN
from adapters.kafka.topics import topic_name, topic_specs
from adapters.settings import Settings
from domain.catalog import Catalog
from domain.errors import OrderflowError
from services.clock import Clock, system_clock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from adapters.kafka.acl import Access, Applied, Plan
    from adapters.kafka.admin import TopicReport
    from adapters.kafka.broker import LocalBroker
    from adapters.kafka.consumer import ConsumerRuntime
    from adapters.kafka.tail import Seen
    from adapters.relay import OutboxRelay
    from adapters.sql.event_store import EventStore
    from adapters.sql.retention import Pruned
    from adapters.sql.roles import Provisioned
    from adapters.sql.unit_of_work import StoreUnits
    from projections.live import Process
    from projections.projector import Projector
    from projections.read_models import ReadModels
    from services.dead_letters import DeadLetters
    from services.fraud import Fraud
    from services.health import Health
    from services.inventory import Inventory
    from services.lag import Lag
    from services.orchestrator import Orchestrator
    from services.order import Orders
    from services.payment import Payment
    from services.port import MessageTable
    from services.runner import ServicePlan, ServiceProcess
    from services.shipping import Shipping
    from services.topology import Topology

SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator", "projector")
# The service of each optional saga step (ORDERFLOW_STEPS): deployed only when switched on.
STEP_SERVICES = {"fraud": "fraud"}
KNOWN_SERVICES = (*SERVICES, *STEP_SERVICES.values())
CLI_DELIVERY_TIMEOUT_MS = 30_000  # a command waits this long for a broker away, then reports


class UnknownService(OrderflowError):
    """A service name that orderflow does not have."""


class NotDeployed(OrderflowError):
    """A known service this deployment does not run: in its flows and steps it would
    have nothing to do (the orchestrator under choreography, fraud without the step)."""


@dataclass
class Orderflow:
    settings: Settings
    clock: Clock = system_clock
    _engines: dict[str, Engine] = field(default_factory=dict)
    _cli_relays: dict[str, OutboxRelay] = field(default_factory=dict)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog()

    @cached_property
    def event_store(self) -> EventStore:
        from adapters.sql.event_store import EventStore
        return EventStore(self.settings.topic_prefix)

    def units(self, store: str) -> StoreUnits:
        """The unit-of-work port on one service's store."""
        from adapters.sql.unit_of_work import StoreUnits
        return StoreUnits(lambda: self.store(store), self.event_store, self.clock)

    def orders(self, timeout: timedelta | None = None) -> Orders:
        """The order service; `timeout` overrides the configured deadline of the orders it
        places (compare's timeout path places a few with a short one)."""
        from services.order import Orders
        return Orders(self.units("order"), self.catalog, timeout or self.settings.order_timeout,
                      self.settings.steps, self.settings.flows)

    def inventory(self) -> Inventory:
        from services.inventory import Inventory
        return Inventory(self.units("inventory"), self.settings.steps)

    def payment(self) -> Payment:
        from services.payment import Payment
        return Payment(self.units("payment"), self.settings.steps)

    def fraud(self) -> Fraud:
        from services.fraud import Fraud
        return Fraud(self.units("fraud"))

    def shipping(self) -> Shipping:
        from services.shipping import Shipping
        return Shipping(self.catalog.served_countries)

    def orchestrator(self) -> Orchestrator:
        from services.orchestrator import Orchestrator
        return Orchestrator(self.units("orchestrator"), self.settings.step_timeout,
                            steps=self.settings.steps)

    def deployed(self) -> list[str]:
        """The services this deployment runs: the core six, plus each optional step's,
        less those with nothing to do in its flows (the orchestrator under choreography)."""
        services = [*SERVICES, *(STEP_SERVICES[s] for s in sorted(self.settings.steps))]
        return [s for s in services if s == "projector" or self.messages(s).rows()]

    def messages(self, service: str) -> MessageTable:
        """A service's message table: what it does (`orderflow run SERVICE --describe`)."""
        factory = _SERVICE_FACTORIES.get(service)
        if factory is None:
            raise UnknownService(f"unknown service {service!r}; "
                                 f"choose from {', '.join(KNOWN_SERVICES)}")
        return factory(self).messages().only(self.settings.flows)

    def acted_on(self, flow: str) -> set[str]:
        """Wire types some service's message table has a row for in `flow`: the messages
        that coordinate the saga (the rest only feed the read models)."""
        from adapters.registry import BY_CLASS
        return {BY_CLASS[cls].wire for service in self.deployed() if service in _SERVICE_FACTORIES
                for row_flow, cls, _ in self.messages(service).rows() if row_flow == flow}

    def describe(self, service: str) -> list[dict[str, str]]:
        """What a service does, row by row, from its message table (the projector: which
        read model each event feeds)."""
        from adapters.registry import BY_CLASS
        if service == "projector":
            from projections.projector import VIEWS
            return [{"flow": "any", "on": BY_CLASS[cls].wire, "handler": view.__name__,
                     "does": f"{view.__module__.rsplit('.', 1)[-1]}: {_summary(view)}"}
                    for cls, view in VIEWS.items()]
        table = self.messages(service)
        return [{"flow": flow, "on": BY_CLASS[cls].wire, "handler": handler.__name__,
                 "does": _summary(handler)} for flow, cls, handler in table.rows()] + \
               [{"flow": "-", "on": "time passes", "handler": timer.__name__,
                 "does": _summary(timer)} for timer in table.timers]

    def plan(self, service: str) -> ServicePlan:
        from services.applier import TableApplier
        from services.runner import ServicePlan
        if service == "projector":
            return self._projector_plan()
        table = self.messages(service)
        self.store(service)  # the store must be migrated (shipping's units are not built)
        applier = TableApplier(table, self.event_store, self.clock)
        return ServicePlan(name=service, relay_store=service,
                           topics=table.topics(self.settings.topic_prefix),
                           handler=applier.handle, batch_handler=applier.apply,
                           wants=applier.wants, tickers=list(table.timers))

    def _projector_plan(self) -> ServicePlan:
        from services.runner import ServicePlan
        self.store("projector")
        projector = self.projector()
        return ServicePlan(name="projector", relay_store="projector", topics=projector.topics,
                           handler=projector.handle, batch_handler=projector.handle_batch)

    def require_deployed(self, service: str) -> None:
        if service not in self.deployed():
            flows = "both" if len(self.settings.flows) > 1 else next(iter(self.settings.flows))
            steps = ",".join(sorted(self.settings.steps)) or "none"
            raise NotDeployed(f"{service} is not deployed with ORDERFLOW_FLOWS={flows} and"
                              f" ORDERFLOW_STEPS={steps}: it would have nothing to do")

    def service_process(self, service: str, stop: threading.Event | None = None) -> ServiceProcess:
        from adapters.sql import retention
        from services.runner import ServiceProcess
        self.require_deployed(service)
        plan = self.plan(service)
        relay = self.relay(plan.relay_store).run if plan.relay_store else None
        consumer = self.consumer(plan) if plan.handler is not None else None
        if consumer is not None:  # its store holds the group's processed ids (and the outbox)
            plan.tickers.append(retention.pruner(consumer.engine, self.settings.retention,
                                                 system_clock))  # the clock that stamps them
        return ServiceProcess(plan, relay, consumer, stop)

    def consumer(self, plan: ServicePlan) -> ConsumerRuntime:
        """The consumer runtime of a service's plan, in the service's own group."""
        from adapters.kafka.consumer import ConsumerRuntime
        assert plan.handler is not None, f"{plan.name} consumes nothing"
        return ConsumerRuntime(engine=self.store(plan.relay_store or "projector"),
                               bootstrap=self.settings.kafka(plan.name),
                               group=self.group(plan.name), topics=plan.topics,
                               handler=plan.handler, wants=plan.wants,
                               batch_handler=plan.batch_handler, name=plan.name,
                               notice_prefix=self.settings.topic_prefix)

    def read_models(self) -> ReadModels:
        from projections.read_models import ReadModels
        return ReadModels(self.store("projector"))

    def projector(self) -> Projector:
        from projections.projector import Projector
        return Projector(self.settings.topic_prefix)

    def group(self, service: str) -> str:
        """Consumer group of a service; the topic prefix isolates runs."""
        return f"{self.settings.topic_prefix}orderflow.{service}"

    def relay(self, store: str) -> OutboxRelay:
        from adapters.relay import OutboxRelay
        return OutboxRelay(self.store(store), self.settings.kafka(store),  # runs as the
                           name=f"{store}-relay")  # service whose store it publishes

    def topic(self, base: str) -> str:
        return topic_name(self.settings.topic_prefix, base)

    def broker(self, port: int | None = None, nodes: int | None = None,
               secure: bool | None = None) -> LocalBroker:
        """The local cluster; by default as many nodes as KAFKA_BOOTSTRAP_SERVERS names,
        secured when the settings say SASL (adapters/credentials.py)."""
        from adapters.kafka.broker import LocalBroker
        return LocalBroker(cache_dir=self.settings.cache_dir,
                           port=port or self.settings.first_broker_port,
                           nodes=nodes or len(self.settings.bootstrap_servers.split(",")),
                           secure=self.settings.kafka_security.sasl if secure is None else secure)

    def ensure_broker(self) -> tuple[str, bool]:
        """A broker that answers: the configured one, or the local one started now.
        Returns (address, started_here)."""
        from adapters.kafka import admin
        if admin.probe(self.settings.kafka(ADMIN)) is admin.PortState.KAFKA:
            return self.settings.bootstrap_servers, False
        status, started = self.broker().start()
        return status.address, started

    def wait_for_groups(self, services: list[str], timeout: float = 60.0) -> None:
        """Block until every service's consumer group has joined (stable, with members)."""
        from adapters.kafka import admin
        admin.wait_stable(self.settings.kafka(ADMIN),
                          [self.group(s) for s in services], timeout)

    def require_broker(self) -> None:
        from adapters.kafka import admin
        admin.require_broker(self.settings.kafka())

    def create_topics(self) -> TopicReport:
        from adapters.kafka import admin
        self.require_broker()
        return admin.create_topics(self.settings.kafka(ADMIN),
                                   topic_specs(self.settings.topic_prefix))

    def schema(self, store: str) -> str | None:
        from adapters.sql.engine import schema_name
        return schema_name(self.settings, store) if self.settings.is_postgres else None

    def engine(self, store: str) -> Engine:
        from adapters.sql.engine import make_engine
        if store not in self._engines:
            self._engines[store] = make_engine(self.settings, store)
        return self._engines[store]

    def upgrade(self) -> dict[str, str]:
        from adapters.sql import migrate, roles
        from adapters.sql.engine import STORES, schema_name
        if self.settings.per_service_roles:  # a service role may not migrate: it checks
            return {s: roles.checked_as_service(self.engine(s), s, schema_name(self.settings, s))
                    for s in STORES}
        return {s: migrate.upgrade(self.engine(s), s, self.schema(s)) for s in STORES}

    def provision_roles(self, admin_url: str) -> Provisioned:
        """Migrate as the administrator, then give each store a login role of its own."""
        from adapters.sql import roles
        return roles.provision(self.settings, admin_url)

    def prune(self) -> dict[str, Pruned]:
        """Prune every store now; all are checked first, so a refusal deletes nothing."""
        from adapters.sql import retention
        from adapters.sql.engine import STORES
        engines = {s: self.store(s) for s in STORES}
        now = system_clock()  # the wall clock stamps processed_at and published_at
        return {s: retention.prune(e, self.settings.retention, now) for s, e in engines.items()}

    def dead_letters(self) -> DeadLetters:
        """Dead letters and quarantined rows of every store (all checked first)."""
        from adapters.sql.engine import STORES
        from services.dead_letters import DeadLetters
        return DeadLetters({s: self.store(s) for s in STORES}, self.settings.topic_prefix,
                           system_clock,  # the wall clock, as the relay's and retention's
                           self.cli_relay)

    def cli_relay(self, store: str) -> OutboxRelay:
        """The relay of the copies `dlq redrive` queued in `store` (publisher `cli`),
        publishing as the CLI's principal; one per store, kept until `close`. A broker
        that does not ack within CLI_DELIVERY_TIMEOUT_MS leaves them queued."""
        from adapters.credentials import CLI
        from adapters.relay import OutboxRelay
        if store not in self._cli_relays:
            self._cli_relays[store] = OutboxRelay(
                self.store(store), self.settings.kafka(CLI), name=f"cli-relay-{store}",
                publisher=CLI, delivery_timeout_ms=CLI_DELIVERY_TIMEOUT_MS)
        return self._cli_relays[store]

    def timers(self, keys: Collection[str]) -> dict[str, dict[str, set[str]]]:
        """Store → timer kind → which of `keys` have a timer row there now."""
        from adapters.sql.engine import STORES
        from adapters.sql.timers import timers_of
        found: dict[str, dict[str, set[str]]] = {}
        for store in STORES:
            with self.store(store).connect() as connection:
                kinds = timers_of(connection, keys)
            if kinds:
                found[store] = kinds
        return found

    def store(self, store: str) -> Engine:
        """The engine of a store that must already be migrated."""
        from adapters.sql import migrate
        from adapters.sql.engine import sqlite_path
        if not self.settings.is_postgres and not sqlite_path(self.settings, store).exists():
            raise migrate.NotMigrated(f"the {store} store does not exist yet;"
                                      " run `orderflow db upgrade`")
        engine = self.engine(store)
        migrate.ensure_migrated(engine, store, self.schema(store))
        return engine

    def run_tutorial(self, listen_status: str, timeout: float) -> Iterator[str]:
        from adapters.kafka import tutorial
        self.require_broker()
        return tutorial.run_tutorial(self.settings.kafka(), self.topic("orders"),
                                     listen_status, timeout)

    def listen(self, listen_status: str, from_beginning: bool, timeout: float) -> Iterator[str]:
        from adapters.kafka import tutorial
        self.require_broker()
        return tutorial.listen(self.settings.kafka(), self.topic("orders"),
                               listen_status, from_beginning=from_beginning,
                               idle_timeout=timeout)

    def tail(self, from_beginning: bool, timeout: float) -> Iterator[Seen]:
        """Every message on every topic of this run, decoded, as it arrives."""
        from adapters.kafka.tail import tail
        from adapters.kafka.topics import topic_specs
        self.require_broker()
        topics = [spec.name for spec in topic_specs(self.settings.topic_prefix)]
        return tail(self.settings.kafka(), topics, self.settings.topic_prefix,
                    from_beginning=from_beginning, idle_timeout=timeout)

    def close(self) -> None:
        for relay in self._cli_relays.values():
            relay.close()
        self._cli_relays.clear()
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

    def lag(self) -> Lag:
        """Consumer lag per service: the broker's high watermarks minus the positions in
        the service's own store (services/lag.py); one admin client for every `of` call."""
        from adapters.kafka.offsets import Offsets
        from adapters.sql.tracking import read_group_positions
        from services.lag import Lag
        return Lag(Offsets(self.settings.kafka()), self.group,
                   lambda service: self.plan(service).topics,
                   lambda service: read_group_positions(self.store(service), self.group(service)))

    def kafka_access(self, service: str) -> Access:
        """What a service's process does on Kafka: its consumer reads its subscriptions in
        its group; its relay writes what its message table publishes."""
        from adapters.kafka.acl import Access
        if service == "projector":  # it publishes nothing but its dead letters
            return Access(reads=self.projector().topics, group=self.group(service))
        table, prefix = self.messages(service), self.settings.topic_prefix
        return Access(table.topics(prefix), table.published_topics(prefix), self.group(service))

    def acl_plan(self) -> Plan:
        """Every principal's Kafka ACLs for the services deployed (adapters/kafka/acl.py); a
        known service not deployed gets none."""
        from adapters.kafka import acl
        deployed = self.deployed()
        return acl.plan({s: self.kafka_access(s) if s in deployed else None
                         for s in KNOWN_SERVICES}, self.settings.topic_prefix)

    def apply_acls(self) -> Applied:
        """Make the broker's ACLs match `acl_plan`: idempotent, stale ones removed."""
        from adapters.credentials import ADMIN
        from adapters.kafka import acl, admin
        self.require_broker()
        return acl.apply(admin.admin_client(self.settings.kafka(ADMIN)), self.acl_plan(),
                         self.settings.topic_prefix)

    def services_shown(self) -> tuple[int | None, dict[str, Process], list[str]]:
        """The running `up` (its pid, None: none), the processes it names, and the
        services to report on: every one deployed, then any other that up runs."""
        from projections import live
        from services.supervisor import UP_STATE, is_alive, read_state
        up, processes = live.supervised(read_state(self.settings.data_dir / UP_STATE),
                                        is_alive)
        return up, processes, live.service_names(self.deployed(), processes)

    def health(self, stalled_after: float | None = None) -> Health:
        """Each service's health now (services/health.py): alive under a running `up`,
        its lag, when it last committed a batch, its dead letters waiting."""
        from services.health import STALLED_AFTER, Health, service_health
        up, processes, names = self.services_shown()
        lag, letters = self.lag().of(names), self.dead_letters().waiting()
        now = system_clock()
        stalled_after = STALLED_AFTER if stalled_after is None else stalled_after
        return Health(now, up, tuple(service_health(
            name, processes.get(name), lag.get(name), self.last_applied(name),
            letters.get(name), now, stalled_after) for name in names))

    def last_applied(self, service: str) -> datetime | None:
        """When the service's consumer group last committed a batch (None: never, or its
        store cannot be read now)."""
        from adapters.sql.tracking import read_last_applied
        try:
            return read_last_applied(self.store(service), self.group(service))
        except OrderflowError:
            return None

    def topology(self) -> Topology:
        """Declared (`acl_plan`), observed (the groups on the broker, each store's
        published outbox) and authorised (the broker's ACLs), services/topology.py; asked
        as the admin, the one principal that may describe every group and ACL."""
        from adapters.kafka import admin, topology
        from adapters.sql.published import published_topics
        from services.topology import Topology
        self.require_broker()
        client = admin.admin_client(self.settings.kafka(ADMIN))
        return Topology(self.acl_plan(), KNOWN_SERVICES, self.group,
                        lambda groups: topology.consuming(client, groups),
                        lambda service: published_topics(self.store(service)),
                        lambda principals: topology.authorised(client, principals),
                        self.settings.topic_prefix)


class _Service(Protocol):
    def messages(self) -> MessageTable: ...


# What each deployable service is built from (the projector is not a message-table service).
_SERVICE_FACTORIES: dict[str, Callable[[Orderflow], _Service]] = {
    "order": Orderflow.orders, "inventory": Orderflow.inventory, "payment": Orderflow.payment,
    "shipping": Orderflow.shipping, "orchestrator": Orderflow.orchestrator,
    "fraud": Orderflow.fraud}


def _summary(function: object) -> str:
    """The first line of a function's docstring: what it does."""
    doc = getattr(function, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else getattr(function, "__name__", "?")


def bootstrap(settings: Settings | None = None) -> Orderflow:
    return Orderflow(settings or Settings.from_env(), faults.skewed(system_clock))

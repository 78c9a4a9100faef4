"""The bench's orders: real catalog SKUs, many customers, all on the happy path.

Orders spread over every SKU and over many customers, so no single stock or credit
stream carries the whole run (each holds one entry per order it ever touched).
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from adapters.codec import Envelope, encode, envelope_for, headers
from adapters.settings import Settings
from domain.catalog import Catalog
from domain.order_events import Channel, OrderPlaced
from domain.order_placement import place_order
from experiments.bench.config import BenchError
from services.clock import system_clock
from services.inventory import Inventory
from services.order import Orders
from services.payment import Payment

SHIP_TO = "DE"
CREDIT_CENTS = 10**11
STOCK_UNITS = 10**8
ORDERS_PER_CUSTOMER = 20
Tick = Callable[[int], None]


@dataclass(frozen=True)
class Placed:
    order_id: str
    event: OrderPlaced


@dataclass
class Workload:
    skus: list[str]
    customers: list[str]
    placed: int = 0

    @classmethod
    def for_run(cls, catalog: Catalog, tag: str, total_orders: int) -> Workload:
        count = max(20, total_orders // ORDERS_PER_CUSTOMER)
        return cls(sorted(catalog.prices), [f"bench-{tag}-{i}" for i in range(count)])

    def seed(self, inventory: Inventory, payment: Payment, tick: Tick) -> None:
        for sku in self.skus:
            inventory.add_stock(sku, STOCK_UNITS)
        for index, customer in enumerate(self.customers, start=1):
            payment.set_credit(customer, CREDIT_CENTS)
            tick(index)

    def place(self, orders: Orders, flow: str) -> str:
        """Place the next order of the run (a different SKU and customer each time)."""
        index, self.placed = self.placed, self.placed + 1
        return orders.place(customer_id=self.customers[index % len(self.customers)],
                            items=[(self.skus[index % len(self.skus)], 1)],
                            ship_to=SHIP_TO, flow=flow, channel=Channel.BENCH)

    def burst(self, settings: Settings, flow: str, count: int, tick: Tick,
              placers: int) -> float:
        """Place `count` orders as fast as `placers` processes can (each with its own
        stores and clients, so the placer is not the bottleneck); return orders/s."""
        context = multiprocessing.get_context("spawn")  # no Kafka client survives a fork
        done = context.Value("i", 0)
        shares = [count // placers + (1 if k < count % placers else 0) for k in range(placers)]
        starts = [self.placed + sum(shares[:k]) for k in range(placers)]
        processes = [context.Process(target=_place_share, name=f"bench-placer-{k}", args=(
            settings, flow, self.customers, self.skus, start, share, done))
            for k, (start, share) in enumerate(zip(starts, shares, strict=True))]
        began = time.perf_counter()
        for process in processes:
            process.start()
        while any(process.is_alive() for process in processes):
            tick(done.value)
            time.sleep(0.1)  # progress only: the figures come from event times
        for process in processes:
            process.join()
        failed = [p.name for p in processes if p.exitcode != 0]
        if failed:
            raise BenchError(f"placer {failed[0]} exited with code "
                             f"{processes[0].exitcode}; see its output above")
        self.placed += count
        tick(count)
        return count / (time.perf_counter() - began)


def _place_share(settings: Settings, flow: str, customers: list[str], skus: list[str],
                 start: int, count: int, done: Any) -> None:
    """One placer process: orders start..start+count of the run, in its own stores."""
    from services.bootstrap import bootstrap
    app = bootstrap(settings)
    orders = app.orders()
    try:
        for index in range(start, start + count):
            orders.place(customer_id=customers[index % len(customers)],
                         items=[(skus[index % len(skus)], 1)], ship_to=SHIP_TO, flow=flow,
                         channel=Channel.BENCH)
            with done.get_lock():
                done.value += 1
    finally:
        app.close()


def sample_orders(catalog: Catalog, count: int) -> list[Placed]:
    """Real OrderPlaced events, as the order service would write them."""
    now, skus = system_clock(), sorted(catalog.prices)
    placed: list[Placed] = []
    for index in range(count):
        order_id = str(uuid.uuid4())
        event = place_order(order_id=order_id, customer_id=f"raw-{index % 500}",
                            items=[(skus[index % len(skus)], 1)], ship_to=SHIP_TO,
                            flow="choreography", channel=Channel.BENCH, catalog=catalog, now=now,
                            timeout=timedelta(seconds=30))[0]
        assert isinstance(event, OrderPlaced)
        placed.append(Placed(order_id, event))
    return placed


def sample_envelope(catalog: Catalog) -> tuple[str, Envelope]:
    """A real OrderPlaced envelope for the `orders` topic, and its order id."""
    sample = sample_orders(catalog, 1)[0]
    return sample.order_id, envelope_for(
        sample.event, event_id=str(uuid.uuid4()), aggregate_id=sample.order_id,
        aggregate_version=1, occurred_at=datetime.now(sample.event.placed_at.tzinfo),
        correlation_id=sample.order_id, causation_id=None, flow="choreography")


def sample_record(catalog: Catalog) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of a real OrderPlaced record on the `orders` topic."""
    envelope = sample_envelope(catalog)[1]
    return encode(envelope), headers(envelope)

"""Every loop of a service survives store and Kafka errors: it backs off and tries again
(adapters/retry.py) instead of dying and taking the process with it. No I/O here: each
loop is driven with a part that fails a few times and then works."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.kafka.consumer import ConsumerRuntime
from adapters.kafka.errors import KafkaClientError
from adapters.relay import OutboxRelay
from adapters.sql import batches
from domain.errors import OrderflowError
from services.runner import ServicePlan, ServiceProcess

ERRORS: dict[str, Callable[[], BaseException]] = {
    "store": lambda: sa.exc.OperationalError("SELECT 1", {}, Exception("server closed")),
    "kafka": lambda: KafkaClientError("writing to the dead-letter topic", "_MSG_TIMED_OUT"),
    "orderflow": lambda: OrderflowError("cannot read consumer positions from the store"),
}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loops' backoff, made instant: these tests count tries, not seconds."""
    for module in ("adapters.kafka.consumer", "adapters.sql.batches", "adapters.relay",
                   "services.runner"):
        monkeypatch.setattr(f"{module}.backoff", lambda _failures: 0.0, raising=False)


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    made = sa.create_engine("sqlite://")
    yield made
    made.dispose()


class FailsThenStops:
    """Raises `error` `failures` times, then sets `stop` (the loop must have survived)."""

    def __init__(self, stop: threading.Event, error: Callable[[], BaseException],
                 failures: int, result: Any = 0) -> None:
        self.stop, self.error, self.failures, self.result = stop, error, failures, result
        self.calls = 0

    def __call__(self, *_args: Any, **_kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error()
        self.stop.set()
        return self.result


def runtime(engine: sa.Engine) -> ConsumerRuntime:
    return ConsumerRuntime(engine=engine, bootstrap="127.0.0.1:9", group="g", topics=["t"],
                           handler=lambda _connection, _incoming: None)


@pytest.mark.parametrize("kind", ERRORS)
def test_the_consumer_loop_survives_errors(engine: sa.Engine, kind: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    stop, consumer = threading.Event(), runtime(engine)
    failing = FailsThenStops(stop, ERRORS[kind], failures=3)
    monkeypatch.setattr(consumer, "poll_once", failing)
    monkeypatch.setattr(consumer.source, "subscribe", lambda: None)
    consumer.run(stop)  # returns only because the part finally worked and stopped it
    assert failing.calls == 4


def test_reading_positions_waits_for_the_store_however_long_it_is_away(
        engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = runtime(engine)  # not stopping: it must keep waiting, never guess
    away = FailsThenStops(threading.Event(), ERRORS["store"], failures=40,
                          result={("t", 0): 7})
    monkeypatch.setattr(batches.tracking, "load_positions", away)
    monkeypatch.setattr(batches.time, "sleep", lambda _seconds: None)
    assert consumer.applier.stored_positions([("t", 0)], threading.Event()) == {("t", 0): 7}
    assert away.calls == 41
    consumer.close()


@pytest.mark.parametrize("kind", ERRORS)
def test_the_relay_loop_survives_errors(engine: sa.Engine, kind: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    stop, relay = threading.Event(), OutboxRelay(engine, "127.0.0.1:9")
    failing = FailsThenStops(stop, ERRORS[kind], failures=3)
    monkeypatch.setattr(relay, "publish_pending", failing)
    monkeypatch.setattr(relay, "watch", lambda _stop: None)
    relay.run(stop)
    assert failing.calls == 4


@pytest.mark.parametrize("kind", ERRORS)
def test_the_timers_loop_survives_errors(kind: str) -> None:
    stop = threading.Event()
    ticker = FailsThenStops(stop, ERRORS[kind], failures=3)
    plan = ServicePlan(name="order", relay_store=None, tickers=[ticker])
    process = ServiceProcess(plan, None, None, stop)
    process._tick()
    assert ticker.calls == 4

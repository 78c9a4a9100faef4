"""Processes die hard (SIGKILL, or an injected exit 137) while orders are in flight;
after a restart every order ends exactly once and nothing is held twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path as FilePath

import pytest

from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration.test_exactly_once import (
    SERVICES,
    Broker,
    Path,
    assert_invariants,
    dead_letters,
    event_counts,
    exit_code,
    mix,
    opened,
    place_all,
    prepare,
    quiesce,
    running,
    settle,
)
from tests.support import wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
PARTICIPANTS = ("order", "inventory", "payment", "shipping")
FORWARD = ("inventory.stock-reserved.v1", "payment.authorized.v1",
           "shipping.shipment-scheduled.v1")


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str, request: pytest.FixtureRequest) -> Env:
    # A restarted consumer waits up to the session timeout (10 s) for its dead
    # predecessor to leave the group: step deadlines leave room for that.
    timeouts = {"ORDERFLOW_ORDER_TIMEOUT": "45", "ORDERFLOW_STEP_TIMEOUT": "8",
                **getattr(request, "param", {})}
    return prepare(make_env, kafka, system_store, **timeouts)


@pytest.fixture
def app(env: Env) -> Iterator[Orderflow]:
    with opened(env) as orderflow:
        yield orderflow


@pytest.fixture
def system(env: Env, tmp_path: FilePath) -> Iterator[RunningSystem]:
    yield from running(env, tmp_path / "logs")


def assert_each_saga_ended_once(app: Orderflow, placed: dict[str, Path]) -> None:
    sagas, counts = event_counts(app, "orchestrator"), event_counts(app, "inventory")
    counts |= event_counts(app, "payment") | event_counts(app, "shipping")
    for order_id, path in placed.items():
        confirmed = path.outcome[0] == "confirmed"
        ended = (sagas[(order_id, "saga.completed.v1")], sagas[(order_id, "saga.rejected.v1")])
        assert ended == ((1, 0) if confirmed else (0, 1)), order_id
        if confirmed:  # a command delivered twice got the first outcome, not a second one
            assert [counts[(order_id, kind)] for kind in FORWARD] == [1, 1, 1], order_id


def duplicated_on_kafka(app: Orderflow, broker: Broker) -> int:
    """Messages the orchestrator's relay published more than once (same message id)."""
    topics = [app.topic(t) for t in ("inventory.commands", "payments.commands",
                                     "shipping.commands", "orders.commands", "sagas")]
    ids = Counter(dict(m.headers() or [])["event_id"] for t in topics
                  for m in broker.read_all(t))
    return sum(1 for n in ids.values() if n > 1)


@pytest.mark.parametrize("fault", ["relay.after_produce:2", "consumer.mid_batch:2"])
def test_the_orchestrator_dies_mid_saga_and_every_saga_ends_exactly_once(
        app: Orderflow, system: RunningSystem, kafka: str, fault: str) -> None:
    broker = Broker(kafka)
    system.start(SERVICES)
    quiesce(app, broker)  # what came before the orders is consumed: the faults hit sagas
    assert system.stop(["orchestrator"]) == {"orchestrator": 0}
    placed = place_all(app, mix(8, ["orchestration"]))
    system.start(["orchestrator"], extra_env={"ORDERFLOW_FAULT": fault})
    assert exit_code(system, "orchestrator") == 137
    assert f"fault injected at {fault.split(':')[0]}" in system.log("orchestrator")
    sagas = [s for s in map(app.orchestrator().saga, placed) if s is not None]
    assert sagas and not any(s.is_terminal for s in sagas), "it died with sagas under way"
    system.start(["orchestrator"])
    settle(app, broker, placed)
    assert_each_saga_ended_once(app, placed)
    assert_invariants(app, placed)
    if fault.startswith("relay"):  # produced, never marked: published again on restart
        assert duplicated_on_kafka(app, broker) > 0
    assert dead_letters(broker, app) == {}


def test_a_participant_killed_while_orders_flow_catches_up(
        app: Orderflow, system: RunningSystem, kafka: str) -> None:
    broker = Broker(kafka)
    system.start(SERVICES)
    placed = place_all(app, mix(12))
    wait_until(lambda: any(kind == "payment.authorized.v1"
                           for _, kind in event_counts(app, "payment")), 30,
               "payment to authorise something")
    system.kill("payment")
    later = place_all(app, mix(12))
    wait_until(lambda: any((o, "inventory.stock-reserved.v1") in event_counts(app, "inventory")
                           for o in later), 30, "new orders to wait for payment")
    system.start(["payment"])
    placed |= later
    settle(app, broker, placed)
    assert_invariants(app, placed)
    assert_each_saga_ended_once(app, {o: p for o, p in placed.items()
                                      if app.orchestrator().saga(o) is not None})
    assert dead_letters(broker, app) == {}


@pytest.mark.parametrize("env", [{"ORDERFLOW_STEP_TIMEOUT": "1"}], indirect=True)
def test_a_restarted_orchestrator_reads_the_replies_waiting_for_it_before_timing_out(
        app: Orderflow, system: RunningSystem, kafka: str) -> None:
    """Every participant answered within its step's deadline while the orchestrator was
    down; on restart those answers are on Kafka, so no saga may time out."""
    broker = Broker(kafka)
    system.start(SERVICES)
    placed = place_all(app, mix(4, ["orchestration"])[:1] * 4)  # happy orders
    wait_until(lambda: all(app.orchestrator().saga(o) for o in placed), 30, "sagas to start")
    system.kill("orchestrator")
    waiting = [s for s in map(app.orchestrator().saga, placed) if s and not s.is_terminal]
    assert waiting, "the orchestrator died too late to leave sagas waiting"
    quiesce(app, broker, PARTICIPANTS)  # every command it sent is answered, on Kafka
    latest = max(s.deadline for s in waiting if s.deadline is not None)
    wait_until(lambda: datetime.now(UTC) > latest, 10, "the step deadlines to pass")
    system.start(["orchestrator"])
    settle(app, broker, placed)  # fails: the timers ran out before the consumer caught up
    assert_each_saga_ended_once(app, placed)

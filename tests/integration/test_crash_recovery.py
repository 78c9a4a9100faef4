"""Processes die hard (SIGKILL, or an injected exit 137) while orders are in flight;
after a restart every order ends exactly once and nothing is held twice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from adapters.sql.tables import events
from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.integration.saga_world import HOUR, PAST_EVERY_DEADLINE, PATIENT
from tests.integration.test_exactly_once import (
    HAPPY,
    SERVICES,
    Broker,
    Path,
    assert_invariants,
    assigned_since,
    dead_letters,
    event_counts,
    exit_code,
    mix,
    place_all,
    prepare,
    quiesce,
    settle,
    unpublished,
)
from tests.support import ManualClock, wait_until
from tests.system import RunningSystem

pytestmark = pytest.mark.kafka
STARTS_ITS_OWN = True  # the tests start and kill services themselves
PARTICIPANTS = ("order", "inventory", "payment", "shipping")
UTC_MIN = datetime.min.replace(tzinfo=UTC)
FORWARD = ("inventory.stock-reserved.v1", "payment.authorized.v1",
           "shipping.shipment-scheduled.v1")


# PATIENT: no order expires and no step times out unless a test moves the services'
# clock on (ManualClock) once its premise holds.


@pytest.fixture
def env(kafka: str, make_env: MakeEnv, system_store: str, clock: ManualClock) -> Env:
    return prepare(make_env, kafka, system_store, **PATIENT, **clock.environ)


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
    # (a saga may end in the instant between a relay's produce and its crash point)
    assert any(not s.is_terminal for s in sagas), "it died with sagas under way"
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


def resent_commands(app: Orderflow, broker: Broker) -> dict[tuple[str, str], int]:
    """(order, command type) sent more than once (distinct message ids: a retry, not a
    relay's re-publish of the same message)."""
    topics = [app.topic(t) for t in ("inventory.commands", "payments.commands",
                                     "shipping.commands", "orders.commands")]
    sent: dict[tuple[str, str], set[bytes]] = {}
    for message in (m for t in topics for m in broker.read_all(t)):
        headers = dict(message.headers() or [])
        key = (headers["correlation_id"].decode(), headers["type"].decode())
        sent.setdefault(key, set()).add(headers["event_id"])
    return {key: len(ids) for key, ids in sent.items() if len(ids) > 1}


def answered_at(app: Orderflow, services: Iterable[str]) -> dict[str, datetime]:
    """When each order last heard from these services (their latest event's time)."""
    query = sa.select(events.c.correlation_id, sa.func.max(events.c.occurred_at)) \
        .group_by(events.c.correlation_id)
    latest: dict[str, datetime] = {}
    for service in services:
        with app.store(service).connect() as connection:
            for order_id, at in connection.execute(query):
                latest[order_id] = max(latest.get(order_id, UTC_MIN), datetime.fromisoformat(at))
    return latest


# Timers (saga step deadlines in the orchestrator, order deadlines in the order service)
# run beside the consumer. A restarted consumer waits up to the session timeout (10 s)
# for its SIGKILLed predecessor to leave the group; the answers already wait on Kafka,
# so a timer must not act on the state before they are read. Each test moves the clock
# past every deadline only once the answers are in: the premise holds by construction.

def test_a_restarted_orchestrator_reads_the_waiting_replies_before_timing_steps_out(
        app: Orderflow, system: RunningSystem, kafka: str, clock: ManualClock) -> None:
    broker = Broker(kafka)
    system.start(SERVICES)
    placed = place_all(app, [(HAPPY, "orchestration")] * 4)
    wait_until(lambda: all(map(app.orchestrator().saga, placed)), 30, "sagas to start")
    system.kill("orchestrator")
    waiting = [s for s in map(app.orchestrator().saga, placed) if s and not s.is_terminal]
    assert waiting, "the orchestrator died too late to leave a saga waiting"
    quiesce(app, broker, PARTICIPANTS)  # every command it sent is answered, on Kafka
    clock.advance(2 * HOUR)  # the answered steps' deadlines are past when it comes back
    system.start(["orchestrator"])
    settle(app, broker, placed)
    assert_each_saga_ended_once(app, placed)
    # a step timer acting before the waiting reply was read would have sent it again
    assert resent_commands(app, broker) == {}


def test_a_restarted_order_service_reads_the_waiting_answers_before_expiring_orders(
        app: Orderflow, system: RunningSystem, kafka: str, clock: ManualClock) -> None:
    broker = Broker(kafka)
    system.start(["order"])
    wait_until(lambda: assigned_since(system, "order", 0), 30, "the order consumer")
    placed = place_all(app, [(HAPPY, "choreography")] * 4)
    wait_until(lambda: unpublished(app, ["order"]) == 0, 30, "OrderPlaced on Kafka")
    system.kill("order")
    system.start(["inventory", "payment", "shipping"])
    quiesce(app, broker, ["inventory", "payment", "shipping"])
    heard = answered_at(app, ["shipping"])
    due = {o: app.orders().get(o).deadline for o in placed}  # type: ignore[union-attr]
    assert all(heard[o] < due[o] for o in placed), "premise: shipped before the deadline"
    clock.advance(PAST_EVERY_DEADLINE)  # the deadlines are past when the order service comes back
    system.start(["order"])
    settle(app, broker, placed, services=PARTICIPANTS)  # a timer acting first expires them
    assert_invariants(app, placed)

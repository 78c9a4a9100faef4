"""Scenario 11: compensations that fail, then work.

Every compensation handler — inventory's release_stock, payment's void_payment,
shipping's cancel_shipment — fails with a store error the first 6 times it runs for an
order (ORDERFLOW_FAULT_FAIL): the batch's try and the consumer's 5 retries, so each
compensation's message lands in a DLQ at least once. Then it works.

- release_stock: orders over bob's credit; void_payment (and release_stock): orders to a
  country nobody serves; cancel_shipment: orders whose shipment is scheduled after they
  expired (shipping is stopped until the order deadline has passed).
- In orchestration the saga notices the unanswered compensation, shows
  `compensation_failed` and re-sends it with backoff (the test moves the services' clock
  on); a shipment scheduled after the saga gave up is cancelled by a command nobody
  re-sends, so like every choreography compensation it waits in the DLQ until redriven.
- Every order must be seen as `compensation_failed` (what `status` shows) on the way, and
  in the end every order is rejected on its path with each done step undone exactly once
  (the common checker), both flows, on the suite's store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.bootstrap import Orderflow
from tests.conftest import Env, MakeEnv
from tests.faults.checks import Figures, check_everything
from tests.faults.harness import ALL, Fleet, seeded
from tests.faults.scale import scale
from tests.integration.saga_world import HOUR, PAST_EVERY_DEADLINE
from tests.integration.test_exactly_once import (
    FLOWS,
    Broker,
    Path,
    caught_up,
    input_topics,
    place_all,
    unpublished,
)
from tests.support import ManualClock, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(scale().test_timeout)]
FAILS = 6  # the batch's try and 5 retries: the consumer gives up, the message goes to a DLQ
ARMED = {"ORDERFLOW_FAULT_FAIL": ",".join(
    f"{step}:{FAILS}" for step in ("release_stock", "void_payment", "cancel_shipment"))}
RELEASE = Path((("BOOK-1", 1),), "bob", "DE", ("rejected", "over_credit"))
VOID = Path((("BOOK-1", 1),), "alice", "BR", ("rejected", "country_not_served"))
CANCEL = Path((("BOOK-1", 1),), "alice", "DE", ("rejected", "timeout"))
STUCK = "compensation_failed"


@pytest.fixture
def clock(tmp_path_factory: pytest.TempPathFactory) -> ManualClock:
    return ManualClock(tmp_path_factory.mktemp("clock") / "clock")


@pytest.fixture
def seeded_env(kafka: str, make_env: MakeEnv, system_store: str,
               clock: ManualClock) -> tuple[Env, dict[str, int]]:
    return seeded(make_env, kafka, system_store, **clock.environ)


class Watch:
    """What the read models showed: every order seen as compensation_failed."""

    def __init__(self, app: Orderflow) -> None:
        self.app, self.seen_stuck = app, set[str]()

    def look(self) -> set[str]:
        stuck = {o["order_id"] for o in self.app.read_models().orders(status=STUCK,
                                                                       limit=10_000)}
        self.seen_stuck |= stuck
        return stuck


def orders(path: Path, count: int) -> list[tuple[Path, str]]:
    return [(path, flow) for flow in FLOWS for _ in range(count)]


def authorised(app: Orderflow, placed: dict[str, Path]) -> bool:
    return set(placed) <= set(app.payment().credit("alice").held)


def unwind(app: Orderflow, broker: Broker, fleet: Fleet, clock: ManualClock, watch: Watch,
           placed: dict[str, Path], timeout: float) -> int:
    """Until every order ended and shows its real status: each time the system is idle
    (every notice projected, so the read models show every order that is stuck), time
    moves on past every backoff (the saga re-sends) and the dead letters go back.
    Returns how many dead letters were redriven."""
    redriven, topics = 0, input_topics(app, ALL)

    def done() -> bool:
        nonlocal redriven
        fleet.tend()
        if unpublished(app, ALL) or not caught_up(app, broker, topics):
            return False
        stuck = watch.look()
        sagas = [app.orchestrator().saga(o) for o in placed]
        if not stuck and all(s is None or s.is_terminal for s in sagas) and _ended(app, placed):
            return True
        clock.advance(40 * HOUR)  # past the longest backoff: 32 step timeouts of an hour
        redriven += len(app.dead_letters().redrive_all().redriven)
        return False

    wait_until(done, timeout, "every compensation to get through", interval=0.3)
    return redriven


def _gave_up(app: Orderflow, placed: dict[str, Path]) -> bool:
    """Choreography: the order expired; orchestration: its saga stopped waiting for it."""
    for order_id in placed:
        saga, order = app.orchestrator().saga(order_id), app.orders().get(order_id)
        if saga is None and (order is None or not order.is_terminal):
            return False
        if saga is not None and saga.state.value == "running":
            return False
    return True


def _ended(app: Orderflow, placed: dict[str, Path]) -> bool:
    return all((order := app.orders().get(o)) is not None and order.is_terminal
               for o in placed)


def test_each_compensation_fails_then_gets_through_exactly_once(
        env: Env, app: Orderflow, fleet: Fleet, broker: Broker, clock: ManualClock,
        added: dict[str, int], figures: Figures) -> None:
    size, watch = scale(), Watch(app)
    app.clock = lambda: datetime.now(UTC) + timedelta(seconds=clock.offset)  # the services'
    fleet.start(ALL, ARMED)
    fleet.wait_up()
    first = place_all(app, [*orders(RELEASE, size.compensation_orders),
                            *orders(VOID, size.compensation_orders)])
    wait_until(lambda: watch.look() is not None and watch.seen_stuck == set(first),
               size.settle_timeout, "every order's compensation to fail visibly")
    redriven = unwind(app, broker, fleet, clock, watch, first, size.settle_timeout)
    fleet.stop(["shipping"])  # the next orders are paid for, then expire unshipped
    late = place_all(app, orders(CANCEL, size.compensation_orders))
    wait_until(lambda: authorised(app, late), size.settle_timeout, "payment for every order")
    clock.advance(PAST_EVERY_DEADLINE)
    wait_until(lambda: _gave_up(app, late), size.settle_timeout, "every order to be given up")
    fleet.start(["shipping"], ARMED)  # it schedules, late, and must cancel again
    redriven += unwind(app, broker, fleet, clock, watch, late, size.settle_timeout)
    placed = first | late
    assert watch.seen_stuck == set(placed), "an order never showed compensation_failed"
    letters = app.dead_letters().letters()
    expected = {}
    for letter in letters:
        expected[letter.topic] = expected.get(letter.topic, 0) + 1
    check_everything(app, broker, placed, added, figures, dlq=expected)
    failures = fleet.lines("fault injected:", " fails (")
    figures.record(compensations_failed=failures, dead_letters=len(letters),
                   redriven=redriven, shown_compensation_failed=len(watch.seen_stuck))
    assert redriven > 0 and failures >= FAILS * len(placed)

"""`orderflow watch` without Kafka: the step each message leaves an order waiting for,
the snapshot assembled from given numbers, the read models' counts it is made of, the
lag arithmetic and the dead letters it counts, tables that fit 80 columns, and bad input
(one line on stderr, exit 2, nothing written)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console
from sqlalchemy.pool import StaticPool

from adapters.kafka.errors import BrokerError
from adapters.registry import BY_WIRE, family
from adapters.sql import dead_letters as stored
from adapters.sql.migrate import upgrade
from adapters.sql.tables import outbox
from adapters.sql.tracking import PositionsUnreadable, read_group_positions
from cli.main import run
from cli.watch import order_rows, render
from domain import commands as c
from domain import order_events as o
from domain import saga_events as s
from projections import live
from projections.projector import Projector
from projections.read_models import ReadModels
from services.lag import Lag, behind
from tests.support import projected_stores
from tests.unit.test_projections_support import T0, Topics, happy_saga, memory_engine, placed

CHOR, ORCH = "choreography", "orchestration"
FIRST, SECOND, THIRD = (f"00000000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))


# -- the step an order in flight waits for --------------------------------------------

def test_every_message_the_tables_name_is_a_registered_one() -> None:
    families = {family(wire) for wire in BY_WIRE}
    assert set(live.NEXT_STEP) | set(live.WITH_FRAUD) | {live.SAGA_PROGRESSED} <= families
    assert set(live.SAGA_STEPS) == set(s.Step)
    assert set(live.NEXT_STEP.values()) | set(live.SAGA_STEPS.values()) <= set(live.STEPS)


@pytest.mark.parametrize(("newest", "step"), [
    ("order.placed.v2", live.STOCK), ("order.placed.v1", live.STOCK),
    ("inventory.stock-reserved.v1", live.PAYMENT), ("payment.authorized.v1", live.SHIPPING),
    ("shipping.shipment-scheduled.v1", live.CONFIRM), ("payment.declined.v1", live.REJECT),
    ("inventory.stock-released.v1", live.REJECT), (None, live.STOCK),
    ("system.message-dead-lettered.v1", live.DEAD_LETTER),
    ("something.new.v3", "something.new"),  # not in the table: said as it is
])
def test_a_choreographed_order_waits_for_what_its_newest_event_leaves_open(
        newest: str | None, step: str) -> None:
    assert live.step_of(CHOR, newest) == step


@pytest.mark.parametrize(("newest", "saga", "step"), [
    (None, (None, None), live.START),
    ("order.placed.v2", (None, None), live.START),  # the saga has not asked for stock
    ("inventory.reserve-stock.v1", ("running", "reserve_stock"), live.STOCK),
    # the saga's forward progress is not summarised: its view still says reserve_stock
    ("payment.authorize.v1", ("running", "reserve_stock"), live.PAYMENT),
    ("inventory.stock-reserved.v1", ("running", "reserve_stock"), live.PAYMENT),
    ("inventory.release-stock.v1", ("compensating", "release_stock"), live.UNDO),
    ("order.reject.v1", ("compensating", "reject_order"), live.REJECT),
    ("saga.progressed.v1", ("compensating", "void_payment"), live.UNDO),
    ("saga.progressed.v1", ("compensation_failed", "release_stock"), live.UNDO),
    ("saga.progressed.v1", ("running", "authorize_payment"), live.PAYMENT),
    ("saga.progressed.v1", ("completed", None), live.CONFIRM),
    ("saga.progressed.v1", ("rejected", None), live.REJECT),
])
def test_an_orchestrated_order_waits_for_the_step_its_saga_asked_for(
        newest: str | None, saga: tuple[str | None, str | None], step: str) -> None:
    assert live.step_of(ORCH, newest, *saga) == step


def test_where_the_fraud_step_runs_a_reservation_waits_for_it() -> None:
    assert live.step_of(CHOR, "inventory.stock-reserved.v1", fraud=True) == live.FRAUD
    assert live.step_of(CHOR, "fraud.cleared.v1", fraud=True) == live.PAYMENT
    assert live.step_of(ORCH, "fraud.check.v1", "running", "reserve_stock") == live.FRAUD


# -- the snapshot, from given numbers -------------------------------------------------

AT = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)
COUNTS = live.OrderCounts(
    statuses=[(CHOR, "created", None, 3), (CHOR, "confirmed", None, 5),
              (CHOR, "rejected", "over_credit", 1), (CHOR, "rejected", "timeout", 2),
              (ORCH, "confirmed", None, 4), (ORCH, "rejected", "out_of_stock", 1)],
    in_flight={CHOR: [("order.placed.v2", None, None, 1),
                      ("inventory.stock-reserved.v1", None, None, 2)],
               ORCH: [("payment.authorize.v1", "running", "reserve_stock", 2),
                      ("saga.progressed.v1", "compensating", "release_stock", 1),
                      (None, None, None, 1)]})


def test_a_flow_counts_each_order_once_in_flight_per_step_confirmed_or_rejected() -> None:
    chor, orch = (live.flow_view(flow, COUNTS) for flow in (CHOR, ORCH))
    assert chor.document() == {
        "in_flight": 3, "in_flight_by_step": {"stock": 1, "payment": 2}, "confirmed": 5,
        "rejected": 3, "rejected_by_reason": {"over_credit": 1, "timeout": 2},
        "timed_out": 2}
    assert list(orch.in_flight.items()) == [("start", 1), ("payment", 2), ("undo", 1)]
    assert (orch.confirmed, dict(orch.rejected), orch.timed_out) == (4, {"out_of_stock": 1}, 0)
    assert live.flow_view(CHOR, live.OrderCounts([], {})).document()["in_flight"] == 0


def alive_but(*dead: int) -> Callable[[int], bool]:
    return lambda pid: pid not in dead


STATE = {"pid": 100, "services": {"order": {"pid": 101, "restarts": 0, "log": "o.log"},
                                  "payment": {"pid": 102, "restarts": 2, "log": "p.log"},
                                  "fraud": {"pid": 103, "restarts": 0, "log": "f.log"}}}


def test_services_are_up_while_a_running_up_names_their_live_processes() -> None:
    up, processes = live.supervised(STATE, alive_but(102))
    assert up == 100 and processes["payment"] == live.Process(102, 2, alive=False)
    names = live.service_names(("order", "payment", "projector"), processes)
    assert names == ["order", "payment", "projector", "fraud"]
    shot = live.snapshot(AT, [CHOR], COUNTS, up, processes, names,
                         {"order": 0, "payment": 7}, {"order": 0, "payment": 1})
    document = shot.document()
    assert document["up"] == {"pid": 100} and list(document["flows"]) == [CHOR]
    assert document["services"]["order"] == {"up": True, "pid": 101, "restarts": 0, "lag": 0,
                                             "dead_letters": 0}
    assert document["services"]["payment"] == {"up": False, "pid": 102, "restarts": 2,
                                               "lag": 7, "dead_letters": 1}
    assert document["services"]["projector"] == {"up": False, "pid": None, "restarts": None,
                                                 "lag": None, "dead_letters": None}
    # `up` runs the fraud service: a reservation waits for fraud now
    assert document["flows"][CHOR]["in_flight_by_step"] == {"stock": 1, "fraud": 2}


@pytest.mark.parametrize("state", [
    None, {}, {"pid": 100}, {"pid": 100, "services": []}, {"pid": "100", "services": {}},
    {"pid": 0, "services": {}}, {"pid": True, "services": {}},
    {"pid": 100, "services": {"order": {"pid": -1, "restarts": 0}}},
])
def test_a_state_file_that_is_not_one_is_no_running_up(state: Any) -> None:
    assert live.supervised(state, alive_but()) == (None, {})


def test_without_a_live_supervisor_every_service_is_down_and_its_restarts_unknown() -> None:
    up, processes = live.supervised(STATE, alive_but(100))
    assert (up, processes) == (None, {})
    shot = live.snapshot(AT, [CHOR, ORCH], COUNTS, up, processes, ["order", "payment"],
                         {}, {"order": 0})
    assert [(v.up, v.pid, v.restarts) for v in shot.services] == [(False, None, None)] * 2
    assert shot.flows[0].in_flight == {"stock": 1, "payment": 2}
    deployed = live.snapshot(AT, [CHOR], COUNTS, None, {}, ["order", "fraud"], {}, {})
    assert deployed.flows[0].in_flight == {"stock": 1, "fraud": 2}  # ORDERFLOW_STEPS=fraud


# -- what the snapshot is measured from ------------------------------------------------

def orchestrated(topics: Topics, order_id: str) -> list[Any]:
    """An orchestrated order placed, stock reserved, payment asked for: the saga's view
    still says reserve_stock (routine progress is not summarised)."""
    moment = T0 + timedelta(seconds=10)
    line = o.OrderLine(sku="BOOK-1", quantity=1, unit_price_cents=1250)
    start = topics.incoming(o.OrderPlaced(
        order_id=order_id, customer_id="alice", lines=(line,), total_cents=1250,
        ship_to="DE", flow=ORCH, channel="cli", placed_at=moment,
        deadline=moment + timedelta(seconds=30)), "orders", seconds=10)
    started = topics.incoming(s.SagaProgressed(
        order_id=order_id, state="running", current_step="reserve_stock", attempt=1,
        step_deadline=None, steps_done=(), compensated=(), late_successes=(), reason=None,
        commands_sent=1, started_at=moment), "sagas", cause=start, seconds=10.5)
    ask = topics.incoming(c.AuthorizePayment(order_id=order_id, customer_id="alice",
                                             amount_cents=1250), "payments.commands",
                          cause=started, seconds=12)
    return [start, started, ask]


@pytest.fixture
def models() -> ReadModels:
    """FIRST confirmed (choreography), SECOND placed (choreography), THIRD orchestrated
    and waiting for payment."""
    engine, topics, projector = memory_engine(), Topics(), Projector()
    for record in [*happy_saga(topics, FIRST), placed(topics, SECOND, seconds=5),
                   *orchestrated(topics, THIRD)]:
        with engine.begin() as connection:
            projector.handle(connection, record)
    return ReadModels(engine)


def test_the_read_models_count_orders_and_where_those_in_flight_stand(
        models: ReadModels) -> None:
    assert sorted(models.order_counts()) == [(CHOR, "confirmed", None, 1),
                                             (CHOR, "created", None, 1),
                                             (ORCH, "created", None, 1)]
    assert models.in_flight(CHOR) == [("order.placed.v2", None, None, 1)]
    assert models.in_flight(ORCH) == [("payment.authorize.v1", "running", "reserve_stock", 1)]
    counts = live.OrderCounts(models.order_counts(),
                              {flow: models.in_flight(flow) for flow in (CHOR, ORCH)})
    assert dict(live.flow_view(ORCH, counts).in_flight) == {"payment": 1}


def store(name: str) -> sa.Engine:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    upgrade(engine, name, None)
    return engine


def letter(topic: str, **marks: str) -> dict[str, Any]:
    return {"message_id": f"m-{topic}-{sorted(marks)}", "topic": topic, "key": "k",
            "value": b"{}", "headers": "[]", "created_at": T0.isoformat(), **marks}


def test_waiting_dead_letters_are_counted_as_dlq_list_sees_them_waiting() -> None:
    engine, now = store("payment"), T0.isoformat()
    rows = [letter("t.orders.dlq"), letter("t.orders.dlq", redriven_at=now),
            letter("t.payments", quarantined_at=now), letter("t.payments", published_at=now),
            letter("t.inventory.dlq", published_at=now, quarantined_at=now)]
    with engine.begin() as connection:
        connection.execute(outbox.insert(), rows)
    with engine.connect() as connection:
        letters = stored.letters(connection, "payment")
        assert stored.waiting_count(connection) == sum(x.waiting for x in letters) == 3


class FakeOffsets:
    """The broker as Lag asks it: partitions, members' assignments, watermarks."""

    def __init__(self, assigned: dict[str, set[tuple[str, int]]] | None = None,
                 away: bool = False) -> None:
        self.held, self.away = assigned or {}, away
        self.highs = {("t.orders", 0): 10, ("t.orders", 1): 4, ("t.payments", 0): 6}

    def partitions(self, topics: Any) -> set[tuple[str, int]]:
        if self.away:
            raise BrokerError("listing topics: broker away")
        return {key for key in self.highs if key[0] in topics}

    def assigned(self, groups: Any) -> dict[str, set[tuple[str, int]]]:
        return {group: self.held.get(group, set()) for group in groups}

    def latest(self, keys: Any) -> dict[tuple[str, int], int]:
        return {key: self.highs[key] for key in keys}

    def earliest(self, keys: Any) -> dict[tuple[str, int], int]:
        return {key: 1 for key in keys}


def lag_with(offsets: FakeOffsets, stores: dict[str, sa.Engine]) -> Lag:
    plans = {"order": ["t.payments"], "inventory": ["t.orders"]}

    def positions_of(service: str) -> dict[tuple[str, int], int]:
        if service not in stores:
            raise PositionsUnreadable("store away")
        return read_group_positions(stores[service], f"g.{service}")

    return Lag(offsets, lambda service: f"g.{service}",  # type: ignore[arg-type]
               plans.__getitem__, positions_of)


def test_lag_is_the_high_watermarks_minus_the_stored_positions() -> None:
    inventory = store("inventory")
    with inventory.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO consumer_positions VALUES ('g.inventory', 't.orders', 0, 7, 'x')"))
    stores = {"inventory": inventory, "order": store("order")}
    # no members: the plan's topics; t.orders[1] has no position, so from its low (1)
    assert lag_with(FakeOffsets(), stores).of(["inventory", "order"]) == {
        "inventory": (10 - 7) + (4 - 1), "order": 6 - 1}
    # members hold only t.orders[0]: that is what the group reads
    held = FakeOffsets({"g.inventory": {("t.orders", 0)}})
    assert lag_with(held, stores).of(["inventory"]) == {"inventory": 3}
    assert lag_with(FakeOffsets(away=True), stores).of(["inventory", "order"]) == {
        "inventory": None, "order": None}
    assert lag_with(FakeOffsets(), {"order": stores["order"]}).of(["inventory", "order"]) == {
        "inventory": None, "order": 5}
    # `orderflow lag`: the same, per topic read (a topic caught up is named with its 0)
    with inventory.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO consumer_positions VALUES ('g.inventory', 't.orders', 1, 9, 'x')"))
    two = FakeOffsets({"g.inventory": {("t.orders", 0), ("t.orders", 1), ("t.payments", 0)}})
    assert lag_with(two, stores).by_topic(["inventory", "order"]) == {
        "inventory": {"t.orders": 10 - 7, "t.payments": 6 - 1}, "order": {"t.payments": 5}}
    assert lag_with(FakeOffsets(away=True), stores).by_topic(["order"]) == {"order": None}


def test_behind_never_counts_below_zero_and_skips_partitions_the_broker_lacks() -> None:
    assert behind({("a", 0), ("a", 1), ("b", 0)}, {("a", 0): 5, ("a", 1): 3},
                  {}, {("a", 0): 9, ("a", 1): 1}) == 2


# -- what people and scripts see ---------------------------------------------------------

def test_the_tables_fit_80_columns_with_every_service_and_long_reasons() -> None:
    statuses = [(flow, "rejected", reason, 123_456) for flow in (CHOR, ORCH)
                for reason in ("country_not_served", "compensation_failed", "timeout")]
    counts = live.OrderCounts(statuses, {CHOR: [("system.dead-letter-redriven.v1", None,
                                                 None, 99_999)]})
    processes = {name: live.Process(4_194_304, 1234, True) for name in
                 ("order", "inventory", "payment", "shipping", "orchestrator", "projector")}
    shot = live.snapshot(AT, [CHOR, ORCH], counts, 4_194_303, processes, list(processes),
                         dict.fromkeys(processes, 12_345_678), dict.fromkeys(processes, 9_999))
    out = Console(width=80, file=io.StringIO(), record=True, soft_wrap=True)  # as the CLI's
    out.print(render(shot, Path("/tmp", "a-long-data-dir" * 6), "footer"), soft_wrap=False)
    lines = out.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert any(line.startswith("  at redriven") for line in lines)
    assert any(line.split()[:2] == ["orchestrator", "up"] for line in lines)


def test_order_rows_list_steps_in_saga_order_and_timed_out_last() -> None:
    views = [live.flow_view(flow, COUNTS) for flow in (CHOR, ORCH)]
    assert [row[0] for row in order_rows(views)] == [
        "in flight", "  at start", "  at stock", "  at payment", "  at undo", "confirmed",
        "rejected", "  out_of_stock", "  over_credit", "  timed out"]
    assert order_rows(views)[-1] == ["  timed out", 2, 0]


@pytest.mark.parametrize(("argv", "needle"), [
    (["watch", "--flow", "sideways"], "'sideways' is not one of"),
    (["watch", "--count", "0"], "--count"),
    (["watch", "--once", "--count", "2"], "--once prints one snapshot"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(
        argv: list[str], needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    assert run(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()


def test_once_json_is_one_document_even_with_no_broker_and_no_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    topics = Topics("w.")
    projected_stores(tmp_path / "data", monkeypatch,
                     [*happy_saga(topics, FIRST), placed(topics, SECOND, seconds=5)], "w.")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    capsys.readouterr()
    assert run(["watch", "--once", "--json", "--flow", CHOR]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert err == "" and out.count("\n") == 1 and document["up"] is None
    assert document["flows"] == {CHOR: {
        "in_flight": 1, "in_flight_by_step": {"stock": 1}, "confirmed": 1, "rejected": 0,
        "rejected_by_reason": {}, "timed_out": 0}}
    assert {name: (v["up"], v["restarts"], v["lag"], v["dead_letters"])
            for name, v in document["services"].items()} == {
        name: (False, None, None, 0) for name in
        ("order", "inventory", "payment", "shipping", "orchestrator", "projector")}

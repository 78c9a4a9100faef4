"""The wire codec: every registered message round-trips; decoding is strict (no I/O)."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import types
import typing
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import codec, registry
from adapters.codec import DecodeError, Envelope, OrderFacts, decode, encode, envelope_for, headers
from adapters.registry import BY_CLASS, BY_WIRE
from domain import commands, inventory_events, order_events, payment_events, saga_events
from domain.errors import OrderflowError
from domain.inventory_events import StockAdded
from domain.order_events import OrderConfirmed, OrderExpired, OrderLine, OrderPlaced, OrderRejected
from domain.shipping import ShippingEvent

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ORDER_ID = "0b7e6c1a-3f0e-4c1b-9a51-2f1f3c9d8e01"
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]

# Lone surrogates are not UTF-8; control characters (Cc) are refused by the codec.
TEXT = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=12)
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
AWARE = st.datetimes(timezones=st.sampled_from(OFFSETS))


def a_placed_order() -> OrderPlaced:
    return OrderPlaced(order_id=ORDER_ID, customer_id="alice",
                       lines=(OrderLine(sku="BOOK-1", quantity=2, unit_price_cents=2499),),
                       total_cents=4998, ship_to="DE", flow="choreography", placed_at=T0,
                       deadline=T0 + timedelta(seconds=30))


def an_envelope(body: object, *, order: OrderFacts | None = None,
                causation_id: str | None = None, flow: str | None = None) -> Envelope:
    return envelope_for(body, event_id=str(uuid.uuid4()), aggregate_id=ORDER_ID,
                        aggregate_version=1, occurred_at=T0, correlation_id=ORDER_ID,
                        causation_id=causation_id, flow=flow, order=order)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    """A value of a field's declared type; an unknown type fails loudly so it gets added."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a) for a in args))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is tuple:
        return st.tuples(*(strategy_for(a) for a in args))
    simple: dict[Any, st.SearchStrategy[Any]] = {str: TEXT, int: INT64, datetime: AWARE,
                                                  type(None): st.none()}
    if hint in simple:
        return simple[hint]
    if dataclasses.is_dataclass(hint):
        return builds_for(hint)  # type: ignore[arg-type]
    raise TypeError(f"no test strategy for field type {hint!r}: add one")


def builds_for(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)})


def envelopes(body: object) -> st.SearchStrategy[Envelope]:
    return st.builds(
        envelope_for, st.just(body), event_id=st.uuids().map(str), aggregate_id=TEXT,
        aggregate_version=st.integers(1, 2**31), occurred_at=AWARE, correlation_id=TEXT,
        causation_id=st.none() | TEXT, flow=st.none() | TEXT,
        order=st.none() | builds_for(OrderFacts))


def wire_of(cls: type) -> str:
    return BY_CLASS[cls].wire


REGISTERED = sorted(BY_CLASS, key=wire_of)


# --- the registry -----------------------------------------------------------------------

def test_wire_names_are_explicit_unique_and_versioned() -> None:
    assert len(BY_WIRE) == len(BY_CLASS)
    for cls, reg in BY_CLASS.items():
        assert re.fullmatch(r"[a-z]+(\.[a-z-]+)+\.v[0-9]+", reg.wire), reg.wire
        assert cls.__module__ not in reg.wire and cls.__name__ not in reg.wire


def test_every_domain_event_and_saga_command_has_a_wire_name() -> None:
    aliases = [order_events.OrderEvent, inventory_events.InventoryEvent,
               payment_events.PaymentsEvent, ShippingEvent, saga_events.SagaEvent,
               commands.SagaCommand]
    classes = {cls for alias in aliases for cls in typing.get_args(alias)}
    assert classes - set(BY_CLASS) == set()


# --- round trip -------------------------------------------------------------------------

@pytest.mark.parametrize("cls", REGISTERED, ids=wire_of)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_registered_message_round_trips(cls: type, data: st.DataObject) -> None:
    # given any instance of the message, in an envelope with or without order facts
    envelope = data.draw(envelopes(data.draw(builds_for(cls))))
    # when it is encoded and decoded again
    decoded = decode(encode(envelope))
    # then nothing was lost or changed
    assert decoded == envelope
    assert type(decoded.body) is cls


STATUS_AFTER = {"placed": "created", "confirmed": "confirmed", "rejected": "rejected",
                "expired": "rejected"}


@pytest.mark.parametrize("event", STATUS_AFTER)
def test_records_on_orders_carry_the_order_status_at_top_level(event: str) -> None:
    body = {"placed": a_placed_order(),
            "confirmed": OrderConfirmed(order_id=ORDER_ID, confirmed_at=T0),
            "rejected": OrderRejected(order_id=ORDER_ID, reason="out_of_stock", rejected_at=T0),
            "expired": OrderExpired(order_id=ORDER_ID, expired_at=T0)}[event]
    assert BY_CLASS[type(body)].topic == "orders"
    assert orjson.loads(encode(an_envelope(body)))["status"] == STATUS_AFTER[event]


@pytest.mark.parametrize("cls", REGISTERED, ids=wire_of)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_status_is_present_exactly_on_the_orders_topic(cls: type, data: st.DataObject) -> None:
    document = orjson.loads(encode(an_envelope(data.draw(builds_for(cls)))))
    if BY_CLASS[cls].topic == "orders":
        assert document["status"] in {"created", "confirmed", "rejected"}
    else:
        assert "status" not in document


def test_headers_repeat_the_type_and_the_ids() -> None:
    envelope = an_envelope(a_placed_order(), causation_id="cause-1", flow="choreography")
    sent = dict(headers(envelope))
    assert sent["type"] == b"order.placed.v1"
    assert sent["event_id"] == envelope.event_id.encode()
    assert sent["correlation_id"] == ORDER_ID.encode()
    assert sent["causation_id"] == b"cause-1"
    assert sent["flow"] == b"choreography"
    assert all(isinstance(v, bytes) for v in sent.values())


def test_order_facts_round_trip_and_are_absent_when_not_given() -> None:
    facts = OrderFacts(customer_id="alice", total_cents=4998, ship_to="DE")
    with_facts = an_envelope(a_placed_order(), order=facts)
    assert orjson.loads(encode(with_facts))["order"] == {
        "customer_id": "alice", "total_cents": 4998, "ship_to": "DE"}
    assert decode(encode(with_facts)).order == facts
    without = an_envelope(a_placed_order())
    assert "order" not in orjson.loads(encode(without))
    assert decode(encode(without)).order is None


def test_the_envelope_has_the_documented_fields() -> None:
    document = orjson.loads(encode(an_envelope(a_placed_order())))
    assert set(document) >= {"event_id", "type", "aggregate_id", "aggregate_version",
                             "occurred_at", "correlation_id", "causation_id", "flow", "data"}
    assert document["type"] == "order.placed.v1"
    assert datetime.fromisoformat(document["occurred_at"]).utcoffset() == timedelta(0)
    assert document["data"]["total_cents"] == 4998
    assert isinstance(document["data"]["total_cents"], int)


# --- strict decoding --------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Mutation:
    *parents, leaf = path.split(".")

    def mutate(document: dict[str, Any]) -> None:
        target: Any = document
        for name in parents:
            target = target[int(name)] if isinstance(target, list) else target[name]
        target[int(leaf) if isinstance(target, list) else leaf] = value
    return mutate


def _drop(path: str) -> Mutation:
    *parents, leaf = path.split(".")

    def mutate(document: dict[str, Any]) -> None:
        target = document
        for name in parents:
            target = target[name]
        del target[leaf]
    return mutate


MUTATIONS: dict[str, Mutation] = {
    "unknown type": _set("type", "order.teleported.v1"),
    "type from a module path": _set("type", "domain.order_events.OrderPlaced"),
    "missing data field": _drop("data.total_cents"),
    "extra data field": _set("data.discount_cents", 0),
    "string where int belongs": _set("data.total_cents", "4998"),
    "int where string belongs": _set("data.customer_id", 42),
    "null where string belongs": _set("data.order_id", None),
    "object where list belongs": _set("data.lines", {"sku": "BOOK-1"}),
    "wrong nested field type": _set("data.lines.0.quantity", "2"),
    "missing nested field": lambda d: d["data"]["lines"][0].pop("unit_price_cents"),
    "float money 12.5": _set("data.total_cents", 12.5),
    "float money 12.0": _set("data.total_cents", 12.0),
    "float nested money": _set("data.lines.0.unit_price_cents", 2499.0),
    "bool where int belongs": _set("data.total_cents", True),
    "bool where int belongs (false)": _set("data.lines.0.quantity", False),
    "bool aggregate_version": _set("aggregate_version", True),
    "string aggregate_version": _set("aggregate_version", "1"),
    "float aggregate_version": _set("aggregate_version", 1.0),
    "int event_id": _set("event_id", 7),
    "data is a list": _set("data", []),
    "naive occurred_at": _set("occurred_at", "2025-01-01T12:00:00"),
    "naive data timestamp": _set("data.placed_at", "2025-01-01T12:00:00"),
    "not a timestamp": _set("occurred_at", "yesterday"),
    "timestamp as a number": _set("data.deadline", 1735732800),
    "future schema_version": _set("schema_version", 2),
    "schema_version without upcaster": _set("schema_version", 0),
    "string schema_version": _set("schema_version", "1"),
    "order facts with float money": _set("order", {"customer_id": "a", "total_cents": 1.5,
                                                   "ship_to": "DE"}),
    "order facts not an object": _set("order", "alice"),
    "aggregate_id longer than its column": _set("aggregate_id", "a" * 65),
    "correlation_id of 1 MB": _set("correlation_id", "c" * 1_000_000),
    "NUL in event_id": _set("event_id", "0b7e6c1a-3f0e-4c1b-9a51\x002f1f3c9d8e01"),
    "NUL in aggregate_id": _set("aggregate_id", "order\x00"),
    "control character in correlation_id": _set("correlation_id", "a\x1bb"),
    "DEL in causation_id": _set("causation_id", "cmd\x7f"),
    "NUL in a data id": _set("data.order_id", "\x00"),
    "control character in a nested sku": _set("data.lines.0.sku", "BOOK\n1"),
    "NUL in order facts": _set("order", {"customer_id": "a\x00", "total_cents": 1,
                                         "ship_to": "DE"}),
    **{f"missing envelope field {name}": _drop(name) for name in codec.ENVELOPE_FIELDS},
}


def valid_document() -> dict[str, Any]:
    facts = OrderFacts(customer_id="alice", total_cents=4998, ship_to="DE")
    document: dict[str, Any] = orjson.loads(encode(an_envelope(a_placed_order(), order=facts)))
    decode(orjson.dumps(document))  # the unmutated document is valid
    return document


@pytest.mark.parametrize("mutate", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_malformed_envelope_is_a_decode_error(mutate: Mutation) -> None:
    document = valid_document()
    mutate(document)
    with pytest.raises(DecodeError):
        decode(orjson.dumps(document))


GOOD = orjson.dumps(valid_document())
RAW: dict[str, bytes | None] = {
    "tombstone": None,
    "empty": b"",
    "bad UTF-8": GOOD.replace(b'"alice"', b'"al\xffice"', 1),
    "invalid JSON": GOOD[:-1],
    "NaN money": GOOD.replace(b'"total_cents":4998', b'"total_cents":NaN', 1),
    "Infinity money": GOOD.replace(b'"total_cents":4998', b'"total_cents":Infinity', 1),
    "1e400 money": GOOD.replace(b'"total_cents":4998', b'"total_cents":1e400', 1),
    "integer beyond 64 bits": GOOD.replace(b'"total_cents":4998',
                                           b'"total_cents":18446744073709551616', 1),
    "JSON list": b"[]",
    "JSON string": b'"order.placed.v1"',
    "JSON number": b"42",
    "JSON null": b"null",
    "100k nested lists": b"[" * 100_000 + b"]" * 100_000,
    "100k nested lists in data": GOOD.replace(b'"lines":', b'"lines":' + b"[" * 100_000, 1)
    .replace(b',"total_cents"', b"]" * 100_000 + b',"total_cents"', 1),
    "100k nested objects": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
}


@pytest.mark.parametrize("raw", RAW.values(), ids=RAW.keys())
def test_undecodable_bytes_are_a_decode_error(raw: bytes | None) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


def test_decode_error_is_an_orderflow_error() -> None:
    assert issubclass(DecodeError, OrderflowError)


JSON = st.recursive(st.none() | st.booleans() | INT64 | st.floats(allow_nan=False,
                                                                   allow_infinity=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_decode_error_only(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(raw)


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(["event_id", "type", "schema_version", "aggregate_id",
                             "aggregate_version", "occurred_at", "correlation_id", "causation_id",
                             "flow", "data", "order", "data.order_id", "data.lines",
                             "data.lines.0", "data.lines.0.quantity", "data.total_cents",
                             "data.placed_at"]),
       value=JSON)
def test_any_json_in_any_field_decodes_or_raises_decode_error_only(path: str,
                                                                  value: object) -> None:
    document = valid_document()
    _set(path, value)(document)
    try:
        decoded = decode(orjson.dumps(document))
    except DecodeError:
        return
    assert type(decoded.body) is OrderPlaced  # only values of the declared types got through


# --- upcasting --------------------------------------------------------------------------

def _register_stock_added_v2(monkeypatch: pytest.MonkeyPatch) -> str:
    """StockAdded v2 renamed v1's `item`/`qty` fields to `sku`/`quantity`."""
    current = BY_CLASS[StockAdded]
    v2 = dataclasses.replace(current, schema_version=2)
    monkeypatch.setitem(registry.BY_CLASS, StockAdded, v2)
    monkeypatch.setitem(registry.BY_WIRE, current.wire, v2)
    return current.wire


def _v1_stock_added(wire: str) -> bytes:
    document = orjson.loads(encode(an_envelope(StockAdded(sku="BOOK-1", quantity=3))))
    document.update(schema_version=1, data={"item": "BOOK-1", "qty": 3})
    return orjson.dumps(document)


def test_a_v1_record_is_upcast_to_the_current_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    # given StockAdded is at schema_version 2 and an upcaster for v1 is registered
    wire = _register_stock_added_v2(monkeypatch)
    monkeypatch.setitem(codec.UPCASTERS, (wire, 1),
                        lambda data: {"sku": data["item"], "quantity": data["qty"]})
    # when a record written by v1 code is decoded
    decoded = decode(_v1_stock_added(wire))
    # then it is the current message, and says so
    assert decoded.body == StockAdded(sku="BOOK-1", quantity=3)
    assert decoded.schema_version == 2
    # and re-encoding it (e.g. to the DLQ or a replay) does not run the v1 upcaster again
    assert decode(encode(decoded)) == decoded


def test_a_v1_record_without_an_upcaster_is_a_decode_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    wire = _register_stock_added_v2(monkeypatch)
    with pytest.raises(DecodeError, match="no upcaster"):
        decode(_v1_stock_added(wire))


def test_new_records_carry_the_current_schema_version(monkeypatch: pytest.MonkeyPatch) -> None:
    _register_stock_added_v2(monkeypatch)
    envelope = an_envelope(StockAdded(sku="BOOK-1", quantity=3))
    assert orjson.loads(encode(envelope))["schema_version"] == 2
    assert decode(encode(envelope)) == envelope

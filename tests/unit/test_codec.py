"""The wire codec: every registered message round-trips; decoding is strict (no I/O)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
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

from adapters import codec, registry, upcasters
from adapters.codec import DecodeError, Envelope, OrderFacts, decode, encode, envelope_for, headers
from adapters.registry import BY_CLASS, BY_WIRE
from domain import commands, inventory_events, order_events, payment_events, saga_events
from domain.errors import OrderflowError
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
                       total_cents=4998, ship_to="DE", flow="choreography", channel="cli",
                       placed_at=T0, deadline=T0 + timedelta(seconds=30))


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
    assert len({r.wire for r in BY_CLASS.values()}) == len(BY_CLASS)
    for cls, reg in BY_CLASS.items():
        assert re.fullmatch(r"[a-z]+(\.[a-z-]+)+\.v[0-9]+", reg.wire), reg.wire
        assert cls.__module__ not in reg.wire and cls.__name__ not in reg.wire
        assert reg.wire.endswith(f".v{reg.schema_version}")  # the name says its version


def test_every_older_name_reaches_its_class_current_version_through_upcasters() -> None:
    # the names of older versions are aliases of the class, each one upcast step by step
    for wire, reg in BY_WIRE.items():
        written = registry.version_of(wire)
        assert written is not None and written <= reg.schema_version, wire
        assert (wire == reg.wire) == (written == reg.schema_version), wire
        for version in range(written, reg.schema_version):
            assert (reg.cls, version) in upcasters.UPCASTERS, (wire, version)
    assert BY_WIRE["order.placed.v1"] is BY_WIRE["order.placed.v2"] is BY_CLASS[OrderPlaced]


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
    assert sent["type"] == b"order.placed.v2"
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
    assert (document["type"], document["schema_version"]) == ("order.placed.v2", 2)
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
    "future schema_version": _set("schema_version", 3),
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
    "unknown envelope field": _set("priority", "high"),
    "unknown envelope field that is null": _set("retries", None),
    "envelope field in another case": _set("Status", "created"),
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
    # Deeper than orjson.dumps goes (255), not than orjson.loads (1024) or Python's stack.
    "500 nested lists in data": GOOD.replace(b'"lines":', b'"lines":' + b"[" * 500, 1)
    .replace(b',"total_cents"', b"]" * 500 + b',"total_cents"', 1),
    "1000 nested objects as data": GOOD.replace(b'"data":', b'"data":' + b'{"a":' * 1000, 1)
    .replace(b',"status"', b"}" * 1000 + b',"status"', 1),
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


# --- one meaning per record: no key twice, no unknown envelope field ---------------------

class Pairs(list[tuple[str, Any]]):
    """A JSON object as written: keys in order, possibly repeated (a dict cannot say that)."""


def as_pairs(node: Any) -> Any:
    if isinstance(node, dict):
        return Pairs((key, as_pairs(value)) for key, value in node.items())
    if isinstance(node, list):
        return [as_pairs(value) for value in node]
    return node


def objects(node: Any) -> list[Pairs]:
    """Every object of a written document: the envelope, data, order facts, lines..."""
    if isinstance(node, Pairs):
        return [node, *(inner for _, value in node for inner in objects(value))]
    if isinstance(node, list):
        return [inner for value in node for inner in objects(value)]
    return []


# How other producers write JSON: (between items, between key and value, ASCII only).
SPELLINGS = {"compact": (",", ":", False), "spaced": (", ", ": ", False),
             "escaped and indented": (",\n  ", " :\t", True)}


def write(node: Any, spelling: tuple[str, str, bool]) -> bytes:
    return _text(node, spelling).encode()


def _text(node: Any, spelling: tuple[str, str, bool]) -> str:
    between, colon, ascii_only = spelling
    if isinstance(node, Pairs):
        return "{" + between.join(json.dumps(key, ensure_ascii=ascii_only) + colon
                                  + _text(value, spelling) for key, value in node) + "}"
    if isinstance(node, list):
        return "[" + between.join(_text(value, spelling) for value in node) + "]"
    return json.dumps(node, ensure_ascii=ascii_only)


@pytest.mark.parametrize("cls", REGISTERED, ids=wire_of)
@settings(max_examples=12, deadline=None)
@given(data=st.data(), spelling=st.sampled_from(list(SPELLINGS.values())))
def test_another_producers_spelling_decodes_to_the_same_envelope(
        cls: type, data: st.DataObject, spelling: tuple[str, str, bool]) -> None:
    # given a record written with other spacing and escapes than orjson's
    envelope = data.draw(envelopes(data.draw(builds_for(cls))))
    raw = write(as_pairs(orjson.loads(encode(envelope))), spelling)
    # then it decodes to the same envelope: no key of it is taken for a repeated one
    assert decode(raw) == envelope


@pytest.mark.parametrize("cls", REGISTERED, ids=wire_of)
@settings(max_examples=12, deadline=None)
@given(data=st.data(), spelling=st.sampled_from(list(SPELLINGS.values())))
def test_a_key_written_twice_in_any_object_is_a_decode_error(
        cls: type, data: st.DataObject, spelling: tuple[str, str, bool]) -> None:
    # given a record and any of its objects (the envelope, data, order facts, a line)
    document = as_pairs(orjson.loads(encode(data.draw(envelopes(data.draw(builds_for(cls)))))))
    target = data.draw(st.sampled_from([o for o in objects(document) if o]))
    # when one of its keys is written once more, before or after, same value or another
    key, value = data.draw(st.sampled_from(list(target)))
    again = data.draw(st.just(value) | JSON)
    target.insert(data.draw(st.integers(0, len(target))), (key, again))
    # then the record is poison, whichever of the two a parser would keep
    with pytest.raises(DecodeError):
        decode(write(document, spelling))


SPACED = write(as_pairs(orjson.loads(GOOD)), SPELLINGS["spaced"])
TWICE: dict[str, bytes] = {
    "type twice, the real one last": b'{"type":"order.teleported.v1",' + GOOD[1:],
    "type twice, the real one first": GOOD[:-1] + b',"type":"order.teleported.v1"}',
    "envelope field twice, same value": GOOD[:-1] + b',"flow":null}',
    "data field twice": GOOD.replace(b'"data":{', b'"data":{"total_cents":1,', 1),
    "data field twice, same value": GOOD.replace(b'"total_cents":4998',
                                                 b'"total_cents":4998,"total_cents":4998', 1),
    "field of a line twice": GOOD.replace(b'"lines":[{', b'"lines":[{"quantity":99,', 1),
    "order facts field twice": GOOD.replace(b'"order":{', b'"order":{"total_cents":1,', 1),
    "key twice, once spelled with an escape": b'{"t\\u0079pe":"order.teleported.v1",' + GOOD[1:],
    "key twice in a spaced record": SPACED.replace(b'"data": {', b'"data": {"total_cents": 1, ',
                                                   1),
}


def test_the_duplicate_cases_differ_from_the_good_record_only_by_the_repeated_key() -> None:
    assert decode(SPACED).body == decode(GOOD).body  # the spaced spelling alone is fine
    for raw in TWICE.values():
        assert raw != GOOD and orjson.loads(raw).keys() == orjson.loads(GOOD).keys()


@pytest.mark.parametrize("raw", TWICE.values(), ids=TWICE.keys())
def test_a_repeated_key_is_a_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode(raw)


ALLOWED = {*codec.ENVELOPE_FIELDS, "status", "order"}


@settings(max_examples=200, deadline=None)
@given(name=TEXT.filter(lambda name: name not in ALLOWED), value=JSON)
def test_an_unknown_envelope_field_is_a_decode_error(name: str, value: object) -> None:
    document = valid_document()
    document[name] = value
    with pytest.raises(DecodeError):
        decode(orjson.dumps(document))


# --- upcasting --------------------------------------------------------------------------

def a_v1_record(**changes: Any) -> bytes:
    """OrderPlaced as 6737ebe wrote it: `order.placed.v1`, schema_version 1, no channel."""
    document = orjson.loads(encode(an_envelope(a_placed_order())))
    del document["data"]["channel"]
    document.update(type="order.placed.v1", schema_version=1)
    return orjson.dumps(document | changes)


def test_a_v1_order_placed_is_upcast_to_v2_with_channel_unknown() -> None:
    # when a record written before orders had a channel is decoded
    decoded = decode(a_v1_record())
    # then it is today's message, and says so
    assert decoded.body == dataclasses.replace(a_placed_order(), channel="unknown")
    assert (decoded.type, decoded.schema_version) == ("order.placed.v2", 2)
    # and re-encoding it (to the DLQ, a redrive) writes v2: the upcaster does not run twice
    assert orjson.loads(encode(decoded))["type"] == "order.placed.v2"
    assert decode(encode(decoded)) == decoded


@pytest.mark.parametrize(("wire", "version"), [("order.placed.v2", 3), ("order.placed.v3", 3),
                                               ("inventory.stock-added.v1", 2)])
def test_a_version_newer_than_the_code_is_refused(wire: str, version: int) -> None:
    document = orjson.loads(encode(an_envelope(a_placed_order())))
    document.update(type=wire, schema_version=version)
    with pytest.raises(DecodeError, match="newer than this code"):
        decode(orjson.dumps(document))


@pytest.mark.parametrize(("wire", "version"), [("order.placed.v1", 2), ("order.placed.v2", 1)])
def test_a_name_and_a_schema_version_that_disagree_are_refused(wire: str, version: int) -> None:
    with pytest.raises(DecodeError, match="must agree"):
        decode(a_v1_record(type=wire, schema_version=version))


def test_a_v1_record_without_an_upcaster_is_a_decode_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(upcasters.UPCASTERS, (OrderPlaced, 1))
    with pytest.raises(DecodeError, match="no upcaster for OrderPlaced schema_version 1"):
        decode(a_v1_record())


def test_an_upcaster_that_fails_is_a_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: dict[str, Any]) -> dict[str, Any]:
        return {"channel": data["no such field"]}

    monkeypatch.setitem(upcasters.UPCASTERS, (OrderPlaced, 1), broken)
    with pytest.raises(DecodeError, match=re.escape(
            "upcasting order.placed.v1 from schema_version 1 failed: KeyError")):
        decode(a_v1_record())


def test_new_records_carry_the_current_schema_version() -> None:
    envelope = an_envelope(a_placed_order())
    assert orjson.loads(encode(envelope))["schema_version"] == 2
    assert decode(encode(envelope)) == envelope


def test_a_saga_started_before_steps_were_listed_runs_the_core_four() -> None:
    data = {"order_id": "o-1", "customer_id": "alice", "lines": [], "amount_cents": 1,
            "ship_to": "DE", "order_deadline": "2026-01-01T12:00:30+00:00",
            "step_timeout_ms": 5000, "max_attempts": 3,
            "started_at": "2026-01-01T12:00:00+00:00"}
    reg, upcast_data = upcasters.upcast("saga.started.v1", 1, data)
    assert (reg.wire, upcast_data["steps"]) == (
        "saga.started.v2", ["reserve_stock", "authorize_payment", "schedule_shipment",
                            "confirm_order"])

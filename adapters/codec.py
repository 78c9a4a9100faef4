"""The JSON envelope on Kafka, encoded from and strictly decoded into domain messages.

Decoding is strict: bad UTF-8, bad JSON (NaN included), a key written twice in any
object (JSON parsers keep one of them silently, so the record says two things), an
unknown type, a missing or extra field (in the envelope too: only the fields `encode`
writes), a wrongly typed value, a float where money (an int) belongs, a string
with NUL or another control character (PostgreSQL refuses NUL in text; no id or code
of ours has one), or a future schema_version all raise `DecodeError`, and the record
goes to the DLQ. A record of an older schema version is upcast first, by the same
upcasters (adapters/upcasters.py) the event store runs on its stored rows.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from adapters.registry import ORDER_STATUS, Registration, registration
from adapters.upcasters import SchemaError, upcast
from domain.errors import OrderflowError

ENVELOPE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "event_id": str, "type": str, "schema_version": int, "aggregate_id": str,
    "aggregate_version": int, "occurred_at": str, "correlation_id": str,
    "causation_id": (str, type(None)), "flow": (str, type(None)), "data": dict}
OPTIONAL_FIELDS = frozenset({"status", "order"})  # written by `encode` when they apply
_KNOWN_FIELDS = frozenset(ENVELOPE_FIELDS) | OPTIONAL_FIELDS
MAX_ID = 64  # ids are stored in String(64) columns; longer is poison, not a database error
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class DecodeError(OrderflowError):
    """A record that cannot be turned into a known message."""


@dataclass(frozen=True, kw_only=True)
class OrderFacts:
    """What downstream steps of a choreography need to know about the order.

    Choreography has nobody to hand a participant its inputs, so each event about an
    order carries these facts forward from OrderPlaced; a participant never reads
    another service's tables. Orchestration puts them in the commands instead.
    """

    customer_id: str
    total_cents: int
    ship_to: str


@dataclass(frozen=True, kw_only=True)
class Envelope:
    event_id: str
    type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None
    flow: str | None
    body: Any
    schema_version: int = 1
    order: OrderFacts | None = None

    @property
    def status(self) -> str | None:
        return ORDER_STATUS.get(type(self.body))


def envelope_for(body: object, *, event_id: str, aggregate_id: str, aggregate_version: int,
                 occurred_at: datetime, correlation_id: str, causation_id: str | None,
                 flow: str | None, order: OrderFacts | None = None) -> Envelope:
    reg = registration(body)
    return Envelope(event_id=event_id, type=reg.wire, schema_version=reg.schema_version,
                    aggregate_id=aggregate_id, aggregate_version=aggregate_version,
                    occurred_at=occurred_at, correlation_id=correlation_id,
                    causation_id=causation_id, flow=flow, body=body, order=order)


def encode(envelope: Envelope) -> bytes:
    document: dict[str, Any] = {
        "event_id": envelope.event_id, "type": envelope.type,
        "schema_version": envelope.schema_version, "aggregate_id": envelope.aggregate_id,
        "aggregate_version": envelope.aggregate_version,
        "occurred_at": envelope.occurred_at.isoformat(),
        "correlation_id": envelope.correlation_id, "causation_id": envelope.causation_id,
        "flow": envelope.flow, "data": to_data(envelope.body),
    }
    if envelope.status is not None:
        document["status"] = envelope.status
    if envelope.order is not None:
        document["order"] = to_data(envelope.order)
    return orjson.dumps(document)


def headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    pairs = [("type", envelope.type), ("event_id", envelope.event_id),
             ("correlation_id", envelope.correlation_id),
             ("causation_id", envelope.causation_id or ""), ("flow", envelope.flow or "")]
    return [(k, v.encode()) for k, v in pairs]


def to_data(body: object) -> dict[str, Any]:
    return {f.name: _plain(getattr(body, f.name)) for f in dataclasses.fields(body)}  # type: ignore[arg-type]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_data(value)
    return value


def decode(raw: bytes | None) -> Envelope:
    if raw is None:
        raise DecodeError("empty record (tombstone): no envelope")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise DecodeError(f"envelope must be a JSON object, got {type(document).__name__}")
    _check_unique_keys(raw, document)
    _check_envelope(document)
    reg, data = _upcast(document)
    return Envelope(event_id=document["event_id"], type=reg.wire,
                    schema_version=reg.schema_version, aggregate_id=document["aggregate_id"],
                    aggregate_version=document["aggregate_version"],
                    occurred_at=_timestamp(document["occurred_at"], "occurred_at"),
                    correlation_id=document["correlation_id"],
                    causation_id=document["causation_id"], flow=document["flow"],
                    body=from_data(reg.cls, data, reg.wire), order=_order_facts(document))


def _order_facts(document: dict[str, Any]) -> OrderFacts | None:
    facts = document.get("order")
    return None if facts is None else from_data(OrderFacts, facts, "order")


def _check_unique_keys(raw: bytes, document: dict[str, Any]) -> None:
    """Refuse a key written twice in any object (orjson keeps the last one silently).

    Fast and exact for our own records: they are orjson's canonical bytes, so encoding
    the parsed document again gives them back, and equal bytes prove every key unique
    (a dict cannot hold one twice). Other bytes (another producer's spacing or escapes)
    get the exact count: in valid JSON every colon outside a string ends a key, so the
    record repeats a key iff it has more such colons than the parsed objects have keys.
    """
    try:
        if orjson.dumps(document) == raw:
            return
    except orjson.JSONEncodeError:  # nested deeper than dumps goes: count instead
        pass
    if _JSON_STRING.sub(b"", raw).count(b":") != _key_count(document):
        raise DecodeError("a key appears twice in one JSON object")


def _key_count(document: object) -> int:
    # A loop, not recursion: orjson accepts nesting deeper than Python's recursion limit.
    count, pending = 0, [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            count += len(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return count


def _check_envelope(document: dict[str, Any]) -> None:
    if not _KNOWN_FIELDS.issuperset(document):
        extra = sorted(document.keys() - _KNOWN_FIELDS)
        raise DecodeError(f"unexpected envelope fields {[name[:40] for name in extra[:5]]}")
    for name, expected in ENVELOPE_FIELDS.items():
        if name not in document:
            raise DecodeError(f"envelope field {name!r} is missing")
        value = document[name]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise DecodeError(f"envelope field {name!r} has the wrong type")
        if isinstance(value, str) and len(value) > MAX_ID and name != "occurred_at":
            raise DecodeError(f"envelope field {name!r} is longer than {MAX_ID} characters")
        if isinstance(value, str):
            _printable(value, name)


def _upcast(document: dict[str, Any]) -> tuple[Registration, dict[str, Any]]:
    try:
        return upcast(document["type"], document["schema_version"], document["data"])
    except SchemaError as exc:  # an old record the code cannot read is poison too
        raise DecodeError(str(exc)) from None


def from_data(cls: type, data: object, where: str) -> Any:
    if not isinstance(data, dict):
        raise DecodeError(f"{where}: expected an object")
    hints = _hints(cls)
    if set(data) != set(hints):
        missing, extra = sorted(set(hints) - set(data)), sorted(set(data) - set(hints))
        raise DecodeError(f"{where}: missing fields {missing}, unexpected fields {extra}")
    return cls(**{name: _convert(data[name], hint, f"{where}.{name}")
                  for name, hint in hints.items()})


@cache
def _hints(cls: type) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in typing.get_type_hints(cls).items() if k in names}


def _convert(value: object, hint: Any, where: str) -> object:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(value, typing.get_args(hint), where)
    if origin is tuple:
        return _convert_tuple(value, typing.get_args(hint), where)
    if hint is datetime:
        return _timestamp(value, where)
    if dataclasses.is_dataclass(hint):
        return from_data(hint, value, where)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _member(hint, value, where)
    if hint is str and type(value) is str:
        return _printable(value, where)
    if hint is int and type(value) is int:  # exact: rejects bool for int, float money
        return value
    if hint is type(None) and value is None:
        return None
    raise DecodeError(f"{where}: expected {getattr(hint, '__name__', hint)}, "
                      f"got {type(value).__name__}")


def _printable(value: str, where: str) -> str:
    if _CONTROL.search(value):
        raise DecodeError(f"{where}: contains a NUL or control character")
    return value


def _convert_union(value: object, options: tuple[Any, ...], where: str) -> object:
    for option in options:
        try:
            return _convert(value, option, where)
        except DecodeError:
            continue
    raise DecodeError(f"{where}: {type(value).__name__} fits none of the allowed types")


def _convert_tuple(value: object, args: tuple[Any, ...], where: str) -> tuple[object, ...]:
    if not isinstance(value, list):
        raise DecodeError(f"{where}: expected a list")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if len(args) != len(value):
        raise DecodeError(f"{where}: expected {len(args)} items")
    pairs = enumerate(zip(value, args, strict=True))
    return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in pairs)


def _member(hint: type[enum.Enum], value: object, where: str) -> enum.Enum:
    try:
        return hint(value)
    except ValueError:
        raise DecodeError(f"{where}: {str(value)[:40]!r} is not a {hint.__name__}") from None


def _timestamp(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise DecodeError(f"{where}: expected an ISO-8601 timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise DecodeError(f"{where}: {value[:40]!r} is not an ISO-8601 timestamp") from None
    if moment.utcoffset() is None:
        raise DecodeError(f"{where}: timestamp without a timezone")
    return moment

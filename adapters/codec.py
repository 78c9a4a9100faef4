"""The JSON envelope on Kafka, encoded from and strictly decoded into domain messages.

Decoding is strict: bad UTF-8, bad JSON (NaN included), an unknown type, a missing
or extra field, a wrongly typed value, a float where money (an int) belongs, a string
with NUL or another control character (PostgreSQL refuses NUL in text; no id or code
of ours has one), or a future schema_version all raise `DecodeError`, and the record
goes to the DLQ.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import orjson

from adapters.registry import BY_WIRE, ORDER_STATUS, registration
from domain.errors import OrderflowError

ENVELOPE_FIELDS = {"event_id": str, "type": str, "schema_version": int, "aggregate_id": str,
                   "aggregate_version": int, "occurred_at": str, "correlation_id": str,
                   "causation_id": (str, type(None)), "flow": (str, type(None)), "data": dict}
MAX_ID = 64  # ids are stored in String(64) columns; longer is poison, not a database error
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# (wire type, from_version) -> function turning that version's `data` into the next one's.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


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
    _check_envelope(document)
    reg = BY_WIRE.get(document["type"])
    if reg is None:
        raise DecodeError(f"unknown message type {document['type'][:100]!r}")
    data = _upcast(document["type"], document["schema_version"], reg.schema_version,
                   document["data"])
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


def _check_envelope(document: dict[str, Any]) -> None:
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


def _upcast(wire: str, version: int, current: int, data: dict[str, Any]) -> dict[str, Any]:
    if version > current:
        raise DecodeError(f"{wire} schema_version {version} is newer than this code ({current})")
    while version < current:
        upcaster = UPCASTERS.get((wire, version))
        if upcaster is None:
            raise DecodeError(f"no upcaster for {wire} schema_version {version}")
        try:
            data, version = upcaster(data), version + 1
        except Exception as exc:  # an old record the upcaster cannot read is poison too
            raise DecodeError(f"upcasting {wire} v{version} failed: {exc}") from None
    return data


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
